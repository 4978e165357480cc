"""How often two finished runs of one label split agree on the unlabeled images, and how right they
are where they agree. A diagnostic: it reads the unlabeled images' hidden labels, which training
never may. It estimates what co-training could gain, where two networks keep a target only when
both give it confidently.

usage: python experiments/agreement.py OUT.csv RUN_DIR RUN_DIR [--beta 0.8]
       python experiments/agreement.py OUT.csv PAIR_RUN_DIR [--beta 0.8]
  e.g. python experiments/agreement.py results/lean/ensemble/agreement-split0.csv \
           runs/lean-uda-seed0-run0-1thread runs/lean-uda-seed0-run1-1thread

With one co-training run (lesson 05a), its two EMA networks take the place of the two runs.

For each run alone and for the pair, over all unlabeled images of the split: how many confident
targets (largest softmax probability of the EMA network above β), and how many of them are wrong.
The pair's target counts only where both runs are confident and give the same digit.
"""
import sys
from pathlib import Path
import pandas as pd, torch
from uda_course.train import predict
from ensemble_runs import ema_network, one_split      # experiments/, beside this script


def unlabeled_probs(model: torch.nn.Module, data) -> torch.Tensor:
    "Softmax float32 (N, K) of an EMA network on the unlabeled images."
    return predict(model, data.x_unlabeled).softmax(1)


def count(conf: torch.Tensor, pred: torch.Tensor, y: torch.Tensor, what: str) -> dict:
    "Confident targets (bool (N,) `conf`, digits `pred`) and how many are wrong against `y`."
    return dict(targets=what, confident=int(conf.sum()),
                wrong_confident=int((conf & (pred != y)).sum()), images=len(y))


def main(argv):
    beta = float(argv[argv.index('--beta') + 1]) if '--beta' in argv else 0.8
    argv = [a for i, a in enumerate(argv) if a != '--beta' and argv[i - 1:i] != ['--beta']]
    if len(argv) not in (2, 3): sys.exit(__doc__)
    out, runs = Path(argv[0]), [Path(a) for a in argv[1:]]
    cfgs, data = one_split(runs)
    y = data.y_unlabeled_hidden
    if len(runs) == 1:                                   # a co-training run: its two networks
        nets = list(ema_network(runs[0], data).nets)
        names = [f'{runs[0].name} net {i} ({k})' for i, k in
                 enumerate((cfgs[0]['model'], cfgs[0]['peer_model']))]
    else: nets, names = [ema_network(r, data) for r in runs], [r.name for r in runs]
    (pa, a), (pb, b) = (unlabeled_probs(n, data).max(1) for n in nets)
    rows = [count(pa > beta, a, y, names[0]), count(pb > beta, b, y, names[1]),
            count((pa > beta) & (pb > beta) & (a == b), a, y, 'both confident, same digit')]
    df = pd.DataFrame(rows).assign(seed=cfgs[0]['seed'], beta=beta)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(df.to_string(index=False))


if __name__ == '__main__': main(sys.argv[1:])
