"The CUDA path (skipped without a GPU): a short UDA run trains on the GPU, and its first step matches the CPU's."
import json
import pytest, torch
from uda_course.core import TrainConfig
from uda_course.experiment import run_experiment

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')

def test_short_uda_run_on_cuda(tmp_path):
    cfg = TrainConfig(model='lean', method='uda', steps=6, batch_size=16, eval_every=3, device='cuda')
    final = run_experiment(cfg, tmp_path/'run', show_progress=False)
    assert final['device'].startswith('cuda') and 0.0 <= final['test_acc'] <= 1.0
    assert json.loads((tmp_path/'run'/'config.json').read_text())['environment']['device_name']

def test_first_step_on_cuda_matches_cpu(tmp_path):
    "Same seed, same data, same views (augmentation draws from a CPU generator): the first logged loss agrees to 1e-3 (CUDA kernels round differently)."
    losses = {}
    for dev in ('cpu', 'cuda'):
        cfg = TrainConfig(model='lean', method='uda', steps=1, batch_size=16, eval_every=1, device=dev)
        run_experiment(cfg, tmp_path/dev, show_progress=False)
        losses[dev] = float(open(tmp_path/dev/'metrics.csv').read().splitlines()[1].split(',')[3])
    assert abs(losses['cpu'] - losses['cuda']) < 1e-3
