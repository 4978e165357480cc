"Checkpoint, resume, Ctrl-C and refusals of unusable checkpoints (issue 5; lesson 06)."
import json, shutil, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest, torch
from uda_course.core import ConfigError, TrainConfig
from uda_course.checkpoint import Checkpointer, CHECKPOINT_FORMAT, CheckpointError, config_diff, load_checkpoint, save_checkpoint
from uda_course.experiment import run_experiment
from uda_course.train import SimpleCNN, TrainingDiverged, fit
from uda_course.augment import supervised_step

EXE = Path(sys.executable).parent/'uda_train'
RUN = ['--model', 'simple', '--method', 'uda', '--steps', '160', '--batch_size', '8', '--unsup_ratio', '2', '--eval_every', '50',
       '--checkpoint_every', '10', '--dist_align', 'True', '--beta_mode', 'freematch', '--beta_momentum', '0.9', '--device', 'cpu', '--quiet']

def _start(out, name):
    assert EXE.exists(), f"console script {EXE} is missing: run `make install`"
    return subprocess.Popen([str(EXE), *RUN, '--out', str(out), '--name', name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def _resume(run_dir, *extra):
    return subprocess.run([str(EXE), '--resume', str(run_dir), '--quiet', *extra], capture_output=True, text=True, timeout=300)

def _wait_for_step(run_dir, step, proc, timeout=300):
    "Poll the live metrics until the run has logged `step`; fail if it ends first."
    live, t = run_dir/'metrics.live.csv', time.time()
    while time.time() - t < timeout:
        assert proc.poll() is None, f"the run ended before step {step}: {proc.stderr.read()}"
        try:
            if live.exists() and pd.read_csv(live).step.max() >= step: return
        except (pd.errors.EmptyDataError, pd.errors.ParserError, AttributeError): pass   # file being appended
        time.sleep(0.01)
    pytest.fail(f"step {step} not reached in {timeout} s")

def _same_run(a: Path, b: Path):
    "Identical metrics (but wall time), test accuracies and weights."
    ma, mb = pd.read_csv(a/'metrics.csv').drop(columns='time_s'), pd.read_csv(b/'metrics.csv').drop(columns='time_s')
    pd.testing.assert_frame_equal(ma, mb, check_exact=True)
    fa, fb = json.loads((a/'final.json').read_text()), json.loads((b/'final.json').read_text())
    for k in ('test_acc', 'test_acc_ema', 'val_acc', 'val_acc_ema'): assert fa[k] == fb[k], k
    wa, wb = torch.load(a/'model.pt', weights_only=True), torch.load(b/'model.pt', weights_only=True)
    for part in ('model', 'ema'):
        assert wa[part].keys() == wb[part].keys()
        for k in wa[part]: assert torch.equal(wa[part][k], wb[part][k]), (part, k)

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "The run never interrupted."
    out = tmp_path_factory.mktemp('ref')
    p = _start(out, 'ref'); _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return out/'ref'

def test_sigkill_then_resume_equals_uninterrupted(tmp_path, reference):
    p = _start(tmp_path, 'killed'); run = tmp_path/'killed'
    _wait_for_step(run, 70, p)
    p.kill(); p.wait()                                                  # SIGKILL: no chance to clean up
    assert not (run/'final.json').exists()
    killed_at = int(pd.read_csv(run/'metrics.live.csv').step.max())
    ckpt_step = load_checkpoint(run/'checkpoint.pt')['step']
    assert 60 <= ckpt_step <= killed_at + 10 and ckpt_step < 160   # the row of a step is logged just before its checkpoint
    r = _resume(run)
    assert r.returncode == 0, r.stderr
    assert json.loads((run/'config.json').read_text())['resumed_from_step'] == ckpt_step
    _same_run(run, reference)

def test_ctrl_c_checkpoints_and_says_how_to_resume(tmp_path, reference):
    p = _start(tmp_path, 'int'); run = tmp_path/'int'
    _wait_for_step(run, 40, p)
    p.send_signal(signal.SIGINT); _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'interrupted at step' in lines[0] and f'uda_train --resume {run}' in lines[0], err
    assert 'Traceback' not in err
    step = load_checkpoint(run/'checkpoint.pt')['step']
    assert f'step {step}' in lines[0] and 40 <= step < 160
    r = _resume(run)
    assert r.returncode == 0, r.stderr
    _same_run(run, reference)

def test_resume_refuses_changed_config(tmp_path, reference):
    run = tmp_path/'r'; shutil.copytree(reference, run); (run/'final.json').unlink()
    r = _resume(run, '--lr', '0.1', '--temperature', '0.5')
    assert r.returncode == 2 and 'lr (0.05 -> 0.1)' in r.stderr and 'temperature (0.4 -> 0.5)' in r.stderr and '--allow_config_change' in r.stderr, r.stderr
    cfg = TrainConfig.from_dict(load_checkpoint(run/'checkpoint.pt')['config'])
    with pytest.raises(ConfigError, match='differs.*lr'): run_experiment(TrainConfig.from_dict({**cfg.to_dict(), 'lr': 0.1}), run, resume=True)

def test_corrupted_or_truncated_checkpoint_refused(tmp_path, reference, data):
    run = tmp_path/'c'; shutil.copytree(reference, run); (run/'final.json').unlink()
    ck = run/'checkpoint.pt'; good = ck.read_bytes()
    cfg = TrainConfig.from_dict(load_checkpoint(ck)['config'])
    for bad in (good[:len(good) // 3], b'not a checkpoint at all', good[:100] + bytes(len(good) - 100)):
        ck.write_bytes(bad)
        with pytest.raises(CheckpointError, match='truncated or corrupted'): run_experiment(cfg, run, data=data, resume=True)
        assert ck.read_bytes() == bad                                   # the evidence is left in place
    r = _resume(run)                                                    # the command line says the same in one line
    assert r.returncode == 2 and 'truncated or corrupted' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    ck.unlink()
    r = _resume(run)
    assert r.returncode == 2 and 'no checkpoint' in r.stderr

def test_loading_is_safe(tmp_path):
    class Evil:                                                          # any pickled object beyond tensors/containers
        def __reduce__(self): return (print, ('code ran',))
    torch.save(dict(format=CHECKPOINT_FORMAT, step=1, x=Evil()), tmp_path/'evil.pt')
    with pytest.raises(CheckpointError, match='corrupted'): load_checkpoint(tmp_path/'evil.pt')
    torch.save(dict(step=1), tmp_path/'old.pt')
    with pytest.raises(CheckpointError, match='format'): load_checkpoint(tmp_path/'old.pt')

def test_atomic_write_keeps_previous_checkpoint_on_failure(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path/'ck.pt', dict(format=CHECKPOINT_FORMAT, step=1, w=torch.ones(3)))
    def full_disk(obj, f):
        f.write(b'partial'); raise OSError(28, 'No space left on device')
    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(CheckpointError, match='No space left.*previous checkpoint is kept'):
        save_checkpoint(path, dict(format=CHECKPOINT_FORMAT, step=2, w=torch.zeros(3)))
    monkeypatch.undo()
    assert load_checkpoint(path)['step'] == 1 and [p.name for p in tmp_path.iterdir()] == ['ck.pt']

def test_unfinished_run_refused_without_resume_or_overwrite(tmp_path, reference, data):
    run = tmp_path/'u'; shutil.copytree(reference, run); (run/'final.json').unlink()
    cfg = TrainConfig.from_dict(load_checkpoint(run/'checkpoint.pt')['config'])
    before = (run/'checkpoint.pt').read_bytes()
    with pytest.raises(ConfigError, match='unfinished run.*--resume'): run_experiment(cfg, run, data=data)
    with pytest.raises(ConfigError, match='contradict'): run_experiment(cfg, run, data=data, resume=True, overwrite=True)
    assert (run/'checkpoint.pt').read_bytes() == before
    with pytest.raises(ConfigError, match='nothing to resume'): run_experiment(cfg, reference, data=data, resume=True)
    r = _resume(reference)
    assert r.returncode == 2 and 'nothing to resume' in r.stderr, r.stderr

def test_divergence_points_to_last_good_checkpoint(tmp_path, data):
    def step_nan_at_7(model, xl, yl, xu, cfg, progress, gen, state):
        loss, logs = supervised_step(model, xl, yl, xu, cfg, progress, gen, state)
        return (loss * float('nan') if round(progress * cfg.steps) == 7 else loss), logs
    cfg = TrainConfig(model='simple', method='sup', steps=10, batch_size=4, eval_every=5, checkpoint_every=5)
    with pytest.raises(TrainingDiverged, match=r'step 7 .*last good checkpoint is .*ck\.pt \(step 5\)'):
        fit(SimpleCNN(), data, cfg, step_nan_at_7, show_progress=False, cbs=[Checkpointer(tmp_path/'ck.pt')])
    assert load_checkpoint(tmp_path/'ck.pt')['step'] == 5              # not overwritten by the broken state

def test_config_diff_ignores_checkpoint_interval():
    assert config_diff(TrainConfig().to_dict(), TrainConfig(checkpoint_every=3).to_dict()) == []
    assert config_diff(TrainConfig().to_dict(), TrainConfig(beta=0.5).to_dict()) == [('beta', 0.8, 0.5)]
