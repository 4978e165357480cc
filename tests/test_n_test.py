"`n_test`, the smoke-test shortcut of `run_experiment`, `reproduce` and the command line: a bad value is refused before anything is written."
import pytest
from uda_course import cli
from uda_course.core import ConfigError, TrainConfig
from uda_course.experiment import reproduce, reproduce_seeds, run_experiment


@pytest.mark.parametrize('bad', [0, -5, 10_001, 2.5, True])
def test_run_experiment_refuses_bad_n_test_before_anything(tmp_path, bad):
    with pytest.raises(ConfigError, match='--n_test must be a number of test images'):
        run_experiment(TrainConfig(model='simple', method='sup', steps=1, device='cpu'), tmp_path/'run', n_test=bad)
    assert not (tmp_path/'run').exists()


def test_reproduce_refuses_bad_n_test_before_anything(tmp_path):
    for fn in (lambda: reproduce('smoke', out=tmp_path, n_test=0), lambda: reproduce_seeds('smoke', seeds=2, out=tmp_path, n_test=0)):
        with pytest.raises(ConfigError, match='--n_test'): fn()
    assert list(tmp_path.iterdir()) == []


def test_uda_train_refuses_bad_n_test_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.uda_train(model='simple', method='sup', steps=1, device='cpu', out=str(tmp_path), n_test=0, quiet=True)
    assert e.value.code == 2 and capsys.readouterr().err.startswith('error: --n_test must be a number of test images')
    assert list(tmp_path.iterdir()) == []
