"""Cost of one co-training step against one `lean` step, side by side in one run.

Times the whole UDA training step of the `lean` preset (`uda_step` with Mean Teacher targets,
lesson 05a) and of the `lean_pair` preset (`cotrain_step`, two LeanCNNs and the agreed target):
forward, loss, backward and SGD step, on the same labeled batch of 32 and unlabeled batch of 64
MNIST-sized images, including the strong views drawn each step. Rows are timed in round robin,
so that a change of load hits both alike; the ratio is the pair's median against lean's.

    PYTHONPATH=. .venv/bin/python bench/bench_cotrain.py [--threads 1] [--repeats 30] [--out FILE]

Not a test: timings depend on the machine and on what else runs on it.
"""
import argparse, platform, statistics, time
from pathlib import Path
import torch
from uda_course.experiment import make_run_model, preset_configs, run_step_fn
from uda_course.train import make_ema, make_optimizer


def setup(cfg):
    "Model, EMA, optimizer and step function of a preset's UDA row."
    model = make_run_model(cfg)
    return model, make_ema(model, cfg.ema_decay), make_optimizer(model, cfg), run_step_fn(cfg)


def one_step(cfg, parts, batch, gen):
    "One training step; returns its wall time in seconds."
    model, ema, opt, step = parts
    t = time.perf_counter()
    loss, _ = step(model, *batch, cfg, 0.5, gen, {}, teacher=ema.module)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); ema.update_parameters(model)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=30)
    ap.add_argument('--out', default='bench/results/cotrain-step-cpu.md')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = {p: next(c for c in preset_configs(p, device='cpu') if c.method == 'uda')
            for p in ('lean', 'lean_pair')}
    parts = {p: setup(c) for p, c in rows.items()}
    g = torch.Generator().manual_seed(0)
    batch = (torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g),
             torch.randint(0, 10, (32,), generator=g),
             torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g))
    times = {p: [] for p in rows}
    for i in range(a.repeats + 3):                    # 3 warm-up rounds, not counted
        for p, cfg in rows.items():
            t = one_step(cfg, parts[p], batch, torch.Generator().manual_seed(i))
            if i >= 3: times[p].append(t)
    med = {p: statistics.median(t) * 1000 for p, t in times.items()}
    lines = [f"# One training step: `lean` against `lean_pair` (co-training)", "",
             f"Made by `PYTHONPATH=. .venv/bin/python bench/bench_cotrain.py --threads {a.threads} "
             f"--repeats {a.repeats}` on {platform.processor() or platform.machine()}, "
             f"torch {torch.__version__}, {a.threads} thread(s); median of {a.repeats} steps each, "
             "timed in round robin.", "",
             "| preset | step | median ms | ratio to `lean` |", "|:--|:--|--:|--:|"]
    for p in rows:
        lines.append(f"| `{p}` | `{run_step_fn(rows[p]).__name__}` | {med[p]:.1f} | "
                     f"{med[p] / med['lean']:.2f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
