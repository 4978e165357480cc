"""Cost of one co-training step against one `lean` step, side by side in one run.

Times the whole UDA training step of the `lean` preset (`uda_step` with Mean Teacher targets,
lesson 05a) and of the `lean_pair` preset (`cotrain_step`, two LeanCNNs and the agreed target):
forward, loss, backward and SGD step, on the same labeled batch of 32 and unlabeled batch of 64
MNIST-sized images, including the strong views drawn each step. Rows are timed in round robin,
so that a change of load hits both alike; the ratio is each row's median against lean's.
With `--amp` each preset also gets a row under bf16 autocast (`TrainConfig.amp`, lesson 02), which
pays only on CPUs with bf16 instructions (the header says whether this one has them).

    PYTHONPATH=. .venv/bin/python bench/bench_cotrain.py [--threads 1] [--repeats 30] [--amp]
        [--out FILE]

Not a test: timings depend on the machine and on what else runs on it.
"""
import argparse, platform, statistics, time
from pathlib import Path
import dataclasses
import torch
from uda_course.experiment import make_run_model, preset_configs, run_step_fn
from uda_course.train import cpu_bf16_instructions, make_ema, make_optimizer


def setup(cfg):
    "Model, EMA, optimizer and step function of a preset's UDA row."
    model = make_run_model(cfg)
    return model, make_ema(model, cfg.ema_decay), make_optimizer(model, cfg), run_step_fn(cfg)


def one_step(cfg, parts, batch, gen):
    "One training step (under bf16 autocast when `cfg.amp`); returns its wall time in seconds."
    model, ema, opt, step = parts
    t = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=cfg.amp):
        loss, _ = step(model, *batch, cfg, 0.5, gen, {}, teacher=ema.module)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); ema.update_parameters(model)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=30)
    ap.add_argument('--amp', action='store_true', help='add a bf16 autocast row per preset')
    ap.add_argument('--out', default='bench/results/cotrain-step-cpu.md')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    uda = {p: next(c for c in preset_configs(p, device='cpu') if c.method == 'uda')
           for p in ('lean', 'lean_pair')}
    rows = {(p, amp): dataclasses.replace(c, amp=amp)
            for p, c in uda.items() for amp in ((False, True) if a.amp else (False,))}
    parts = {p: setup(c) for p, c in rows.items()}
    g = torch.Generator().manual_seed(0)
    batch = (torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g),
             torch.randint(0, 10, (32,), generator=g),
             torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g))
    times = {p: [] for p in rows}
    for i in range(a.repeats + 3):                    # 3 warm-up rounds, not counted
        for r, cfg in rows.items():
            t = one_step(cfg, parts[r], batch, torch.Generator().manual_seed(i))
            if i >= 3: times[r].append(t)
    med = {r: statistics.median(t) * 1000 for r, t in times.items()}
    ref = med[('lean', False)]
    bf16 = ', '.join(cpu_bf16_instructions()) or 'none'
    lines = [f"# One training step: `lean` against `lean_pair` (co-training)", "",
             f"Made by `PYTHONPATH=. .venv/bin/python bench/bench_cotrain.py --threads {a.threads} "
             f"--repeats {a.repeats}{' --amp' if a.amp else ''}` on "
             f"{platform.processor() or platform.machine()} (bf16 instructions: {bf16}), "
             f"torch {torch.__version__}, {a.threads} thread(s); median of {a.repeats} steps each, "
             "timed in round robin.", "",
             "| preset | step | autocast | median ms | ratio to `lean` |", "|:--|:--|:--|--:|--:|"]
    for (p, amp), cfg in rows.items():
        lines.append(f"| `{p}` | `{run_step_fn(cfg).__name__}` | {'bf16' if amp else 'no'} | "
                     f"{med[(p, amp)]:.1f} | {med[(p, amp)] / ref:.2f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__': main()
