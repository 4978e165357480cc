"""The answers to the exercises of lesson 04 (UDA: consistency training on unlabeled images) that have a definite answer,
checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value (the
gradient without the stop-gradient, the temperature on both sides, the step at which TSA passes β)."""
import pytest, torch
from uda_course.uda import consistency_loss, tsa_threshold, uda_target


def test_l04_ex1_gradient_without_stop_gradient():
    torch.manual_seed(0)
    T = 0.4
    z = torch.randn(5, 10, requires_grad=True)           # clean logits
    z_hat = torch.randn(5, 10)                           # augmented logits (held fixed)
    p = torch.softmax(z / T, 1); logq = torch.log_softmax(z_hat, 1)
    kl = (p * (p.log() - logq)).sum(1)                   # per image, no stop-gradient
    kl.sum().backward()
    d = p.detach().log() - logq
    formula = (1 / T) * p.detach() * (d - kl.detach()[:, None])
    torch.testing.assert_close(z.grad, formula, atol=1e-5, rtol=1e-4)
    # with the kit's detached target, the clean logits get no gradient at all
    z2 = z.detach().clone().requires_grad_(True)
    target, mask = uda_target(z2, temperature=T, beta=0.0)
    consistency_loss(z_hat.clone().requires_grad_(True), target, mask).backward()
    assert z2.grad is None or torch.count_nonzero(z2.grad) == 0


def test_l04_ex2_temperature_on_both_sides_cancels_sharpening():
    torch.manual_seed(0)
    T = 0.4
    z = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    z_hat = torch.zeros(1, 4, requires_grad=True)
    opt = torch.optim.SGD([z_hat], lr=2.0)
    for _ in range(3000):
        opt.zero_grad()
        p = torch.softmax(z / T, 1)
        loss = (p * (p.log() - torch.log_softmax(z_hat / T, 1))).sum()
        loss.backward(); opt.step()
    q = torch.softmax(z_hat.detach(), 1)                 # the model's prediction on the augmented image
    torch.testing.assert_close(q, torch.softmax(z, 1), atol=1e-3, rtol=1e-3)    # unsharpened
    assert (q - torch.softmax(z / T, 1)).abs().max() > 0.1                   # not the sharpened target


def test_l04_ex3_when_tsa_passes_beta():
    assert tsa_threshold('linear', 7 / 9) == pytest.approx(0.8)
    steps = 1200
    first = next(s for s in range(steps) if tsa_threshold('linear', s / steps) > 0.8)   # `fit` passes progress = step / steps
    assert first == 934
    import math
    t_exp = 1 + math.log(7 / 9) / 5
    assert tsa_threshold('exp', t_exp) == pytest.approx(0.8)
    assert next(s for s in range(steps) if tsa_threshold('exp', s / steps) > 0.8) == math.floor(t_exp * steps) + 1 == 1140
