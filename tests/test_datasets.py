"""Datasets beyond MNIST (lesson 01): the table of datasets, Fashion-MNIST, per-dataset statistics, models built for
any image shape, and MNIST unchanged (the same split indices as before the table existed)."""
import gzip, hashlib, json, shutil
import pytest, torch
from uda_course.core import ConfigError, TrainConfig
from uda_course import data as D
from uda_course.data import (DATASETS, SSLData, channel_stats, fetch_idx, load_idx, load_mnist, load_ssl_data,
                             normalize, split_indices, verify_idx)
from uda_course.train import SimpleCNN, predict
from uda_course.best_cnn import BestMNISTCNN, LeanCNN
from uda_course.experiment import make_model, run_experiment

# sha256 (first 16 hex digits) of the labeled, validation and unlabeled index tensors of MNIST's label splits 0-4,
# 100 labels and 1,000 validation images, computed with the code before the table of datasets (commit 44dc1c5)
MNIST_SPLITS = {0: 'bdff589238f7d424', 1: '2976f9141e6bc986', 2: 'f6ac35e56b601551', 3: '09f0b6e114bf1479',
                4: '79087abc4fea0259'}

def split_hash(y, seed):
    h = hashlib.sha256()
    for t in split_indices(y, 100, 1000, seed=seed): h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]

@pytest.fixture(scope='module')
def fashion_root():
    return fetch_idx(dataset='fashion_mnist', verbose=False)

def test_mnist_split_indices_unchanged(data_root):
    y = load_mnist(data_root)[1]
    assert {s: split_hash(y, s) for s in range(5)} == MNIST_SPLITS

def test_mnist_data_keeps_its_defaults(data):
    assert (data.name, data.classes, data.mean, data.std) == ('mnist', tuple('0123456789'), (0.1307,), (0.3081,))
    assert (data.n_classes, data.image_shape) == (10, (1, 28, 28))

def test_channel_stats_recomputes_mnist_constants(data_root):
    assert channel_stats(load_mnist(data_root)[0]) == ((0.1307,), (0.3081,))
    x = torch.zeros(4, 3, 2, 2, dtype=torch.uint8); x[:, 1] = 255; x[:2, 2] = 255
    assert channel_stats(x) == ((0.0, 1.0, 0.5), (0.0, 0.0, 0.5))
    with pytest.raises(TypeError, match='uint8'): channel_stats(x.float())

def test_fashion_mnist_loads_with_its_own_statistics(fashion_root):
    d = load_ssl_data(fashion_root, dataset='fashion_mnist', seed=0)
    assert d.name == 'fashion_mnist' and d.classes[0] == 'T-shirt/top' and d.classes[9] == 'Ankle boot'
    assert (d.mean, d.std) == ((0.286,), (0.353,))          # its own training images, not MNIST's
    assert (len(d.x_labeled), len(d.x_val), len(d.x_unlabeled), len(d.x_test)) == (100, 1000, 58900, 10000)
    assert torch.bincount(d.y_labeled).tolist() == [10] * 10
    assert d.to('cpu').classes == d.classes and 'fashion_mnist' in repr(d)

def test_fashion_files_verified(fashion_root, tmp_path):
    raw = D.raw_folder(tmp_path, 'fashion_mnist'); raw.parent.mkdir(parents=True)
    shutil.copytree(D.raw_folder(fashion_root, 'fashion_mnist'), raw)
    p = raw/'t10k-labels-idx1-ubyte'; b = bytearray(p.read_bytes()); b[100] ^= 1; p.write_bytes(bytes(b))
    with pytest.raises(ConfigError, match=r'Fashion-MNIST file .*t10k-labels.*SHA-256.*--dataset fashion_mnist'):
        verify_idx(tmp_path, 'fashion_mnist')

def no_download(monkeypatch):
    "torchvision's download cannot work here: make it fail at once instead of trying the network."
    def fail(*a, **k): raise RuntimeError('no network')
    for spec in D.IDX_DATASETS.values(): monkeypatch.setattr(spec['tv'], 'download', fail)

def test_fashion_fetched_from_debian_files(tmp_path, monkeypatch):
    if not (D.DEBIAN_FASHION_MNIST/'t10k-labels-idx1-ubyte.gz').exists(): pytest.skip("dataset-fashion-mnist not installed")
    no_download(monkeypatch)
    fetch_idx(tmp_path, 'fashion_mnist', verbose=False)
    assert load_idx(tmp_path, 'fashion_mnist')[3].bincount().tolist() == [1000] * 10

def test_fashion_fetch_without_a_source_says_how(tmp_path, monkeypatch):
    no_download(monkeypatch)
    monkeypatch.setattr(D, 'DEBIAN_FASHION_MNIST', tmp_path/'nowhere')
    with pytest.raises(ConfigError, match='apt-get install dataset-fashion-mnist') as e:
        fetch_idx(tmp_path/'root', 'fashion_mnist', verbose=False)
    assert '\n' not in str(e.value)

@pytest.mark.parametrize('kw,msg', [(dict(dataset='cifar'), "unknown dataset 'cifar'; choose one of"),
                                    (dict(dataset='mnist', data_dir='x'), '--data_dir and --image_size are for --dataset folder'),
                                    (dict(n_labeled=105), 'multiple of 10')])
def test_bad_data_requests_refused(data_root, kw, msg):
    with pytest.raises(ConfigError, match=msg): load_ssl_data(data_root, **kw)

def test_class_too_small_for_its_labeled_and_validation_share():
    y = torch.cat([torch.zeros(50), torch.ones(50), torch.full((8,), 2)]).long()
    split_indices(y, 3, 10, n_classes=3)                           # fits
    with pytest.raises(ConfigError, match='class 2 has 8 images'): split_indices(y, 24, 10, n_classes=3)

def test_normalize_per_channel():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    y = normalize(x, (0.5, 0.0, 1.0), (0.5, 1.0, 2.0))
    assert y[:, 0].eq(1).all() and y[:, 1].eq(1).all() and y[:, 2].eq(0).all()
    with pytest.raises(ValueError, match='3 channel'): normalize(x)

@pytest.mark.parametrize('cls', [SimpleCNN, LeanCNN])
def test_models_take_any_shape_and_classes(cls):
    m = cls(n_classes=5, in_channels=3, image_size=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)).eval()
    assert m(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)).shape == (2, 5)
    assert m.input_shape == (3, 32, 32)

def test_best_refuses_other_shapes_in_one_line():
    with pytest.raises(ConfigError, match="takes 1x28x28 images, not 3x32x32; use --model lean") as e:
        BestMNISTCNN(in_channels=3, image_size=32, mean=(0.5,) * 3, std=(0.2,) * 3)
    assert '\n' not in str(e.value)

def test_model_refuses_normalised_input():
    "A caller that normalises before the model would normalise twice: refused, not silently wrong."
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    with pytest.raises(ValueError, match='normalises its own input'): SimpleCNN()(normalize(x))

def test_model_normalises_with_the_data_statistics(data):
    "The model's own normalisation equals the old explicit one for MNIST, bit for bit."
    torch.manual_seed(0); m = SimpleCNN().eval()
    plain = torch.nn.Sequential(*m)                 # the same layers without the model's own normalisation
    x = data.x_test[:64]
    assert torch.equal(m(x), plain(normalize(x)))
    fm = make_model('lean', 0, SSLData(*(t for t in [data.x_labeled, data.y_labeled, data.x_unlabeled, data.x_val,
                                                      data.y_val, data.x_test, data.y_test]), mean=(0.2,), std=(0.5,)))
    assert (fm.mean, fm.std) == ((0.2,), (0.5,))

def test_best_on_non_mnist_shapes_refused_before_any_folder(data, tmp_path):
    rgb = SSLData(*(t.expand(-1, 3, -1, -1).contiguous() if t.dim() == 4 else t for t in
                    [data.x_labeled, data.y_labeled, data.x_unlabeled[:50], data.x_val[:20], data.y_val[:20],
                     data.x_test[:20], data.y_test[:20]]), name='rgb', mean=(0.1,) * 3, std=(0.3,) * 3)
    cfg = TrainConfig(dataset='rgb', model='best', method='sup', steps=2)
    with pytest.raises(ConfigError, match="model 'best'"): run_experiment(cfg, tmp_path/'run', data=rgb, show_progress=False)
    assert not (tmp_path/'run').exists()
    final = run_experiment(TrainConfig(dataset='rgb', model='lean', method='uda', steps=2, eval_every=1, batch_size=8),
                           tmp_path/'lean', data=rgb, show_progress=False)
    assert final['dataset'] == 'rgb' and final['steps'] == 2

def test_data_and_config_must_agree(data, tmp_path):
    with pytest.raises(ConfigError, match="the data passed is 'mnist' but the config says dataset='fashion_mnist'"):
        run_experiment(TrainConfig(dataset='fashion_mnist', steps=1), tmp_path/'r', data=data, show_progress=False)

@pytest.mark.parametrize('kw,msg', [(dict(dataset='folder'), 'pass --data_dir PATH'),
                                    (dict(data_dir='imgs'), "data_dir is for dataset 'folder'"),
                                    (dict(image_size=-1), 'image_size must be'), (dict(test_frac=1.0), 'test_frac must')])
def test_config_refuses_bad_data_settings(kw, msg):
    with pytest.raises(ConfigError, match=msg): TrainConfig(**kw)

# ---------------------------------------------------------------- the command line, on other data
import subprocess, sys
from pathlib import Path
from uda_course.folder import write_image_folder
from uda_course.train import step_memory_bytes

def _cli(name, *args, cwd=None):
    exe = Path(sys.executable).parent/name
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, cwd=cwd)

@pytest.fixture(scope='module')
def rgb_folder(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (45, 3, 12, 12), dtype=torch.uint8, generator=g)
    return write_image_folder(tmp_path_factory.mktemp('f')/'imgs', x, torch.arange(3).repeat(15), ['a', 'b', 'c'])

@pytest.mark.parametrize('extra,msg', [
    (['--dataset', 'cifar'], "unknown dataset 'cifar'"),
    (['--dataset', 'folder'], 'pass --data_dir PATH'),
    (['--dataset', 'folder', '--data_dir', 'RGB', '--model', 'best', '--n_labeled', '6', '--n_val', '6'],
     "model 'best' is the report's MNIST network"),
    (['--dataset', 'folder', '--data_dir', 'RGB', '--model', 'lean', '--n_labeled', '100'], 'multiple of 3'),
    (['--dataset', 'folder', '--data_dir', 'NOWHERE', '--model', 'lean'], 'NOWHERE'),
])
def test_uda_train_refuses_bad_data_in_one_line_and_writes_nothing(extra, msg, rgb_folder, tmp_path):
    extra = [str(rgb_folder) if a == 'RGB' else str(tmp_path/'nowhere') if a == 'NOWHERE' else a for a in extra]
    msg = msg.replace('NOWHERE', 'nowhere')
    r = _cli('uda_train', *extra, '--steps', '2', '--out', str(tmp_path/'runs'), '--name', 'r', '--quiet')
    assert r.returncode == 2 and msg in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert not (tmp_path/'runs').exists()

def test_uda_train_on_a_folder_end_to_end(rgb_folder, tmp_path):
    r = _cli('uda_train', '--dataset', 'folder', '--data_dir', str(rgb_folder), '--model', 'lean', '--n_labeled', '6',
             '--n_val', '6', '--steps', '2', '--eval_every', '1', '--batch_size', '4', '--out', str(tmp_path),
             '--name', 'f', '--quiet')
    assert r.returncode == 0, r.stderr
    final = json.loads((tmp_path/'f'/'final.json').read_text())
    assert final['dataset'] == 'folder' and final['steps'] == 2
    cfg = json.loads((tmp_path/'f'/'config.json').read_text())['config']
    assert cfg['data_dir'] == str(rgb_folder)

def test_uda_fetch_data_datasets(rgb_folder, tmp_path):
    r = _cli('uda_fetch_data', '--dataset', 'folder', '--data_dir', str(rgb_folder), '--root', str(tmp_path))
    assert r.returncode == 0 and '3 classes' in r.stdout and '3x12x12' in r.stdout, r.stderr
    r = _cli('uda_fetch_data', '--dataset', 'svhn', '--root', str(tmp_path))
    assert r.returncode == 2 and "unknown dataset 'svhn'" in r.stderr

def test_memory_estimate_uses_the_model_input_shape():
    cfg = TrainConfig(model='lean', method='uda')
    small = step_memory_bytes(LeanCNN(), cfg)
    big = step_memory_bytes(LeanCNN(in_channels=3, image_size=56, mean=(0.5,) * 3, std=(0.2,) * 3), cfg)
    assert big > 3 * small
