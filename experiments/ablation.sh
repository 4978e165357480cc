#!/usr/bin/env bash
# Ablation of UDA's parts on BestMNISTCNN with 100 labels (lesson 04): one uda_train run per row,
# same budget (STEPS), label split and seed (SEED) for every row; only the named setting changes.
# usage: experiments/ablation.sh [OUT] [JOBS]     JOBS runs in parallel, one CPU thread each.
# Finished rows are kept, unfinished ones resumed from their checkpoint, so the script can be rerun.
set -uo pipefail
out=${1:-runs/ablation}; jobs=${2:-2}; steps=${STEPS:-1200}; seed=${SEED:-0}
bin=$(dirname "$0")/../.venv/bin
rows=(
  "full|"
  "dist_align|--dist_align True"
  "no_mask_beta0|--beta 0"
  "no_sharpen_T1|--temperature 1"
  "tsa_linear|--tsa linear"
  "lam_warmup|--lam_warmup 0.2"
  "ent_min|--ent_min 0.1"
  "mu1|--unsup_ratio 1"
  "beta0.95|--beta 0.95"
  "beta0.5|--beta 0.5"
  "supervised|--method sup"
  "tsa_exp|--tsa exp"
  "no_nesterov|--nesterov False"
  "no_weight_decay|--weight_decay 0"
)
run_row() {
  local name=${1%%|*} flags=${1#*|} dir=$out/${1%%|*}
  if [ -f "$dir/final.json" ]; then echo "$name: finished, kept"; return; fi
  if [ -f "$dir/checkpoint.pt" ]; then
    OMP_NUM_THREADS=1 "$bin/uda_train" --resume "$dir" --quiet > "$out/$name.log" 2>&1
  else
    OMP_NUM_THREADS=1 "$bin/uda_train" --model best --steps "$steps" --seed "$seed" --eval_every 200 \
      --checkpoint_every 200 --out "$out" --name "$name" --quiet $flags > "$out/$name.log" 2>&1
  fi
  echo "$name: exit $?"
}
mkdir -p "$out"
for r in "${rows[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_row "$r" &
done
wait
