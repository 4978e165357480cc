"""Proof of correctness of lesson 03's batched, per-image RandAugment (`uda_course.augment`).

Op by op, image i of our batched output must equal the `torchvision.transforms.v2.functional` op applied to
image i alone with the same per-image magnitude and sign (`reference_op` spells out which call that is):
exactly for colour ops, within one grey level on >= 99% of pixels for geometric ops. Run with
`PYTHONPATH=. python -m pytest -q tests/test_augment.py`.
"""
import pytest
import torch

from uda_course.augment import (RANDAUG_OPS, GEOMETRIC_OPS, apply_op, apply_plan, draw_plan, rand_augment,
                                rand_augment_reference, reference_op, weak_augment)

SEEDS = range(20)         # every op-by-op check runs over these seeds (fresh images, magnitudes, signs)
B = 64                    # images per seed


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "Many tiny per-image torchvision calls: one intra-op thread is much faster (and steadier on a shared machine)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def digits():
    "Real MNIST digits, uint8 (N, 1, 28, 28); a synthetic stand-in if MNIST cannot be loaded."
    try:
        from uda_course.data import load_mnist
        return load_mnist()[2][:2000].clone()
    except Exception:   # pragma: no cover - only without the data
        g = torch.Generator().manual_seed(0)
        x = torch.zeros(2000, 1, 28, 28, dtype=torch.uint8)
        x[:, :, 6:22, 10:18] = torch.randint(40, 256, (2000, 1, 16, 8), generator=g, dtype=torch.uint8)
        return x


def _random_case(x, seed, n=B, h=28, w=28):
    g = torch.Generator().manual_seed(seed)
    xb = x[torch.randint(len(x), (n,), generator=g)]
    mag = torch.rand(n, generator=g, dtype=torch.float64) * 10
    mag[:4] = torch.tensor([0.0, 10.0, 9.0, 5.0], dtype=torch.float64)   # the ends and the default are always in
    sign = torch.randint(2, (n,), generator=g).double() * 2 - 1
    centre = torch.stack([torch.randint(h, (n,), generator=g), torch.randint(w, (n,), generator=g)], 1)
    return xb, mag, sign, centre


# ---------------------------------------------------------------- op by op against torchvision
@pytest.mark.parametrize('name', list(RANDAUG_OPS))
def test_op_equals_torchvision(digits, name):
    geometric = name in GEOMETRIC_OPS
    exact_images = total = 0
    for seed in SEEDS:
        xb, mag, sign, centre = _random_case(digits, seed)
        y = apply_op(xb, name, mag, sign, centre)
        assert y.dtype == torch.uint8 and y.shape == xb.shape
        for i in range(len(xb)):
            ref = reference_op(xb[i], name, float(mag[i]), float(sign[i]), centre[i].tolist())
            d = (y[i].int() - ref.int()).abs()
            total += 1; exact_images += int(d.max() == 0)
            if geometric:
                close = (d <= 1).float().mean().item()
                assert close >= 0.99, f"{name} seed {seed} image {i} (magnitude {float(mag[i]):.2f}): only {close:.2%} of pixels within 1 grey level"
            else:
                assert d.max() == 0, f"{name} seed {seed} image {i} (magnitude {float(mag[i]):.2f}, sign {float(sign[i])}): {int((d > 0).sum())} pixels differ from torchvision"
    print(f"{name}: {exact_images}/{total} images bit-identical to torchvision")


@pytest.mark.parametrize('name', ['brightness', 'contrast', 'sharpness', 'solarize', 'posterize'])
def test_blend_ops_bit_exact_at_whole_magnitudes(digits, name):
    "Whole magnitudes (M = 9 is the default) give 'round' factors where one rounding vs two (torch's FMA in "
    "add_(alpha=...)) changes a pixel; e.g. sharpness at M=2 hits dozens of the first 200 digits."
    x = digits[:200]
    for m in range(1, 11):
        for sign in (1.0, -1.0):
            y = apply_op(x, name, float(m), torch.full((len(x),), sign))
            for i in range(len(x)):
                assert torch.equal(y[i], reference_op(x[i], name, float(m), sign)), f"{name} M={m} sign {sign} image {i}"


def test_colour_ops_equal_torchvision_on_rgb_non_square():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 3, 20, 24), generator=g, dtype=torch.uint8)
    x[:16] = (x[:16].float() * torch.rand(16, 1, 1, 1, generator=g)).to(torch.uint8)   # low-contrast ones too
    for name in RANDAUG_OPS:
        _, mag, sign, centre = _random_case(x, 1, n=32, h=20, w=24)
        y = apply_op(x, name, mag, sign, centre)
        for i in range(32):
            ref = reference_op(x[i], name, float(mag[i]), float(sign[i]), centre[i].tolist())
            assert (y[i].int() - ref.int()).abs().le(1).float().mean() >= (0.99 if name in GEOMETRIC_OPS else 1.0), name


def test_the_comparison_can_fail(digits):
    "The reference check is not vacuous: a wrong sign, magnitude or op is caught."
    xb, mag, sign, centre = _random_case(digits, 0)
    mag[:] = 9.0
    for name in ('rotate', 'shear_x', 'translate_y', 'brightness', 'contrast', 'sharpness'):
        y = apply_op(xb, name, mag, sign, centre)
        wrong = sum(int(not torch.equal(y[i], reference_op(xb[i], name, 9.0, -float(sign[i])))) for i in range(len(xb)))
        assert wrong > 0.9 * len(xb), f"{name}: flipping the sign went unnoticed on {len(xb) - wrong} images"
    y = apply_op(xb, 'solarize', mag)
    assert not torch.equal(y[0], reference_op(xb[0], 'solarize', 5.0))
    assert not torch.equal(apply_op(xb, 'equalize', 0.0), xb)


# ---------------------------------------------------------------- every op at its ends
@pytest.mark.parametrize('name', list(RANDAUG_OPS))
@pytest.mark.parametrize('magnitude', [0.0, 10.0])
def test_op_ends_keep_dtype_shape_range_and_digit(digits, name, magnitude):
    xb = digits[:128]
    assert (xb.flatten(1).amax(1) > xb.flatten(1).amin(1)).all()
    for sign in (1.0, -1.0):
        y = apply_op(xb, name, magnitude, torch.full((len(xb),), sign))
        assert y.dtype == torch.uint8 and y.shape == xb.shape
        flat = y.flatten(1)
        constant = (flat.amax(1) == flat.amin(1)).sum().item()
        assert constant == 0, f"{name} at magnitude {magnitude} (sign {sign}) turned {constant} digits into constant images"
        yf = apply_op(xb.float() / 255, name, magnitude, torch.full((len(xb),), sign))
        assert yf.dtype == torch.float32 and yf.min() >= 0 and yf.max() <= 1
        assert torch.equal((yf * 255).round().to(torch.uint8), y)
    if RANDAUG_OPS[name].low == RANDAUG_OPS[name].high or magnitude == 0:
        pass
    else:
        assert not torch.equal(y, xb), f"{name} at magnitude {magnitude} changed nothing"


def test_magnitude_zero_is_identity_for_parametric_ops(digits):
    xb = digits[:64]
    for name, s in RANDAUG_OPS.items():
        if s.kind in ('geometric', 'erase') or name in ('solarize', 'posterize', 'brightness', 'contrast', 'sharpness'):
            assert torch.equal(apply_op(xb, name, 0.0), xb), name


# ---------------------------------------------------------------- per-image randomness and seeds
def test_identical_images_get_different_views(digits):
    x = digits[7:8].expand(64, -1, -1, -1).contiguous()
    for kw in (dict(), dict(sample_magnitude=True)):
        y = rand_augment(x, generator=torch.Generator().manual_seed(0), **kw)
        distinct = len({bytes(v.numpy()) for v in y})
        unchanged = (y == x).flatten(1).all(1).float().mean().item()
        print(f"{kw or 'fixed M=9'}: {distinct} distinct views of one digit out of 64, {unchanged:.1%} left unchanged")
        assert distinct >= 40
        assert unchanged <= 0.10
    # the report's defect: one draw for the whole batch gives one view
    plan = draw_plan(1, 28, 28, generator=torch.Generator().manual_seed(0))
    for f in ('op', 'magnitude', 'sign', 'centre'): setattr(plan, f, getattr(plan, f).expand(64, *getattr(plan, f).shape[1:]))
    plan.cutout_centre = plan.cutout_centre.expand(64, 2)
    assert len({bytes(v.numpy()) for v in apply_plan(x, plan)}) == 1


def test_unchanged_fraction_over_real_digits(digits):
    x = digits[:1000]
    y = rand_augment(x, generator=torch.Generator().manual_seed(3))
    unchanged = (y == x).flatten(1).all(1).float().mean().item()
    print(f"fraction of 1000 digits left unchanged by rand_augment(N=2, M=9): {unchanged:.2%}")
    assert unchanged < 0.06


def test_same_seed_same_views_other_seed_other_views(digits):
    x = digits[:64]
    kw = dict(n_ops=3, magnitude=7, sample_magnitude=True, cutout=0.3)
    a = rand_augment(x, generator=torch.Generator().manual_seed(5), **kw)
    b = rand_augment(x, generator=torch.Generator().manual_seed(5), **kw)
    c = rand_augment(x, generator=torch.Generator().manual_seed(6), **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.manual_seed(1); d = rand_augment(x)
    torch.manual_seed(1); e = rand_augment(x)
    assert torch.equal(d, e)
    for f in (weak_augment, lambda x, generator: rand_augment_reference(x, generator=generator)):
        assert torch.equal(f(x, generator=torch.Generator().manual_seed(2)), f(x, generator=torch.Generator().manual_seed(2)))


def test_plan_draws_ops_uniformly_per_image():
    plan = draw_plan(20000, 28, 28, n_ops=2, magnitude=6, generator=torch.Generator().manual_seed(0), sample_magnitude=True)
    freq = torch.bincount(plan.op.flatten(), minlength=len(RANDAUG_OPS)).double() / plan.op.numel()
    assert (freq - 1 / len(RANDAUG_OPS)).abs().max() < 0.01, freq
    assert plan.magnitude.min() >= 0 and plan.magnitude.max() <= 6 and plan.magnitude.std() > 1
    assert set(plan.sign.unique().tolist()) == {-1.0, 1.0}
    combos = len(set(plan.op_names()[:64]))
    assert combos >= 45, combos   # 196 ordered pairs: a batch of 64 sees ~55 distinct ones
    fixed = draw_plan(10, 28, 28, magnitude=9, generator=torch.Generator().manual_seed(0))
    assert (fixed.magnitude == 9).all()


def test_ops_subset_and_final_cutout():
    x = torch.full((16, 1, 28, 28), 200, dtype=torch.uint8)
    y = rand_augment(x, n_ops=1, ops=['brightness'], magnitude=5, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) <= {int(200 * 0.55), min(int(200 * 1.45), 255)}
    g = torch.Generator().manual_seed(0)
    y = rand_augment(x, n_ops=0, cutout=0.25, generator=g)
    side = int(0.25 * 28)
    plan = draw_plan(16, 28, 28, n_ops=0, cutout=0.25, generator=torch.Generator().manual_seed(0))
    for i in range(16):
        cy, cx = plan.cutout_centre[i].tolist()
        rows = min(cy - side // 2 + side, 28) - max(cy - side // 2, 0)
        cols = min(cx - side // 2 + side, 28) - max(cx - side // 2, 0)
        assert int((y[i] == 0).sum()) == rows * cols
    assert torch.equal(rand_augment(x, n_ops=0), x)


def test_float_input_matches_uint8_path(digits):
    x = digits[:64]
    a = rand_augment(x, generator=torch.Generator().manual_seed(0), cutout=0.2)
    b = rand_augment(x.float() / 255, generator=torch.Generator().manual_seed(0), cutout=0.2)
    assert b.dtype == torch.float32 and torch.equal((b * 255).round().to(torch.uint8), a)
    assert rand_augment(x.double() / 255, generator=torch.Generator().manual_seed(0)).dtype == torch.float64


def test_empty_batch():
    x = torch.zeros(0, 1, 28, 28, dtype=torch.uint8)
    assert rand_augment(x).shape == x.shape and weak_augment(x).shape == x.shape
    assert rand_augment_reference(x).shape == x.shape


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize('call, exc, words', [
    (lambda x: rand_augment(x.tolist()), TypeError, 'torch.Tensor'),
    (lambda x: rand_augment(x.long()), TypeError, 'uint8'),
    (lambda x: rand_augment(x[0]), ValueError, '(B, C, H, W)'),
    (lambda x: rand_augment(x.permute(0, 2, 3, 1)), ValueError, 'channels'),
    (lambda x: rand_augment(x, n_ops=-1), ValueError, 'n_ops'),
    (lambda x: rand_augment(x, n_ops=1.5), ValueError, 'n_ops'),
    (lambda x: rand_augment(x, magnitude=11), ValueError, '[0, 10]'),
    (lambda x: rand_augment(x, magnitude=-1), ValueError, 'magnitude'),
    (lambda x: rand_augment(x, ops=['rotate', 'hflip']), ValueError, "'hflip'"),
    (lambda x: rand_augment(x, ops=[]), ValueError, 'empty'),
    (lambda x: rand_augment(x, cutout=1.5), ValueError, 'cutout'),
    (lambda x: rand_augment(x, generator=0), TypeError, 'torch.Generator'),
    (lambda x: rand_augment((x.float() / 127.5) - 1), ValueError, 'BEFORE normalising'),
    (lambda x: weak_augment(x.float() + 2), ValueError, '[0, 1]'),
    (lambda x: weak_augment(x[:, 0]), ValueError, 'x[:, None]'),
    (lambda x: rand_augment_reference(x, magnitude=31), ValueError, 'magnitude'),
    (lambda x: apply_op(x, 'flip', 5), ValueError, 'unknown op'),
    (lambda x: apply_op(x, 'rotate', 12), ValueError, '[0, 10]'),
    (lambda x: apply_plan(x, draw_plan(3, 28, 28)), ValueError, 'plan is for 3 images'),
])
def test_bad_input_is_refused_with_a_clear_message(call, exc, words):
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(exc) as e:
        call(x)
    assert words in str(e.value), str(e.value)


# ---------------------------------------------------------------- weak augmentation and the reference path
def test_weak_augment(digits):
    x = digits[:256]
    y = weak_augment(x, torch.Generator().manual_seed(0))
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert torch.equal(weak_augment(torch.zeros_like(x)), torch.zeros_like(x))   # fills are black, never grey
    white = weak_augment(torch.full((64, 1, 28, 28), 255, dtype=torch.uint8), torch.Generator().manual_seed(1))
    corners = white[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners < 128).any(), "rotation/translation should uncover black background in some corners"
    assert len({bytes(v.numpy()) for v in weak_augment(x[:1].expand(32, -1, -1, -1), torch.Generator().manual_seed(0))}) == 32
    # a light augmentation: the digit stays mostly where it was
    overlap = ((y > 64) & (x > 64)).flatten(1).sum(1).float() / (x > 64).flatten(1).sum(1).float()
    assert overlap.median() > 0.4
    yf = weak_augment(x.float() / 255, torch.Generator().manual_seed(0))
    assert yf.dtype == torch.float32 and yf.min() >= 0 and yf.max() <= 1
    assert ((yf * 255).round() - y.float()).abs().max() <= 1


def test_reference_path_leaves_global_rng_alone(digits):
    x = digits[:16]
    state = torch.get_rng_state()
    y = rand_augment_reference(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    assert y.shape == x.shape and y.dtype == torch.uint8 and not torch.equal(y, x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_cuda_matches_cpu(digits):
    x = digits[:256]
    kw = dict(n_ops=2, magnitude=9, sample_magnitude=True, cutout=0.2)
    a = rand_augment(x, generator=torch.Generator().manual_seed(0), **kw)
    b = rand_augment(x.cuda(), generator=torch.Generator().manual_seed(0), **kw)
    assert b.device.type == 'cuda' and b.dtype == torch.uint8
    assert (a.int() - b.cpu().int()).abs().le(1).float().mean() > 0.99
    assert weak_augment(x.cuda(), torch.Generator().manual_seed(0)).device.type == 'cuda'
