#!/usr/bin/env bash
# The prepared GPU check: one command on a machine with a CUDA GPU, after `make install` and `make data`:
#     bash bench/gpu_check.sh                 # ~10 minutes on one GPU; results in bench/results/gpu-check/ to commit
#     TINY=1 bash bench/gpu_check.sh          # the same steps on the CPU with a tiny budget: checks this script's logic
# It installs nothing. Steps: environment, the CUDA tests, the augmentation bench on CUDA, the step cost of each network
# with and without channels_last, torch.compile and bf16 autocast, time-to-accuracy of the lean preset, and the lean
# preset's 5-split table (UDA and supervised rows, all runs at once on the one GPU).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=bench/results/gpu-check
DEV=cuda; STEPS=5000; EVAL=500; SPLITS=5; TTA_EVAL=250
TESTS="cuda or gpu or process"
if [ -n "${TINY:-}" ]; then DEV=cpu; STEPS=8; EVAL=4; SPLITS=2; TTA_EVAL=4; OUT=${OUT}-tiny; TESTS="cuda"; fi
rm -rf "$OUT"; mkdir -p "$OUT/runs"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.log"; }
t0=$(date +%s)

log "environment"
{ nvidia-smi || echo "no nvidia-smi"; $BIN/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; } > "$OUT/environment.txt" 2>&1

log "CUDA and distributed tests (the CUDA ones skip without a GPU)"
$BIN/python -m pytest -q -rs tests/test_distributed.py tests/test_cuda.py tests/test_augment.py tests/test_speed_options.py -k "$TESTS" > "$OUT/pytest.txt" 2>&1; log "pytest exit $?"

log "augmentation bench (CUDA row: augmentation against BestMNISTCNN's forward-backward)"
PYTHONPATH=. $BIN/python bench/bench_augment.py --repeats "$([ -n "${TINY:-}" ] && echo 2 || echo 15)" > "$OUT/bench_augment.txt" 2>&1; log "bench_augment exit $?"

log "step cost per network: channels_last, torch.compile, bf16 autocast"
if [ -n "${TINY:-}" ]; then MODELS_ARGS="--repeats 1 --no_compile"; else MODELS_ARGS="--repeats 10 --amp --device cuda"; fi
PYTHONPATH=. $BIN/python bench/bench_models.py $MODELS_ARGS > "$OUT/bench_models.txt" 2>&1; log "bench_models exit $?"

log "time to accuracy, lean preset, split 0"
PYTHONPATH=. $BIN/python bench/time_to_accuracy.py --preset lean --model lean --method uda --seed 0 --steps "$STEPS" \
    --eval_every "$TTA_EVAL" --device "$DEV" --out "$OUT" > "$OUT/time_to_accuracy.txt" 2>&1; log "time_to_accuracy exit $?"

log "lean preset on $SPLITS label splits: all runs at once"
pids=()
for s in $(seq 0 $((SPLITS - 1))); do
  for k in uda sup; do
    $BIN/uda_train --preset lean --model lean --method $k --seed $s --steps "$STEPS" --eval_every "$EVAL" --device "$DEV" \
        --out "$OUT/runs/lean-seed$s" --name "lean-$k" --quiet > "$OUT/runs/s$s-$k.log" 2>&1 &
    pids+=($!)
  done
done
fails=0; for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done; log "runs done, $fails failed"
if [ -z "${TINY:-}" ]; then
  $BIN/uda_reproduce --preset lean --seeds "$SPLITS" --out "$OUT/runs" --device "$DEV" --reuse --quiet > "$OUT/table.md" 2>&1
else   # the tiny runs have other steps than the preset, so only collect their final numbers
  $BIN/python -c "import json,glob; [print(f, json.load(open(f))['test_acc_ema']) for f in sorted(glob.glob('$OUT/runs/*/*/final.json'))]" > "$OUT/table.md" 2>&1
fi
log "table exit $?"
find "$OUT/runs" \( -name 'model.pt' -o -name 'checkpoint.pt' \) -delete     # weights stay out of the repository
log "all done in $(( $(date +%s) - t0 )) s; commit $OUT"
