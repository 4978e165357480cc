"""The explorers of lessons 03 and 04: their committed files (made by experiments/explorer_files.py), the number format of
their titles, and figures that keep their size whatever the setting."""
import io, json, zlib
from dataclasses import asdict
from pathlib import Path
import numpy as np
import pytest, torch
import matplotlib; matplotlib.use('Agg')
from PIL import Image
from uda_course.core import TrainConfig
from uda_course.augment import (RANDAUG_OPS, NO_MAGNITUDE_OPS, fmt_num, figure_png, rand_augment, augment_explorer_key,
                                augment_explorer_figure)
from uda_course.uda import uda_target, targets_explorer_figure

ROOT = Path(__file__).resolve().parents[1]
EXPL = ROOT/'results'/'explorers'
NBS = ROOT/'nbs'

def png_size(b: bytes): return Image.open(io.BytesIO(b)).size
def nb_source(name): return '\n'.join(''.join(c['source']) for c in json.loads((NBS/name).read_text())['cells'])

@pytest.fixture(scope='module')
def logits(): return torch.load(EXPL/'uda_logits.pt', weights_only=True)

@pytest.fixture(scope='module')
def grid(): return np.load(EXPL/'augment_predictions.npz')

# --- number format -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('v, digits, want', [(0.39999999999999997, 2, '0.4'), (0.35000000000000003, 2, '0.35'), (1.0, 2, '1'),
                                             (0.05, 2, '0.05'), (0.99, 2, '0.99'), (-0.001, 2, '0'), (9.0, 1, '9'), (4.5, 1, '4.5'),
                                             (10, 1, '10'), (0.8, 2, '0.8')])
def test_fmt_num(v, digits, want): assert fmt_num(v, digits) == want

def test_fmt_num_on_every_slider_value():
    # the sliders' values are sums of float steps: every one must print as its short decimal
    for k in range(1, 21):
        t = 0.05 + (k - 1) * 0.05
        assert fmt_num(t) == f"{round(t, 2):g}" and len(fmt_num(t)) <= 4

# --- ops without magnitude -----------------------------------------------------------------------------------------
def test_no_magnitude_ops_really_ignore_magnitude(data):
    x = data.x_unlabeled[:64]
    for op in RANDAUG_OPS:
        lo, hi = (rand_augment(x, 1, m, torch.Generator().manual_seed(0), ops=[op]) for m in (0.0, 10.0))
        assert torch.equal(lo, hi) == (op in NO_MAGNITUDE_OPS), op

# --- lesson 04's committed logits ----------------------------------------------------------------------------------
def test_uda_logits_file(logits, data):
    assert (EXPL/'uda_logits.pt').stat().st_size < 100_000
    assert set(logits) >= {'index', 'x', 'y_hidden', 'x_aug', 'z_clean', 'z_aug', 'pool_conf', 'steps', 'test_acc', 'config'}
    for k in ('x', 'x_aug'): assert logits[k].dtype == torch.uint8 and logits[k].shape == (16, 1, 28, 28), k
    for k in ('z_clean', 'z_aug'): assert logits[k].dtype == torch.float32 and logits[k].shape == (16, 10) and torch.isfinite(logits[k]).all(), k
    idx = logits['index']
    assert idx.dtype == torch.int64 and idx.shape == (16,) and len(set(idx.tolist())) == 16 and 0 <= idx.min() and idx.max() < 2000
    assert torch.equal(logits['x'], data.x_unlabeled[idx])                   # the images lesson 04 takes
    assert torch.equal(logits['y_hidden'], data.y_unlabeled_hidden[idx])
    assert logits['pool_conf'].dtype == torch.float32 and logits['pool_conf'].shape == (2000,)
    conf = logits['z_clean'].softmax(1).amax(1)
    assert torch.allclose(conf, logits['pool_conf'][idx], atol=1e-5)       # the same model made both
    assert (conf[:-1] >= conf[1:]).all()                                     # most confident first
    cfg = TrainConfig.from_dict(logits['config'])
    lesson = TrainConfig(model='simple', method='uda', steps=1200, lr=0.03, batch_size=32, unsup_ratio=2, temperature=0.4, beta=0.8, eval_every=200)
    assert asdict(cfg) == asdict(lesson) and logits['steps'] == 1200         # lesson 04's full-mode training cell
    x_aug = rand_augment(logits['x'], cfg.randaug_n, cfg.randaug_m, torch.Generator().manual_seed(0), cfg.sample_magnitude, None, cfg.cutout)
    assert torch.equal(x_aug, logits['x_aug'])                               # the view lesson 04 draws

def test_uda_logits_come_from_a_trained_model(logits):
    # a 20-step model masks every row at beta = 0.8, and so would a model that is sure of every image: the kept 16 must show both
    assert logits['test_acc'] > 0.9
    assert (logits['pool_conf'] > 0.8).float().mean() > 0.8                  # trained: most unlabeled images pass beta = 0.8
    _, mask = uda_target(logits['z_clean'], 0.4, 0.8)
    assert 4 <= int(mask.sum()) <= 14
    conf = logits['z_clean'].softmax(1).amax(1)
    assert conf.min() < 0.5 and conf.max() > 0.99

def test_lesson_04_reads_the_file():
    src = nb_source('04_uda.ipynb')
    assert "results/explorers/uda_logits.pt" in src and 'experiments/explorer_files.py' in src
    assert 'uda_targets_explorer.png' in src and 'model not found' in src and "description_width" in src

# --- lesson 03's committed predictions -----------------------------------------------------------------------------
def test_augment_predictions_grid(grid, data):
    assert (EXPL/'augment_predictions.npz').stat().st_size < 300_000
    assert list(grid['ops']) == ['(whole pool)', *RANDAUG_OPS]
    assert list(grid['magnitudes']) == list(range(11)) and list(grid['n_ops']) == [0, 1, 2, 3, 4] and list(grid['seeds']) == list(range(5))
    shape = (15, 11, 5, 5, 2, 16)
    for k in ('pred', 'conf'): assert grid[k].dtype == np.uint8 and grid[k].shape == shape, k
    assert grid['pred'].max() <= 9 and grid['conf'].max() <= 100 and grid['conf'].min() >= 10   # a probability max is >= 1/K
    assert (grid['x'] == data.x_unlabeled[:16].numpy()).all() and (grid['y_hidden'] == data.y_unlabeled_hidden[:16].numpy()).all()
    originals = grid['pred'][:, :, 0]                                         # N = 0: every setting shows the originals
    assert (originals == originals[0, 0, 0, 0]).all()
    assert (originals[0, 0, 0, 0] == grid['y_hidden']).sum() >= 13             # a trained model reads most of them right

def test_augment_predictions_keys_give_the_lessons_views(grid):
    # the crc of seed 0's augmented batch, recomputed for a sample of settings (and the default one)
    x = torch.as_tensor(grid['x'])
    rng = np.random.default_rng(0)
    keys = [(0, 9, 2, 0)] + [tuple(int(rng.integers(n)) for n in (15, 11, 5, 2)) for _ in range(40)]
    for o, m, n, sm in keys:
        op = str(grid['ops'][o])
        y = rand_augment(x, n, float(grid['magnitudes'][m]), torch.Generator().manual_seed(0), bool(sm), None if o == 0 else [op])
        assert zlib.crc32(y.numpy().tobytes()) == grid['crc'][o, m, n, sm], (op, m, n, sm)
        assert augment_explorer_key(grid, op, float(grid['magnitudes'][m]), n, 0, bool(sm)) == (o, m, n, 0, sm)

def test_every_explorer_setting_has_predictions(grid):
    # the widget ranges of lesson 03: magnitude 0..10 step 1, N 0..4, seed 0..4, both checkbox values
    for op in grid['ops']:
        for m in range(11):
            for n in range(5):
                for s in range(5): augment_explorer_key(grid, str(op), float(m), n, s, True)
    with pytest.raises(KeyError): augment_explorer_key(grid, 'rotate', 9.0, 2, 5, False)
    with pytest.raises(KeyError): augment_explorer_key(grid, 'rotate', 4.5, 2, 0, False)
    src = nb_source('03_augment.ipynb')
    assert 'BoundedIntText(value=0, min=0, max=4' in src and 'FloatSlider(value=9, min=0, max=10, step=1,' in src

# --- figures: fixed size, default views committed ------------------------------------------------------------------
def test_figures_keep_their_size(grid, logits):
    x = torch.as_tensor(grid['x'])
    sizes = {png_size(figure_png(augment_explorer_figure(rand_augment(x, n, m, torch.Generator().manual_seed(s), sm, ops), grid, op, m, n, s, sm)))
             for op, ops, m, n, s, sm in (('(whole pool)', None, 9.0, 2, 0, False), ('autocontrast', ['autocontrast'], 1.0, 4, 4, True),
                                          ('translate_x', ['translate_x'], 10.0, 0, 3, True))}
    assert sizes == {(1200, 270)}
    sizes = {png_size(figure_png(targets_explorer_figure(logits, t, b))) for t, b in ((0.4, 0.8), (0.05, 0.0), (0.39999999999999997, 0.99), (1.0, 0.5))}
    assert sizes == {(1200, 460)}

def test_no_magnitude_in_title(grid):
    x = torch.as_tensor(grid['x'])
    fig = augment_explorer_figure(rand_augment(x, 2, 3.0, torch.Generator().manual_seed(0), ops=['equalize']), grid, 'equalize', 3.0, 2, 0, False)
    assert 'no magnitude' in fig.axes[0].get_title(loc='left')
    fig = augment_explorer_figure(rand_augment(x, 2, 3.0, torch.Generator().manual_seed(0), ops=['rotate']), grid, 'rotate', 3.0, 2, 0, False)
    assert 'M = 3,' in fig.axes[0].get_title(loc='left')

def test_targets_title_is_formatted(logits):
    fig = targets_explorer_figure(logits, 0.39999999999999997, 0.8500000000000001)
    titles = [a.get_title(loc='left') for a in fig.axes]
    assert any('T = 0.4, β = 0.85' in t for t in titles), titles
    assert not any('0.3999' in t or '0.8500' in t for t in titles)

@pytest.mark.parametrize('png, make', [
    ('augment_explorer.png', lambda g, l: augment_explorer_figure(rand_augment(torch.as_tensor(g['x']), 2, 9.0, torch.Generator().manual_seed(0), False, None),
                                                                  g, '(whole pool)', 9.0, 2, 0, False)),
    ('uda_targets_explorer.png', lambda g, l: targets_explorer_figure(l, 0.4, 0.8))])
def test_static_pictures_are_the_default_views(png, make, grid, logits):
    committed = np.asarray(Image.open(EXPL/png).convert('RGB')).astype(int)
    now = np.asarray(Image.open(io.BytesIO(figure_png(make(grid, logits)))).convert('RGB')).astype(int)
    assert committed.shape == now.shape
    assert (np.abs(committed - now).max(-1) > 40).mean() < 0.002              # the same picture (fonts may antialias a little differently)
