"""The answers to the exercises of lessons 00 (core), 06a (the command line) and 11 (one run on several processes) that
have a definite answer, checked, so that no exercise is wrong. Each test names its lesson and exercise number and holds
the hand-derived value.

No test trains or launches `torchrun` (tests/test_distributed.py does): the command-line tests parse flags in this
process with `uda_train`'s real parser and replace the training call by a recorder, and the distributed tests run the
library's own sharding and BatchNorm code with W threads standing in for W processes (`FakeWorld`: a barrier and a sum
in place of gloo's all-reduce), which is enough to check what one process computes."""
import inspect, os, subprocess, sys, threading
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
import pytest, torch
from torch import nn
import uda_course.cli as cli
import uda_course.distributed as distributed
from uda_course.core import ConfigError, TrainConfig, fast_mode, get_device, seed_everything
from uda_course.best_cnn import BestMNISTCNN, LeanCNN
from uda_course.data import normalize
from uda_course.distributed import GlobalBatchNorm2d, ShardedDDP, check_launch, sync_batchnorm, train_distributed
from uda_course.train import TrainingDiverged
from uda_course.uda import uda_step


# ---------------------------------------------------------------- lesson 00

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


# ---------------------------------------------------------------- lesson 12

def run_cli(monkeypatch, capsys, *argv):
    "`uda_train ARGV` through the console script's entry point, in this process, training replaced by a recorder: (exit status, stderr, configs trained)."
    trained = []
    def record(cfg, run_dir, **kw): trained.append(cfg)
    monkeypatch.setattr(cli, 'run_experiment', record)
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    monkeypatch.setattr(sys, 'argv', ['uda_train', *argv])
    capsys.readouterr()
    try: cli.cli_main('uda_train'); status = 0
    except SystemExit as e: status = e.code
    return status, capsys.readouterr().err, trained


def test_l06a_ex1_every_refusal_is_one_line_and_status_2(monkeypatch, capsys):
    assert run_cli(monkeypatch, capsys, '--unsup_ratio', 'many')[:2] == (2, "error: argument --unsup_ratio: invalid float value: 'many'; see uda_train --help\n")
    assert run_cli(monkeypatch, capsys, '--stpes', '5')[:2] == (2, "error: unrecognized arguments: --stpes 5; see uda_train --help\n")
    assert run_cli(monkeypatch, capsys, '--steps', '0')[:2] == (2, "error: steps must be a positive integer, got 0\n")
    def diverge(): raise TrainingDiverged('loss is nan at step 3')
    def interrupt(): raise KeyboardInterrupt
    for fn, code in ((diverge, 3), (interrupt, 130)):
        with pytest.raises(SystemExit) as e: cli._cli_errors(fn)
        assert e.value.code == code
    # the installed console script, in its own process: the same line and status
    p = subprocess.run([str(Path(sys.executable).parent/'uda_train'), '--unsup_ratio', 'many'], capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=120)
    assert (p.returncode, p.stderr, p.stdout) == (2, "error: argument --unsup_ratio: invalid float value: 'many'; see uda_train --help\n", '')


def test_l06a_ex2_a_flag_may_be_abbreviated_while_unambiguous(monkeypatch, capsys):
    assert run_cli(monkeypatch, capsys, '--ste', '0')[:2] == (2, "error: steps must be a positive integer, got 0\n")   # --ste is --steps
    assert run_cli(monkeypatch, capsys, '--s', '1')[:2] == (
        2, "error: ambiguous option: --s could match --steps, --seed, --sample_magnitude; see uda_train --help\n")


def test_l06a_ex3_a_preset_without_that_row(monkeypatch, capsys):
    expected = (2, "error: preset 'lean' has no row best/uda; its rows: lean/sup, lean/uda\n", [])
    assert run_cli(monkeypatch, capsys, '--preset', 'lean', '--model', 'best') == expected
    assert run_cli(monkeypatch, capsys, '--preset', 'lean') == expected          # --model left out is 'best', --method 'uda'
    status, err, trained = run_cli(monkeypatch, capsys, '--preset', 'lean', '--model', 'lean', '--diagnostics', 'False', '--quiet')
    assert (status, err) == (0, '') and [(c.model, c.method, c.teacher, c.steps) for c in trained] == [('lean', 'uda', 'ema', 5000)]


def test_l06a_ex4_a_left_out_flag_takes_the_presets_value_else_trainconfigs(monkeypatch, capsys, tmp_path):
    status, err, trained = run_cli(monkeypatch, capsys, '--preset', 'report', '--model', 'simple', '--batch_size', '20',
                                   '--diagnostics', 'False', '--quiet', '--out', str(tmp_path))
    assert (status, err) == (0, '') and len(trained) == 1
    cfg = trained[0]
    assert cfg.batch_size == 20                                       # the flag beats the preset's 10
    assert (cfg.method, cfg.unsup_ratio, cfg.unsup_batch_size) == ('uda', 6.4, 128)   # round(6.4 · 20)
    assert (cfg.temperature, cfg.beta, cfg.steps) == (0.3, 0.0, 5000)                 # the report/simple/uda row
    assert (cfg.randaug_n, cfg.seed, cfg.n_labeled) == (2, 0, 100)                    # not in the row: TrainConfig's


def test_l06a_ex5_every_trainconfig_field_is_a_flag():
    params = set(inspect.signature(cli.uda_train.__wrapped__).parameters)
    assert {f.name for f in fields(TrainConfig)} - params == set()
    assert params - {f.name for f in fields(TrainConfig)} == {'preset', 'data_root', 'out', 'name', 'overwrite', 'resume',
                                                               'allow_config_change', 'diagnostics', 'tensorboard', 'n_test', 'quiet'}


# ---------------------------------------------------------------- lesson 11

class FakeWorld:
    "W threads standing in for W processes: `all_reduce_sum(x)` returns, in every thread, the sum of the `x` all threads passed."
    def __init__(self, n):
        self.n, self.barrier, self.slots, self.local = n, threading.Barrier(n, timeout=60), [None] * n, threading.local()
        self.calls = dict(forward=0, backward=0)
        world = self
        class AllReduceSum(torch.autograd.Function):                  # the library's, with this world's sum in place of dist.all_reduce
            @staticmethod
            def forward(ctx, x): return world.all_reduce_sum(x, 'forward')
            @staticmethod
            def backward(ctx, grad): return world.all_reduce_sum(grad, 'backward')
        self.AllReduceSum = AllReduceSum
    def rank(self): return self.local.rank
    def all_reduce_sum(self, x, phase='forward'):
        self.slots[self.rank()] = x.detach().clone()
        self.barrier.wait(); total = sum(self.slots); self.barrier.wait()
        if self.rank() == 0: self.calls[phase] += 1
        return total
    def run(self, fn):
        "fn(rank) in W threads; their results in rank order."
        out, errors = [None] * self.n, []
        def work(r):
            self.local.rank = r
            try: out[r] = fn(r)
            except BaseException as e: errors.append(e); self.barrier.abort()
        threads = [threading.Thread(target=work, args=(r,)) for r in range(self.n)]
        for t in threads: t.start()
        for t in threads: t.join()
        if errors: raise errors[0]
        return out


@pytest.fixture
def world(monkeypatch):
    "A 2-process world for the library's collectives: `dist` answers rank and size, `AllReduceSum` sums over the threads."
    w = FakeWorld(2)
    monkeypatch.setattr(distributed.dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(distributed.dist, 'get_world_size', lambda group=None: w.n)
    monkeypatch.setattr(distributed.dist, 'get_rank', lambda group=None: w.rank())
    monkeypatch.setattr(distributed, 'AllReduceSum', w.AllReduceSum)
    return w


def test_l11_ex1_shard_sizes_for_a_global_batch(monkeypatch):
    cfg = TrainConfig(batch_size=32, unsup_ratio=2)
    check_launch(cfg, 2); check_launch(cfg, 4)
    lab = torch.arange(32, dtype=torch.uint8).view(32, 1, 1, 1).expand(32, 1, 28, 28)
    clean = (32 + torch.arange(64, dtype=torch.uint8)).view(64, 1, 1, 1).expand(64, 1, 28, 28)
    strong = (96 + torch.arange(64, dtype=torch.uint8)).view(64, 1, 1, 1).expand(64, 1, 28, 28)
    seen = []
    def network(x): seen.append(x); return torch.zeros(len(x), 10)
    monkeypatch.setattr(distributed, 'GatherShards', SimpleNamespace(apply=lambda l: l))   # keep this process's logits
    monkeypatch.setattr(distributed.dist, 'get_world_size', lambda group=None: 2)
    monkeypatch.setattr(distributed.dist, 'get_rank', lambda group=None: 1)
    local = ShardedDDP.forward_views(network, lab, clean, strong)     # rank 1 of W = 2
    assert len(seen) == 1 and len(seen[0]) == 16 + 32 + 32 == 80       # one forward pass, half of one process's 160 images
    assert torch.equal(seen[0], torch.cat([lab[16:32], clean[32:64], strong[32:64]]))   # raw: the model normalises
    assert [len(l) for l in local] == [16, 32, 32]
    monkeypatch.setattr(distributed.dist, 'get_world_size', lambda group=None: 4)
    seen.clear(); ShardedDDP.forward_views(network, lab, clean, strong)
    assert len(seen[0]) == 8 + 16 + 16 == 40


def test_l11_ex1b_the_mean_teacher_pass_is_not_sharded(monkeypatch):
    "The real UDA step with teacher 'ema' (the lean preset's), on rank 1 of W = 2: the step model sees its shards, the EMA teacher the whole clean view."
    monkeypatch.setattr(distributed.dist, 'get_world_size', lambda group=None: 2)
    monkeypatch.setattr(distributed.dist, 'get_rank', lambda group=None: 1)
    monkeypatch.setattr(distributed, 'GatherShards', SimpleNamespace(apply=lambda l: torch.cat([l, l])))   # stand-in: global shape
    student, teacher = [], []
    def network(x): student.append(len(x)); return torch.zeros(len(x), 10, requires_grad=True)
    class Teacher(nn.Module):
        def forward(self, x): teacher.append(len(x)); return torch.zeros(len(x), 10)
    step_model = SimpleNamespace(forward_views=lambda *views: ShardedDDP.forward_views(network, *views))
    cfg = TrainConfig(model='lean', batch_size=32, unsup_ratio=2, teacher='ema')
    xl, xu = torch.zeros(32, 1, 28, 28, dtype=torch.uint8), torch.zeros(cfg.unsup_batch_size, 1, 28, 28, dtype=torch.uint8)
    uda_step(step_model, xl, torch.zeros(32, dtype=torch.long), xu, cfg, 0.0, torch.Generator().manual_seed(0), {}, teacher=Teacher())
    assert student == [16 + 32] and teacher == [64]                   # 48 images through the student, all 64 through the teacher


def test_l11_ex2_which_launches_are_refused():
    def refused(cfg, w):
        try: check_launch(cfg, w)
        except ConfigError as e: return str(e)
    assert refused(TrainConfig(batch_size=32, unsup_ratio=2), 2) is None
    assert refused(TrainConfig(batch_size=31), 2).startswith("--batch_size 31 is the global labeled batch and does not divide among 2 processes; pass a multiple of 2 (e.g. 30)")
    assert refused(TrainConfig(batch_size=32, unsup_ratio=1.5), 3).startswith("--batch_size 32 is the global labeled batch and does not divide among 3")  # labeled first
    assert refused(TrainConfig(batch_size=30, unsup_ratio=1.5), 2) == ("the global unlabeled batch μ·B = 45 does not divide among 2 processes; "
                                                                      "change --unsup_ratio or --batch_size so that it does")
    assert refused(TrainConfig(method='sup', batch_size=30, unsup_ratio=1.5), 2) is None   # no unlabeled batch to split
    assert refused(TrainConfig(batch_size=10, unsup_ratio=0.25), 2) is None                # round(2.5) = 2 divides
    assert 'drop --compile' in refused(TrainConfig(compile=True), 2)
    assert refused(TrainConfig(compile=True), 1) is None


def test_l11_ex3_global_batchnorm_of_two_shards_by_hand(world):
    shards = [torch.tensor([1.0, 3.0]).view(2, 1, 1, 1), torch.tensor([5.0, 11.0]).view(2, 1, 1, 1)]
    layers = [GlobalBatchNorm2d(1), GlobalBatchNorm2d(1)]
    with torch.no_grad(): out = world.run(lambda r: layers[r](shards[r]))
    mean, var = 5.0, (16 + 4 + 0 + 36) / 4                            # = 14, not the mean of the shard variances (1 + 9)/2 = 5
    eps = layers[0].eps
    torch.testing.assert_close(torch.cat(out).flatten(), (torch.tensor([1.0, 3.0, 5.0, 11.0]) - mean) / (var + eps) ** 0.5)
    assert out[0].flatten()[0].item() == pytest.approx(-1.069, abs=1e-3)                    # -4/√14; its own shard would give -1
    for bn in layers:
        assert bn.running_mean.item() == pytest.approx(0.1 * mean)                          # 0.5
        assert bn.running_var.item() == pytest.approx(0.9 * 1 + 0.1 * var * 4 / 3)         # 2.7667: unbiased, n = 4
    one = nn.BatchNorm2d(1)                                           # one process at the global batch
    torch.testing.assert_close(one(torch.cat(shards)), torch.cat(out))
    torch.testing.assert_close((one.running_mean, one.running_var), (layers[0].running_mean, layers[0].running_var))
    own = nn.BatchNorm2d(1)(shards[0]).flatten()                      # plain DDP: each shard its own statistics
    assert own[0].item() == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize('make, n_bn', [(LeanCNN, 4), (BestMNISTCNN, 6)])
def test_l11_ex4_batchnorm_all_reduces_per_forward_pass(world, make, n_bn):
    torch.manual_seed(0)
    models = [sync_batchnorm(make(), 'cpu').train(), sync_batchnorm(make(), 'cpu').train()]
    assert sum(isinstance(m, GlobalBatchNorm2d) for m in models[0].modules()) == n_bn
    x = torch.rand(8, 1, 28, 28)                                      # images in [0, 1]
    world.run(lambda r: models[r](x.chunk(2)[r]).square().sum().backward())
    assert world.calls == dict(forward=2 * n_bn, backward=2 * n_bn)  # a mean and a variance per layer, each once more backward: 8 for LeanCNN, 12 for BestMNISTCNN


def test_l11_ex5_compile_under_two_processes_is_refused_by_every_process(monkeypatch, capsys, tmp_path):
    cfg = TrainConfig(model='lean', compile=True, device='cpu')
    monkeypatch.setenv('WORLD_SIZE', '2'); monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(ConfigError) as e: train_distributed(cfg, tmp_path/'run')
    assert str(e.value) == ("--compile runs in one process only: under 2 processes the step model is ShardedDDP, uncompiled; "
                            "drop --compile or launch one process")
    monkeypatch.setenv('RANK', '1')
    capsys.readouterr()
    with pytest.raises(SystemExit) as e: train_distributed(cfg, tmp_path/'run')
    assert e.value.code == 2 and capsys.readouterr() == ('', '')     # silently: rank 0 prints the one line
    assert not (tmp_path/'run').exists() and not torch.distributed.is_initialized()   # the processes never met
