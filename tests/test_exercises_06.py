"""The answers to the exercises of lessons 06 (checkpoints) and 08 (the report's defects) that have a definite answer,
checked, so that no exercise is wrong. Each test names its lesson and exercise number and holds the hand-derived value.
The training runs are the lesson-07 demonstration run (SimpleCNN, 12 steps, B = 8, μ = 2), on the lesson's split with
only 64 validation and test images: validation is most of a tiny run's time, and no answer depends on it."""
import copy, math, os, signal
import pandas as pd, pytest, torch
from torch import nn
from uda_course.core import TrainConfig
from uda_course.data import SSLData
from uda_course.train import Callback, InfiniteSampler, SimpleCNN, fit
from uda_course.augment import rand_augment, supervised_step
from uda_course.best_cnn import BestMNISTCNN
from uda_course.uda import consistency_loss, uda_step, uda_target
from uda_course.checkpoint import (CHECKPOINT_FORMAT, Checkpointer, CheckpointError, Resume, TrainingInterrupted,
                                   load_checkpoint, save_checkpoint)
import uda_course.defects as defects
from uda_course.defects import batchwise_rand_augment, defect_step, report_clamp

LESSON_RUN = dict(model='simple', method='uda', steps=12, batch_size=8, unsup_ratio=2, eval_every=4, checkpoint_every=5, dist_align=True)


@pytest.fixture(scope='module')
def small(data):
    "The lesson's split (all 100 labeled and 58,900 unlabeled images) with 64 validation and 64 test images."
    return SSLData(data.x_labeled, data.y_labeled, data.x_unlabeled, data.x_val[:64], data.y_val[:64], data.x_test[:64], data.y_test[:64])


class Crash(Exception): pass

def crashing(after, step_fn=uda_step):
    "`step_fn`, raising `Crash` when asked for one more step after `after` complete steps (as a killed process would stop)."
    calls = [0]
    def step(*a, **kw):
        if calls[0] == after: raise Crash()
        calls[0] += 1
        return step_fn(*a, **kw)
    step.uses_unlabeled = getattr(step_fn, 'uses_unlabeled', False)
    return step

def train(data, cfg, step_fn=uda_step, cbs=()):
    "History (without wall time) of a fresh SimpleCNN trained as in the lesson's last cells."
    torch.manual_seed(0)
    h, _ = fit(SimpleCNN(), data, cfg, step_fn, show_progress=False, log_every=1, cbs=cbs)
    return h.drop(columns='time_s')


@pytest.fixture(scope='module')
def uninterrupted(small, tmp_path_factory):
    "History and final checkpoint of the lesson's run, never interrupted."
    path = tmp_path_factory.mktemp('full')/'checkpoint.pt'
    cfg = TrainConfig(**{**LESSON_RUN, 'checkpoint_every': 0})                  # a checkpoint at the end only (same results)
    return train(small, cfg, cbs=[Checkpointer(path)]), load_checkpoint(path)

@pytest.fixture(scope='module')
def at_step_5(small, tmp_path_factory):
    "The checkpoint the lesson's run leaves when it crashes after 7 steps."
    path = tmp_path_factory.mktemp('crash')/'checkpoint.pt'
    with pytest.raises(Crash): train(small, TrainConfig(**LESSON_RUN), crashing(7), [Checkpointer(path)])
    return load_checkpoint(path)


# ---------------------------------------------------------------- lesson 06

def test_l07_ex1_what_a_checkpoint_holds(at_step_5, small, tmp_path):
    ck = at_step_5
    assert ck['format'] == CHECKPOINT_FORMAT and ck['step'] == 5
    assert list(ck) == ['format', 'step', 'config', 'parts', 'torch_rng', 'cuda_rng', 'step_state', 'history']
    assert list(ck['parts']) == ['model', 'optimizer', 'scheduler', 'ema', 'aug_gen', 'labeled_sampler', 'unlabeled_sampler']
    assert [r['step'] for r in ck['history']] == [1, 2, 3, 4, 5]               # log_every = 1: one row per step so far
    assert list(ck['step_state']) == ['p_model'] and ck['step_state']['p_model'].shape == (10,)   # distribution alignment's p̄
    assert ck['parts']['labeled_sampler']['pos'] == 5 * 8                       # 5 batches of B = 8 from a permutation of 100
    assert ck['parts']['unlabeled_sampler']['pos'] == 5 * 16                    # 5 batches of μB = 16
    assert ck['parts']['scheduler']['last_epoch'] == 5 and int(ck['parts']['ema']['n_averaged']) == 5
    assert len(ck['parts']['optimizer']['state']) == 8                          # a momentum buffer per weight and bias tensor
    # a supervised run without EMA has nothing to save for the unlabeled sampler and the EMA
    cfg = TrainConfig(**{**LESSON_RUN, 'method': 'sup', 'steps': 1, 'ema_decay': 0.0, 'dist_align': False})
    train(small, cfg, supervised_step, [Checkpointer(tmp_path/'sup.pt')])
    parts = load_checkpoint(tmp_path/'sup.pt')['parts']
    assert [k for k, v in parts.items() if v is None] == ['ema', 'unlabeled_sampler']


def test_l07_ex2_where_a_resumed_run_continues(small, tmp_path):
    cfg = TrainConfig(**{**LESSON_RUN, 'checkpoint_every': 4})                 # checkpoints after steps 4, 8 and 12
    with pytest.raises(Crash): train(small, cfg, crashing(9), [Checkpointer(tmp_path/'a.pt')])
    ck = load_checkpoint(tmp_path/'a.pt')
    assert ck['step'] == 8                                                      # the last multiple of 4 before the crash
    made = []
    class Steps(Callback):
        def after_step(self, run): made.append(run.done)
    h = train(small, cfg, cbs=[Resume(ck), Steps()])
    assert made == [9, 10, 11, 12] and h.step.tolist() == list(range(1, 13))    # step 9 is made a second time
    # Ctrl-C during step 6: that step is finished and saved, and the run stops
    def ctrl_c_in_step_6(*a, **kw):
        ctrl_c_in_step_6.calls += 1
        if ctrl_c_in_step_6.calls == 6: signal.raise_signal(signal.SIGINT)
        return uda_step(*a, **kw)
    ctrl_c_in_step_6.calls, ctrl_c_in_step_6.uses_unlabeled = 0, True
    with pytest.raises(TrainingInterrupted, match='interrupted at step 6;'):
        train(small, cfg, ctrl_c_in_step_6, [Checkpointer(tmp_path/'b.pt')])
    assert load_checkpoint(tmp_path/'b.pt')['step'] == 6
    # a crash before the first checkpoint leaves nothing to resume from
    with pytest.raises(Crash): train(small, cfg, crashing(3), [Checkpointer(tmp_path/'c.pt')])
    assert not (tmp_path/'c.pt').exists()
    with pytest.raises(CheckpointError, match='no checkpoint'): load_checkpoint(tmp_path/'c.pt')


def test_l07_ex3_an_interrupted_save_keeps_the_previous_checkpoint(small, tmp_path, monkeypatch):
    real_save, saves = torch.save, []
    def disk_full_on_second_save(obj, f):
        saves.append(obj['step'])
        if len(saves) == 2: f.write(b'partial'); raise OSError(28, 'No space left on device')
        real_save(obj, f)
    monkeypatch.setattr(torch, 'save', disk_full_on_second_save)
    ck = tmp_path/'checkpoint.pt'
    with pytest.raises(CheckpointError, match='No space left.*previous checkpoint is kept'):
        train(small, TrainConfig(**LESSON_RUN), cbs=[Checkpointer(ck)])
    assert saves == [5, 10]                                                     # the save after step 10 failed: training stopped there
    assert load_checkpoint(ck)['step'] == 5 and [p.name for p in tmp_path.iterdir()] == ['checkpoint.pt']
    # killed in the middle of the write (nothing runs after a SIGKILL: here an exception no handler catches)
    class Killed(BaseException): pass
    def killed_while_writing(obj, f): f.write(b'partial'); raise Killed()
    monkeypatch.setattr(torch, 'save', killed_while_writing)
    with pytest.raises(Killed): save_checkpoint(ck, dict(format=CHECKPOINT_FORMAT, step=10))
    assert load_checkpoint(ck)['step'] == 5                                     # os.replace never ran
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'.checkpoint.pt.tmp-{os.getpid()}', 'checkpoint.pt']   # the temporary file stays


def test_l07_ex4_resume_is_exact_only_with_the_generator_and_samplers(at_step_5, uninterrupted, small, tmp_path):
    cfg, (full, full_end) = TrainConfig(**LESSON_RUN), uninterrupted
    def resumed(**fresh):
        "Resume from step 5 with the named parts as a fresh run has them; the history and the final checkpoint."
        ck = copy.deepcopy(at_step_5); ck['parts'].update(fresh)
        end = TrainConfig(**{**LESSON_RUN, 'checkpoint_every': 0})               # a checkpoint at the end only (same results)
        h = train(small, end, cbs=[Resume(ck), Checkpointer(tmp_path/'end.pt')])
        return h, load_checkpoint(tmp_path/'end.pt'), ck
    h, end, used = resumed()
    pd.testing.assert_frame_equal(h, full, check_exact=True)
    momentum = lambda c: [s['momentum_buffer'] for s in c['parts']['optimizer']['state'].values()]
    assert all(map(torch.equal, momentum(used), momentum(at_step_5)))         # regression: the resume trained on a copy, the dict is as loaded
    assert torch.equal(end['step_state']['p_model'], full_end['step_state']['p_model'])
    for name, state in dict(aug_gen=torch.Generator().manual_seed(cfg.seed + 1).get_state(),
                            labeled_sampler=InfiniteSampler(len(small.x_labeled), cfg.batch_size, seed=cfg.seed + 2).state_dict()).items():
        h, _, _ = resumed(**{name: state})
        assert h.step[h.loss != full.loss].tolist() == list(range(6, 13)), name   # rows 1-5 come from the checkpoint; 6 is the first step made
    # the unlabeled sampler: no loss and no weight changes, because at β = 0.8 no unlabeled image passes the mask in these
    # 12 steps; only what is measured on the unlabeled images does: the logged entropy and distribution alignment's p̄
    assert (full.mask_rate == 0).all()
    h, end, _ = resumed(unlabeled_sampler=InfiniteSampler(len(small.x_unlabeled), cfg.unsup_batch_size, seed=cfg.seed + 3).state_dict())
    changed = [c for c in full if not h[c].equals(full[c])]
    assert changed == ['entropy'] and h.step[h.entropy != full.entropy].tolist() == list(range(6, 13))
    for a, b in zip(end['parts']['model'].values(), full_end['parts']['model'].values()): assert torch.equal(a, b)
    assert not torch.equal(end['step_state']['p_model'], full_end['step_state']['p_model'])


def test_l07_ex5_a_checkpoint_is_three_copies_of_the_weights(at_step_5, tmp_path):
    P = 3_226_474                                                               # SimpleCNN's parameters (lesson 02)
    n_images = 58_900 + 100                                                     # one int64 index per image in the two samplers' permutations
    expected = 4 * 3 * P + 8 * n_images                                         # float32 weights, EMA weights, momentum buffers
    size = save_checkpoint(tmp_path/'c.pt', at_step_5).stat().st_size
    assert expected < size < expected + 50_000                                  # the rest (random states, config, history) is small


# ---------------------------------------------------------------- lesson 08

def test_l08_ex1_the_clamp_blackens_every_grey_level_below_128():
    g = torch.arange(256).to(torch.uint8).view(1, 1, 16, 16)
    out = report_clamp(g).flatten().long()
    assert out.tolist() == [max(0, min(255, 2 * v - 255)) for v in range(256)]
    assert (out == 0).sum() == 128 and (out == 0).nonzero().max() == 127        # levels 0..127 become 0
    assert out.unique().numel() == 129                                          # 0 and the 128 odd levels 1, 3, ..., 255
    assert out[200] == 145 and out[255] == 255


def test_l08_ex2_temperature_on_both_sides_undoes_the_sharpening():
    T, z = 0.4, torch.tensor([[2.0, 1.0, 0.0]])
    target, mask = uda_target(z, T, beta=0.0)
    correct = lambda z_hat: consistency_loss(z_hat, target, mask)
    both = lambda z_hat: consistency_loss(z_hat / T, target, mask)              # defect 3: the augmented logits divided by T too
    def kl(a, b):
        "KL(softmax(a) ‖ softmax(b)) by hand, for logits given as lists."
        pa = [math.exp(v) / sum(math.exp(u) for u in a) for v in a]
        pb = [math.exp(v) / sum(math.exp(u) for u in b) for v in b]
        return sum(x * math.log(x / y) for x, y in zip(pa, pb))
    assert both(z).item() == pytest.approx(0.0, abs=1e-6)                       # satisfied when ẑ = z: no sharpening asked
    assert correct(z).item() == pytest.approx(kl([5.0, 2.5, 0.0], [2.0, 1.0, 0.0]), rel=1e-5) and correct(z).item() > 0.1
    assert correct(z / T).item() == pytest.approx(0.0, abs=1e-6)                # the correct loss is satisfied at ẑ = z/T
    assert both(z / T).item() == pytest.approx(kl([5.0, 2.5, 0.0], [12.5, 6.25, 0.0]), rel=1e-5)
    z_hat = z.clone().requires_grad_()
    both(z_hat).backward()
    assert z_hat.grad.abs().max() < 1e-6                                        # no gradient at ẑ = z
    z_hat = torch.zeros(1, 3, requires_grad=True)                               # elsewhere the gradient is (1/T)(softmax(ẑ/T) − p)
    both(z_hat).backward()
    torch.testing.assert_close(z_hat.grad, (torch.full((1, 3), 1 / 3) - target) / T)


def test_l08_ex3_one_randaugment_draw_for_the_whole_batch(small, monkeypatch):
    plans = []
    real_apply = defects.apply_plan
    monkeypatch.setattr(defects, 'apply_plan', lambda x, plan: plans.append(plan) or real_apply(x, plan))
    cfg = TrainConfig(model='simple', method='uda', batch_size=32, unsup_ratio=2)  # μB = 64 unlabeled images
    class Tiny(nn.Module):                                                    # takes raw uint8 images, as the kit's models do
        def __init__(self): super().__init__(); self.lin = nn.Linear(784, 10)
        def forward(self, x): return self.lin(x.float().flatten(1) / 255)
    tiny = Tiny()
    defect_step('batchwise_randaugment')(tiny, small.x_labeled[:32], small.y_labeled[:32], small.x_unlabeled[:64], cfg, 0.1,
                                         torch.Generator().manual_seed(0), {})
    (plan,) = plans
    assert len(plan) == 64 and len(set(plan.op_names())) == 1                   # one op pair for 64 images
    assert plan.magnitude.unique(dim=0).shape[0] == 1 and plan.cutout_centre.unique(dim=0).shape[0] == 1
    # image i gets exactly the view that per-image RandAugment gives it in a batch of one, from the same generator state
    x, args = small.x_unlabeled[:8], (2, 10)
    shared = batchwise_rand_augment(x, *args, torch.Generator().manual_seed(1), True, None, 0.3)
    for i in range(8):
        assert torch.equal(shared[i:i + 1], rand_augment(x[i:i + 1], *args, torch.Generator().manual_seed(1), True, None, 0.3))


def test_l08_ex4_separate_passes_change_nothing_without_batch_statistics(small):
    cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, beta=0.0)   # the check cell's setting
    xl, yl, xu = small.x_labeled[:4], small.y_labeled[:4], small.x_unlabeled[:8]
    def loss_of(step_fn, model):
        state = copy.deepcopy(model.state_dict())                               # train-mode BatchNorm updates its statistics
        loss = step_fn(model, xl, yl, xu, cfg, 0.1, torch.Generator().manual_seed(0), {})[0].item()
        model.load_state_dict(state)
        return loss
    one, three = uda_step, defect_step('separate_forward')
    torch.manual_seed(0); simple = SimpleCNN().eval()                          # no BatchNorm, dropout off
    assert loss_of(three, simple) == pytest.approx(loss_of(one, simple), rel=1e-5)
    torch.manual_seed(0); best = BestMNISTCNN().eval()                         # BatchNorm with its running statistics
    assert loss_of(three, best) == pytest.approx(loss_of(one, best), rel=1e-5)
    best.train()
    for m in best.modules():
        if isinstance(m, nn.Dropout): m.eval()                                  # only BatchNorm is in train mode
    assert abs(loss_of(three, best) - loss_of(one, best)) > 1e-3               # batch statistics of three batches, not one
