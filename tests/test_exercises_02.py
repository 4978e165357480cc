"""The answers to the exercises of lesson 02 (Baseline: the simple CNN, the training loop, honest evaluation) that have a
definite answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived
value (the learning rate left at the end of the cosine schedule, the EMA's half-life)."""
import math
import pytest, torch
from uda_course.train import make_scheduler


def test_l02_ex1_cosine_ends_near_a_fifth():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched, S = make_scheduler(opt, 1000), 1000
    for _ in range(S - 1): opt.step(); sched.step()
    last = opt.param_groups[0]['lr']
    assert last == pytest.approx(math.cos(7 * math.pi * (S - 1) / (16 * S)))
    assert 0.19 < last < math.cos(7 * math.pi / 16) + 0.002 and math.cos(7 * math.pi / 16) == pytest.approx(0.1951, abs=1e-4)


def test_l02_ex2_ema_half_life():
    d = 0.99
    half_life = math.log(0.5) / math.log(d)
    assert half_life == pytest.approx(68.97, abs=0.01)
    assert 1 / (1 - d) == pytest.approx(100)                 # the usual "averages over about 1/(1 - d) steps"
    w = torch.tensor([(1 - d) * d ** k for k in range(10_000)])
    assert w.sum().item() == pytest.approx(1.0, abs=1e-6)    # the weights of all past steps sum to 1
