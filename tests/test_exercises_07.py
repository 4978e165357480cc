"""The answers to the exercises of lesson 07 (Experiments: run folders, presets, and the command line) that have a
definite answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived
value. The run-folder tests train one tiny run on random images (a run folder's files and row counts do not depend on
the pixels), so they need neither the MNIST download nor more than a few seconds."""
import json, shutil
from pathlib import Path
import pandas as pd
import pytest, torch
from uda_course.core import ConfigError, TrainConfig
from uda_course.data import SSLData
from uda_course.experiment import PRESET_SEEDS, collect_runs, preset_configs, run_experiment

REPO = Path(__file__).resolve().parents[1]


def test_l07_ex1_what_a_preset_resolves_to():
    report = preset_configs('report')
    uda_rows = [c for c in report if c.method == 'uda']
    assert [(c.model, c.batch_size, c.unsup_ratio) for c in uda_rows] == [('simple', 10, 6.4), ('best', 10, 6.4)]
    assert [c.unsup_batch_size for c in uda_rows] == [64, 64]                  # round(μ·B) = round(6.4 · 10)
    best_uda = next(c for c in preset_configs('quick') if (c.model, c.method) == ('best', 'uda'))
    assert (best_uda.temperature, best_uda.beta) == (0.4, 0.8)                 # not in the preset: TrainConfig's defaults
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['temprature'\]"):
        preset_configs('quick', temprature=0.3)


def test_l07_ex2_how_many_run_folders():
    def folders(preset): return PRESET_SEEDS[preset] * len(preset_configs(preset))
    assert (PRESET_SEEDS['tuned'], len(preset_configs('tuned'))) == (5, 2)
    assert folders('tuned') == 10 and folders('quick') == 4


def tiny_data(seed=0):
    "A split of random images with MNIST's shapes: 20 labeled, 40 unlabeled, 20 validation, 20 test images."
    g = torch.Generator().manual_seed(seed)
    def x(n): return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    def y(n): return torch.arange(n) % 10
    return SSLData(x(20), y(20), x(40), x(20), y(20), x(20), y(20))


TINY = dict(model='simple', method='sup', steps=25, batch_size=8, eval_every=4, device='cpu')


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    "One finished run folder of S = 25 steps with eval_every = 4 (read only: tests that change it work on a copy)."
    d = tmp_path_factory.mktemp('runs')/'tiny'
    run_experiment(TrainConfig(**TINY), d, data=tiny_data(), show_progress=False)
    return d


def test_l07_ex3_rows_of_metrics_csv(finished_run):
    # (a) the committed quick-preset run: S = 2,500, eval_every = 250, a row every 10 steps
    m = pd.read_csv(REPO/'results/quick/quick-seed0/best-uda/metrics.csv')
    cfg = json.loads((REPO/'results/quick/quick-seed0/best-uda/config.json').read_text())['config']
    assert (cfg['steps'], cfg['eval_every']) == (2500, 250)
    assert (len(m), m.val_acc.notna().sum()) == (250, 10)
    # (b) S = 25, eval_every = 4: rows after steps 4, 8, 10, 12, 16, 20, 24, 25; validation at all but step 10
    m = pd.read_csv(finished_run/'metrics.csv')
    assert m.step.tolist() == [4, 8, 10, 12, 16, 20, 24, 25]
    assert m.step[m.val_acc.notna()].tolist() == [4, 8, 12, 16, 20, 24, 25]


def test_l07_ex4_which_calls_are_refused(finished_run, tmp_path):
    d = tmp_path/'tiny'; shutil.copytree(finished_run, d)
    cfg, data, before = TrainConfig(**TINY), tiny_data(), (d/'metrics.csv').read_bytes()
    def call(**kw): return run_experiment(cfg, d, data=data, show_progress=False, **kw)
    with pytest.raises(ConfigError, match='already holds a finished run.*--overwrite'): call()
    with pytest.raises(ConfigError, match='holds a finished run: there is nothing to resume'): call(resume=True)
    with pytest.raises(ConfigError, match='contradict each other'): call(resume=True, overwrite=True)
    (d/'final.json').unlink()                                                  # now it looks like an interrupted run
    with pytest.raises(ConfigError, match=r'holds an unfinished run \(checkpoint.pt\); continue it with --resume'): call()
    assert (d/'metrics.csv').read_bytes() == before                          # nothing was trained or written


def test_l07_ex5_what_collect_runs_shows(finished_run, tmp_path):
    sweep = tmp_path/'sweep'
    for name, change in [('a', dict(lr=0.03)), ('b', dict(lr=0.05)), ('c', dict(lr=0.05, checkpoint_every=2))]:
        shutil.copytree(finished_run, sweep/name)
        f = sweep/name/'config.json'; cj = json.loads(f.read_text()); cj['config'].update(change); f.write_text(json.dumps(cj))
    (sweep/'d').mkdir(); shutil.copy(finished_run/'config.json', sweep/'d')   # no final.json: not a finished run
    table = collect_runs(sweep)
    assert table.run.tolist() == ['a', 'b', 'c']
    assert table.columns[:2].tolist() == ['run', 'lr'] and 'checkpoint_every' not in table
    assert table.lr.tolist() == [0.03, 0.05, 0.05]
