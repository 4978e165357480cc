"""Seconds per training step of one run: 1 process with T threads against W processes (torchrun, DDP) with T/W threads each.

usage: .venv/bin/python bench/ddp_speed.py [--preset lean] [--model lean] [--steps 100] [--nprocs 2] [--device cpu] [--out bench/results]

Same global batch, same steps; rows alternate (1, W, 1, W) so that a change of load hits both alike. Writes
OUT/ddp-speed-PRESET-MODEL-DEVICE.{csv,json}: one row per run (processes, threads per process, training seconds from
final.json, seconds per step). Lesson 11 explains why 2 processes on 2 CPU cores are no faster than 1 process.
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

import pandas as pd

def _arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default

def run(n, threads, flags, tmp, name):
    launch = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(n), '-m', 'uda_course.cli'] if n > 1 else \
             [sys.executable, '-c', 'from uda_course.cli import uda_train_main; uda_train_main()']
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    t0 = time.time()
    p = subprocess.run([*launch, *flags, '--out', tmp, '--name', name], env=env, capture_output=True, text=True)
    if p.returncode: sys.exit(f"run {name} failed:\n{p.stderr[-3000:]}")
    return json.loads((Path(tmp)/name/'final.json').read_text())['train_wall_s'], time.time() - t0

def main():
    preset, model, steps, n = _arg('--preset', 'lean'), _arg('--model', 'lean'), _arg('--steps', 100), _arg('--nprocs', 2)
    device, out = _arg('--device', 'cpu'), Path(_arg('--out', 'bench/results'))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    threads = max(1, cores // n) if device == 'cpu' else 1
    flags = ['--preset', preset, '--model', model, '--method', 'uda', '--steps', str(steps), '--eval_every', str(steps),
             '--device', device, '--quiet', '--diagnostics', 'False']
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (procs, thr) in enumerate([(1, threads * n if device == 'cpu' else 1), (n, threads)] * 2):
            train_s, wall_s = run(procs, thr, flags, tmp, f'r{i}')
            rows.append(dict(processes=procs, threads_per_process=thr, steps=steps, train_s=train_s, s_per_step=train_s / steps, wall_s=round(wall_s, 1)))
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows); out.mkdir(parents=True, exist_ok=True)
    name = f"ddp-speed-{preset}-{model}-{device}"
    df.to_csv(out/f'{name}.csv', index=False)
    s = df.groupby('processes').s_per_step.median()
    (out/f'{name}.json').write_text(json.dumps(dict(preset=preset, model=model, device=device, cores=cores, steps=steps,
        median_s_per_step={int(k): round(v, 4) for k, v in s.items()}, speedup=round(s.iloc[0] / s.iloc[-1], 3),
        load_average=os.getloadavg()), indent=2))
    print(f"{preset}/{model} UDA on {device}: 1 process {s.iloc[0]:.3f} s/step, {n} processes {s.iloc[-1]:.3f} s/step (speed-up {s.iloc[0] / s.iloc[-1]:.2f}x)")

if __name__ == '__main__': main()
