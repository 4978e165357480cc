"""Where would the labels alone put the 7s that UDA turns into 4s? (lesson 09)

usage: PYTHONPATH=. .venv/bin/python experiments/probe_crossed_sevens.py RUN_DIR OUT.csv [--steps 1500]
Takes the unlabeled 7s whose final target in RUN_DIR (a finished UDA run) is 4, trains a supervised LeanCNN on the
same 100 labels (weak augmentation, `steps` steps, EMA) and writes how many of those images it calls each digit.
The hidden labels pick the images (measuring only); nothing here feeds back into any run.
"""
import json
from pathlib import Path
import pandas as pd
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig
from uda_course.data import load_ssl_data
from uda_course.experiment import make_model, STEP_FNS
from uda_course.train import fit, predict, accuracy
from experiments.diagnose_run import targets_model

@call_parse
def main(run_dir: Param("finished UDA run folder", str), out: Param("CSV to write", str), steps: Param("supervised steps", int) = 1500):
    run = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run/'config.json').read_text())['config'])
    data = load_ssl_data(seed=cfg.seed)
    target = predict(targets_model(run, cfg), data.x_unlabeled).argmax(1)
    x = data.x_unlabeled[(data.y_unlabeled_hidden == 7) & (target == 4)]
    sup = TrainConfig(model=cfg.model, method='sup', steps=steps, eval_every=steps, seed=cfg.seed, checkpoint_every=0)
    _, ema = fit(make_model(sup.model, sup.seed), data, sup, STEP_FNS['sup'], show_progress=False)
    calls = torch.bincount(predict(ema, x).argmax(1), minlength=10)
    df = pd.DataFrame(dict(digit=range(10), supervised_calls=calls.tolist()))
    df.to_csv(out, index=False)
    print(f"{len(x)} unlabeled 7s get target 4 in {run.name}; a supervised {sup.model} ({steps} steps, test accuracy "
          f"{accuracy(ema, data.x_test, data.y_test):.4f}) calls them: " + ', '.join(f"{d}: {c}" for d, c in enumerate(calls.tolist()) if c))
