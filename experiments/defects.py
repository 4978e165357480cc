"""One row of the report-defects table (lesson 08): our UDA on BestMNISTCNN with one report defect put back.

usage: python experiments/defects.py --defect NAME --out runs/defects [--steps 1200] [--seed 0]
       python experiments/defects.py --resume runs/defects/NAME      (continue an interrupted row)
The run folder is OUT/NAME, written by `run_experiment` like any `uda_train` run.
"""
import json
from pathlib import Path
from fastcore.script import call_parse, Param, store_true
from uda_course.core import ConfigError, TrainConfig
from uda_course.checkpoint import load_checkpoint
from uda_course.defects import DEFECTS, DEFECT_CONFIGS, defect_step
from uda_course.experiment import _cli_errors, run_experiment
from uda_course.uda import uda_step

@call_parse
def main(defect: Param(f"one of {', '.join(DEFECTS)}", str) = None, out: Param("folder of the run folders", str) = 'runs/defects',
         name: Param("run folder name (default: the defect)", str) = None,
         steps: Param("optimiser steps", int) = 1200, seed: Param("label split and run seed", int) = 0,
         eval_every: Param("steps between validations", int) = 200, checkpoint_every: Param("steps between checkpoints", int) = 200,
         resume: Param("continue the interrupted row in this folder", str) = None, quiet: Param("no progress bar", store_true) = False):
    def run():
        if resume is not None:
            d = Path(resume)
            saved = json.loads((d/'config.json').read_text())          # the defect is recorded as the step function's name
            fn = defect_step(saved['step_fn'].removeprefix('defect_')) if saved['step_fn'].startswith('defect_') else uda_step
            cfg = TrainConfig.from_dict(load_checkpoint(d/'checkpoint.pt')['config'])
            return run_experiment(cfg, d, resume=True, step_fn=fn, show_progress=not quiet)
        if defect not in DEFECTS: raise ConfigError(f"--defect must be one of {', '.join(DEFECTS)}, got {defect!r}")
        cfg = TrainConfig(model='best', method='uda', steps=steps, seed=seed, eval_every=eval_every, checkpoint_every=checkpoint_every,
                          **DEFECT_CONFIGS.get(defect, {}))
        fn = uda_step if defect in DEFECT_CONFIGS else defect_step(defect)
        return run_experiment(cfg, Path(out)/(name or defect), step_fn=fn, show_progress=not quiet)
    print(json.dumps(_cli_errors(run), indent=2))
