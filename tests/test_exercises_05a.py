"""Lesson 05a (other targets: Mean Teacher, FixMatch's views and FreeMatch): the answers to its exercises that have a
definite value, derived by hand and held here, and the parts it adds to lesson 04's `STEP_PARTS`."""
import pytest, torch
from torch import nn
from types import SimpleNamespace
from uda_course.core import ConfigError, TrainConfig
from uda_course.uda import STEP_PARTS, step_part, uda_step
import uda_course.variants as variants


class Counted(nn.Module):
    "A linear map on the mean pixel that records the batch size of every call."
    def __init__(self): super().__init__(); self.lin, self.calls = nn.Linear(1, 10), []
    def forward(self, x):
        self.calls.append(len(x)); return self.lin(x.float().mean((1, 2, 3))[:, None] / 255)


def _step(cfg, B=32, mu=2):
    g = torch.Generator().manual_seed(0)
    xl = torch.randint(0, 256, (B, 1, 28, 28), dtype=torch.uint8, generator=g)
    xu = torch.randint(0, 256, (mu * B, 1, 28, 28), dtype=torch.uint8, generator=g)
    live, teacher = Counted(), Counted()
    uda_step(live, xl, torch.zeros(B, dtype=torch.long), xu, cfg, 0.0, g,
             teacher=teacher if cfg.teacher == 'ema' else None)
    return live.calls, teacher.calls


def test_exercise_1_images_per_network():
    # Mean Teacher: the live network runs B + μB = 32 + 64 images, the teacher the μB = 64 clean ones;
    # lesson 04's step runs B + 2μB = 160 images through one network
    assert _step(TrainConfig(teacher='ema', beta=0.0)) == ([96], [64])
    assert _step(TrainConfig(beta=0.0)) == ([160], [])


def test_exercise_2_freematch_by_hand():
    # β_t = 0.5·0.5 + 0.5·(0.8 + 0.55)/2 = 0.5875; p̄ = 0.5·(0.5, 0.5) + 0.5·(0.675, 0.325) = (0.5875, 0.4125);
    # both images' arg-max is class 0, so both thresholds are 0.5875·0.5875/0.5875 = 0.5875: 0.8 passes, 0.55 does not
    state, z = {}, torch.tensor([[0.8, 0.2], [0.55, 0.45]]).log()
    thr = variants.freematch_threshold(state, z, momentum=0.5)
    assert float(state['freematch_beta']) == pytest.approx(0.5875)
    assert state['freematch_p_bar'].tolist() == pytest.approx([0.5875, 0.4125])
    assert thr.tolist() == pytest.approx([0.5875, 0.5875])
    assert (z.softmax(1).amax(1) > thr).tolist() == [True, False]


def test_every_setting_value_has_a_part():
    "Every value TrainConfig accepts for the four part settings has a function once lesson 05a is imported."
    from uda_course.core import TEACHERS, TEACHER_VIEWS, LABELED_AUGS, BETA_MODES
    for setting, values in dict(teacher=TEACHERS, teacher_view=TEACHER_VIEWS, labeled_aug=LABELED_AUGS,
                                beta_mode=BETA_MODES).items():
        assert set(STEP_PARTS[setting]) == set(values), setting


def test_mean_teacher_without_teacher_is_refused():
    with pytest.raises(ValueError, match='EMA model'):
        variants.mean_teacher(Counted(), None, *(torch.zeros(2, 1, 28, 28, dtype=torch.uint8),) * 3)


def test_unknown_part_names_the_lesson_that_adds_parts():
    with pytest.raises(ConfigError, match=r"teacher='nobody'.*lesson 05a"):
        step_part(SimpleNamespace(teacher='nobody'), 'teacher')


def test_exercise_4_agreement_by_hand():
    """Both say class 0: the target is the mean (0.65, 0.35), kept at β = 0.6, masked at 0.8. With
    (0.4, 0.6) they disagree: the target is uniform, (0.5, 0.5), masked at any β ≥ 0.5."""
    from uda_course.uda import uda_target
    class Fixed(nn.Module):
        def __init__(self, p): super().__init__(); self.register_buffer('z', torch.tensor([p]).log())
        def forward(self, x): return self.z
    agree = variants.ModelPair(Fixed([0.7, 0.3]), Fixed([0.6, 0.4])).agreed_logits(None)
    assert agree.softmax(1)[0].tolist() == pytest.approx([0.65, 0.35])
    assert [bool(uda_target(agree, 1.0, b)[1]) for b in (0.8, 0.6)] == [False, True]
    split = variants.ModelPair(Fixed([0.7, 0.3]), Fixed([0.4, 0.6])).agreed_logits(None)
    assert split.softmax(1)[0].tolist() == pytest.approx([0.5, 0.5])
    assert not bool(uda_target(split, 1.0, 0.5)[1])
