"""Every test image a finished run misreads: its index in the test set, true digit, predicted digit and confidence
(the largest softmax probability), one row each, sorted by index. The model is the EMA weights where the run kept
them (the weights every reported test accuracy comes from), else the live weights.

usage: PYTHONPATH=. .venv/bin/python experiments/misread.py RUN_DIR OUT.csv
Reads RUN_DIR/config.json and RUN_DIR/model.pt.
"""
import json
from pathlib import Path
import pandas as pd
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig
from uda_course.data import load_ssl_data
from uda_course.experiment import make_model
from uda_course.train import predict

@call_parse
def main(run_dir: Param("finished run folder (with model.pt)", str), out: Param("CSV to write", str)):
    run = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run/'config.json').read_text())['config'])
    w = torch.load(run/'model.pt', weights_only=True)
    model = make_model(cfg.model, cfg.seed)
    model.load_state_dict(w['ema'] if w.get('ema') is not None else w['model'])
    data = load_ssl_data(seed=cfg.seed, n_labeled=cfg.n_labeled, n_val=cfg.n_val)
    prob = predict(model, data.x_test).softmax(1)
    conf, pred = prob.max(1)
    wrong = (pred != data.y_test).nonzero().flatten()
    pd.DataFrame(dict(index=wrong.numpy(), true=data.y_test[wrong].numpy(), predicted=pred[wrong].numpy(),
                      confidence=conf[wrong].numpy().round(4))).to_csv(out, index=False)
    print(f"{out}: {len(wrong)} of {len(data.y_test)} test images misread "
          f"(accuracy {1 - len(wrong) / len(data.y_test):.4f}, {'EMA' if w.get('ema') is not None else 'live'} weights of {run})")
