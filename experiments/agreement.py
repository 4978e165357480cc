"""How often two finished runs of one label split agree on the unlabeled images, and how right they
are where they agree. A diagnostic: it reads the unlabeled images' hidden labels, which training
never may. It estimates what co-training could gain, where two networks keep a target only when
both give it confidently.

usage: python experiments/agreement.py OUT.csv RUN_DIR RUN_DIR [--beta 0.8]
  e.g. python experiments/agreement.py results/lean/ensemble/agreement-split0.csv \
           runs/lean-uda-seed0-run0-1thread runs/lean-uda-seed0-run1-1thread

For each run alone and for the pair, over all unlabeled images of the split: how many confident
targets (largest softmax probability of the EMA network above β), and how many of them are wrong.
The pair's target counts only where both runs are confident and give the same digit.
"""
import sys
from pathlib import Path
import pandas as pd, torch
from uda_course.train import predict
from ensemble_runs import ema_network, one_split      # experiments/, beside this script


def unlabeled_probs(run_dir: Path, data) -> torch.Tensor:
    "Softmax float32 (N, K) of the run's EMA network on the unlabeled images."
    return predict(ema_network(run_dir, data), data.x_unlabeled).softmax(1)


def count(conf: torch.Tensor, pred: torch.Tensor, y: torch.Tensor, what: str) -> dict:
    "Confident targets (bool (N,) `conf`, digits `pred`) and how many are wrong against `y`."
    return dict(targets=what, confident=int(conf.sum()),
                wrong_confident=int((conf & (pred != y)).sum()), images=len(y))


def main(argv):
    beta = float(argv[argv.index('--beta') + 1]) if '--beta' in argv else 0.8
    argv = [a for i, a in enumerate(argv) if a != '--beta' and argv[i - 1:i] != ['--beta']]
    if len(argv) != 3: sys.exit(__doc__)
    out, runs = Path(argv[0]), [Path(a) for a in argv[1:]]
    cfgs, data = one_split(runs)
    y = data.y_unlabeled_hidden
    (pa, a), (pb, b) = (unlabeled_probs(r, data).max(1) for r in runs)
    rows = [count(pa > beta, a, y, runs[0].name), count(pb > beta, b, y, runs[1].name),
            count((pa > beta) & (pb > beta) & (a == b), a, y, 'both confident, same digit')]
    df = pd.DataFrame(rows).assign(seed=cfgs[0]['seed'], beta=beta)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(df.to_string(index=False))


if __name__ == '__main__': main(sys.argv[1:])
