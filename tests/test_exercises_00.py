"""The answers to the exercises of lesson 00 (Core: configuration, seeds, devices and fast mode) that have a definite
answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value,
here the messages `TrainConfig` refuses with, the unlabeled batch sizes, and what `fast_mode`, `get_device` and
`seed_everything` return."""
from dataclasses import fields
import pytest, torch
from uda_course.core import ConfigError, TrainConfig, fast_mode, get_device, seed_everything


def refusal(**kw):
    "The message of the `ConfigError` that `TrainConfig(**kw)` raises, or None when it is accepted."
    try: TrainConfig(**kw)
    except ConfigError as e: return str(e)
    return None


def test_l00_ex1_which_values_are_refused():
    assert refusal(beta=1.0) is None                                  # [0, 1] includes 1: no image passes, but it is legal
    assert refusal(beta=1.5) == "beta (confidence threshold) must lie in [0, 1], got 1.5"
    assert refusal(lam=0) is None                                     # λ = 0: UDA's step with the consistency term switched off
    assert refusal(momentum=1) == "momentum must lie in [0, 1), got 1"
    assert refusal(steps=2.0) == "steps must be a positive integer, got 2.0"                 # a float, even a whole one
    assert refusal(seed=True) == "seed must be a non-negative integer, got True"            # bool is an int in Python, refused
    assert refusal(nesterov=1) == "nesterov must be True or False, got 1"
    assert refusal(teacher='ema', ema_decay=0) == ("teacher 'ema' takes its targets from the EMA of the weights, but ema_decay is 0; "
                                                   "set ema_decay (e.g. 0.99) or teacher 'live'")
    assert refusal(model='resnet', steps=0) == "unknown model 'resnet'; choose one of simple, best, lean"   # the first bad field only
    cfg = TrainConfig(); cfg.beta = 1.5                               # assigning after construction is not checked ...
    with pytest.raises(ConfigError, match=r'beta .* got 1\.5'): cfg.validate()          # ... until validate() runs


def test_l00_ex2_unlabeled_batch_rounds_half_to_even_and_is_at_least_one():
    def ub(B, mu): return TrainConfig(batch_size=B, unsup_ratio=mu).unsup_batch_size
    assert ub(10, 6.4) == 64                                          # 6.4 · 10 = 64
    assert ub(5, 0.5) == 2                                            # round(2.5) = 2: Python rounds halves to the even integer
    assert ub(7, 0.5) == 4                                            # round(3.5) = 4
    assert ub(1, 0.1) == 1                                            # round(0.1) = 0, raised to 1


def test_l00_ex3_a_typo_is_refused_not_ignored():
    d = {**TrainConfig().to_dict(), 'temprature': 0.3}
    known = {f.name for f in fields(TrainConfig)}
    lenient = TrainConfig(**{k: v for k, v in d.items() if k in known})   # a from_dict that drops unknown keys ...
    assert lenient.temperature == 0.4                                 # ... trains silently with the default T
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['temprature'\]; known keys: \[.*'temperature'"):
        TrainConfig.from_dict(d)
    assert TrainConfig.from_dict({'steps': 3}).temperature == 0.4   # a missing key takes its default: older files load
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize('in_test, uda_fast, expected', [
    (None, None, False), ('0', None, False), (None, '', False), ('0', '0', False),
    ('1', None, True), (None, '1', True), (None, 'no', True), (None, 'false', True), (None, ' ', True)])
def test_l00_ex4_fast_mode_from_the_environment(monkeypatch, in_test, uda_fast, expected):
    for k, v in (('IN_TEST', in_test), ('UDA_FAST', uda_fast)):
        if v is None: monkeypatch.delenv(k, raising=False)
        else: monkeypatch.setenv(k, v)
    assert fast_mode() is expected                                    # any non-empty value but '0' turns it on, 'false' too


def test_l00_ex5_get_device_never_initialises_cuda(monkeypatch):
    class Initialised(Exception): pass
    def refuse(*a, **kw): raise Initialised
    monkeypatch.setattr(torch.cuda, '_lazy_init', refuse)            # every CUDA call that creates a context goes through it
    with pytest.raises(Initialised): torch.cuda.current_device()     # the trap works
    assert get_device('auto') == torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    assert get_device('cpu') == torch.device('cpu')
    if torch.cuda.is_available(): assert get_device('cuda').type == 'cuda'
    else:
        with pytest.raises(ConfigError, match=r"CUDA is not available on this machine; pass --device cpu \(or auto\)"): get_device('cuda')


def test_l00_ex6_the_returned_generator_ignores_global_draws():
    g = seed_everything(0); quiet = torch.rand(3, generator=g)
    g = seed_everything(0); torch.rand(1000); after_global = torch.rand(3, generator=g)
    assert torch.equal(quiet, after_global)                           # g is its own generator
    seed_everything(0); a = torch.rand(3)
    seed_everything(0); torch.rand(1000); b = torch.rand(3)
    assert not torch.equal(a, b)                                      # the global one moved on
