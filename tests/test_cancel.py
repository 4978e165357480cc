"""A callback that raises `CancelFit` ends a run early and normally (lessons 02, 06, 07): the run is evaluated where it
stopped, its folder says so, its numbers are those of the steps trained, and it can be continued with --resume."""
import json
import pandas as pd, pytest, torch
from uda_course.core import TrainConfig
from uda_course.data import SSLData
from uda_course.train import Callback, CancelFit, SimpleCNN, fit
from uda_course.experiment import STEP_FNS, finished, open_run, run_experiment

class CancelAt(Callback):
    def __init__(self, step, event='after_step'): self.at = step; setattr(self, event, self.check)
    def check(self, run):
        if run.done >= self.at: raise CancelFit()

@pytest.fixture(scope='module')
def small(data):
    return SSLData(data.x_labeled, data.y_labeled, data.x_unlabeled[:400], data.x_val[:64], data.y_val[:64],
                   data.x_test[:64], data.y_test[:64])

CFG = dict(model='simple', method='uda', steps=8, eval_every=250, batch_size=8, checkpoint_every=0)

def test_fit_evaluates_where_a_cancel_stops_it(small):
    torch.manual_seed(0)
    h, ema = fit(SimpleCNN(), small, TrainConfig(**CFG), STEP_FNS['uda'], cbs=[CancelAt(3)], show_progress=False)
    assert h.step.iloc[-1] == 3 and h.val_acc.notna().iloc[-1] and h.val_acc_ema.notna().iloc[-1]

def test_cancel_before_the_first_step(small):
    h, _ = fit(SimpleCNN(), small, TrainConfig(**CFG), STEP_FNS['uda'], cbs=[CancelAt(0, 'before_fit')],
                show_progress=False)
    assert h.step.tolist() == [0] and 0 <= h.val_acc.iloc[0] <= 1

def test_cancelled_run_folder_says_so_and_resumes(small, tmp_path):
    cfg, d = TrainConfig(**CFG), tmp_path/'run'
    final = run_experiment(cfg, d, data=small, cbs=[CancelAt(3)], show_progress=False)   # crashed before (no val_acc)
    on_disk = json.loads((d/'final.json').read_text())
    assert on_disk == final and (final['steps'], final['cancelled'], final['steps_planned']) == (3, True, 8)
    assert pd.read_csv(d/'metrics.csv').step.iloc[-1] == 3 and (d/'checkpoint.pt').exists()
    assert not finished(d)
    assert open_run(cfg, d, resume=True)['step'] == 3                       # not "holds a finished run"
    final = run_experiment(cfg, d, data=small, resume=True, show_progress=False)
    assert final['steps'] == 8 and 'cancelled' not in final and finished(d)
