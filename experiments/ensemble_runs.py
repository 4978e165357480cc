"""Average the predictions of finished runs of one label split: each run's EMA network gives softmax
probabilities, the ensemble takes their mean. Runs that differ only in `run_seed` err on different
images, so their mean is a cheap remedy to measure; it is chosen or rejected on validation accuracy.

usage: python experiments/ensemble_runs.py OUT.csv RUN_DIR [RUN_DIR ...]
  e.g. python experiments/ensemble_runs.py results/lean/ensemble/split0.csv \
           runs/lean-uda-seed0-run0 runs/lean-uda-seed0-run1

Writes one row per run (its folder name) and, for two runs or more, one for the ensemble:
validation and test accuracy (all 10,000 test images) of the EMA weights, and prints them. A
co-training run (lesson 05a) also gets one row per network of its pair ("RUN net 0 (lean)").
Refuses runs of different label splits or datasets.
"""
import json, sys
from pathlib import Path
import pandas as pd, torch
from uda_course.core import TrainConfig
from uda_course.experiment import load_run_data, make_run_model
from uda_course.train import predict


def ema_network(run_dir: Path, data) -> torch.nn.Module:
    "The run's EMA network (a `ModelPair` for co-training), rebuilt from config.json and model.pt."
    cfg = TrainConfig.from_dict(json.loads((run_dir/'config.json').read_text())['config'])
    model = make_run_model(cfg, data=data)
    model.load_state_dict(torch.load(run_dir/'model.pt', weights_only=True)['ema'])
    return model


def one_split(runs: list) -> tuple:
    "The runs' configs (dicts) and their split's data; exits when the runs' splits differ."
    cfgs = [json.loads((r/'config.json').read_text())['config'] for r in runs]
    keys = {(c['dataset'], c['seed'], c['n_labeled'], c['n_val']) for c in cfgs}
    if len(keys) != 1:
        sys.exit(f"error: the runs come from different label splits or datasets: {sorted(keys)}")
    return cfgs, load_run_data(TrainConfig.from_dict(cfgs[0]))


def ema_probs(model: torch.nn.Module, data) -> tuple:
    "Softmax float32 (N, K) of an EMA network on the validation and the test images."
    return tuple(predict(model, x).softmax(1) for x in (data.x_val, data.x_test))


def main(argv):
    if len(argv) < 2: sys.exit(__doc__)
    out, runs = Path(argv[0]), [Path(a) for a in argv[1:]]
    cfgs, data = one_split(runs)
    nets = [ema_network(r, data) for r in runs]
    probs = [ema_probs(n, data) for n in nets]
    acc = lambda p, y: float((p.argmax(1) == y).float().mean())
    row = lambda name, rs, v, t: dict(run=name, run_seed=rs, val_acc_ema=acc(v, data.y_val),
                                      test_acc_ema=acc(t, data.y_test))
    rows = []
    for r, c, n, (v, t) in zip(runs, cfgs, nets, probs):
        rows.append(row(r.name, c.get('run_seed', 0), v, t))
        kinds = (c['model'], c.get('peer_model'))
        for i, (net, kind) in enumerate(zip(getattr(n, 'nets', []), kinds)):
            rows.append(row(f'{r.name} net {i} ({kind})', c.get('run_seed', 0),
                            *ema_probs(net, data)))
    if len(runs) > 1:
        v, t = (torch.stack([p[i] for p in probs]).mean(0) for i in (0, 1))
        rows.append(row(f'mean of {len(runs)} runs', None, v, t))
    df = pd.DataFrame(rows).assign(seed=cfgs[0]['seed'])
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(df.to_string(index=False))


if __name__ == '__main__': main(sys.argv[1:])
