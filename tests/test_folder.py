"Lesson 01b: loading a folder of PNG/JPEG images (layouts, colour rule, cache, every refusal)."
import os, shutil

import numpy as np
import pytest, torch
from PIL import Image

import uda_course.folder as F
from uda_course.core import ConfigError
from uda_course.data import DATASETS, ImageSet, load_ssl_data
from uda_course.folder import holdout_split, load_image_folder, write_image_folder

CLASSES = ('ant', 'bee', 'cat')
# torchvision 0.29 warns on each decode that its codecs are deprecated (pytest resets filters)
pytestmark = pytest.mark.filterwarnings(
    'ignore:The image decoding and encoding capabilities:DeprecationWarning')


def images(n, c, h=12, w=12, seed=0):
    "Random uint8 (n, c, h, w) images and labels 0, 1, 2 in turn."
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8), torch.arange(n) % 3


def by_class(x, y):
    "Images in the loader's order: by class, then by index (= sorted file name)."
    order = torch.argsort(y, stable=True)
    return x[order], y[order]


def no_cache(cache):
    "Nothing was written: no cache folder, or one without any file."
    return not cache.exists() or not any(cache.iterdir())


def load(d, cache, **kw):
    return load_image_folder(d, cache_root=cache, verbose=False, **kw)


@pytest.fixture
def cache(tmp_path):
    return tmp_path/'cache'


# --- layouts and round trips -------------------------------------------------------------------

@pytest.mark.parametrize('c', [1, 3])
def test_round_trip_with_test_folder(tmp_path, cache, c):
    x, y = images(30, c)
    xt, yt = images(9, c, seed=1)
    write_image_folder(tmp_path/'d'/'train', x, y, CLASSES)
    write_image_folder(tmp_path/'d'/'test', xt, yt, CLASSES)
    s = load(tmp_path/'d', cache)
    assert isinstance(s, ImageSet) and s.name == 'folder' and s.classes == CLASSES
    assert s.x_train.dtype == torch.uint8 and s.y_train.dtype == torch.int64
    assert s.x_train.shape == (30, c, 12, 12) and s.x_test.shape == (9, c, 12, 12)
    for (gx, gy), (wx, wy) in [((s.x_train, s.y_train), by_class(x, y)),
                               ((s.x_test, s.y_test), by_class(xt, yt))]:
        assert torch.equal(gx, wx) and torch.equal(gy, wy)         # PNG is exact


@pytest.mark.parametrize('c', [1, 3])
def test_round_trip_with_held_out_test_set(tmp_path, cache, c):
    x, y = images(60, c)
    write_image_folder(tmp_path/'d', x, y, CLASSES)
    s = load(tmp_path/'d', cache, test_frac=0.25)
    xs, ys = by_class(x, y)
    tr, te = holdout_split(ys, 0.25)
    assert torch.equal(s.x_train, xs[tr]) and torch.equal(s.x_test, xs[te])
    assert torch.equal(s.y_train, ys[tr]) and torch.equal(s.y_test, ys[te])
    assert torch.bincount(s.y_test).tolist() == [5, 5, 5]          # stratified: 0.25 * 20


def test_holdout_is_deterministic_and_independent_of_the_split_seed(tmp_path):
    x, y = images(60, 1)
    write_image_folder(tmp_path/'d', x, y, CLASSES)
    a, b = (load_ssl_data(tmp_path, n_labeled=3, n_val=3, seed=seed, dataset='folder',
                          data_dir=tmp_path/'d') for seed in (0, 1))
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_labeled, b.x_labeled)
    assert (tmp_path/'folders').is_dir()                           # cache under root/'folders'


def test_holdout_split_counts():
    y = torch.tensor([0] * 7 + [1] * 3 + [2] * 2)
    tr, te = holdout_split(y, 0.5)
    assert torch.bincount(y[te]).tolist() == [4, 2, 1]             # halves round up; n-1 at most
    assert len(torch.cat([tr, te]).unique()) == 12
    with pytest.raises(ConfigError, match='at least 2 per class'):
        holdout_split(torch.tensor([0, 0, 1]))


def test_hidden_folders_other_files_and_nested_files(tmp_path, cache):
    x, y = images(12, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    (d/'.ipynb_checkpoints').mkdir(); (d/'ant'/'.DS_Store').write_bytes(b'junk')
    (d/'ant'/'notes.txt').write_text('not an image')
    (d/'bee'/'more').mkdir(); shutil.move(d/'bee'/'00001.png', d/'bee'/'more'/'00001.PNG')
    s = load(d, cache, test_frac=0.25)
    assert s.classes == CLASSES and len(s.y_train) + len(s.y_test) == 12


def test_jpeg_and_resize(tmp_path, cache):
    x = torch.zeros(9, 3, 20, 20, dtype=torch.uint8)
    x[:, 0], x[:, 1], x[:, 2] = 200, 100, 50             # a flat colour: JPEG and resize keep it
    y = torch.arange(9) % 3
    write_image_folder(tmp_path/'d', x, y, CLASSES, fmt='jpg')
    s = load(tmp_path/'d', cache, image_size=8)
    assert s.x_train.shape[1:] == (3, 8, 8) and s.x_test.shape[1:] == (3, 8, 8)
    assert (s.x_train.int() - torch.tensor([200, 100, 50]).view(1, 3, 1, 1)).abs().max() <= 3


def test_mixed_sizes_are_resized_with_image_size(tmp_path, cache):
    x, y = images(9, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    big = torch.full((1, 1, 30, 17), 77, dtype=torch.uint8)
    write_image_folder(tmp_path/'big', big, [0], ['ant'])
    shutil.move(tmp_path/'big'/'ant'/'00000.png', d/'ant'/'big.png')
    s = load(d, cache, image_size=12)
    allx = torch.cat([s.x_train, s.x_test])
    assert allx.shape == (10, 1, 12, 12)
    assert any(torch.equal(im, torch.full((1, 12, 12), 77, dtype=torch.uint8)) for im in allx)


def test_colour_rule(tmp_path, cache):
    "Palette -> its RGB colours, RGBA -> alpha dropped, grey+alpha -> grey, 16-bit -> 8-bit."
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    d = tmp_path/'rgb'
    for k, c in enumerate(CLASSES):
        (d/c).mkdir(parents=True)
        Image.fromarray(rgb[k]).convert('P').save(d/c/'p.png')
        Image.fromarray(rgb[k]).convert('RGBA').save(d/c/'q.png')
        Image.fromarray(rgb[k]).save(d/c/'r.png')
    s = load(d, cache, test_frac=0.4)
    got = {(int(l), px.permute(1, 2, 0).numpy().tobytes()) for l, px in
           zip(torch.cat([s.y_train, s.y_test]), torch.cat([s.x_train, s.x_test]))}
    want = {(k, np.array(Image.open(d/c/f).convert('RGB')).tobytes())
            for k, c in enumerate(CLASSES) for f in ('p.png', 'q.png', 'r.png')}
    assert got == want
    grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    g = tmp_path/'grey'
    for c in CLASSES[:2]:
        (g/c).mkdir(parents=True)
        Image.fromarray(grey).convert('LA').save(g/c/'a.png')
        Image.fromarray(grey.astype(np.uint16) * 257).save(g/c/'b.png')  # 16-bit grey
    s = load(g, cache, test_frac=0.5)
    assert s.x_train.shape == (2, 1, 8, 8)
    for im in torch.cat([s.x_train, s.x_test]): assert torch.equal(im[0], torch.from_numpy(grey))


# --- the cache ---------------------------------------------------------------------------------

def test_second_load_does_not_decode(tmp_path, cache, monkeypatch):
    x, y = images(30, 3)
    write_image_folder(tmp_path/'d', x, y, CLASSES)
    a = load(tmp_path/'d', cache)
    assert len(list(cache.glob('*.pt'))) == 1

    def no_decode(*args, **kw): raise AssertionError('decoded although cached')
    monkeypatch.setattr(F, 'decode_image', no_decode)
    monkeypatch.setattr(F, '_probe', no_decode)
    b = load(tmp_path/'d', cache)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.classes == b.classes


def test_cache_is_invalidated_when_a_file_changes(tmp_path, cache, monkeypatch):
    x, y = images(30, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    a = load(d, cache)
    old = set(cache.glob('*.pt'))
    p = d/'ant'/'00000.png'
    new = torch.full((1, 1, 12, 12), 9, dtype=torch.uint8)
    write_image_folder(tmp_path/'n', new, [0], ['ant'])
    shutil.copyfile(tmp_path/'n'/'ant'/'00000.png', p)
    st = p.stat(); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    calls = []
    real = F.decode_image
    monkeypatch.setattr(F, 'decode_image', lambda *a, **k: calls.append(1) or real(*a, **k))
    b = load(d, cache)
    assert len(calls) == 30                                        # decoded again
    allb = torch.cat([b.x_train, b.x_test])
    assert any(torch.equal(im, new[0]) for im in allb)
    assert not any(torch.equal(im, new[0]) for im in torch.cat([a.x_train, a.x_test]))
    pts = set(cache.glob('*.pt'))
    assert len(pts) == 1 and pts != old                            # the stale cache is gone
    # settings are part of the key: another test_frac is another cache
    load(d, cache, test_frac=0.5)
    assert len(list(cache.glob('*.pt'))) == 2


def test_unreadable_cache_is_replaced(tmp_path, cache):
    x, y = images(12, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    a = load(d, cache)
    (p,) = cache.glob('*.pt')
    p.write_bytes(b'garbage')
    b = load(d, cache)
    assert torch.equal(a.x_train, b.x_train) and p.stat().st_size > 100


def test_failed_cache_write_leaves_nothing(tmp_path, cache, monkeypatch):
    x, y = images(12, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)

    def half_save(obj, f, *a, **k):
        open(f, 'wb').write(b'half'); raise OSError(28, 'No space left on device')
    monkeypatch.setattr(F.torch, 'save', half_save)
    with pytest.warns(UserWarning, match='could not write the cache'):
        s = load(d, cache)
    assert len(s.y_train) + len(s.y_test) == 12
    assert no_cache(cache)                                         # no .pt and no temporary file


def test_threads_give_the_same_result(tmp_path, cache):
    x, y = images(700, 1, 6, 6)                                    # more than one chunk per worker
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    a = load(d, tmp_path/'c1', workers=1)
    b = load(d, tmp_path/'c2', workers=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)


# --- refusals: one ConfigError line, nothing written -------------------------------------------

def refuses(d, cache, *parts, **kw):
    with pytest.raises(ConfigError) as e: load(d, cache, **kw)
    msg = str(e.value)
    assert '\n' not in msg, msg
    for p in parts: assert p in msg, (p, msg)
    assert no_cache(cache)
    return msg


def test_refuses_missing_folder(tmp_path, cache):
    refuses(tmp_path/'nope', cache, 'nope', 'does not exist', '--data_dir')


def test_refuses_fewer_than_two_classes(tmp_path, cache):
    x, y = images(4, 1)
    d = write_image_folder(tmp_path/'d', x, y * 0, ['ant'])
    (d/'loose.png').write_bytes((d/'ant'/'00000.png').read_bytes())
    refuses(d, cache, '1 class folder (ant)', '1 loose image', 'at least 2 classes', '<class>')


def test_refuses_test_classes_that_differ(tmp_path, cache):
    x, y = images(9, 1)
    write_image_folder(tmp_path/'d'/'train', x, y, CLASSES)
    write_image_folder(tmp_path/'d'/'test', x, y % 2, ('ant', 'bee'))
    (tmp_path/'d'/'test'/'dog').mkdir()
    refuses(tmp_path/'d', cache, 'same class folders', 'test/ lacks cat', 'test/ has dog')


def test_refuses_test_without_train(tmp_path, cache):
    x, y = images(9, 1)
    write_image_folder(tmp_path/'d'/'test', x, y, CLASSES)
    refuses(tmp_path/'d', cache, 'no train/ folder')


def test_refuses_class_without_image(tmp_path, cache):
    x, y = images(9, 1)
    write_image_folder(tmp_path/'d', x, y % 2, CLASSES)           # 'cat' stays empty
    (tmp_path/'d'/'cat'/'readme.txt').write_text('no images here')
    refuses(tmp_path/'d', cache, 'cat', 'hold no PNG or JPEG image')


def test_refuses_folder_without_any_image(tmp_path, cache):
    for c in CLASSES: (tmp_path/'d'/c).mkdir(parents=True)
    refuses(tmp_path/'d', cache, 'no image file', '*.png')


def test_refuses_file_that_is_no_image(tmp_path, cache):
    x, y = images(9, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    (d/'bee'/'00004.png').write_text('<html>not found</html>')
    refuses(d, cache, 'bee/00004.png', 'not a readable PNG or JPEG')


def test_refuses_corrupt_image_body(tmp_path, cache):
    x, y = images(9, 3)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    p = d/'cat'/'00005.png'; p.write_bytes(p.read_bytes()[:70])   # header intact, body cut
    refuses(d, cache, 'cat/00005.png', 'cannot be decoded', 'replace it')


@pytest.mark.parametrize('workers', [1, 2])
def test_refuses_corrupt_jpeg_naming_the_first_bad_file(tmp_path, cache, workers):
    x, y = images(600, 3, 16, 16)
    write_image_folder(tmp_path/'d'/'train', x, y, CLASSES, fmt='jpg')
    write_image_folder(tmp_path/'d'/'test', x[:3], y[:3], CLASSES, fmt='jpg')
    files = sorted((tmp_path/'d'/'train').rglob('*.jpg'))          # the loader's order
    for p in (files[520], files[250]):                             # chunks 2 and 0 of 256 files
        p.write_bytes(p.read_bytes()[:-100])
    bad = files[250].relative_to(tmp_path/'d').as_posix()
    refuses(tmp_path/'d', cache, bad, 'cannot be decoded', workers=workers)


def test_refuses_unreadable_file(tmp_path, cache):
    if os.geteuid() == 0: pytest.skip('root reads every file')
    x, y = images(9, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    (d/'ant'/'00003.png').chmod(0)
    refuses(d, cache, 'ant/00003.png', 'cannot be read')


def test_refuses_class_with_one_image_when_holding_out(tmp_path, cache):
    x, _ = images(7, 1)
    d = write_image_folder(tmp_path/'d', x, torch.tensor([0, 0, 0, 1, 1, 1, 2]), CLASSES)
    refuses(d, cache, "class 'cat' has 1 image", 'test/ folder')


def test_refuses_mixed_sizes_without_image_size(tmp_path, cache):
    x, y = images(9, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    write_image_folder(tmp_path/'big', images(1, 1, 16, 14)[0], [0], ['cat'])
    shutil.move(tmp_path/'big'/'cat'/'00000.png', d/'cat'/'zz.png')
    refuses(d, cache, 'cat/zz.png is 16x14', 'is 12x12', 'image_size')


def test_refuses_mixed_grey_and_rgb(tmp_path, cache):
    x, y = images(9, 1)
    d = write_image_folder(tmp_path/'d', x, y, CLASSES)
    write_image_folder(tmp_path/'rgb', images(1, 3)[0], [0], ['bee'])
    shutil.move(tmp_path/'rgb'/'bee'/'00000.png', d/'bee'/'colour.png')
    msg = refuses(d, cache, 'bee/colour.png is RGB', 'is grey', "convert('RGB')")
    assert msg.index('is grey') < msg.index('is RGB')


@pytest.mark.parametrize('kw,msg', [(dict(image_size=0), 'image_size'),
                                    (dict(image_size=2.5), 'image_size'),
                                    (dict(test_frac=1.0), 'test_frac'),
                                    (dict(test_frac=0), 'test_frac')])
def test_refuses_bad_settings(tmp_path, cache, kw, msg):
    x, y = images(9, 1)
    refuses(write_image_folder(tmp_path/'d', x, y, CLASSES), cache, msg, **kw)


def test_registered_loader_needs_data_dir(tmp_path):
    assert DATASETS['folder'] is F.load_folder_dataset
    with pytest.raises(ConfigError, match='--data_dir PATH'): DATASETS['folder'](tmp_path)
    assert not (tmp_path/'folders').exists()


def test_write_image_folder_refuses_bad_input(tmp_path):
    x, y = images(3, 1)
    for args, kw, msg in [((x.float(), y, CLASSES), {}, 'uint8'),
                          ((x, y + 5, CLASSES), {}, 'labels'),
                          ((x, y, ('a', 'b/c', 'd')), {}, 'plain folder'),
                          ((x, y, CLASSES), dict(fmt='gif'), 'fmt')]:
        with pytest.raises(ConfigError, match=msg): write_image_folder(tmp_path/'w', *args, **kw)
