"""The answers to the exercises of lesson 01 (Data: MNIST, 100 labels and 58,900 unlabeled images) that have a definite
answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value
(the split sizes, the normalised range, the grey levels that defect 2 sends to 0)."""
import torch
from uda_course.data import split_indices, normalize


def test_l01_ex1_sizes():
    y = torch.arange(60_000) % 10
    lab, val, unl = split_indices(y, n_labeled=250, n_val=1000, seed=0)
    assert (len(lab), len(val), len(unl)) == (250, 1000, 58_750)


def test_l01_ex2_normalised_range():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    torch.testing.assert_close(normalize(x).flatten(), torch.tensor([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]), atol=1e-4, rtol=0)


def test_l01_ex3_defect2_sends_the_darker_half_to_zero():
    g = torch.arange(256)
    exact = (2 * g - 255).clamp(0, 255)                      # the formula in exact (integer) arithmetic
    assert (exact[:128] == 0).all() and (exact[128:] > 0).all()        # grey levels 0..127
    x = g.to(torch.float32) / 255
    report = ((x - 0.5) / 0.5 * 255).clamp(0, 255).to(torch.uint8)   # the report's float path, truncated to uint8
    assert (report[:128] == 0).all() and (report[128:] > 0).all()      # the same half in float32
