import math
import pytest, torch
import torch.nn.functional as F
from uda_course.core import TrainConfig
from uda_course.uda import uda_target, consistency_loss, tsa_threshold, tsa_cross_entropy, uda_step

def entropy(p): return -(p * p.clamp_min(1e-30).log()).sum(1)

def test_kl_identical_is_zero_and_never_negative():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        z, q = torch.randn(32, 10, generator=g) * 3, torch.randn(32, 10, generator=g) * 3
        t, _ = uda_target(z)
        assert consistency_loss(z, t).abs() < 1e-6
        assert consistency_loss(q, t) >= 0

def test_kl_equals_explicit_sum():
    z, q = torch.randn(8, 10), torch.randn(8, 10)
    p = F.softmax(z / 0.5, 1)
    explicit = (p * (p.log() - F.log_softmax(q, 1))).sum(1).mean()
    t, _ = uda_target(z, temperature=0.5)
    assert torch.allclose(consistency_loss(q, t), explicit, atol=1e-6)

def test_hand_computed_kl():
    # p = (0.5, 0.5), q = (0.25, 0.75): KL = 0.5 ln 2 + 0.5 ln(2/3)
    t = torch.tensor([[0.5, 0.5]]); q_logits = torch.tensor([[math.log(0.25), math.log(0.75)]])
    assert consistency_loss(q_logits, t).item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), abs=1e-6)

def test_sharpening_lowers_entropy_and_leaves_student_alone():
    z = torch.randn(64, 10)
    t1, _ = uda_target(z, 1.0); t04, _ = uda_target(z, 0.4)
    assert (entropy(t04) < entropy(t1)).all()
    # the student's (augmented) side is not divided by T: the loss against a one-hot-like target at T→0 is its plain CE
    q = torch.randn(64, 10)
    t0, _ = uda_target(z, 1e-4)
    ce = F.cross_entropy(q, z.argmax(1))
    assert torch.allclose(consistency_loss(q, t0), ce, atol=1e-4)

def test_target_has_no_gradient():
    z = torch.randn(4, 10, requires_grad=True)
    t, m = uda_target(z, 0.4, 0.5)
    assert not t.requires_grad and m.dtype == torch.bool
    q = torch.randn(4, 10, requires_grad=True)
    consistency_loss(q, t).backward()
    assert z.grad is None and q.grad is not None

def test_mask_empty_is_finite_zero_and_full_equals_unmasked():
    z, q = torch.randn(16, 10), torch.randn(16, 10)
    t, none = uda_target(z, 0.4, beta=1.0)
    assert not none.any()
    loss = consistency_loss(q, t, none)
    assert torch.isfinite(loss) and loss.item() == 0.0
    t, every = uda_target(z, 0.4, beta=0.0)
    assert every.all()
    assert torch.equal(consistency_loss(q, t, every), consistency_loss(q, t))

def test_mask_uses_unsharpened_probability():
    z = torch.log(torch.tensor([[0.6, 0.4]]))    # max prob 0.6; sharpened it would exceed 0.7
    assert not uda_target(z, 0.1, beta=0.7)[1].any()
    assert uda_target(z, 1.0, beta=0.5)[1].all()

@pytest.mark.parametrize('sched,p0,p1', [('linear', 0.1, 1.0), ('log', 0.1, (1 - math.exp(-5)) * 0.9 + 0.1),
                                         ('exp', math.exp(-5) * 0.9 + 0.1, 1.0), ('none', 1.0, 1.0)])
def test_tsa_thresholds(sched, p0, p1):
    assert tsa_threshold(sched, 0.0) == pytest.approx(p0)
    assert tsa_threshold(sched, 1.0) == pytest.approx(p1)
    assert tsa_threshold(sched, 0.5) == pytest.approx({'linear': 0.55, 'log': (1 - math.exp(-2.5)) * 0.9 + 0.1,
                                                      'exp': math.exp(-2.5) * 0.9 + 0.1, 'none': 1.0}[sched])
    assert tsa_threshold(sched, 0.5, n_classes=10) >= 0.1

def test_tsa_unknown():
    with pytest.raises(ValueError, match='linear'): tsa_threshold('cosine', 0.3)

def test_tsa_drops_confident_example():
    logits = torch.tensor([[0.0, 0.0] + [-1e9] * 8, [0.0] * 10])     # p(correct) = 0.5 and 0.1
    y = torch.tensor([0, 0])
    loss, kept = tsa_cross_entropy(logits, y, tsa_threshold('linear', 0.0))   # η = 0.1
    assert kept.item() == 0.5                                          # the 0.5 example is dropped
    assert loss.item() == pytest.approx(math.log(10), rel=1e-5)       # mean over the kept one only
    loss, kept = tsa_cross_entropy(logits[:1], y[:1], 0.1)
    assert kept.item() == 0 and loss.item() == 0

def test_one_forward_pass_per_step(data):
    from uda_course.train import SimpleCNN
    cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2)
    model, calls = SimpleCNN(), []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    loss, logs = uda_step(model, data.x_labeled[:4], data.y_labeled[:4], data.x_unlabeled[:8], cfg, 0.1, torch.Generator().manual_seed(0))
    assert calls == [4 + 8 + 8]
    assert set(logs) >= {'sup_loss', 'cons_loss', 'mask_rate', 'tsa_kept'}
    assert torch.isfinite(loss)

# --- λ warm-up, entropy minimisation, distribution alignment (issue 4) ---
from uda_course.uda import lam_at, distribution_alignment
from uda_course.uda import entropy as mean_entropy

@pytest.mark.parametrize('progress,expect', [(0.0, 0.0), (0.1, 1.0), (0.2, 2.0), (0.7, 2.0)])
def test_lam_warmup_is_linear_then_flat(progress, expect):
    assert lam_at(TrainConfig(lam=2.0, lam_warmup=0.2), progress) == pytest.approx(expect)
    assert lam_at(TrainConfig(lam=2.0, lam_warmup=0.0), progress) == 2.0

def test_entropy_hand_values():
    assert mean_entropy(torch.zeros(2, 10)).item() == pytest.approx(math.log(10), rel=1e-6)    # uniform
    assert mean_entropy(torch.tensor([[0.0, math.log(3)]])).item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel=1e-6)
    assert mean_entropy(torch.tensor([[1e4, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    z = torch.randn(4, 10, requires_grad=True); mean_entropy(z).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0                                          # it trains the clean prediction

def test_distribution_alignment_running_mean_and_weights():
    st, K = {}, 10
    z = torch.zeros(2, K); z[:, 3] = math.log(9)               # p = 9/18 on class 3, 1/18 elsewhere
    w = distribution_alignment(st, z, momentum=0.5)
    p = torch.full((K,), 1 / 18); p[3] = 0.5
    expect = 0.5 * torch.full((K,), 0.1) + 0.5 * p
    assert torch.allclose(st['p_model'], expect) and torch.allclose(w, 0.1 / expect)
    target, _ = uda_target(z, 1.0, 0.0, w)
    aligned = F.softmax(z, 1) * w; aligned = aligned / aligned.sum(1, keepdim=True)
    assert torch.allclose(target, aligned, atol=1e-6)
    assert target[0, 3] < F.softmax(z, 1)[0, 3]                 # the over-predicted class is damped
    distribution_alignment(st, z, momentum=0.5)                 # a second call moves the running mean further
    assert st['p_model'][3] > expect[3]

def test_uda_step_options_change_the_loss(data):
    from uda_course.train import SimpleCNN
    args = lambda: (data.x_labeled[:4], data.y_labeled[:4], data.x_unlabeled[:8])
    def loss_of(**kw):
        torch.manual_seed(0); m = SimpleCNN().eval()            # eval: no dropout, so only the option differs
        cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, beta=0.0, **kw)
        return uda_step(m, *args(), cfg, 0.05, torch.Generator().manual_seed(0), {})
    base, logs = loss_of()
    ent, ent_logs = loss_of(ent_min=0.5)
    assert ent.item() == pytest.approx(base.item() + 0.5 * logs['entropy'].item(), rel=1e-5)
    warm, warm_logs = loss_of(lam_warmup=0.1)                   # progress 0.05: λ halved
    assert warm_logs['lam'] == pytest.approx(0.5)
    assert warm.item() == pytest.approx(logs['sup_loss'].item() + 0.5 * logs['cons_loss'].item(), rel=1e-5)
    state = {}
    cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, dist_align=True)
    torch.manual_seed(0); uda_step(SimpleCNN().eval(), *args(), cfg, 0.0, torch.Generator().manual_seed(0), state)
    assert state['p_model'].shape == (10,) and state['p_model'].sum().item() == pytest.approx(1.0, rel=1e-5)

@pytest.mark.parametrize('view', ['clean', 'weak'])
def test_teacher_view_is_the_image_the_target_comes_from(data, view):
    "FixMatch §3.1: with teacher_view='weak' the middle chunk of the one forward pass is a weak view, not the clean image."
    from uda_course.train import SimpleCNN
    seen = []
    m = SimpleCNN(); m.register_forward_hook(lambda mod, i, o: seen.append(i[0]))
    xl, yl, xu = data.x_labeled[:4], data.y_labeled[:4], data.x_unlabeled[:8]
    cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, teacher_view=view)
    uda_step(m, xl, yl, xu, cfg, 0.0, torch.Generator().manual_seed(0), {})
    teacher_in = seen[0][4:12]
    same = torch.equal(teacher_in, xu)                  # raw images: the model normalises them
    assert same == (view == 'clean')

# --- FreeMatch's self-adaptive threshold (beta_mode='freematch'; lesson 04) ---
from uda_course.variants import freematch_threshold

def test_freematch_threshold_hand_values():
    z = torch.tensor([[0.9, 0.1], [0.3, 0.7]]).log()           # p = (0.9, 0.1), (0.3, 0.7); K = 2
    st = {}
    thr = freematch_threshold(st, z, momentum=0.5)
    assert st['freematch_beta'].item() == pytest.approx(0.65)                                    # 0.5·(1/2) + 0.5·mean(0.9, 0.7)
    assert torch.allclose(st['freematch_p_bar'], torch.tensor([0.55, 0.45]))                # 0.5·(1/2, 1/2) + 0.5·(0.6, 0.4)
    assert torch.allclose(thr, torch.tensor([0.65, 0.65 * 0.45 / 0.55]))              # per image, by its arg-max class
    assert uda_target(z, 0.4, thr)[1].tolist() == [True, True] and uda_target(z, 0.4, 0.8)[1].tolist() == [True, False]
    thr2 = freematch_threshold(st, z, momentum=0.5)                                  # the running means go on from the state
    assert st['freematch_beta'].item() == pytest.approx(0.5 * 0.65 + 0.5 * 0.8)
    assert torch.allclose(st['freematch_p_bar'], torch.tensor([0.575, 0.425])) and thr2[0].item() == pytest.approx(0.725)

def test_uda_step_freematch_uses_the_state_and_logs_the_threshold(data):
    from uda_course.train import SimpleCNN
    args = (data.x_labeled[:4], data.y_labeled[:4], data.x_unlabeled[:8])
    def step(**kw):
        torch.manual_seed(0); state = {}
        cfg = TrainConfig(model='simple', method='uda', batch_size=4, unsup_ratio=2, **kw)
        loss, logs = uda_step(SimpleCNN().eval(), *args, cfg, 0.0, torch.Generator().manual_seed(0), state)
        return loss, logs, state
    _, fixed_logs, fixed_state = step(beta=0.8)
    assert fixed_state == {} and fixed_logs['beta_t'].item() == pytest.approx(0.8)
    _, logs, state = step(beta_mode='freematch', beta_momentum=0.9)
    assert set(state) == {'freematch_beta', 'freematch_p_bar'} and 0.1 <= state['freematch_beta'].item() < 0.2     # 0.9·(1/10) + 0.1·(a mean confidence ≤ 1)
    assert logs['beta_t'].item() <= state['freematch_beta'].item() + 1e-6                      # β_t·p̄(c)/max p̄ ≤ β_t
    assert logs['mask_rate'].item() > fixed_logs['mask_rate'].item()                # a fresh network passes β_t ≈ 0.1, not β = 0.8
