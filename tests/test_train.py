import math
import pytest, torch
from uda_course.core import TrainConfig
from uda_course.train import fit, SimpleCNN, InfiniteSampler, make_ema, TrainingDiverged, supervised_step, accuracy
from uda_course.uda import uda_step
from uda_course.best_cnn import BestMNISTCNN

def test_best_cnn_parameter_count():
    assert sum(p.numel() for p in BestMNISTCNN().parameters()) == 596_490

def test_simple_cnn_parameter_count():
    assert sum(p.numel() for p in SimpleCNN().parameters()) == 3_226_474

def test_steps_are_optimizer_steps(data):
    calls = []
    def step(*a):
        calls.append(1); return supervised_step(*a)
    cfg = TrainConfig(model='simple', method='sup', steps=5, batch_size=8, eval_every=5, ema_decay=0)
    fit(SimpleCNN(), data, cfg, step, show_progress=False)
    assert len(calls) == 5

def test_same_seed_same_run(data):
    cfg = TrainConfig(model='best', method='uda', steps=4, batch_size=4, unsup_ratio=2, eval_every=2, beta=0.0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0); m = BestMNISTCNN()
        h, _ = fit(m, data, cfg, uda_step, show_progress=False)
        runs.append((h.drop(columns='time_s'), [p.detach().clone() for p in m.parameters()]))
    assert runs[0][0].equals(runs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))

def test_sampler_covers_each_pass():
    s = InfiniteSampler(7, 3, seed=1)
    idx = torch.cat([s.next() for _ in range(7)])       # 21 = three passes
    for k in range(3): assert idx[7 * k:7 * k + 7].sort().values.tolist() == list(range(7))

def test_ema_closed_form():
    lin = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad(): lin.weight.fill_(0.0)
    d, ema = 0.9, make_ema(lin, 0.9)
    vals = [1.0, 2.0, 3.0, 4.0]
    for v in vals:
        with torch.no_grad(): lin.weight.fill_(v)
        ema.update_parameters(lin)
    # AveragedModel copies the first value, then ema ← d·ema + (1−d)·θ
    expect = vals[0]
    for v in vals[1:]: expect = d * expect + (1 - d) * v
    assert ema.module.weight.item() == pytest.approx(expect, rel=1e-6)
    assert make_ema(lin, 0.0) is None

def test_nonfinite_loss_stops_the_run(data):
    def bad_step(model, xl, yl, xu, cfg, progress, gen, state):
        loss, logs = supervised_step(model, xl, yl, xu, cfg, progress, gen, state)
        return loss * float('nan'), logs
    cfg = TrainConfig(model='simple', method='sup', steps=3, batch_size=4, eval_every=3)
    with pytest.raises(TrainingDiverged, match='step 0'): fit(SimpleCNN(), data, cfg, bad_step, show_progress=False)

def test_accuracy_counts_every_image():
    class Const(torch.nn.Module):
        def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.zeros(1))
        def forward(self, x): return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float() + self.w
    x = torch.zeros(1001, 1, 28, 28, dtype=torch.uint8)
    y = torch.ones(1001, dtype=torch.long); y[-1] = 0          # 1 correct out of 1001, in a last batch of 1
    assert accuracy(Const(), x, y, batch_size=1000) == pytest.approx(1 / 1001)

def test_on_log_sees_every_history_row(data):
    seen = []
    cfg = TrainConfig(model='simple', method='sup', steps=25, batch_size=4, eval_every=20, ema_decay=0)
    h, ema = fit(SimpleCNN(), data, cfg, show_progress=False, on_log=seen.append)
    assert ema is None
    assert [r['step'] for r in seen] == h.step.tolist() == [10, 20, 25]
    assert seen[1]['val_acc'] is not None and seen[0]['val_acc'] is None
    assert all(list(r) == list(seen[0]) for r in seen)          # same columns in every row (the live CSV)

def test_step_function_must_match_method(data):
    from uda_course.core import ConfigError
    with pytest.raises(ConfigError, match='uda_step'):
        fit(SimpleCNN(), data, TrainConfig(model='simple', method='uda', steps=1), supervised_step, show_progress=False)
    with pytest.raises(ConfigError, match='supervised_step'):
        fit(SimpleCNN(), data, TrainConfig(model='simple', method='sup', steps=1), uda_step, show_progress=False)

def test_on_eval_sees_every_validation_with_both_models(data):
    seen = []
    cfg = TrainConfig(model='simple', method='sup', steps=6, batch_size=4, eval_every=3)
    m = SimpleCNN()
    fit(m, data, cfg, show_progress=False, on_eval=lambda row, net, ema: seen.append((row['step'], row['val_acc'], net is m, ema is not None)))
    assert [s[0] for s in seen] == [3, 6] and all(s[1] is not None and s[2] and s[3] for s in seen)
