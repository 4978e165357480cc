"""The speed options of `TrainConfig` (lesson 02's deep dive, lesson 11): bf16 autocast (`amp`), `torch.compile`
(`compile`) and the NHWC layout (`channels_last`). What runs on a CPU is checked here; the CUDA rows skip without a GPU
(`bench/gpu_check.sh` runs them)."""
import subprocess, sys, warnings
from pathlib import Path

import pytest, torch
import uda_course.experiment as experiment
import uda_course.train as train
from uda_course.core import ConfigError, TrainConfig
from uda_course.distributed import check_launch
from uda_course.experiment import STEP_FNS, make_model, open_run, preset_configs
from uda_course.train import check_speed_options, fit, forward_views, predict

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
TINY = dict(method='uda', steps=2, batch_size=4, unsup_ratio=1, eval_every=2, ema_decay=0.0)


class RecordingStep:
    "The UDA step, recording the model it is given, and the dtypes of its first convolution's output and of the logits `forward_views` returns."
    uses_unlabeled = True
    def __init__(self): self.dtypes, self.models = [], []
    def __call__(self, model, xl, *a, **kw):
        inner = []
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        h = conv.register_forward_hook(lambda m, i, o: inner.append(o.dtype))
        try: logits = forward_views(model, xl)[0]
        finally: h.remove()
        self.dtypes.append((inner[0], logits.dtype)); self.models.append(model)
        return STEP_FNS['uda'](model, xl, *a, **kw)


def small(data):
    "100 labeled, 100 validation, 200 unlabeled, 100 test images of `data`: enough for two steps."
    from dataclasses import replace
    return replace(data, x_unlabeled=data.x_unlabeled[:200], y_unlabeled_hidden=data.y_unlabeled_hidden[:200],
                   x_val=data.x_val[:100], y_val=data.y_val[:100], x_test=data.x_test[:100], y_test=data.y_test[:100])


def test_amp_runs_the_step_in_bf16_and_keeps_weights_and_loss_in_float32(data):
    torch.set_num_threads(1)
    losses = {}
    for amp in (False, True):
        cfg, step = TrainConfig(model='lean', amp=amp, **TINY), RecordingStep()
        model = make_model('lean', 0)
        h, _ = fit(model, small(data), cfg, step, device='cpu', log_every=1, show_progress=False)
        assert step.dtypes == [(torch.bfloat16 if amp else torch.float32, torch.float32)] * 2   # bf16 inside, float32 logits
        assert all(p.dtype == torch.float32 for p in model.parameters())
        losses[amp] = h.loss.tolist()
        assert predict(model, data.x_test[:8]).dtype == torch.float32   # evaluation outside autocast
    # the first loss, before any update: bf16 has 8 significant bits (relative rounding 2^-8 ≈ 0.4 %)
    assert losses[True][0] == pytest.approx(losses[False][0], rel=0.02)
    assert losses[True][0] != losses[False][0]                          # it did run in another precision


def test_channels_last_changes_the_layout_not_the_function(data):
    cfg = TrainConfig(model='best', channels_last=True, **TINY)
    model = make_model('best', 0)
    fit(model, small(data), cfg, STEP_FNS['uda'], device='cpu', show_progress=False)
    conv2 = model[3].weight                                            # (32, 32, 3, 3): the layouts differ for C_in > 1
    assert conv2.shape[1] > 1 and conv2.is_contiguous(memory_format=torch.channels_last) and not conv2.is_contiguous()
    # the same weights in the default layout compute the same logits (eval mode: no dropout draw involved)
    plain = make_model('best', 0); plain.load_state_dict(model.state_dict())
    plain = plain.to(memory_format=torch.contiguous_format)
    assert plain[3].weight.is_contiguous()
    torch.testing.assert_close(predict(model, data.x_test[:64]), predict(plain, data.x_test[:64]), rtol=1e-4, atol=1e-4)


def test_compile_hands_the_step_a_compiled_model_and_keeps_the_weights_plain(data, monkeypatch):
    "torch.compile itself takes a minute on a CPU: a stand-in records the call (the CUDA test below compiles for real)."
    compiled = []
    class Compiled(torch.nn.Module):
        def __init__(self, m): super().__init__(); self._orig_mod = m
        def forward(self, x): return self._orig_mod(x)
    def fake_compile(m): compiled.append(m); return Compiled(m)
    monkeypatch.setattr(torch, 'compile', fake_compile)
    cfg, step = TrainConfig(model='lean', compile=True, **TINY), RecordingStep()
    model = make_model('lean', 0)
    fit(model, small(data), cfg, step, device='cpu', show_progress=False)
    assert compiled == [model] and all(isinstance(m, Compiled) for m in step.models)
    assert not any(k.startswith('_orig_mod') for k in model.state_dict())   # checkpoints see the plain model
    step2 = RecordingStep()
    fit(make_model('lean', 0), small(data), TrainConfig(model='lean', **TINY), step2, device='cpu', show_progress=False)
    assert len(compiled) == 1 and not any(isinstance(m, Compiled) for m in step2.models)


def test_bad_speed_options_are_refused_before_training():
    with pytest.raises(ConfigError, match='amp must be True or False'): TrainConfig(amp='bf16')
    with pytest.raises(ConfigError, match='compile must be True or False'): TrainConfig(compile=1)
    with pytest.raises(ConfigError, match='drop --amp'): check_speed_options(TrainConfig(amp=True), 'mps')
    with pytest.raises(ConfigError, match='drop --compile'): check_launch(TrainConfig(compile=True), 2)


@pytest.mark.parametrize('avx512_bf16, amx, found', [
    (False, False, ()), (True, False, ('avx512_bf16',)), (False, True, ('amx',))])
def test_amp_on_a_cpu_warns_only_without_bf16_instructions(monkeypatch, avx512_bf16, amx, found):
    """On a CPU `amp` always runs; without bf16 instructions it is several times slower, so
    `check_speed_options` warns and names the fix; with them it stays silent."""
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: amx, raising=False)
    assert train.cpu_bf16_instructions() == found
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        check_speed_options(TrainConfig(amp=True), 'cpu')
        check_speed_options(TrainConfig(amp=False), 'cpu')          # nothing asked, no warning
    messages = [str(w.message) for w in caught]
    assert len(messages) == (0 if found else 1)
    if not found: assert '--amp False' in messages[0] and 'bf16 instructions' in messages[0]


def test_a_checkpoint_older_than_a_config_key_resumes(tmp_path, monkeypatch):
    "Regression: a checkpoint saved before `amp`, `compile` and `channels_last` existed lacks those keys; their defaults are what it ran with."
    cfg = TrainConfig(model='simple', method='sup', steps=10)
    old = {k: v for k, v in cfg.to_dict().items() if k not in ('amp', 'compile', 'channels_last')}
    monkeypatch.setattr(experiment, 'load_checkpoint', lambda path: {'config': old})
    run = tmp_path/'r'; run.mkdir()
    assert open_run(cfg, run, resume=True) == {'config': old}
    with pytest.raises(ConfigError, match=r"amp \(False -> True\)"): open_run(TrainConfig(model='simple', method='sup', steps=10, amp=True), run, resume=True)


def test_preset_configs_refuses_a_model_or_method_override():
    "Regression: the override was dropped without a word (each row names its own model and method)."
    for kw in (dict(model='lean'), dict(method='sup')):
        with pytest.raises(ConfigError, match='fixes model and method per row'): preset_configs('quick', **kw)
    assert [c.seed for c in preset_configs('quick', seed=3)] == [3] * 4


@cuda
def test_amp_compile_and_channels_last_train_on_cuda(data):
    for kw in (dict(amp=True), dict(channels_last=True), dict(amp=True, compile=True, channels_last=True)):
        cfg = TrainConfig(model='best', device='cuda', **{**TINY, 'steps': 3}, **kw)
        model = make_model('best', 0)
        h, _ = fit(model, small(data), cfg, STEP_FNS['uda'], show_progress=False, log_every=1)
        assert torch.isfinite(torch.tensor(h.loss.tolist())).all(), kw
        assert next(model.parameters()).device.type == 'cuda'


@cuda
def test_amp_first_loss_on_cuda_is_close_to_float32(data):
    losses = {}
    for amp in (False, True):
        h, _ = fit(make_model('lean', 0), small(data), TrainConfig(model='lean', device='cuda', amp=amp, **TINY), STEP_FNS['uda'],
                   show_progress=False, log_every=1)
        losses[amp] = h.loss.iloc[0]
    assert losses[True] == pytest.approx(losses[False], rel=0.02)

def test_bench_models_times_uint8_images():
    """bench/bench_models.py feeds the networks raw uint8 images, as training does (it fed
    normalised floats, which the networks refuse since they normalise their own input), and prints
    one row per network and layout, BestMNISTCNN's default at 1.00x."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root/'bench'/'bench_models.py'), '--repeats', '1',
                          '--no_compile', '--models', 'best,lean'], check=True, cwd=root,
                         capture_output=True, text=True).stdout
    rows = [l.split() for l in out.splitlines() if l.split()[:1] in (['best'], ['lean'])]
    assert [r[:2] for r in rows] == [['best', 'contiguous'], ['best', 'channels_last'],
                                     ['lean', 'contiguous'], ['lean', 'channels_last']]
    assert rows[0][7] == '1.00x'
