"""The answers to the exercises of lesson 08 (The report's defects, put back one at a time) that have a definite answer,
checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value (the grey
levels the clamp blackens, the losses with the temperature on both sides, one RandAugment draw for the batch, the loss
of separate forward passes). The images come from the lesson's split with 64 validation and test images (the `small`
fixture of conftest.py)."""
import copy, math
import pytest, torch
from torch import nn
from uda_course.core import TrainConfig
from uda_course.train import SimpleCNN
from uda_course.augment import rand_augment
from uda_course.best_cnn import BestMNISTCNN
from uda_course.uda import consistency_loss, uda_step, uda_target
import uda_course.defects as defects
from uda_course.defects import batchwise_rand_augment, defect_step, report_clamp


def test_l08_ex1_the_clamp_blackens_every_grey_level_below_128():
    g = torch.arange(256).to(torch.uint8).view(1, 1, 16, 16)
    out = report_clamp(g).flatten().long()
    assert out.tolist() == [max(0, min(255, 2 * v - 255)) for v in range(256)]
    assert (out == 0).sum() == 128 and (out == 0).nonzero().max() == 127        # levels 0..127 become 0
    assert out.unique().numel() == 129                                          # 0 and the 128 odd levels 1, 3, ..., 255
    assert out[200] == 145 and out[255] == 255


def test_l08_ex2_temperature_on_both_sides_undoes_the_sharpening():
    T, z = 0.4, torch.tensor([[2.0, 1.0, 0.0]])
    target, mask = uda_target(z, T, beta=0.0)
    correct = lambda z_hat: consistency_loss(z_hat, target, mask)
    both = lambda z_hat: consistency_loss(z_hat / T, target, mask)              # defect 3: the augmented logits divided by T too
    def kl(a, b):
        "KL(softmax(a) ‖ softmax(b)) by hand, for logits given as lists."
        pa = [math.exp(v) / sum(math.exp(u) for u in a) for v in a]
        pb = [math.exp(v) / sum(math.exp(u) for u in b) for v in b]
        return sum(x * math.log(x / y) for x, y in zip(pa, pb))
    assert both(z).item() == pytest.approx(0.0, abs=1e-6)                       # satisfied when ẑ = z: no sharpening asked
    assert correct(z).item() == pytest.approx(kl([5.0, 2.5, 0.0], [2.0, 1.0, 0.0]), rel=1e-5) and correct(z).item() > 0.1
    assert correct(z / T).item() == pytest.approx(0.0, abs=1e-6)                # the correct loss is satisfied at ẑ = z/T
    assert both(z / T).item() == pytest.approx(kl([5.0, 2.5, 0.0], [12.5, 6.25, 0.0]), rel=1e-5)
    z_hat = z.clone().requires_grad_()
    both(z_hat).backward()
    assert z_hat.grad.abs().max() < 1e-6                                        # no gradient at ẑ = z
    z_hat = torch.zeros(1, 3, requires_grad=True)                               # elsewhere the gradient is (1/T)(softmax(ẑ/T) − p)
    both(z_hat).backward()
    torch.testing.assert_close(z_hat.grad, (torch.full((1, 3), 1 / 3) - target) / T)


def test_l08_ex3_one_randaugment_draw_for_the_whole_batch(small, monkeypatch):
    plans = []
    real_apply = defects.apply_plan
    monkeypatch.setattr(defects, 'apply_plan', lambda x, plan: plans.append(plan) or real_apply(x, plan))
    cfg = TrainConfig(model='simple', method='uda', batch_size=32, unsup_ratio=2)  # μB = 64 unlabeled images
    class Tiny(nn.Module):                                                    # takes raw uint8 images, as the kit's models do
        def __init__(self): super().__init__(); self.lin = nn.Linear(784, 10)
        def forward(self, x): return self.lin(x.float().flatten(1) / 255)
    tiny = Tiny()
    defect_step('batchwise_randaugment')(tiny, small.x_labeled[:32], small.y_labeled[:32], small.x_unlabeled[:64], cfg, 0.1,
                                         torch.Generator().manual_seed(0), {})
    (plan,) = plans
    assert len(plan) == 64 and len(set(plan.op_names())) == 1                   # one op pair for 64 images
    assert plan.magnitude.unique(dim=0).shape[0] == 1 and plan.cutout_centre.unique(dim=0).shape[0] == 1
    # image i gets exactly the view that per-image RandAugment gives it in a batch of one, from the same generator state
    x, args = small.x_unlabeled[:8], (2, 10)
    shared = batchwise_rand_augment(x, *args, torch.Generator().manual_seed(1), True, None, 0.3)
    for i in range(8):
        assert torch.equal(shared[i:i + 1], rand_augment(x[i:i + 1], *args, torch.Generator().manual_seed(1), True, None, 0.3))


def test_l08_ex4_separate_passes_change_nothing_without_batch_statistics(small):
    cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, beta=0.0)   # the check cell's setting
    xl, yl, xu = small.x_labeled[:4], small.y_labeled[:4], small.x_unlabeled[:8]
    def loss_of(step_fn, model):
        state = copy.deepcopy(model.state_dict())                               # train-mode BatchNorm updates its statistics
        loss = step_fn(model, xl, yl, xu, cfg, 0.1, torch.Generator().manual_seed(0), {})[0].item()
        model.load_state_dict(state)
        return loss
    one, three = uda_step, defect_step('separate_forward')
    torch.manual_seed(0); simple = SimpleCNN().eval()                          # no BatchNorm, dropout off
    assert loss_of(three, simple) == pytest.approx(loss_of(one, simple), rel=1e-5)
    torch.manual_seed(0); best = BestMNISTCNN().eval()                         # BatchNorm with its running statistics
    assert loss_of(three, best) == pytest.approx(loss_of(one, best), rel=1e-5)
    best.train()
    for m in best.modules():
        if isinstance(m, nn.Dropout): m.eval()                                  # only BatchNorm is in train mode
    assert abs(loss_of(three, best) - loss_of(one, best)) > 1e-3               # batch statistics of three batches, not one
