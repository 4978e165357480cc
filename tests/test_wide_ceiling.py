"""experiments/wide_ceiling.py: a diagnostic that trains `--model lean` with other channel widths
(lesson 10, section 1d)."""
import importlib.util, sys
from pathlib import Path
import pytest, torch
import uda_course.experiment as experiment

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('wide_ceiling', ROOT/'experiments'/'wide_ceiling.py')
wide = importlib.util.module_from_spec(spec); spec.loader.exec_module(wide)

@pytest.mark.parametrize('widths', ['16,32,64', '16,32,64,x', '16,0,64,128'])
def test_refuses_widths_that_are_not_four_positive_numbers(widths):
    with pytest.raises(SystemExit, match='four positive whole numbers'): wide.main([widths])

def test_trains_the_network_with_the_widths_asked_for(tmp_path, monkeypatch):
    "The saved weights have the asked widths: 24 channels first, 192 into the classifier."
    # the script replaces the registry entry for the process; give it back after the test
    monkeypatch.setitem(experiment.MODEL_CLASSES, 'lean', experiment.MODEL_CLASSES['lean'])
    monkeypatch.setattr(sys, 'argv', sys.argv[:1])
    wide.main(['24,48,96,192', '--model', 'lean', '--method', 'sup', '--steps', '2',
               '--batch_size', '8', '--eval_every', '2', '--n_val', '100', '--device', 'cpu',
               '--out', str(tmp_path), '--name', 'w24', '--quiet'])
    weights = torch.load(tmp_path/'w24'/'model.pt', weights_only=True)['model']
    assert weights['0.weight'].shape[0] == 24
    assert weights['16.weight'].shape == (10, 192)
