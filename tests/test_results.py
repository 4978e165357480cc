import json
import pandas as pd, pytest
from uda_course.core import ConfigError, TrainConfig
from uda_course.results import summarize_runs, collect_split_runs

def test_summarize_runs_hand_values():
    runs = pd.DataFrame(dict(n_labeled=[10, 10, 100, 100, 100], test_acc=[0.5, 0.7, 0.9, 0.95, 1.0], test_acc_ema=[0.6, 0.6, 0.9, 0.9, 0.9]))
    s = summarize_runs(runs, ['n_labeled']).set_index('n_labeled')
    assert s.loc[10, 'n_runs'] == 2 and s.loc[100, 'n_runs'] == 3
    assert s.loc[10, 'test_acc_mean'] == pytest.approx(0.6) and s.loc[10, 'test_acc_std'] == pytest.approx(0.1414213562)  # sample std (n−1) of 0.5, 0.7
    assert s.loc[100, 'test_acc_std'] == pytest.approx(0.05) and s.loc[100, 'test_acc_ema_std'] == pytest.approx(0.0)

def test_summarize_one_run_has_no_std():
    s = summarize_runs(pd.DataFrame(dict(m=['a'], test_acc=[0.9], test_acc_ema=[0.9])), ['m'])
    assert s.n_runs.tolist() == [1] and s.test_acc_std.isna().all()

def test_summarize_runs_names_missing_column():
    with pytest.raises(ConfigError, match="no column 'method'"): summarize_runs(pd.DataFrame(dict(test_acc=[0.9])), ['method'])

def _fake_run(d, method, seed, acc):
    d.mkdir(parents=True)
    (d/'final.json').write_text(json.dumps(dict(model='best', method=method, seed=seed, steps=10, test_acc=acc, test_acc_ema=acc)))
    (d/'config.json').write_text(json.dumps(dict(config=TrainConfig(method=method, seed=seed).to_dict())))

def test_collect_split_runs_reads_every_split(tmp_path):
    for s in (0, 1):
        for m, acc in (('sup', 0.9 + s / 100), ('uda', 0.97 + s / 100)): _fake_run(tmp_path/f'tuned-seed{s}'/f'best-{m}', m, s, acc)
    (tmp_path/'tuned-seed1'/'best-uda-unfinished').mkdir()              # no final.json: not a finished run
    runs = collect_split_runs(tmp_path)
    assert len(runs) == 4 and sorted(runs.seed.unique()) == [0, 1]
    s = summarize_runs(runs, ['method']).set_index('method')
    assert s.loc['uda', 'test_acc_mean'] == pytest.approx(0.975) and s.loc['sup', 'n_runs'] == 2

def test_collect_split_runs_refuses_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match='uda_reproduce --preset PRESET --seeds N'): collect_split_runs(tmp_path)


def test_readme_include_drops_the_included_files_title(tmp_path):
    "tools/make_readme.py includes a results file without its `# ` title, so the README keeps one outline."
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location('make_readme', Path(__file__).resolve().parents[1]/'tools'/'make_readme.py')
    mr = importlib.util.module_from_spec(spec); spec.loader.exec_module(mr)
    f = tmp_path/'results.md'
    f.write_text("# Report table reproduced\n\nMNIST, 100 labels.\n\n| a |\n|--|\n| 1 |\n")
    assert mr.included(f) == "MNIST, 100 labels.\n\n| a |\n|--|\n| 1 |"
    f.write_text("| preset |\n|--|\n| # not a title |\n")
    assert mr.included(f) == "| preset |\n|--|\n| # not a title |"       # no title: unchanged


# ---------------------------------------------------------------- the committed quick runs (README, `uda_reproduce` prints a run beside them)
from pathlib import Path
from uda_course.experiment import REFERENCE_RESULTS, reference_spread, results_table

def test_quick_spread_lists_the_committed_run_folders_as_they_are():
    spread = pd.read_csv(REFERENCE_RESULTS/'quick'/'spread.csv')
    root = REFERENCE_RESULTS.parent
    for r in spread.itertuples():
        final = json.loads((root/r.run/'final.json').read_text())
        assert (final['model'], final['seed'], final['test_acc'], final['test_acc_ema']) == (r.model, r.seed, r.test_acc, r.test_acc_ema), r.run
    assert set(spread.threads) == {1, 2} and len(spread.groupby(['model', 'method'])) == 4         # both thread counts, every row of the preset

def test_the_readme_run_lies_inside_the_committed_range_of_its_split():
    finals = [json.loads(f.read_text()) for f in sorted((REFERENCE_RESULTS/'quick'/'quick-seed0').glob('*/final.json'))]
    side = reference_spread(results_table(finals), 'quick', 0)
    for r in side.itertuples():
        lo, hi = map(float, r[4].split(' ')[0].split('–'))                # 'committed, split 0': 'min–max (n)'
        assert lo <= r.this_run <= hi, (r.model, r.method)
