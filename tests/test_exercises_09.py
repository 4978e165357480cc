"""The answers to the exercises of lesson 09 (Confirmation bias: measuring the targets with the hidden labels) that have a
definite answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived
value (the ECE with five bins, the ECE of a constant confidence, the target distribution alignment gives a crossed 7)."""
import math
import pytest, torch
from uda_course.diagnostics import expected_calibration_error
from uda_course.uda import uda_target

def test_exercise_1_ece_with_five_bins():
    # bins of width 0.2, the last one [0.8, 1] holds 0.8 and 1.0: |1-0.2| + |0-0.4| + |1-0.6| + 2·|1-0.9| = 1.8, over 5 images
    conf = torch.tensor([0.2, 0.4, 0.6, 0.8, 1.0]); ok = torch.tensor([True, False, True, True, True])
    assert expected_calibration_error(conf, ok, n_bins=5) == pytest.approx(0.36)

@pytest.mark.parametrize('right, ece', [(90, 0.0), (80, 0.1)])
def test_exercise_2_constant_confidence(right, ece):
    ok = torch.tensor([True] * right + [False] * (100 - right))
    assert expected_calibration_error(torch.full((100,), 0.9), ok) == pytest.approx(ece, abs=1e-6)   # 0.9 in float32

def test_exercise_3_distribution_alignment_does_not_flip_a_confident_target():
    p = torch.tensor([[0.02, 0.02, 0.02, 0.02, 0.6, 0.0, 0.0, 0.3, 0.01, 0.01]]).clamp_min(1e-6)
    p_bar = torch.full((10,), 0.1); p_bar[4], p_bar[7] = 0.11, 0.09
    target, _ = uda_target(p.log(), 1.0, 0.0, (1 / 10) / p_bar)
    assert target.argmax().item() == 4
    assert (target[0, 4] / target[0, 7]).item() == pytest.approx((0.6 / 0.3) * (0.09 / 0.11), rel=1e-5)
