"""Lesson 04's opening map (results/features/, made by experiments/feature_projection.py): the file holds what its
README says, and it agrees with the committed weights it was made from."""
import sys
from pathlib import Path
import pandas as pd, pytest, torch
from uda_course.data import load_ssl_data

ROOT = Path(__file__).resolve().parents[1]
FEAT = ROOT/'results'/'features'
sys.path.insert(0, str(ROOT/'experiments'))
from feature_projection import N_IMAGES, features   # noqa: E402


@pytest.fixture(scope='module')
def fmap(): return pd.read_csv(FEAT/'lean-seed0-map.csv')


def test_map_rows_are_the_first_unlabeled_images_of_split_0(fmap):
    data = load_ssl_data(seed=0)
    assert len(fmap) == N_IMAGES == 2000 and fmap.image.tolist() == list(range(2000))
    assert (fmap.label.to_numpy() == data.y_unlabeled_hidden[:N_IMAGES].numpy()).all()


def test_map_predictions_come_from_the_committed_weights(fmap):
    x = load_ssl_data(seed=0).x_unlabeled[:300]
    for name in ('sup', 'uda'):
        _, pred = features(FEAT/f'lean-seed0-{name}-ema.pt', x)
        assert (pred.numpy() == fmap[f'{name}_pred'].to_numpy()[:300]).all(), name


def test_uda_network_reads_more_of_the_map_right(fmap):
    # measured: 0.929 (labels only) and 0.977 (UDA) of the 2,000 images
    acc = {n: (fmap[f'{n}_pred'] == fmap.label).mean() for n in ('sup', 'uda')}
    assert acc['sup'] == pytest.approx(0.929, abs=5e-4) and acc['uda'] == pytest.approx(0.977, abs=5e-4)


def test_keep_refuses_bad_usage(capsys):
    import feature_projection
    with pytest.raises(SystemExit): feature_projection.main(['map', 'only-one-file'])
