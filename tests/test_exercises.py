"""The answers to the lessons' exercises that have a definite answer, checked, so that no exercise is wrong.
Each test names its lesson and exercise number."""
import copy
import torch
from torch import nn
import pytest
from uda_course.best_cnn import BestMNISTCNN, layer_table


def receptive_field(layers):
    "r_out = r_in + (k - 1) j_in, j_out = j_in s, over the convolutions of `layers`."
    r, j = 1, 1
    for m in layers:
        if isinstance(m, nn.Conv2d): r, j = r + (m.kernel_size[0] - 1) * j, j * m.stride[0]
    return r


def test_l05_ex1_receptive_field_after_two_blocks_is_25():
    model = BestMNISTCNN().eval()
    blocks = nn.Sequential(*list(model)[:19])                               # up to and including the second block's ReLU (before dropout)
    assert receptive_field(blocks) == 25
    x = torch.zeros(1, 1, 28, 28, requires_grad=True)
    out = blocks(x)                                      # (1, 64, 7, 7)
    out[0, :, 3, 3].sum().backward()                     # the centre position; its window fits inside the image
    rows = (x.grad[0, 0].abs().sum(1) > 0).sum().item()
    cols = (x.grad[0, 0].abs().sum(0) > 0).sum().item()
    assert (rows, cols) == (25, 25)


def test_l05_ex2_linear_parameters():
    t = layer_table(BestMNISTCNN())
    assert t.parameters[t.layer == 'Linear'].tolist() == [3136 * 128 + 128, 128 * 10 + 10]


def per_batch_mean_bias(batch_acc, sizes):
    "Mean of per-batch accuracies minus the true accuracy."
    batch_acc, sizes = torch.as_tensor(batch_acc, dtype=torch.float64), torch.as_tensor(sizes, dtype=torch.float64)
    return (batch_acc.mean() - (batch_acc * sizes).sum() / sizes.sum()).item()


def test_l05_ex3_averaging_bias_at_most_0_48_points():
    sizes = [64] * 156 + [16]
    assert sum(sizes) == 10_000
    # the difference is linear in each batch accuracy, so its extremes are at batch accuracies 0 or 1:
    # the last batch weighs 1/157 in the mean of means and 16/10000 in the true accuracy, a full batch 1/157 against 64/10000
    high = per_batch_mean_bias([0.0] * 156 + [1.0], sizes)
    low = per_batch_mean_bias([1.0] * 156 + [0.0], sizes)
    assert high == pytest.approx(1 / 157 - 16 / 10_000) and low == pytest.approx(-high, abs=1e-12)
    assert 0.0047 < high < 0.0048
    g = torch.Generator().manual_seed(0)
    for _ in range(200):                                 # no other batch accuracies do worse
        acc = torch.rand(157, generator=g, dtype=torch.float64)
        assert abs(per_batch_mean_bias(acc, sizes)) <= high + 1e-12


def test_l05_ex4_three_passes_weigh_the_last_view_most():
    bn = nn.BatchNorm1d(1)                               # momentum 0.1, running mean 0
    means = [2.0, 5.0, 11.0]                             # labeled, clean, strong
    for m in means: bn(torch.full((4, 1), m) + torch.tensor([[-1.0], [1.0], [-1.0], [1.0]]))
    weights = [0.1 * 0.9 ** 2, 0.1 * 0.9, 0.1]           # 0.081, 0.09, 0.1
    assert bn.running_mean.item() == pytest.approx(sum(w * m for w, m in zip(weights, means)))
    assert int(bn.num_batches_tracked) == 3
    one = nn.BatchNorm1d(1)
    one(torch.cat([torch.full((4, 1), m) + torch.tensor([[-1.0], [1.0], [-1.0], [1.0]]) for m in means]))
    assert one.running_mean.item() == pytest.approx(0.1 * sum(means) / 3)


def test_l05_ex5_bias_before_batchnorm_cancels_in_train_mode_only():
    torch.manual_seed(0)
    with_bias = nn.Conv2d(1, 4, 3, bias=True)
    without = copy.deepcopy(with_bias); without.bias = None
    nn.init.normal_(with_bias.bias)
    bn1, bn2 = nn.BatchNorm2d(4), nn.BatchNorm2d(4)
    x = torch.randn(8, 1, 10, 10)
    torch.testing.assert_close(bn1(with_bias(x)), bn2(without(x)), atol=1e-5, rtol=1e-5)
    bn1.eval(); bn2.eval()                               # eval mode: running statistics of one batch
    assert not torch.allclose(bn1(with_bias(x)), bn2(without(x)), atol=1e-3)   # not after one step: the running mean lags
    # it holds again once the running mean has converged to the batch mean (it absorbs the bias)
    bn1.train(); bn2.train()
    for _ in range(300): bn1(with_bias(x)); bn2(without(x))
    bn1.eval(); bn2.eval()
    torch.testing.assert_close(bn1(with_bias(x)), bn2(without(x)), atol=1e-4, rtol=1e-4)


def test_layer_table_rows_and_mode_restored():
    m = BestMNISTCNN().train()
    t = layer_table(m)
    assert len(t) == len(m) and t.parameters.sum() == 596_490 and t.output.iloc[-1] == (10,)
    assert m.training                                    # restored
    m.eval(); layer_table(m); assert not m.training


def test_layer_table_refuses_a_non_sequential():
    class Net(nn.Module):
        def forward(self, x): return x
    with pytest.raises(TypeError, match='nn.Sequential'): layer_table(Net())


# ---- lesson 04 ----
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


# ---- lesson 01 ----
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


# ---- lesson 02 ----
import math
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


# ---- lesson 03 ----
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
