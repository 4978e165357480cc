"""`run_seed`: reruns of one label split that differ in initialisation, sampling and augmentation
(lesson 00's `TrainConfig.train_seed`; used by lessons 02, 07, 11 and 12)."""
import json, subprocess, sys
import pytest, torch
from uda_course.core import ConfigError, TrainConfig
from uda_course.experiment import load_run_data, make_model, run_experiment
from uda_course.train import fit
from uda_course.uda import uda_step

TINY = dict(model='simple', method='uda', steps=3, batch_size=4, unsup_ratio=2, eval_every=3,
            ema_decay=0.0, device='cpu')

def test_train_seed_values():
    "0 keeps the split's own seed (every committed run); k > 0 moves 1000·k away."
    assert [TrainConfig(seed=4, run_seed=k).train_seed for k in (0, 1, 3)] == [4, 1004, 3004]

@pytest.mark.parametrize('bad', [-1, 1.5, True, '1'])
def test_bad_run_seed_refused(bad):
    with pytest.raises(ConfigError, match='run_seed must be a non-negative integer'):
        TrainConfig(run_seed=bad)

def test_same_split_other_draws(small):
    "run_seed never changes the label split; it changes the initial weights and the batches drawn."
    a, b = TrainConfig(**TINY), TrainConfig(**TINY, run_seed=1)
    da, db = load_run_data(a), load_run_data(b)
    assert torch.equal(da.x_labeled, db.x_labeled) and torch.equal(da.y_labeled, db.y_labeled)
    wa = next(make_model(a.model, a.train_seed).parameters())
    wb = next(make_model(b.model, b.train_seed).parameters())
    assert not torch.equal(wa, wb)
    runs = [fit(make_model(c.model, c.train_seed), small, c, uda_step, show_progress=False)[0]
            for c in (a, b, b)]
    assert runs[0].loss.tolist() != runs[1].loss.tolist()
    assert runs[1].loss.tolist() == runs[2].loss.tolist()           # a rerun repeats itself

def test_final_json_and_folder_name(tmp_path):
    """uda_train names the folder of a rerun after its run_seed, and final.json records it. Run as
    `python -m uda_course.cli`, torchrun's path (lesson 11): that once ran uda_fetch_data instead,
    because fastcore's call_parse calls a decorated function at import when its module is
    __main__."""
    cmd = [sys.executable, '-m', 'uda_course.cli', '--preset', 'smoke', '--model', 'simple',
           '--method', 'sup', '--run_seed', '2', '--out', str(tmp_path), '--quiet',
           '--n_test', '64']
    subprocess.run(cmd, check=True, capture_output=True)
    final = json.loads((tmp_path/'simple-sup-seed0-run2'/'final.json').read_text())
    assert (final['seed'], final['run_seed']) == (0, 2)

def test_cli_refuses_negative_run_seed(tmp_path):
    cmd = [sys.executable, '-m', 'uda_course.cli', '--preset', 'smoke', '--run_seed', '-1',
           '--out', str(tmp_path), '--quiet']
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode != 0 and 'run_seed must be a non-negative integer' in r.stderr + r.stdout
    assert not any(tmp_path.iterdir())                       # refused before any folder exists
