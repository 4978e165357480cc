"""Co-training (lesson 05a: `ModelPair`, the 'agree' teacher, `cotrain_step`; lesson 07's
`make_run_model` and `run_step_fn`; lesson 11's refusal; lesson 12's `--peer_model`)."""
import json, math, os, subprocess, sys
from pathlib import Path
import pandas as pd, pytest, torch
from torch import nn
from uda_course.core import ConfigError, TrainConfig
from uda_course.data import SSLData
from uda_course.distributed import check_launch
from uda_course.experiment import make_model, make_run_model, run_experiment, run_step_fn
from uda_course.train import Callback, CancelFit, fit
from uda_course.uda import consistency_loss, uda_step, uda_target
from uda_course.variants import ModelPair, agreeing_teachers, cotrain_step

PAIR = dict(teacher='agree', peer_model='lean')

class Fixed(nn.Module):
    "The same logits for every batch."
    def __init__(self, z): super().__init__(); self.register_buffer('z', torch.tensor(z))
    def forward(self, x): return self.z

def test_agreed_logits_by_hand():
    """Image 0: both say class 0, so the target is the mean of (e²/(e²+1), 1/(e²+1)) and
    (e/(e+1), 1/(e+1)). Image 1: they disagree, so the target is uniform and β = 0.8 masks it."""
    pair = ModelPair(Fixed([[2., 0.], [2., 0.]]), Fixed([[1., 0.], [0., 1.]]))
    z = pair.agreed_logits(torch.zeros(2, 1, 28, 28))
    e = math.e
    p0 = (e**2 / (e**2 + 1) + e / (e + 1)) / 2
    assert torch.allclose(z[0].softmax(0), torch.tensor([p0, 1 - p0]), atol=1e-6)
    assert torch.equal(z[1], torch.zeros(2))
    assert uda_target(z, 0.4, 0.8)[1].tolist() == [True, False]
    # the pair's own prediction is the mean probability, agreement or not
    assert torch.allclose(pair(None)[1].exp(), torch.tensor([(e**2 / (e**2 + 1) + 1 / (e + 1)) / 2,
                                                            (1 / (e**2 + 1) + e / (e + 1)) / 2]))

def test_disagreement_teaches_nothing():
    "Where the EMA networks disagree, that image's consistency loss is 0 whatever the student says."
    teacher = ModelPair(Fixed([[3., 0.], [3., 0.]]), Fixed([[3., 0.], [0., 3.]]))
    target, mask = uda_target(teacher.agreed_logits(None), 0.4, 0.8)
    student = torch.tensor([[0., 5.], [5., -5.]])
    per_image = [float(consistency_loss(student[i:i + 1], target[i:i + 1], mask[i:i + 1]))
                 for i in range(2)]
    assert per_image[0] > 1 and per_image[1] == 0

class Counted(nn.Module):
    "A linear map on the mean pixel that records its batch sizes."
    def __init__(self): super().__init__(); self.lin, self.calls = nn.Linear(1, 10), []
    def forward(self, x):
        self.calls.append(len(x)); return self.lin(x.float().mean((1, 2, 3))[:, None] / 255)

def _batch():
    g = torch.Generator().manual_seed(0)
    xl = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8, generator=g)
    xu = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=g)
    return xl, torch.tensor([0, 1, 2, 3]), xu

def test_cotrain_step_is_two_uda_steps():
    """The loss is the sum of lesson 04's step for each network, with the same draws, in order, and
    the agreed target; each network's gradient comes from its own loss only."""
    xl, yl, xu = _batch()
    torch.manual_seed(0)
    pair, ema = ModelPair(Counted(), Counted()), ModelPair(Counted(), Counted())
    cfg = TrainConfig(**PAIR, beta=0.5)
    loss, logs = cotrain_step(pair, xl, yl, xu, cfg, 0.3, torch.Generator().manual_seed(1),
                              teacher=ema)
    gen = torch.Generator().manual_seed(1)
    parts = [uda_step(n, xl, yl, xu, cfg, 0.3, gen, {}, teacher=ema)[0] for n in pair.nets]
    assert torch.allclose(loss, parts[0] + parts[1])
    parts[0].backward()
    assert pair.nets[1].lin.weight.grad is None                 # the second loss alone reaches it
    assert set(logs) >= {'sup_loss', 'cons_loss', 'mask_rate'}

@pytest.mark.parametrize('view, teacher_calls', [('clean', [8]), ('weak', [8, 8])])
def test_target_computed_once_per_step(view, teacher_calls):
    "Both networks of one step share the clean images' target; each weak view gets its own."
    xl, yl, xu = _batch()
    pair, ema = ModelPair(Counted(), Counted()), ModelPair(Counted(), Counted())
    cfg = TrainConfig(**PAIR, teacher_view=view)
    cotrain_step(pair, xl, yl, xu, cfg, 0.0, torch.Generator().manual_seed(0), teacher=ema)
    assert [n.calls for n in ema.nets] == [teacher_calls] * 2
    assert [n.calls for n in pair.nets] == [[4 + 8]] * 2

def test_agree_teacher_needs_a_pair():
    xl, _, xu = _batch()
    with pytest.raises(ValueError, match='EMA of a ModelPair'):
        agreeing_teachers(Counted(), Counted(), xl, xu, xu)

@pytest.mark.parametrize('bad, msg', [
    (dict(teacher='agree'), 'both teacher'), (dict(peer_model='lean'), 'both teacher'),
    (dict(PAIR, peer_model='resnet'), 'unknown peer_model'),
    (dict(PAIR, beta=0.3), 'β ≥ 0.5'), (dict(PAIR, beta_mode='freematch'), 'β ≥ 0.5'),
    (dict(PAIR, method='sup'), "needs method 'uda'"), (dict(PAIR, ema_decay=0.0), 'ema_decay is 0'),
    (dict(PAIR, ent_min=0.1), 'ent_min')])
def test_bad_cotraining_configs_refused(bad, msg):
    with pytest.raises(ConfigError, match=msg): TrainConfig(**bad)

def test_make_run_model_and_step():
    """The first network starts where a one-network run of the same config does; the peer from
    other weights."""
    one, two = TrainConfig(model='lean', teacher='ema'), TrainConfig(model='lean', **PAIR)
    pair, alone = make_run_model(two), make_model('lean', one.train_seed)
    a, b = pair.nets
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), alone.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert run_step_fn(two) is cotrain_step and run_step_fn(one) is uda_step
    assert pair.input_shape == (1, 28, 28)

def test_refused_under_torchrun():
    with pytest.raises(ConfigError, match='one process only'):
        check_launch(TrainConfig(batch_size=8, **PAIR), 2)

@pytest.fixture(scope='module')
def tiny(data):
    return SSLData(data.x_labeled, data.y_labeled, data.x_unlabeled[:400], data.x_val[:64],
                   data.y_val[:64], data.x_test[:64], data.y_test[:64])

TINY = dict(model='simple', steps=6, eval_every=3, batch_size=8, checkpoint_every=0,
            teacher='agree', peer_model='simple')

def test_final_json_reports_each_network(tiny, tmp_path):
    cfg = TrainConfig(**TINY)
    final = run_experiment(cfg, tmp_path/'run', data=tiny, show_progress=False)
    assert final['step_fn'] == 'cotrain_step' and final['nets'] == ['simple', 'simple']
    assert len(final['nets_test_acc_ema']) == 2
    assert all(0 <= a <= 1 for a in final['nets_test_acc_ema'])

class CancelAt(Callback):
    def __init__(self, step): self.at = step
    def after_step(self, run):
        if run.done >= self.at: raise CancelFit()

def test_resume_repeats_the_uninterrupted_pair(tiny, tmp_path):
    "A co-training run stopped at step 3 and resumed ends where the run never stopped does."
    cfg = TrainConfig(**TINY)
    run_experiment(cfg, tmp_path/'ref', data=tiny, show_progress=False)
    run_experiment(cfg, tmp_path/'cut', data=tiny, cbs=[CancelAt(3)], show_progress=False)
    run_experiment(cfg, tmp_path/'cut', data=tiny, resume=True, show_progress=False)
    a, b = (pd.read_csv(tmp_path/d/'metrics.csv').drop(columns='time_s') for d in ('ref', 'cut'))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    fa, fb = (json.loads((tmp_path/d/'final.json').read_text()) for d in ('ref', 'cut'))
    assert fa['nets_test_acc_ema'] == fb['nets_test_acc_ema']

def test_cli_folder_name_and_refusal(tmp_path):
    cli = [sys.executable, '-m', 'uda_course.cli', '--preset', 'smoke', '--model', 'simple',
           '--method', 'uda', '--out', str(tmp_path), '--quiet', '--n_test', '64']
    r = subprocess.run([*cli, '--peer_model', 'simple'], capture_output=True, text=True)
    assert r.returncode != 0 and 'both teacher' in r.stderr + r.stdout
    assert not any(tmp_path.iterdir())                       # refused before any folder exists
    subprocess.run([*cli, '--peer_model', 'simple', '--teacher', 'agree'], check=True,
                   capture_output=True)
    final = json.loads((tmp_path/'simple+simple-uda-seed0'/'final.json').read_text())
    assert final['nets'] == ['simple', 'simple']

def test_step_bench_writes_its_table(tmp_path):
    """bench/bench_cotrain.py runs both presets' steps, with `--amp` also under bf16 autocast, and
    writes one row each; lean's float32 row has ratio 1.00."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path/'step.md'
    subprocess.run([sys.executable, str(root/'bench'/'bench_cotrain.py'), '--repeats', '1',
                    '--amp', '--out', str(out)], check=True, capture_output=True, cwd=root,
                   env={**os.environ, 'PYTHONPATH': str(root)})
    rows = [[c.strip() for c in l.split('|')[1:4]] for l in out.read_text().splitlines()
            if l.startswith('| `')]
    pair = ['`lean_pair`', '`cotrain_step`']
    assert rows == [['`lean`', '`uda_step`', 'no'], ['`lean`', '`uda_step`', 'bf16'],
                    pair + ['no'], pair + ['bf16']]
    first = next(l for l in out.read_text().splitlines() if l.startswith('| `'))
    assert first.rstrip(' |').endswith('1.00')


def test_lean_pair_long_is_lean_pair_longer_in_bf16():
    """`lean_pair_long` differs from `lean_pair` in exactly two settings per row, the two chosen
    on validation in lesson 10: 8,000 steps and bf16 autocast; both rows keep one budget; five
    splits."""
    from uda_course.experiment import PRESET_SEEDS, preset_configs
    short, long = preset_configs('lean_pair'), preset_configs('lean_pair_long')
    assert [(c.model, c.method) for c in long] == [('lean', 'sup'), ('lean', 'uda')]
    for s, l in zip(short, long):
        a, b = s.to_dict(), l.to_dict()
        assert {k for k in a if a[k] != b[k]} == {'steps', 'amp'}
        assert (b['steps'], b['amp']) == (8000, True)
    assert long[1].teacher == 'agree' and long[1].peer_model == 'lean'
    assert PRESET_SEEDS['lean_pair_long'] == 5
