import shutil
import pytest, torch
from uda_course.core import ConfigError
from uda_course.data import split_indices, load_mnist, verify_mnist, raw_folder, fetch_mnist, MNIST_FILES, normalize

@pytest.fixture(scope='module')
def y_train(data_root): return load_mnist(data_root)[1]

@pytest.mark.parametrize('n_labeled,n_val', [(100, 1000), (10, 0), (250, 5000), (1000, 1000)])
def test_split_sizes_disjoint_stratified(y_train, n_labeled, n_val):
    lab, val, unl = split_indices(y_train, n_labeled, n_val, seed=0)
    assert (len(lab), len(val), len(unl)) == (n_labeled, n_val, 60000 - n_labeled - n_val)
    assert torch.bincount(y_train[lab], minlength=10).tolist() == [n_labeled // 10] * 10
    allidx = torch.cat([lab, val, unl])
    assert len(allidx.unique()) == 60000          # disjoint and covering

def test_split_seeded(y_train):
    a, b = split_indices(y_train, seed=0), split_indices(y_train, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(split_indices(y_train, seed=1)[0], a[0])

@pytest.mark.parametrize('n_labeled,n_val,msg', [(105, 1000, 'multiple of 10'), (0, 1000, 'multiple of 10'),
                                                 (60000, 0, 'smallest class'), (100, 59900, 'no unlabeled')])
def test_split_refuses(y_train, n_labeled, n_val, msg):
    with pytest.raises(ConfigError, match=msg): split_indices(y_train, n_labeled, n_val)

@pytest.fixture
def raw_copy(data_root, tmp_path):
    shutil.copytree(raw_folder(data_root), raw_folder(tmp_path))
    return tmp_path

def test_verify_accepts_good_copy(raw_copy):
    assert verify_mnist(raw_copy) == raw_folder(raw_copy)

def test_sha_rejects_altered_file(raw_copy):
    p = raw_folder(raw_copy)/'train-labels-idx1-ubyte'
    b = bytearray(p.read_bytes()); b[5000] ^= 0x01; p.write_bytes(bytes(b))
    with pytest.raises(ConfigError, match='train-labels-idx1-ubyte.*SHA-256'): verify_mnist(raw_copy)
    with pytest.raises(ConfigError, match='SHA-256'): load_mnist(raw_copy)

def test_rejects_truncated_and_missing(raw_copy):
    p = raw_folder(raw_copy)/'t10k-images-idx3-ubyte'
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ConfigError, match='truncated'): verify_mnist(raw_copy)
    p.unlink()
    with pytest.raises(ConfigError, match='missing.*uda_fetch_data'): verify_mnist(raw_copy)

def test_load_shapes_and_counts(data_root):
    x, y, xt, yt = load_mnist(data_root)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

def test_fetch_refuses_unwritable_root(tmp_path):
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        import os
        if os.access(ro, os.W_OK): pytest.skip('running as a user that can write anywhere')
        with pytest.raises(ConfigError, match='writable'): fetch_mnist(ro/'sub')
    finally: ro.chmod(0o700)

def test_fetch_refuses_file_as_root(tmp_path):
    f = tmp_path/'afile'; f.write_text('x')
    with pytest.raises(ConfigError, match='data root'): fetch_mnist(f)

def test_normalize_range():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2)
    out = normalize(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]))
    assert torch.allclose(normalize(x.float() / 255), out)
