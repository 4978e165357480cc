"""Hidden-label diagnostics of a finished run's final targets, on all unlabeled images (lesson 09).

usage: PYTHONPATH=. .venv/bin/python experiments/diagnose_run.py RUN_DIR [RUN_DIR ...]
Writes RUN_DIR/final_diagnostics.csv (one row: `target_diagnostics` of the targets' model, EMA or live as the run
used, on all 58,900 unlabeled images) and RUN_DIR/final_confusions.csv. For runs made before the diagnostics hook
existed, and as a check on the hook's 10,000-image sample. Measures only: nothing is trained or chosen with it.
"""
import json
from pathlib import Path
import pandas as pd
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig
from uda_course.data import load_ssl_data
from uda_course.experiment import make_model
from uda_course.diagnostics import target_diagnostics

def targets_model(run: Path, cfg: TrainConfig):
    "The model whose predictions were the run's targets at its end: the EMA for teacher 'ema', else the live weights."
    w = torch.load(run/'model.pt', weights_only=True)
    m = make_model(cfg.model, cfg.seed)
    m.load_state_dict(w['ema'] if cfg.teacher == 'ema' else w['model'])   # model.pt holds both
    return m

@call_parse
def main(run_dirs: Param("finished run folders", str, nargs='+')):
    for run in map(Path, run_dirs):
        cfg = TrainConfig.from_dict(json.loads((run/'config.json').read_text())['config'])
        data = load_ssl_data(seed=cfg.seed, n_labeled=cfg.n_labeled, n_val=cfg.n_val)
        row, pairs = target_diagnostics(targets_model(run, cfg), data.x_unlabeled, data.y_unlabeled_hidden, cfg)
        pd.DataFrame([dict(step=cfg.steps, **row)]).to_csv(run/'final_diagnostics.csv', index=False)
        pairs.to_csv(run/'final_confusions.csv', index=False)
        top = ', '.join(f"{t}→{g}: {c}" for t, g, c in pairs.head(3).itertuples(index=False))
        print(f"{run.name}: {row['n_wrong_confident']} wrong confident targets of {row['n_images']} ({top})")
