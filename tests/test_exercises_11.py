"""The answers to the exercises of lesson 11 (One run on several processes: DistributedDataParallel) that have a definite
answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value.
No test trains or launches `torchrun` (tests/test_distributed.py does): the tests run the library's own sharding and
BatchNorm code with W threads standing in for W processes (`FakeWorld`: a barrier and a sum in place of gloo's
all-reduce), which is enough to check what one process computes."""
import threading
from types import SimpleNamespace
import pytest, torch
from torch import nn
import uda_course.distributed as distributed
from uda_course.core import ConfigError, TrainConfig
from uda_course.best_cnn import BestMNISTCNN, LeanCNN
from uda_course.distributed import GlobalBatchNorm2d, ShardedDDP, check_launch, sync_batchnorm, train_distributed
from uda_course.uda import uda_step


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
