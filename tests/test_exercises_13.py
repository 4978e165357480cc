"""The answers to the exercises of lesson 13 (UDA on other data: Fashion-MNIST and your own images) that have a definite
answer (exercises 1, 2 and 4), checked, so that no exercise is wrong, with the lesson's functions `split_gains` and
`screen_table`: each test holds the hand-derived value (the accepted label counts for seven classes, the statistics of
a tinted folder, the sizes of a registered three-class dataset, the gains of small hand-made tables). Exercises 2 and
4 read Fashion-MNIST from the data cache."""
import pandas as pd, pytest, torch
from uda_course.core import ConfigError
from uda_course.data import DATASETS, ImageSet, channel_stats, load_idx, load_ssl_data, register_dataset, split_indices
from uda_course.other_data import screen_table, split_gains

def test_split_gains_hand_values():
    runs = pd.DataFrame(dict(seed=[0, 0, 1, 1], method=['sup', 'uda', 'uda', 'sup'],
                             test_acc_ema=[0.70, 0.78, 0.80, 0.74]))
    g = split_gains(runs)
    assert g.seed.tolist() == [0, 1] and g.gain_points.round(6).tolist() == [8.0, 6.0]
    with pytest.raises(ConfigError, match=r"split\(s\) \[2\] lack"):
        split_gains(pd.concat([runs, pd.DataFrame(dict(seed=[2], method=['uda'], test_acc_ema=[0.9]))]))

def test_screen_table_hand_values():
    runs = pd.DataFrame(dict(run=['sup', 'uda', 'b95'], method=['sup', 'uda', 'uda'], val_acc_ema=[0.716, 0.757, 0.77],
                             test_acc_ema=[0.73, 0.76, 0.78]))
    t = screen_table(runs)
    assert t.run.tolist() == ['b95', 'uda', 'sup'] and t.val_gain_points.tolist() == [5.4, 4.1, 0.0]
    with pytest.raises(ConfigError, match="no run named 'x'"): screen_table(runs, base='x')

def test_ex1_labels_must_split_evenly_over_seven_classes():
    y = torch.arange(7).repeat(100)                   # 7 classes of 100 images
    accepted = [n for n in range(50, 81) if n % 7 == 0]
    assert accepted == [56, 63, 70, 77]
    for n in accepted: split_indices(y, n, 10, n_classes=7)
    with pytest.raises(ConfigError, match='multiple of 7'): split_indices(y, 60, 10, n_classes=7)

def test_ex2_statistics_of_a_tinted_folder():
    x = load_idx(dataset='fashion_mnist')[2]        # the test images, as in the lesson
    keep = torch.isin(load_idx(dataset='fashion_mnist')[3], torch.tensor([1, 5, 8]))
    grey = x[keep][:600]
    tint = (grey.expand(-1, 3, -1, -1) * torch.tensor([1.0, 0.8, 0.5]).view(1, 3, 1, 1)).to(torch.uint8)
    (m,), (s,) = channel_stats(grey)
    means, stds = channel_stats(tint)
    for k, f in enumerate((1.0, 0.8, 0.5)):           # scaling by f scales the mean and the std by f
        assert means[k] == pytest.approx(f * m, abs=0.002) and stds[k] == pytest.approx(f * s, abs=0.002)

def test_ex4_a_dataset_of_three_classes_registered():
    def three(root, data_dir=None, image_size=None, test_frac=0.2, verbose=True):
        s = DATASETS['fashion_mnist'](root, verbose=verbose)
        keep = torch.tensor([1, 5, 8])
        tr, te = torch.isin(s.y_train, keep), torch.isin(s.y_test, keep)
        relabel = lambda y: torch.searchsorted(keep, y)
        return ImageSet('fashion_3', ('Trouser', 'Sandal', 'Bag'), s.x_train[tr], relabel(s.y_train[tr]),
                        s.x_test[te], relabel(s.y_test[te]))
    register_dataset('fashion_3', three)
    try:
        d = load_ssl_data(dataset='fashion_3', n_labeled=30, n_val=300)
        assert (len(d.x_unlabeled), d.n_classes, len(d.x_test)) == (18000 - 30 - 300, 3, 3000)
    finally: DATASETS.pop('fashion_3')
