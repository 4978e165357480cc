"""Same results before and after a change to the training loop: a short run of every preset row, made by two checkouts.

usage: .venv/bin/python tools/check_loop_equivalence.py OLD_CHECKOUT NEW_CHECKOUT OUT [--steps 30] [--only ROW ...]
  e.g. git worktree add /tmp/old 6966927 && .venv/bin/python tools/check_loop_equivalence.py /tmp/old . runs/equivalence
Each checkout's library is put first on PYTHONPATH and runs `uda_train --preset P --model M --method K --steps N
--eval_every 10` for every (preset, model, method) row, one thread, into OUT/old/ and OUT/new/. Then for each row it
compares metrics.csv (every column but time_s), the diagnostics files of UDA rows, and every tensor of model.pt
(raw and EMA weights), exactly, and prints one line per row. Exit status 1 if any row differs.
"""
import os, subprocess, sys
from pathlib import Path
import pandas as pd, torch

ENTRY = ("import importlib, os, sys\nm = importlib.import_module(os.environ['UDA_ENTRY'])\n"
         "sys.argv[0] = 'uda_train'; sys.exit(m.uda_train_main())")

def rows():
    from uda_course.experiment import PRESETS
    return [(p, m, k) for p, table in PRESETS.items() for (m, k) in table]

def run(checkout, out, preset, model, method, steps):
    name = f"{preset}-{model}-{method}"
    out = Path(out).resolve()
    if (out/name/'final.json').exists(): return
    entry = 'uda_course.cli' if (Path(checkout)/'uda_course'/'cli.py').exists() else 'uda_course.experiment'   # where uda_train lives
    env = {**os.environ, 'PYTHONPATH': str(Path(checkout).resolve()), 'OMP_NUM_THREADS': '1', 'UDA_ENTRY': entry}
    cmd = [sys.executable, '-c', ENTRY, '--preset', preset, '--model', model, '--method', method, '--steps', str(steps),
           '--eval_every', '10', '--out', str(out), '--name', name, '--quiet']
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=checkout)   # python -c puts the cwd first on sys.path
    if r.returncode: raise SystemExit(f"{checkout}: {name} failed:\n{r.stderr[-2000:]}")

def same(a: Path, b: Path) -> list:
    "Names of what differs between two run folders."
    bad = []
    ma, mb = (pd.read_csv(d/'metrics.csv').drop(columns='time_s') for d in (a, b))
    if not ma.equals(mb): bad.append('metrics.csv')
    for f in ('diagnostics.csv', 'confusions.csv', 'reliability.csv'):
        if (a/f).exists() != (b/f).exists() or ((a/f).exists() and not pd.read_csv(a/f).equals(pd.read_csv(b/f))): bad.append(f)
    wa, wb = (torch.load(d/'model.pt', weights_only=True) for d in (a, b))
    for part in ('model', 'ema'):
        if (wa[part] is None) != (wb[part] is None): bad.append(part); continue
        if wa[part] is not None and any(not torch.equal(wa[part][k], wb[part][k]) for k in wa[part]): bad.append(f'{part} weights')
    return bad

if __name__ == '__main__':
    args = sys.argv[1:]
    steps = int(args[args.index('--steps') + 1]) if '--steps' in args else 30
    only = args[args.index('--only') + 1:] if '--only' in args else None
    old, new, out = args[:3]
    failed = 0
    for p, m, k in rows():
        name = f"{p}-{m}-{k}"
        if only and name not in only: continue
        for which, checkout in (('old', old), ('new', new)): run(checkout, Path(out)/which, p, m, k, steps)
        bad = same(Path(out)/'old'/name, Path(out)/'new'/name)
        failed += bool(bad)
        print(f"{name:22s} {'identical' if not bad else 'DIFFERENT: ' + ', '.join(bad)}", flush=True)
    print(f"{failed} of the rows differ" if failed else "every row identical: metrics (all columns but time), diagnostics, raw and EMA weights")
    sys.exit(1 if failed else 0)
