"""The answers to the exercises of lesson 05 (BestMNISTCNN, layer by layer, and UDA on it) that have a definite answer,
checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value (the
receptive field, the linear layers' parameters, the averaging bias, the running mean of three passes, the bias before
BatchNorm); the last two tests check `layer_table`, which the exercises use."""
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
