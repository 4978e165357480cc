"""The confirmation-bias remedies of lesson 09 and the hidden-label diagnostics: elastic distortion against
torchvision, several cutout squares, the Mean Teacher target, the labeled images in the unlabeled pool, and the
rule that the unlabeled images' true labels never reach training."""
import math
import pytest, torch
import torchvision.transforms.v2 as v2
import torchvision.transforms.v2.functional as TF

from uda_course.core import ConfigError, TrainConfig
from uda_course.augment import AugPlan, apply_plan, draw_plan, elastic_displacement, elastic_distort, rand_augment
from uda_course.augment import _k_elastic
from uda_course.data import SSLData
from uda_course.diagnostics import expected_calibration_error, target_diagnostics
from uda_course.train import fit
from uda_course.uda import uda_step
from uda_course.experiment import make_model


@pytest.fixture(scope='module')
def digits(data): return data.x_unlabeled[:64].clone()


# ---------------------------------------------------------------- elastic distortion
def test_displacement_is_torchvisions_elastic_transform():
    "Same noise, same field: torchvision's ElasticTransform(alpha=68, sigma=4) is Simard's α = 34 px."
    img = torch.zeros(1, 28, 28, dtype=torch.uint8)
    for seed in range(5):
        torch.manual_seed(seed)
        tv = v2.ElasticTransform(alpha=68.0, sigma=4.0).make_params([img])['displacement']   # (1, H, W, 2)
        torch.manual_seed(seed)
        noise = torch.cat([torch.rand(1, 1, 28, 28) * 2 - 1, torch.rand(1, 1, 28, 28) * 2 - 1], 1)
        assert torch.allclose(elastic_displacement(noise, 34.0), tv, atol=2e-6, rtol=0)   # float32 sums in another order

@pytest.mark.parametrize('seed', range(4))
def test_each_image_equals_torchvision_elastic_image(digits, seed):
    "The per-image oracle: image i of the batched kernel is torchvision's elastic_image on image i with its own field."
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(len(digits), 2, 28, 28, generator=g) * 2 - 1
    alpha = torch.rand(len(digits), generator=g) * 50
    p = torch.zeros(len(digits), 6); p[:, 0] = alpha; p[:, 1] = torch.arange(len(digits))
    out, disp = _k_elastic(digits, p, noise, 4.0), elastic_displacement(noise, alpha)
    for i in range(len(digits)):
        assert torch.equal(out[i], TF.elastic_image(digits[i], disp[i:i + 1])), i

def test_zero_alpha_is_identity(digits):
    assert torch.equal(elastic_distort(digits, 0.0, torch.Generator().manual_seed(0)), digits)

def test_field_scale_is_alpha():
    "The displacement is linear in α: twice α, twice the field."
    noise = torch.rand(3, 2, 28, 28) * 2 - 1
    assert torch.allclose(elastic_displacement(noise, 20.0), 2 * elastic_displacement(noise, 10.0), atol=1e-7)

def test_plans_without_the_new_stages_draw_what_they_drew_before(digits):
    "elastic_alpha 0 and one cutout draw exactly the numbers of the old call, so every earlier preset is unchanged."
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = rand_augment(digits, 2, 10, g1, True, None, 0.3)
    b = rand_augment(digits, 2, 10, g2, True, None, 0.3, cutout_count=1, elastic_alpha=0.0, elastic_p=1.0)
    assert torch.equal(a, b) and torch.equal(g1.get_state(), g2.get_state())

def test_elastic_p_sets_the_share_of_distorted_views():
    plan = draw_plan(4000, 28, 28, 2, 10, torch.Generator().manual_seed(0), elastic_alpha=30.0, elastic_p=0.25)
    share = (plan.elastic_alpha > 0).double().mean().item()
    assert abs(share - 0.25) < 0.03 and plan.elastic_alpha.max() <= 30.0

def test_three_cutout_squares_erase_three_boxes():
    "Hand-computed: three 7 x 7 squares (cutout 0.25 of 28 px) at far-apart centres erase 3 * 49 = 147 pixels."
    x = torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)
    plan = AugPlan(('identity',), torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1, dtype=torch.float64),
                   torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, 2, dtype=torch.long), 0.25,
                   torch.tensor([[5, 5]]), torch.tensor([[[5, 20], [20, 12]]]))
    y = apply_plan(x, plan)
    assert int((y == 0).sum()) == 147
    assert y[0, 0, 2:9, 2:9].eq(0).all() and y[0, 0, 2:9, 17:24].eq(0).all() and y[0, 0, 17:24, 9:16].eq(0).all()

@pytest.mark.parametrize('kw, msg', [
    (dict(elastic_alpha=-1), 'elastic_alpha'), (dict(elastic_alpha=500), 'elastic_alpha'), (dict(elastic_p=1.5), 'elastic_p'),
    (dict(cutout_count=0), 'cutout_count'), (dict(teacher='mean'), 'teacher'), (dict(labeled_aug='heavy'), 'labeled_aug'),
    (dict(teacher='ema', ema_decay=0.0), 'ema_decay'), (dict(teacher='ema', ent_min=0.1), 'ent_min'),
    (dict(labeled_in_unlabeled='yes'), 'labeled_in_unlabeled')])
def test_bad_remedy_settings_are_refused(kw, msg):
    with pytest.raises(ConfigError, match=msg): TrainConfig(**kw)

def test_bad_draw_arguments_are_refused():
    with pytest.raises(ValueError, match='cutout_count'): draw_plan(2, 28, 28, cutout_count=0)
    with pytest.raises(ValueError, match='elastic_p'): draw_plan(2, 28, 28, elastic_alpha=5.0, elastic_p=2.0)


# ---------------------------------------------------------------- the hidden labels never reach training
SENTINEL = 4242

def _recording_run(data, **kw):
    "Train 4 steps with a step function that records every tensor it receives."
    seen = []
    def step(model, xl, yl, xu, cfg, progress, gen, state=None, teacher=None):
        seen.append([xl, yl, xu] + ([p for p in teacher.state_dict().values()] if teacher is not None else []))
        return uda_step(model, xl, yl, xu, cfg, progress, gen, state, teacher)
    step.uses_unlabeled = True
    cfg = TrainConfig(model='lean', method='uda', steps=4, batch_size=8, unsup_ratio=2, eval_every=4, **kw)
    fit(make_model('lean'), data, cfg, step, show_progress=False)
    return seen

@pytest.mark.parametrize('kw', [dict(), dict(teacher='ema', labeled_in_unlabeled=True, labeled_aug='strong')])
def test_step_functions_never_see_the_hidden_labels(data, kw):
    small = SSLData(data.x_labeled, data.y_labeled, data.x_unlabeled[:500], data.x_val[:50], data.y_val[:50],
                    data.x_test[:50], data.y_test[:50], y_unlabeled_hidden=torch.full((500,), SENTINEL))
    seen = _recording_run(small, **kw)
    labels = [t for call in seen for t in call if t.dtype == torch.int64]     # images are uint8, weights float
    assert labels and not any(bool((t == SENTINEL).any()) for t in labels)
    assert all(int(call[1].max()) < 10 for call in seen)       # the labels a step gets are the labeled batch's

def test_labeled_images_join_the_pool_only_when_asked(data):
    "Marker images (all 255) as the labeled set: they show up in the unlabeled batches only with labeled_in_unlabeled."
    marked = torch.full_like(data.x_labeled, 255)
    small = SSLData(marked, data.y_labeled, data.x_unlabeled[:20], data.x_val[:50], data.y_val[:50], data.x_test[:50], data.y_test[:50])
    for flag in (False, True):
        seen = _recording_run(small, labeled_in_unlabeled=flag)
        xus = [call[2] for call in seen]
        assert any(bool((xu.flatten(1) == 255).all(1).any()) for xu in xus) == flag

def test_mean_teacher_target_comes_from_the_teacher(data):
    "With a teacher, the student's forward holds B + μB images and the target is the teacher's on the clean view."
    sizes = []
    class Rec(torch.nn.Module):
        def __init__(self, logits=None):
            super().__init__(); self.lin = torch.nn.Linear(784, 10); self.logits = logits
        def forward(self, x):
            sizes.append((self.logits is not None, len(x)))
            return self.logits.expand(len(x), -1) if self.logits is not None else self.lin(x.float().flatten(1))   # models get raw uint8 images
    sure7 = torch.full((1, 10), -20.0); sure7[0, 7] = 20.0
    cfg = TrainConfig(model='lean', method='uda', batch_size=4, unsup_ratio=2, beta=0.9, temperature=1.0, teacher='ema')
    xl, yl, xu = data.x_labeled[:4], data.y_labeled[:4], data.x_unlabeled[:8]
    loss, logs = uda_step(Rec(), xl, yl, xu, cfg, 0.0, torch.Generator().manual_seed(0), {}, teacher=Rec(sure7))
    assert sizes == [(True, 8), (False, 12)]
    assert logs['mask_rate'].item() == 1.0          # the teacher is sure of every image: all pass β


# ---------------------------------------------------------------- diagnostics
def test_ece_hand_value():
    # bins of width 1/2: {0.2, 0.4} one right -> |0.5 - 0.3|; {0.6, 0.8, 1.0} all right -> |1 - 0.8|; ECE = 0.2
    assert expected_calibration_error(torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0]), torch.tensor([1, 0, 1, 1, 1]).bool(), 2) == pytest.approx(0.2)

def test_target_diagnostics_hand_value():
    class Fixed(torch.nn.Module):
        def __init__(self, z): super().__init__(); self.z = z; self.w = torch.nn.Parameter(torch.zeros(1))
        def forward(self, x): return self.z[:len(x)]
    z = torch.full((4, 10), -10.0); z[0, 7] = z[1, 2] = z[2, 2] = 10.0; z[3, 9] = 0.5; z[3, 4] = 0.0
    row, pairs = target_diagnostics(Fixed(z), torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.tensor([7, 7, 2, 4]), TrainConfig(beta=0.8))
    assert (row['n_confident'], row['n_wrong_confident'], row['mask_rate']) == (3, 1, 0.75)
    assert (row['precision_2'], row['recall_2'], row['recall_7'], row['mask_rate_4']) == (0.5, 1.0, 0.5, 0.0)
    assert pairs.to_dict('records') == [dict(true=7, target=2, count=1)]
    with pytest.raises(ValueError, match='same length'): target_diagnostics(Fixed(z), torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.tensor([1]), TrainConfig())

def test_diagnostics_files_of_an_overwritten_run_start_again(tmp_path, data):
    "Regression: an overwritten run kept the old reliability.csv and appended to it; every diagnostics file now holds one run."
    import pandas as pd
    from uda_course.diagnostics import Diagnostics
    from uda_course.experiment import run_experiment
    cfg = TrainConfig(model='simple', method='uda', steps=4, batch_size=4, unsup_ratio=2, eval_every=2, device='cpu')
    for _ in range(2):
        run_experiment(cfg, tmp_path/'r', data=data, overwrite=True, show_progress=False, cbs=[Diagnostics(data, cfg, tmp_path/'r', n_images=200)])
    for f in ('diagnostics.csv', 'reliability.csv'): assert sorted(pd.read_csv(tmp_path/'r'/f).step.unique()) == [2, 4], f
    pairs = pd.read_csv(tmp_path/'r'/'confusions.csv')                   # may be empty: few confident targets after 4 steps
    assert set(pairs.step) <= {2, 4} and not pairs.duplicated(['step', 'true', 'target']).any()
    assert len(pd.read_csv(tmp_path/'r'/'diagnostics.csv')) == 2 and len(pd.read_csv(tmp_path/'r'/'reliability.csv')) == 2 * 15
