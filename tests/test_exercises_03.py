"""The answers to the exercises of lesson 03 (Augmentation: per-image RandAugment, batched on the training device) that
have a definite answer, checked, so that no exercise is wrong: each test names its exercise number and holds the
hand-derived value (the expected number of distinct op triples in a batch, the ops' values between the printed
magnitudes)."""
import pytest, torch
from uda_course.augment import draw_plan, op_value, RANDAUG_OPS


def test_l03_ex1_distinct_triples_in_a_batch():
    n_ops, N, B = 14, 3, 64                                   # three ops per image, a batch of 64
    expected = n_ops ** N * (1 - (1 - n_ops ** -N) ** B)      # 2,744 triples, each absent with prob (1 - 1/2744)^64
    assert expected == pytest.approx(63.27, abs=0.01)
    g = torch.Generator().manual_seed(0)
    counts = [len({tuple(r) for r in draw_plan(B, 28, 28, n_ops=N, generator=g).op.tolist()}) for _ in range(400)]
    assert len(RANDAUG_OPS) == n_ops
    assert sum(counts) / len(counts) == pytest.approx(expected, abs=0.3)


def test_l03_ex2_magnitudes_between_the_printed_ones():
    assert op_value('solarize', 7.5) == pytest.approx(64.0)       # 256 + (0 - 256) * 7.5 / 10
    assert (torch.arange(256) >= op_value('solarize', 7.5)).float().mean() == 0.75   # pixels >= 64 are inverted
    assert round(op_value('posterize', 7.5)) == 5                 # 8 + (4 - 8) * 0.75 = 5 bits kept
