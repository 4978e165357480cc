#!/usr/bin/env bash
# The `fashion` preset (lesson 13) on label splits 0-4: supervised and UDA rows, two runs at a time, one thread each,
# with `uda_train` so that the UDA runs also log the targets' diagnostics (lesson 09). Finished runs are kept.
# usage: experiments/fashion_splits.sh OUT [SPLITS...]     e.g. experiments/fashion_splits.sh runs/fashion 0 1 2 3 4
# writes OUT/fashion-seedS/lean-{sup,uda}/ (the layout `uda_reproduce --preset fashion --seeds 5 --out OUT` writes)
set -uo pipefail
out=$1; shift; splits=${*:-0 1 2 3 4}
root=$(cd "$(dirname "$0")/.." && pwd)
run() {
  local s=$1 m=$2 d=$out/fashion-seed$1
  mkdir -p "$d"; [ -f "$d/lean-$m/final.json" ] && return
  OMP_NUM_THREADS=1 "$root/.venv/bin/uda_train" --preset fashion --model lean --method "$m" --seed "$s" \
    --out "$d" --name "lean-$m" --quiet > "$d/lean-$m.log" 2>&1
  echo "split $s $m: exit $?"
}
export -f run; export out root
for s in $splits; do echo "$s uda"; echo "$s sup"; done | xargs -P 2 -L 1 bash -c 'run $0 $1'
