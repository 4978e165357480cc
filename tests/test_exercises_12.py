"""The answers to the exercises of lesson 12 (The command line: `uda_train`, `uda_reproduce`, `uda_fetch_data`) that have
a definite answer, checked, so that no exercise is wrong: each test names its exercise number and holds the
hand-derived value (the line and exit status of each refusal, the values a left-out flag takes). No test trains: the
tests parse flags in this process with `uda_train`'s real parser and replace the training call by a recorder; one runs
the installed console script in its own process for a refusal."""
import inspect, os, subprocess, sys
from dataclasses import fields
from pathlib import Path
import pytest
import uda_course.cli as cli
from uda_course.core import TrainConfig
from uda_course.train import TrainingDiverged


def run_cli(monkeypatch, capsys, *argv):
    "`uda_train ARGV` through the console script's entry point, in this process, training replaced by a recorder: (exit status, stderr, configs trained)."
    trained = []
    def record(cfg, run_dir, **kw): trained.append(cfg)
    monkeypatch.setattr(cli, 'run_experiment', record)
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    monkeypatch.setattr(sys, 'argv', ['uda_train', *argv])
    capsys.readouterr()
    try: cli.cli_main('uda_train'); status = 0
    except SystemExit as e: status = e.code
    return status, capsys.readouterr().err, trained


def test_l12_ex1_every_refusal_is_one_line_and_status_2(monkeypatch, capsys):
    assert run_cli(monkeypatch, capsys, '--unsup_ratio', 'many')[:2] == (2, "error: argument --unsup_ratio: invalid float value: 'many'; see uda_train --help\n")
    assert run_cli(monkeypatch, capsys, '--stpes', '5')[:2] == (2, "error: unrecognized arguments: --stpes 5; see uda_train --help\n")
    assert run_cli(monkeypatch, capsys, '--steps', '0')[:2] == (2, "error: steps must be a positive integer, got 0\n")
    def diverge(): raise TrainingDiverged('loss is nan at step 3')
    def interrupt(): raise KeyboardInterrupt
    for fn, code in ((diverge, 3), (interrupt, 130)):
        with pytest.raises(SystemExit) as e: cli._cli_errors(fn)
        assert e.value.code == code
    # the installed console script, in its own process: the same line and status
    p = subprocess.run([str(Path(sys.executable).parent/'uda_train'), '--unsup_ratio', 'many'], capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=120)
    assert (p.returncode, p.stderr, p.stdout) == (2, "error: argument --unsup_ratio: invalid float value: 'many'; see uda_train --help\n", '')


def test_l12_ex2_a_flag_may_be_abbreviated_while_unambiguous(monkeypatch, capsys):
    assert run_cli(monkeypatch, capsys, '--ste', '0')[:2] == (2, "error: steps must be a positive integer, got 0\n")   # --ste is --steps
    assert run_cli(monkeypatch, capsys, '--s', '1')[:2] == (
        2, "error: ambiguous option: --s could match --steps, --seed, --sample_magnitude; see uda_train --help\n")


def test_l12_ex3_a_preset_without_that_row(monkeypatch, capsys):
    expected = (2, "error: preset 'lean' has no row best/uda; its rows: lean/sup, lean/uda\n", [])
    assert run_cli(monkeypatch, capsys, '--preset', 'lean', '--model', 'best') == expected
    assert run_cli(monkeypatch, capsys, '--preset', 'lean') == expected          # --model left out is 'best', --method 'uda'
    status, err, trained = run_cli(monkeypatch, capsys, '--preset', 'lean', '--model', 'lean', '--diagnostics', 'False', '--quiet')
    assert (status, err) == (0, '') and [(c.model, c.method, c.teacher, c.steps) for c in trained] == [('lean', 'uda', 'ema', 5000)]


def test_l12_ex4_a_left_out_flag_takes_the_presets_value_else_trainconfigs(monkeypatch, capsys, tmp_path):
    status, err, trained = run_cli(monkeypatch, capsys, '--preset', 'report', '--model', 'simple', '--batch_size', '20',
                                   '--diagnostics', 'False', '--quiet', '--out', str(tmp_path))
    assert (status, err) == (0, '') and len(trained) == 1
    cfg = trained[0]
    assert cfg.batch_size == 20                                       # the flag beats the preset's 10
    assert (cfg.method, cfg.unsup_ratio, cfg.unsup_batch_size) == ('uda', 6.4, 128)   # round(6.4 · 20)
    assert (cfg.temperature, cfg.beta, cfg.steps) == (0.3, 0.0, 5000)                 # the report/simple/uda row
    assert (cfg.randaug_n, cfg.seed, cfg.n_labeled) == (2, 0, 100)                    # not in the row: TrainConfig's


def test_l12_ex5_every_trainconfig_field_is_a_flag():
    params = set(inspect.signature(cli.uda_train).parameters)
    assert {f.name for f in fields(TrainConfig)} - params == set()
    assert params - {f.name for f in fields(TrainConfig)} == {'preset', 'data_root', 'out', 'name', 'overwrite', 'resume',
                                                               'allow_config_change', 'diagnostics', 'tensorboard', 'n_test', 'quiet'}
