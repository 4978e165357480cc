import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from uda_course.core import ConfigError, TrainConfig, get_device
from uda_course.experiment import run_experiment, prepare_run_dir, preset_configs

BAD_CONFIGS = [
    (dict(steps=0), 'steps'), (dict(steps=-5), 'steps'), (dict(batch_size=0), 'batch_size'),
    (dict(unsup_ratio=0), 'unsup_ratio'), (dict(temperature=0), 'temperature'), (dict(temperature=-1), 'temperature'),
    (dict(beta=-0.1), 'beta'), (dict(beta=1.5), 'beta'), (dict(lam=-1), 'lam'),
    (dict(model='resnet'), 'unknown model'), (dict(method='mixmatch'), 'unknown method'),
    (dict(tsa='cosine'), 'unknown TSA'), (dict(lr=0), 'lr'), (dict(lr=-0.1), 'lr'), (dict(lr=float('nan')), 'lr'),
    (dict(lr='fast'), 'lr'), (dict(randaug_m=11), 'randaug_m'), (dict(ema_decay=1.0), 'ema_decay'), (dict(cutout=1.0), 'cutout'),
    (dict(lam_warmup=1.5), 'lam_warmup'), (dict(ent_min=-0.1), 'ent_min'), (dict(dist_align='yes'), 'dist_align'), (dict(teacher_view='strong'), 'teacher_view'),
    (dict(beta_mode='flexmatch'), 'unknown beta_mode'), (dict(beta_momentum=1.0), 'beta_momentum'), (dict(beta_momentum=None), 'beta_momentum'),
    (dict(checkpoint_every=-1), 'checkpoint_every'), (dict(unsup_ratio=-2), 'unsup_ratio'),
]

@pytest.mark.parametrize('kw,msg', BAD_CONFIGS)
def test_bad_config_refused(kw, msg):
    with pytest.raises(ConfigError, match=msg): TrainConfig(**kw)

@pytest.mark.parametrize('preset, model', [('tuned', 'best'), ('lean', 'lean')])
def test_preset_gives_both_rows_one_budget(preset, model):
    "A results preset's supervised baseline runs under the UDA row's budget (the gain is measured, not asserted)."
    sup, uda = preset_configs(preset)
    assert (sup.model, sup.method, uda.model, uda.method) == (model, 'sup', model, 'uda')
    for k in ('steps', 'lr', 'batch_size', 'optimizer', 'weight_decay', 'ema_decay', 'n_labeled'):
        assert getattr(sup, k) == getattr(uda, k), k

def test_unknown_preset():
    with pytest.raises(ConfigError, match='quick'): preset_configs('fastest')

@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_refused_without_cuda():
    with pytest.raises(ConfigError, match='--device cpu'): get_device('cuda')

def test_finished_run_refused_not_deleted(tmp_path):
    (tmp_path/'final.json').write_text('{"test_acc": 0.99}')
    with pytest.raises(ConfigError, match='--overwrite'): prepare_run_dir(tmp_path)
    assert json.loads((tmp_path/'final.json').read_text()) == {'test_acc': 0.99}
    with pytest.raises(ConfigError, match='--overwrite'): run_experiment(TrainConfig(steps=1), tmp_path)
    assert (tmp_path/'final.json').exists()

def test_run_experiment_callbacks_change_nothing_in_the_run(tmp_path, data):
    "bench/time_to_accuracy.py --run_dir: a test curve measured by a callback at after_eval leaves the run's results as they are."
    from uda_course.train import Callback
    cfg = TrainConfig(model='simple', method='uda', steps=4, batch_size=4, unsup_ratio=2, eval_every=2, device='cpu')
    seen = []
    class Curve(Callback):
        def after_eval(self, run): seen.append((run.row['step'], run.ema is not None)); accuracy(run.model, data.x_test, data.y_test)
    from uda_course.train import accuracy
    with_hook = run_experiment(cfg, tmp_path/'a', data=data, show_progress=False, cbs=[Curve()])
    plain = run_experiment(cfg, tmp_path/'b', data=data, show_progress=False)
    assert seen == [(2, True), (4, True)]
    for k in ('test_acc', 'test_acc_ema', 'val_acc', 'val_acc_ema'): assert with_hook[k] == plain[k], k

def test_run_writes_folder(tmp_path, data):
    cfg = TrainConfig(model='simple', method='uda', steps=3, batch_size=4, unsup_ratio=2, eval_every=2)
    final = run_experiment(cfg, tmp_path/'r', data=data, show_progress=False)
    names = {p.name for p in (tmp_path/'r').iterdir()}
    assert {'config.json', 'metrics.csv', 'final.json', 'history.png', 'confusion.png', 'model.pt', 'classification_report.csv'} <= names
    assert 0 <= final['test_acc'] <= 1
    w = torch.load(tmp_path/'r'/'model.pt', weights_only=True)
    assert set(w) == {'model', 'ema'}
    saved = json.loads((tmp_path/'r'/'config.json').read_text())
    assert TrainConfig.from_dict(saved['config']) == cfg and saved['environment']['torch'] == torch.__version__

def _cli(name, *args):
    "Run console script `name` (installed by `pip install -e .`, see the Makefile) with `args`."
    exe = Path(sys.executable).parent/name
    assert exe.exists(), f"console script {exe} is missing: run `make install` (pip install -e .)"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)

@pytest.mark.parametrize('args,msg', [
    (['--steps', '0'], 'steps'), (['--temperature', '0'], 'temperature'), (['--beta', '2'], 'beta'),
    (['--lam', '-1'], 'lam'), (['--model', 'vgg'], 'unknown model'), (['--method', 'fixmatch'], 'unknown method'),
    (['--tsa', 'cos'], 'unknown TSA'), (['--lr', '-1'], 'lr'), (['--n_labeled', '105'], 'multiple of 10'),
    (['--n_val', '59950'], 'no unlabeled'), (['--preset', 'slow'], 'unknown preset'), (['--batch_size', '0'], 'batch_size'),
    (['--n_labeled', '60010', '--n_val', '0'], 'smallest class'), (['--unsup_ratio', '0'], 'unsup_ratio'), (['--lr', 'nan'], 'lr'),
    (['--lam_warmup', '2'], 'lam_warmup'), (['--steps', '-3'], 'steps'), (['--resume', '/nonexistent/run'], 'no such run folder'),
    (['--resume', '/nonexistent/run', '--preset', 'quick'], 'drop --preset'),
    (['--preset', 'tuned', '--model', 'simple'], 'its rows: best/sup, best/uda'), (['--teacher_view', 'ema'], 'teacher_view'),
])
def test_cli_refuses_bad_input(tmp_path, args, msg):
    r = _cli('uda_train', *args, '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error:') and msg in lines[0], r.stderr
    assert 'Traceback' not in r.stderr

@pytest.mark.parametrize('args,msg', [(['--lr', 'fast'], "--lr: invalid float value: 'fast'"), (['--steps', '1.5'], '--steps: invalid int'),
                                      (['--stpes', '10'], 'unrecognized arguments: --stpes')])
def test_cli_argparse_errors_are_one_line(tmp_path, args, msg):
    r = _cli('uda_train', *args, '--out', str(tmp_path))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith('error:') and msg in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []

def test_cli_refuses_finished_run(tmp_path):
    d = tmp_path/'best-uda-seed0'; d.mkdir(); (d/'final.json').write_text('{}')
    r = _cli('uda_train', '--out', str(tmp_path), '--steps', '2')
    assert r.returncode == 2 and '--overwrite' in r.stderr
    assert (d/'final.json').read_text() == '{}'

def test_cli_reproduce_unknown_preset(tmp_path):
    r = _cli('uda_reproduce', '--preset', 'fast', '--out', str(tmp_path))
    assert r.returncode == 2 and 'unknown preset' in r.stderr and 'Traceback' not in r.stderr

def test_cli_name_stays_inside_out(tmp_path):
    out = tmp_path/'runs'; out.mkdir()
    for bad in ('../escape', 'a/b', '..'):
        r = _cli('uda_train', '--out', str(out), '--name', bad, '--steps', '2', '--quiet')
        assert r.returncode == 2 and 'plain folder name' in r.stderr, r.stderr
    assert not (tmp_path/'escape').exists() and list(out.iterdir()) == []

def test_bad_split_leaves_no_folder(tmp_path):
    r = _cli('uda_train', '--out', str(tmp_path), '--n_labeled', '95', '--quiet')
    assert r.returncode == 2 and 'multiple of 10' in r.stderr
    assert list(tmp_path.iterdir()) == []

def test_reproduce_refuses_overwrite_with_reuse(tmp_path):
    r = _cli('uda_reproduce', '--preset', 'smoke', '--out', str(tmp_path), '--overwrite', '--reuse')
    assert r.returncode == 2 and 'contradict' in r.stderr
    assert list(tmp_path.iterdir()) == []

@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cli_refuses_cuda_without_cuda(tmp_path):
    r = _cli('uda_train', '--device', 'cuda', '--out', str(tmp_path), '--quiet')
    assert r.returncode == 2 and '--device cpu' in r.stderr and 'Traceback' not in r.stderr
    assert list(tmp_path.iterdir()) == []

def test_cli_refuses_bad_data_files(tmp_path, data_root):
    import shutil
    from uda_course.data import raw_folder
    shutil.copytree(raw_folder(data_root), raw_folder(tmp_path/'d'))
    p = raw_folder(tmp_path/'d')/'train-images-idx3-ubyte'
    p.write_bytes(p.read_bytes()[:5000])                                 # truncated
    r = _cli('uda_train', '--data_root', str(tmp_path/'d'), '--out', str(tmp_path/'o'), '--quiet')
    assert r.returncode == 2 and 'truncated' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    shutil.copy(raw_folder(data_root)/'train-images-idx3-ubyte', p)
    b = bytearray(p.read_bytes()); b[20000] ^= 0xFF; p.write_bytes(bytes(b))   # one byte changed: wrong SHA-256
    r = _cli('uda_train', '--data_root', str(tmp_path/'d'), '--out', str(tmp_path/'o'), '--quiet')
    assert r.returncode == 2 and 'SHA-256' in r.stderr and not (tmp_path/'o').exists(), r.stderr

def test_cli_refuses_unwritable_data_root(tmp_path):
    f = tmp_path/'afile'; f.write_text('x')                              # a file where a folder is needed: unwritable even as root
    r = _cli('uda_fetch_data', '--root', str(f/'sub'))
    assert r.returncode == 2 and 'Traceback' not in r.stderr and 'data root' in r.stderr, r.stderr

def test_collect_runs_lists_finished_runs_and_varying_keys(tmp_path):
    from uda_course.experiment import collect_runs
    with pytest.raises(ConfigError, match='no finished run'): collect_runs(tmp_path)
    for name, beta, acc in (('a', 0.8, 0.97), ('b', 0.5, 0.96)):
        d = tmp_path/name; d.mkdir()
        (d/'config.json').write_text(json.dumps(dict(config=TrainConfig(beta=beta).to_dict())))
        (d/'final.json').write_text(json.dumps(dict(model='best', method='uda', test_acc=acc)))
    (tmp_path/'unfinished').mkdir(); (tmp_path/'unfinished'/'config.json').write_text('{}')
    df = collect_runs(tmp_path)
    assert df.run.tolist() == ['a', 'b'] and df.beta.tolist() == [0.8, 0.5] and df.test_acc.tolist() == [0.97, 0.96]
    assert 'lr' not in df                                                # same in every run: not a column

@pytest.mark.parametrize('script', ['uda_train', 'uda_reproduce'])
def test_help_shows_every_default(script):
    "Every flag of the --help text that takes a value says its default (switches are off unless given)."
    import re, shutil
    exe = shutil.which(script) or str(Path(sys.executable).parent/script)
    out = subprocess.run([exe, '--help'], capture_output=True, text=True, env={**os.environ, 'COLUMNS': '200'}).stdout
    blocks = re.split(r'\n(?=  --)', out.split('options:', 1)[1])[1:]
    takes_value = [b for b in blocks if re.match(r'  --\w+ [A-Z_]+', b)]
    assert len(takes_value) > 5
    missing = [b.split()[0] for b in takes_value if 'default' not in b]
    assert not missing, missing

@pytest.mark.parametrize('flags, lower', [(['--unsup_ratio', '1e9'], '--unsup_ratio'), (['--method', 'sup', '--batch_size', '1000000000'], '--batch_size')])
def test_runs_that_cannot_fit_are_refused_before_they_start(tmp_path, flags, lower):
    "A step too large for the memory is refused in one line, naming the setting to lower, and no run folder is left behind."
    import shutil
    exe = shutil.which('uda_train') or str(Path(sys.executable).parent/'uda_train')
    r = subprocess.run([exe, '--model', 'simple', '--steps', '5', *flags, '--out', str(tmp_path), '--name', 'big', '--quiet'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count('\n') == 1 and 'GiB' in r.stderr and lower in r.stderr, r.stderr
    assert not (tmp_path/'big').exists()          # refused before the run folder is made

def test_step_memory_estimate_grows_with_the_batch():
    from uda_course.train import step_memory_bytes, SimpleCNN
    small, big = (step_memory_bytes(SimpleCNN(), TrainConfig(model='simple', method='uda', batch_size=b)) for b in (8, 16))
    assert big > small > 0

def test_lean_preset_is_the_setting_chosen_in_lesson_10():
    _, uda = preset_configs('lean')
    assert (uda.teacher, uda.cutout, uda.steps) == ('ema', 0, 5000)

def test_tensorboard_callback_logs_every_row_or_names_the_missing_package(tmp_path, data):
    "The optional TensorBoard callback: without the package, a one-line refusal before training; with it, one scalar per number of each history row."
    import importlib.util
    from uda_course.experiment import TensorBoard
    from uda_course.train import SimpleCNN, fit
    if importlib.util.find_spec('tensorboard') is None:
        with pytest.raises(ConfigError, match='pip install tensorboard'): TensorBoard(tmp_path/'tb')
        pytest.skip('tensorboard is not installed: only the refusal is checked')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg = TrainConfig(model='simple', method='sup', steps=4, batch_size=4, eval_every=2)
    h, _ = fit(SimpleCNN(), data, cfg, cbs=[TensorBoard(tmp_path/'tb')], log_every=1, show_progress=False)
    ev = EventAccumulator(str(tmp_path/'tb')); ev.Reload()
    assert [e.step for e in ev.Scalars('loss')] == h.step.tolist() == [1, 2, 3, 4]
    assert [e.step for e in ev.Scalars('val_acc')] == [2, 4]
    assert [e.value for e in ev.Scalars('val_acc')] == pytest.approx(h.val_acc.dropna().tolist())
