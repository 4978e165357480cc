"""The answers to the exercises of lesson 06 (Runs that survive: checkpoints, resume, Ctrl-C) that have a definite answer,
checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value. The
training runs are the lesson-06 demonstration run (SimpleCNN, 12 steps, B = 8, μ = 2), on the lesson's split with only
64 validation and test images (the `small` fixture of conftest.py): validation is most of a tiny run's time, and no
answer depends on it."""
import copy, os, signal
import pandas as pd, pytest, torch
from uda_course.core import TrainConfig
from uda_course.train import Callback, InfiniteSampler, SimpleCNN, fit
from uda_course.augment import supervised_step
from uda_course.uda import uda_step
from uda_course.checkpoint import (CHECKPOINT_FORMAT, Checkpointer, CheckpointError, Resume, TrainingInterrupted,
                                   load_checkpoint, save_checkpoint)

LESSON_RUN = dict(model='simple', method='uda', steps=12, batch_size=8, unsup_ratio=2, eval_every=4, checkpoint_every=5, dist_align=True)


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


def test_l06_ex1_what_a_checkpoint_holds(at_step_5, small, tmp_path):
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


def test_l06_ex2_where_a_resumed_run_continues(small, tmp_path):
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


def test_l06_ex3_an_interrupted_save_keeps_the_previous_checkpoint(small, tmp_path, monkeypatch):
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


def test_l06_ex4_resume_is_exact_only_with_the_generator_and_samplers(at_step_5, uninterrupted, small, tmp_path):
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


def test_l06_ex5_a_checkpoint_is_three_copies_of_the_weights(at_step_5, tmp_path):
    P = 3_226_474                                                               # SimpleCNN's parameters (lesson 02)
    n_images = 58_900 + 100                                                     # one int64 index per image in the two samplers' permutations
    expected = 4 * 3 * P + 8 * n_images                                         # float32 weights, EMA weights, momentum buffers
    size = save_checkpoint(tmp_path/'c.pt', at_step_5).stat().st_size
    assert expected < size < expected + 50_000                                  # the rest (random states, config, history) is small
