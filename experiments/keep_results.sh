#!/usr/bin/env bash
# Copy the small text files of finished runs (final.json, config.json, metrics.csv, and where they exist
# classification_report.csv and the hidden-label diagnostics of lesson 09) from a sweep folder
# into the repository's results/ folder, which lessons read; weights and figures stay in runs/.
# usage: experiments/keep_results.sh SWEEP_DIR RESULTS_DIR     e.g. runs/ablation results/ablation
set -euo pipefail
src=$1; dst=$2
for d in "$src"/*/; do
  [ -f "$d/final.json" ] || continue
  n=$(basename "$d"); mkdir -p "$dst/$n"
  cp "$d/final.json" "$d/config.json" "$d/metrics.csv" "$dst/$n/"
  for f in diagnostics.csv confusions.csv reliability.csv final_diagnostics.csv final_confusions.csv; do if [ -f "$d/$f" ]; then cp "$d/$f" "$dst/$n/"; fi; done
  if [ -f "$d/classification_report.csv" ]; then cp "$d/classification_report.csv" "$dst/$n/"; fi
done
ls "$dst"
