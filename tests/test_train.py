import pandas as pd
import math
import pytest, torch
from uda_course.core import TrainConfig
from uda_course.train import (fit, SimpleCNN, InfiniteSampler, make_ema, make_optimizer, make_scheduler, TrainingDiverged, accuracy,
                               Callback, CancelFit, labeled_step)
from uda_course.core import seed_everything
from uda_course.augment import supervised_step
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

class _Rows(Callback):
    "Records every history row (a copy) after the step's callbacks of lower order have filled it."
    order = 40
    def __init__(self): self.rows = []
    def after_step(self, run):
        if run.row is not None: self.rows.append(dict(run.row))

def test_a_callback_sees_every_history_row(data):
    rec = _Rows()
    cfg = TrainConfig(model='simple', method='sup', steps=25, batch_size=4, eval_every=20, ema_decay=0)
    h, ema = fit(SimpleCNN(), data, cfg, cbs=[rec], show_progress=False)
    seen = rec.rows
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

def test_after_eval_sees_every_validation_with_both_models(data):
    class Seen(Callback):
        def __init__(self): self.seen = []
        def after_eval(self, run): self.seen.append((run.row['step'], run.row['val_acc'], run.model is m, run.ema_model is not None))
    cb, m = Seen(), SimpleCNN()
    fit(m, data, TrainConfig(model='simple', method='sup', steps=6, batch_size=4, eval_every=3), cbs=[cb], show_progress=False)
    assert [s[0] for s in cb.seen] == [3, 6] and all(s[1] is not None and s[2] and s[3] for s in cb.seen)

class _StopAfter(Callback):
    "A user's callback: records the learning rate of every step and stops the run after n steps."
    def __init__(self, n): self.n, self.lrs, self.ended = n, [], False
    def after_step(self, run):
        self.lrs.append(run.optimizer.param_groups[0]['lr'])
        if run.done == self.n: raise CancelFit
    def after_fit(self, run): self.ended = True

def test_user_callback_stops_early_and_records_the_learning_rate(data):
    cfg = TrainConfig(model='simple', method='sup', steps=20, batch_size=4, eval_every=5, ema_decay=0, lr=0.1)
    cb = _StopAfter(7)
    torch.manual_seed(0); h, _ = fit(SimpleCNN(), data, cfg, cbs=[cb], log_every=1, show_progress=False)
    assert h.step.tolist() == list(range(1, 8)) and cb.ended          # 7 of 20 steps, every row kept, after_fit ran
    assert cb.lrs == pytest.approx([0.1 * math.cos(7 * math.pi * t / (16 * 20)) for t in range(1, 8)])
    assert cb.lrs == pytest.approx(h.lr.tolist())
    torch.manual_seed(0); full, _ = fit(SimpleCNN(), data, cfg, log_every=1, show_progress=False)
    assert not math.isnan(h.val_acc.iloc[-1])                          # a cancelled run is evaluated where it stopped
    before = h.drop(columns='time_s').iloc[:6], full.drop(columns='time_s').iloc[:6]
    pd.testing.assert_frame_equal(*before)                             # stopping changes nothing before it
    last = h.drop(columns=['time_s', 'val_acc']).iloc[6], full.drop(columns=['time_s', 'val_acc']).iloc[6]
    pd.testing.assert_series_equal(*last)                              # the last row too, but its validation

def test_callbacks_run_in_order_and_after_fit_runs_on_errors(data):
    calls = []
    class Tag(Callback):
        def __init__(self, name, order): self.name, self.order = name, order
        def before_fit(self, run): calls.append(self.name)
        def after_fit(self, run): calls.append(self.name + '.end')
    def nan_step(*a):
        loss, logs = supervised_step(*a); return loss * float('nan'), logs
    cfg = TrainConfig(model='simple', method='sup', steps=3, batch_size=4, eval_every=3)
    with pytest.raises(TrainingDiverged, match='no checkpoint was written'):
        fit(SimpleCNN(), data, cfg, nan_step, cbs=[Tag('b', 5), Tag('a', -5), Tag('c', 5)], show_progress=False)
    assert calls == ['a', 'b', 'c', 'a.end', 'b.end', 'c.end']          # by order, ties as given; after_fit despite the error

def test_final_fit_equals_the_lessons_draft_loop(data):
    "fit with its callbacks computes exactly what lesson 02's plain draft loop computes: the callbacks only observe."
    cfg = TrainConfig(model='simple', method='sup', steps=12, batch_size=8, eval_every=4, ema_decay=0)
    torch.manual_seed(0); a = SimpleCNN(); fit(a, data, cfg, labeled_step, show_progress=False)
    torch.manual_seed(0); b = SimpleCNN(); seed_everything(cfg.seed)
    opt = make_optimizer(b, cfg); sched = make_scheduler(opt, cfg.steps)
    lab = InfiniteSampler(len(data.x_labeled), cfg.batch_size, seed=cfg.seed + 2)
    for step in range(cfg.steps):
        b.train(); il = lab.next()
        loss, _ = labeled_step(b, data.x_labeled[il], data.y_labeled[il], None, cfg, step / cfg.steps, None)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()): assert torch.equal(v, w), k

def test_lesson_02_imports_nothing_from_a_later_lesson():
    "Lesson 02 (uda_course/train.py) can be read and run on its own: it imports only lessons 00 and 01."
    import ast, uda_course.train as t
    tree = ast.parse(open(t.__file__).read())
    ours = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}
    assert ours == {'core', 'data'}, ours
