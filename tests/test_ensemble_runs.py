"""experiments/ensemble_runs.py: the mean of the softmax outputs of finished runs of one split
(lesson 10, section 1d)."""
import importlib.util, sys
from pathlib import Path
import pandas as pd, pytest
from uda_course.core import TrainConfig
from uda_course.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'experiments'))      # agreement.py imports ensemble_runs beside it
spec = importlib.util.spec_from_file_location('ensemble_runs',
                                              ROOT/'experiments'/'ensemble_runs.py')
ens = importlib.util.module_from_spec(spec); spec.loader.exec_module(ens)
TINY = dict(model='simple', method='sup', steps=3, batch_size=8, eval_every=3, n_val=100,
            device='cpu')

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('ens')
    pair = dict(method='uda', teacher='agree', peer_model='simple')
    for name, kw in (('a', {}), ('b', dict(run_seed=1)), ('other', dict(seed=1)), ('pair', pair)):
        run_experiment(TrainConfig(**{**TINY, **kw}), root/name, show_progress=False)
    return root

def test_mean_of_a_run_with_itself_is_the_run(runs, tmp_path):
    "Two copies of one run: the mean of equal probabilities is the run itself."
    ens.main([str(tmp_path/'e.csv'), str(runs/'a'), str(runs/'a')])
    df = pd.read_csv(tmp_path/'e.csv')
    assert df.test_acc_ema.nunique() == 1 and df.val_acc_ema.nunique() == 1
    assert df.run.iloc[-1] == 'mean of 2 runs'

def test_mean_of_two_reruns_by_hand(runs, tmp_path):
    "The ensemble's accuracy is that of the argmax of the mean of the two softmax outputs."
    import torch
    from uda_course.experiment import load_run_data
    ens.main([str(tmp_path/'e.csv'), str(runs/'a'), str(runs/'b')])
    df = pd.read_csv(tmp_path/'e.csv')
    assert df.run_seed.iloc[:2].tolist() == [0, 1]
    data = load_run_data(TrainConfig(**TINY))
    pa, pb = (ens.ema_probs(ens.ema_network(runs/n, data), data)[1] for n in ('a', 'b'))
    by_hand = float((((pa + pb) / 2).argmax(1) == data.y_test).float().mean())
    assert df.test_acc_ema.iloc[-1] == pytest.approx(by_hand, abs=1e-12)

def test_runs_of_two_splits_refused(runs, tmp_path):
    with pytest.raises(SystemExit, match='different label splits'):
        ens.main([str(tmp_path/'e.csv'), str(runs/'a'), str(runs/'other')])
    assert not (tmp_path/'e.csv').exists()


# ---------------------------------------------------------------- experiments/agreement.py
spec_ag = importlib.util.spec_from_file_location('agreement', ROOT/'experiments'/'agreement.py')
ag = importlib.util.module_from_spec(spec_ag); spec_ag.loader.exec_module(ag)

def test_count_by_hand():
    "4 images, 3 confident; of those, the second is wrong."
    import torch
    conf = torch.tensor([True, True, True, False])
    out = ag.count(conf, torch.tensor([1, 2, 3, 0]), torch.tensor([1, 5, 3, 9]), 'x')
    assert (out['confident'], out['wrong_confident'], out['images']) == (3, 1, 4)

def test_pair_keeps_only_shared_confident_targets(runs, tmp_path):
    "A run paired with itself keeps exactly its own confident targets; a pair never keeps more."
    ag.main([str(tmp_path/'a.csv'), str(runs/'a'), str(runs/'a'), '--beta', '0.1'])
    same = pd.read_csv(tmp_path/'a.csv')
    assert same.confident.nunique() == 1 and same.wrong_confident.nunique() == 1
    ag.main([str(tmp_path/'b.csv'), str(runs/'a'), str(runs/'b'), '--beta', '0.1'])
    pair = pd.read_csv(tmp_path/'b.csv')
    assert pair.confident.iloc[2] <= pair.confident.iloc[:2].min()
    assert pair.wrong_confident.iloc[2] <= pair.wrong_confident.iloc[:2].min()
    with pytest.raises(SystemExit, match='different label splits'):
        ag.main([str(tmp_path/'c.csv'), str(runs/'a'), str(runs/'other')])


def test_a_cotraining_run_and_its_networks(runs, tmp_path):
    """A co-training run gets a row for the pair and one per network; the pair's row is the
    argmax of the mean of its networks' softmax outputs, as `ModelPair` predicts."""
    import torch
    from uda_course.experiment import load_run_data
    ens.main([str(tmp_path/'p.csv'), str(runs/'pair')])
    df = pd.read_csv(tmp_path/'p.csv')
    assert df.run.tolist() == ['pair', 'pair net 0 (simple)', 'pair net 1 (simple)']
    data = load_run_data(TrainConfig(**TINY))
    nets = ens.ema_network(runs/'pair', data).nets
    pa, pb = (ens.ema_probs(n, data)[1] for n in nets)
    by_hand = float((((pa + pb) / 2).argmax(1) == data.y_test).float().mean())
    assert df.test_acc_ema.iloc[0] == pytest.approx(by_hand, abs=1e-12)

def test_agreement_of_a_cotraining_run(runs, tmp_path):
    "One co-training run: its two networks are the pair; the agreed targets never outnumber either."
    ag.main([str(tmp_path/'g.csv'), str(runs/'pair'), '--beta', '0.1'])
    df = pd.read_csv(tmp_path/'g.csv')
    assert df.targets.iloc[:2].tolist() == ['pair net 0 (simple)', 'pair net 1 (simple)']
    assert df.confident.iloc[2] <= df.confident.iloc[:2].min()
