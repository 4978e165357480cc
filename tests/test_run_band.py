"""The band a user's run of a preset is held to (lesson 07: `rerun_tolerance`, `run_band`,
`reference_spread`), the table `uda_reproduce` prints with it, and the files it is read from
(`results/<preset>/spread.csv` and `spread.md`, written by `experiments/spread.py`)."""
import importlib.util, json, re
from pathlib import Path
import pandas as pd
import pytest
from uda_course import cli
from uda_course.experiment import (REFERENCE_RESULTS, committed_runs, reference_spread,
                                   rerun_tolerance, results_table, run_band)

ROOT = REFERENCE_RESULTS.parent
COLUMNS = ['model', 'method', 'this_run', 'committed, split 0', 'band', 'inside band',
           'committed, all splits']


def write_spread(folder: Path, rows: list) -> Path:
    "A `spread.csv` of (model, method, seed, test_acc_ema) rows for preset 'quick' under `folder`."
    (folder/'quick').mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=['model', 'method', 'seed', 'test_acc_ema']).to_csv(
        folder/'quick'/'spread.csv', index=False)
    return folder


# ---------------------------------------------------------------- the rule, on hand-made runs
HAND = [('simple', 'supervised', 0, 0.9400), ('simple', 'supervised', 0, 0.9300),   # 0.0100 apart
        ('simple', 'supervised', 1, 0.9500),
        ('best', 'supervised', 0, 0.9600), ('best', 'supervised', 0, 0.9620),       # 0.0020 apart
        ('simple', 'UDA', 0, 0.9700), ('simple', 'UDA', 0, 0.9730),                 # 0.0030 apart
        ('best', 'UDA', 0, 0.9800)]                                                 # no rerun


def test_tolerance_is_the_largest_rerun_difference_of_each_method(tmp_path):
    tol = rerun_tolerance(committed_runs('quick', write_spread(tmp_path, HAND)))
    assert tol.method.tolist() == ['supervised', 'UDA']
    # not per row (best/supervised would get 0.002), not one for all (UDA would get 0.01)
    assert tol.tolerance.tolist() == [0.01, 0.003]
    assert tol.set_by.tolist() == ['simple, split 0: 0.9300–0.9400 (2 runs)',
                                   'simple, split 0: 0.9700–0.9730 (2 runs)']


def test_band_is_the_split_range_widened_by_the_method_tolerance(tmp_path):
    ref = committed_runs('quick', write_spread(tmp_path, HAND))
    b = run_band(ref, 0).set_index(['model', 'method'])
    # by hand: [min − t, max + t] of each row's split-0 runs, t of its method
    assert b.band.to_dict() == {
        ('simple', 'supervised'): '0.9200–0.9500',   # 0.93 − 0.01, 0.94 + 0.01
        ('best', 'supervised'): '0.9500–0.9720',     # 0.96 − 0.01, 0.962 + 0.01
        ('simple', 'UDA'): '0.9670–0.9760',          # 0.97 − 0.003, 0.973 + 0.003
        ('best', 'UDA'): '0.9770–0.9830'}            # one run: 0.98 ± 0.003
    assert b.committed[('best', 'supervised')] == '0.9600–0.9620 (2)'
    b1 = run_band(ref, 1).set_index(['model', 'method'])
    assert b1.band[('simple', 'supervised')] == '0.9400–0.9600'              # 0.95 ± 0.01
    assert b1.committed[('best', 'UDA')] == 'none on split 1'
    assert b1.band[('best', 'UDA')] == '–'


def test_a_method_without_reruns_takes_the_largest_tolerance(tmp_path):
    ref = committed_runs('quick',
                         write_spread(tmp_path, HAND[:3] + [('best', 'UDA', 0, 0.98)]))
    assert run_band(ref, 0).set_index('method').band['UDA'] == '0.9700–0.9900'   # 0.98 ± 0.01


def test_no_reruns_no_band(tmp_path):
    ref = committed_runs('quick', write_spread(tmp_path, [('simple', 'UDA', 0, 0.97),
                                                          ('simple', 'UDA', 1, 0.98)]))
    with pytest.raises(ValueError, match='no evidence'): rerun_tolerance(ref)
    with pytest.raises(ValueError, match='test_acc_ema'):
        rerun_tolerance(ref.drop(columns='test_acc_ema'))
    assert committed_runs('tuned', tmp_path) is None


def test_inside_band_yes_no_and_the_distance(tmp_path):
    write_spread(tmp_path, HAND)
    mine = pd.DataFrame(dict(model=['simple'] * 3, method=['supervised', 'UDA', 'UDA'],
                             test_acc_ema=[0.9500, 0.9761, 0.9600]))
    side = reference_spread(mine.iloc[:1], 'quick', 0, tmp_path)
    assert side['inside band'].tolist() == ['yes']          # the upper edge is inside
    side = reference_spread(mine.iloc[1:], 'quick', 0, tmp_path)
    assert side['inside band'].tolist() == ['no: 0.0001 above', 'no: 0.0070 below']


# ---------------------------------------------------------------- the printed table
def test_table_has_no_nan_and_the_same_columns_for_rows_with_different_committed_splits(tmp_path):
    "Regression: a column named after each row's committed splits gave two columns and NaN cells."
    write_spread(tmp_path, HAND)          # simple/supervised on splits 0,1; the others on split 0
    mine = pd.DataFrame(dict(model=['simple', 'best', 'lean'],
                             method=['supervised', 'UDA', 'UDA'], test_acc_ema=[0.935, 0.98, 0.9]))
    side = reference_spread(mine, 'quick', 0, tmp_path)
    assert side.columns.tolist() == COLUMNS
    assert not side.isna().any().any() and not (side.astype(str) == '').any().any()
    assert side['committed, all splits'].tolist() == ['0.9300–0.9500 (3 on splits 0,1)',
                                                      '0.9800 (1 on split 0)', '–']
    assert side.iloc[2, 3:].tolist() == ['none on split 0', '–', '–', '–']  # none committed
    side1 = reference_spread(mine, 'quick', 1, tmp_path)
    assert side1.columns.tolist() == [c.replace('split 0', 'split 1') for c in COLUMNS]
    assert not side1.isna().any().any()
    assert side1.iloc[1, 3:6].tolist() == ['none on split 1', '–', '–']


# ---------------------------------------------------------------- the committed quick runs
def test_committed_tolerance_and_bands():
    ref = committed_runs('quick')
    tol = rerun_tolerance(ref).set_index('method').tolerance
    # 0.9435 − 0.9363 (simple, 1 and 2 threads) and 0.9735 − 0.9711 (best, 1 and 2 threads)
    assert tol.to_dict() == {'supervised': 0.0072, 'UDA': 0.0024}
    assert run_band(ref, 0).set_index(['model', 'method']).band.to_dict() == {
        ('simple', 'supervised'): '0.9291–0.9507', ('simple', 'UDA'): '0.9674–0.9728',
        ('best', 'supervised'): '0.9400–0.9545', ('best', 'UDA'): '0.9687–0.9759'}


def test_every_committed_split0_run_lies_inside_its_band():
    for folder in ('quick-seed0', 'threads2-seed0', 'rerun-1thread-seed0'):
        finals = [json.loads(f.read_text())
                  for f in sorted((REFERENCE_RESULTS/'quick'/folder).glob('*/final.json'))]
        side = reference_spread(results_table(finals), 'quick', 0)
        assert side['inside band'].tolist() == ['yes'] * len(finals), folder


def test_the_issues_fresh_run_is_outside_the_bare_range_and_inside_the_band():
    "A fresh `make run` (2 threads), as quoted in the issue; its files are not committed."
    fresh = pd.DataFrame(dict(model=['simple', 'best', 'best'],
                              method=['UDA', 'supervised', 'UDA'],
                              test_acc_ema=[0.9707, 0.9495, 0.9706]))
    side = reference_spread(fresh, 'quick', 0)
    for r in side.itertuples():
        lo, hi = map(float, r[4].split(' ')[0].split('–'))      # the bare range of split 0
        assert not lo <= r.this_run <= hi
    assert side['inside band'].tolist() == ['yes'] * 3
    assert side.columns.tolist() == COLUMNS and not side.isna().any().any()


def test_uda_reproduce_prints_the_band(tmp_path, monkeypatch, capsys):
    "The printing of `uda_reproduce` (lesson 12), with `reproduce` replaced by the fresh run."
    table = pd.DataFrame(dict(model=['simple', 'simple', 'best', 'best'],
                              method=['supervised', 'UDA', 'supervised', 'UDA'],
                              test_acc_ema=[0.9435, 0.9707, 0.9495, 0.9706]))
    def fake_reproduce(preset, out, seed, *args, **kwargs):
        (Path(out)/f'{preset}-seed{seed}').mkdir(parents=True, exist_ok=True)
        (Path(out)/f'{preset}-seed{seed}'/'results.md').write_text('# results\n')
        return table
    monkeypatch.setattr(cli, 'reproduce', fake_reproduce)
    cli.uda_reproduce(preset='quick', out=str(tmp_path), quiet=True)
    out = capsys.readouterr().out
    assert 'inside band' in out and 'nan' not in out.lower()
    assert out.count('| yes ') == 4 and '0.0072' in out and '0.0024' in out
    cli.uda_reproduce(preset='quick', out=str(tmp_path), quiet=True, n_test=200)
    assert 'inside band' not in capsys.readouterr().out   # fewer test images: no comparison


# ---------------------------------------------------------------- the files it is read from
@pytest.mark.parametrize('preset', sorted(p.parent.name for p in REFERENCE_RESULTS.glob('*/spread.md')))
def test_spread_files_are_what_the_script_writes(tmp_path, preset):
    "spread.csv and .md are what `experiments/spread.py` writes, run as spread.md says."
    md = (REFERENCE_RESULTS/preset/'spread.md').read_text()
    made_by = r'```\n\.venv/bin/python experiments/spread\.py (.+)\n```'
    cmd = re.search(made_by, md).group(1).split()
    assert cmd[0] == f'results/{preset}/spread.csv'
    spec = importlib.util.spec_from_file_location('spread', ROOT/'experiments'/'spread.py')
    qs = importlib.util.module_from_spec(spec); spec.loader.exec_module(qs)
    out = tmp_path/preset/'spread.csv'
    out.parent.mkdir()
    monkeypatch = pytest.MonkeyPatch()
    with monkeypatch.context() as m:
        m.chdir(ROOT)
        qs.main([str(out)] + cmd[1:])
    committed = REFERENCE_RESULTS/preset
    assert out.read_text() == (committed/'spread.csv').read_text()
    assert out.with_suffix('.md').read_text().replace(str(out), cmd[0]) == md
    if preset == 'quick':                 # every run folder of results/quick is listed
        listed = set(pd.read_csv(committed/'spread.csv').run)
        assert listed == {str(p.parent.relative_to(ROOT))
                          for p in committed.glob('*/*/final.json')}


def test_results_page_quotes_spread_md_exactly():
    nb = json.loads((ROOT/'nbs'/'results_and_reproduction.ipynb').read_text())
    page = '\n'.join(''.join(c['source']) for c in nb['cells'])
    md = (REFERENCE_RESULTS/'quick'/'spread.md').read_text()
    assert md.split('\n', 2)[2].strip('\n') in page                  # all but the title
    section = page[page.index('### Is your run normal?'):]
    section = section[:section.index('\n## ')] if '\n## ' in section else section
    for number in re.findall(r'\b0\.\d{4}\b', section):
        assert number in md, number                  # no number that no file holds
