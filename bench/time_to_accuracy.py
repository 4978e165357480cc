"""Time to accuracy: validation and test accuracy against training wall time and step for one preset row.

usage: PYTHONPATH=. .venv/bin/python bench/time_to_accuracy.py [--preset quick] [--model best] [--method uda]
           [--steps N] [--eval_every K] [--seed 0] [--device auto] [--out bench/results] [--run_dir DIR]
Writes OUT/tta-<preset>-<model>-<method>-<device>.csv and .png, and prints the time and steps at which test
accuracy (raw and EMA) first reaches 97%, 98%, 99%, 99.2% and 99.3%, next to the report's budget (about 45,000 optimiser steps).
Test accuracy is measured on all 10,000 test images at every validation, for the curve only: nothing is selected on it.
The time column counts training only (the test evaluations of this script are subtracted). The CSV has exactly one
row per evaluation step (a resumed run measures each step once).
With --run_dir the run goes through `run_experiment` (lesson 07) and also leaves an ordinary run folder there
(config, metrics, weights, final.json): the test curve changes nothing in training, so the folder can stand as that
split's run of the preset (e.g. --run_dir runs/tuned/tuned-seed4/best-uda, then `uda_reproduce --reuse`); its
train_wall_s then includes the test evaluations, which the CSV's train_s column does not.
"""
import json, time
from pathlib import Path
import pandas as pd
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig, get_device
from uda_course.data import load_ssl_data
from uda_course.experiment import PRESETS, environment_info, make_run_model, run_experiment, run_step_fn
from uda_course.train import Callback, accuracy, fit

REPORT_STEPS = 45_000   # the report's trainer: about 45,000 optimiser steps

@call_parse
def main(preset: Param("preset whose row to run", str) = 'quick', model: Param("simple | best | lean", str) = 'best',
         method: Param("sup | uda", str) = 'uda', steps: Param("optimiser steps (default: the preset's)", int) = None,
         eval_every: Param("steps between measurements", int) = 100, seed: Param("label split and run seed", int) = 0,
         device: Param("auto | cpu | cuda", str) = 'auto', out: Param("folder for the CSV and plot", str) = 'bench/results',
         run_dir: Param("also write an ordinary run folder here (through run_experiment)", str) = None):
    row = {**PRESETS[preset][(model, method)], 'eval_every': eval_every, 'seed': seed, 'device': device, 'checkpoint_every': 0}
    if steps is not None: row['steps'] = steps
    cfg = TrainConfig.from_dict({**TrainConfig(model=model, method=method).to_dict(), **row})
    dev = get_device(cfg.device)
    data = load_ssl_data(None, cfg.n_labeled, cfg.n_val, cfg.seed)
    class TestCurve(Callback):
        "After each validation: test accuracy (raw, EMA) on all test images, with the training clock (test time left out)."
        def __init__(self): self.points, self.spent, self.t0 = [], 0.0, time.perf_counter()
        def after_eval(self, run):
            t, r = time.perf_counter(), run.row
            if self.points and self.points[-1]['step'] >= r['step']: return     # one row per evaluation step
            self.points.append(dict(step=r['step'], train_s=t - self.t0 - self.spent, val_acc=r['val_acc'], val_acc_ema=r.get('val_acc_ema'),
                                    test_acc=accuracy(run.model, data.x_test, data.y_test),
                                    test_acc_ema=accuracy(run.ema_model, data.x_test, data.y_test) if run.ema is not None else None))
            self.spent += time.perf_counter() - t
    curve = TestCurve()
    if run_dir: run_experiment(cfg, run_dir, data=data, show_progress=False, cbs=[curve])
    else: fit(make_run_model(cfg, data), data, cfg, run_step_fn(cfg), cbs=[curve], device=dev,
              show_progress=False)
    points = curve.points
    df = pd.DataFrame(points)
    assert df.step.is_unique and df.step.is_monotonic_increasing, "one row per evaluation, in step order"
    name = f"tta-{preset}-{model}-{method}-{dev.type}"
    Path(out).mkdir(parents=True, exist_ok=True)
    df.to_csv(Path(out)/f"{name}.csv", index=False)
    (Path(out)/f"{name}.json").write_text(json.dumps(dict(config=cfg.to_dict(), environment=environment_info(dev)), indent=2))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.5))
    for c in ('val_acc', 'val_acc_ema', 'test_acc', 'test_acc_ema'):
        if df[c].notna().any():
            df.plot(x='train_s', y=c, ax=ax[0], marker='.'); df.plot(x='step', y=c, ax=ax[1], marker='.')
    for a in ax:
        a.set_ylim(max(0.8, df[['test_acc']].min().min() - 0.01), 1.0)
        for level in (0.98, 0.99, 0.992): a.axhline(level, ls=':', c='grey', lw=0.8)
    ax[0].set(xlabel='training time (s)', title=f"{name}: accuracy against time"); ax[1].set(title='against optimiser steps')
    fig.tight_layout(); fig.savefig(Path(out)/f"{name}.png", dpi=90)
    print(f"{name}: {cfg.steps} steps, {df.train_s.iloc[-1]:.0f} s of training on {environment_info(dev)['device_name']}; report's budget: ~{REPORT_STEPS:,} steps")
    print(f"{'target':>7} | {'steps (raw)':>11} {'time s (raw)':>12} | {'steps (EMA)':>11} {'time s (EMA)':>12}")
    for target in (0.97, 0.98, 0.99, 0.992, 0.993):
        cells = []
        for c in ('test_acc', 'test_acc_ema'):
            hit = df[df[c] >= target]
            cells += [f"{int(hit.step.iloc[0]):>11}", f"{hit.train_s.iloc[0]:>12.0f}"] if len(hit) else [f"{'not reached':>11}", f"{'-':>12}"]
        print(f"{target:>7.3f} | {cells[0]} {cells[1]} | {cells[2]} {cells[3]}")
