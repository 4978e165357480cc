"""The digits behind a confusion of a finished run: the labeled images of the true digit next to the unlabeled
images of that digit whose target (the arg-max of the targets' model, EMA or live as the run used) is another digit.

usage: PYTHONPATH=. .venv/bin/python experiments/confusion_digits.py RUN_DIR TRUE TARGET OUT.png [--n 30]
Reads RUN_DIR/config.json and RUN_DIR/model.pt; the unlabeled images' hidden labels are used to pick them (measuring only).
"""
import json
from pathlib import Path
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig
from uda_course.data import load_ssl_data, show_images
from experiments.diagnose_run import targets_model
from uda_course.train import predict

@call_parse
def main(run_dir: Param("finished run folder", str), true: Param("true digit", int), target: Param("digit the target says", int),
         out: Param("PNG to write", str), n: Param("unlabeled images to show", int) = 30):
    run = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run/'config.json').read_text())['config'])
    data = load_ssl_data(seed=cfg.seed)
    pred = predict(targets_model(run, cfg), data.x_unlabeled).argmax(1)
    hit = (data.y_unlabeled_hidden == true) & (pred == target)
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 1, figsize=(9, 3.2), gridspec_kw=dict(height_ratios=[1, 2]))
    show_images(data.x_labeled[data.y_labeled == true], nrow=10, ax=ax[0], title=f"the {int((data.y_labeled == true).sum())} labeled {true}s of split {cfg.seed}")
    show_images(data.x_unlabeled[hit][:n], nrow=15, ax=ax[1], title=f"unlabeled {true}s whose target is {target} ({int(hit.sum())} of {int((data.y_unlabeled_hidden == true).sum())}, first {min(n, int(hit.sum()))} shown)")
    fig.tight_layout(); fig.savefig(out, dpi=80)
    print(f"{out}: {int(hit.sum())} unlabeled {true}s get target {target} ({run.name})")
