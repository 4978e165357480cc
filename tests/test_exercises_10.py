"""The answers to the exercises of lesson 10 (Results: the report reproduced with error bars, label budgets, time to
accuracy) that have a definite answer (exercises 1-4), checked against the committed result files. Each test holds the
values derived by hand from the lesson's printed tables and compares them with what the files under `results/` and
`bench/results/` give, so that an exercise whose answer no longer matches the committed runs fails here. The tests
only read files: no training, no data download."""
import json, math
from pathlib import Path
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
RESULTS, BENCH = ROOT/'results', ROOT/'bench'/'results'
N_TEST, N_VAL = 10_000, 1_000


def final(path) -> dict: return json.loads(Path(path).read_text())

def per_split(preset: str, row: str, key: str = 'test_acc_ema') -> dict:
    "`key` of `results/PRESET/PRESET-seedS/ROW/final.json` for every committed split S."
    return {final(p)['seed']: final(p)[key] for p in sorted((RESULTS/preset).glob(f'{preset}-seed*/{row}/final.json'))}

def images(acc, n=N_TEST) -> int:
    "An accuracy on n images as a count of images (the committed accuracies are exact multiples of 1/n)."
    assert abs(acc * n - round(acc * n)) < 1e-6
    return round(acc * n)


def test_l10_ex1_gain_per_split_and_paired_sd():
    uda, sup = per_split('tuned', 'best-uda'), per_split('tuned', 'best-sup')
    assert sorted(uda) == sorted(sup) == [0, 1, 2, 3, 4]
    gain = {s: images(uda[s]) - images(sup[s]) for s in uda}                  # in test images; 100 images = one point
    assert gain == {0: 213, 1: 299, 2: 375, 3: 300, 4: 258}                  # 2.13, 2.99, 3.75, 3.00, 2.58 points
    assert min(gain, key=gain.get) == 0 and max(gain, key=gain.get) == 2
    g = pd.Series(gain) / 100                                                 # points
    u, s = pd.Series(uda) * 100, pd.Series(sup) * 100
    assert g.mean() == pytest.approx(2.89, abs=0.005)                          # = 97.934 - 95.044
    assert u.mean() - s.mean() == pytest.approx(2.89, abs=0.005)
    assert g.std() == pytest.approx(0.60, abs=0.005)                           # sd of the paired gains (n - 1)
    assert math.hypot(u.std(), s.std()) == pytest.approx(0.90, abs=0.005)      # if the rows' splits were unrelated
    assert g.std() < math.hypot(u.std(), s.std())                              # the rows rise and fall together over the splits


def test_l10_ex2_sd_by_hand_and_confidence_interval():
    lean = per_split('lean', 'lean-uda')
    assert [lean[s] for s in range(5)] == [0.9885, 0.9909, 0.9912, 0.9918, 0.9909]   # the values the exercise quotes
    x = pd.Series(lean)
    # by hand: mean 0.99066; deviations -0.00216, 0.00024, 0.00054, 0.00114, 0.00024; squares sum to 6.372e-6
    assert x.mean() == pytest.approx(0.99066, abs=1e-9)
    assert ((x - x.mean()) ** 2).sum() == pytest.approx(6.372e-6, rel=1e-6)
    assert x.std(ddof=1) == pytest.approx(0.0012621, abs=1e-7)                # sqrt(6.372e-6 / 4): sample sd, printed 0.0013
    assert x.std(ddof=0) == pytest.approx(0.0011289, abs=1e-7)                # sqrt(6.372e-6 / 5): population sd, 0.0011
    from uda_course.results import collect_split_runs, summarize_runs
    u = summarize_runs(collect_split_runs(RESULTS/'lean'), ['method']).set_index('method').loc['uda']
    assert u.test_acc_ema_std == pytest.approx(0.0012621, abs=1e-7)           # summarize_runs divides by n - 1
    t = 2.776
    assert stats.t.ppf(0.975, 4) == pytest.approx(t, abs=5e-4)
    half = t * 0.0012621 / math.sqrt(5)                                         # 0.00157
    lo, hi = 0.99066 - half, 0.99066 + half
    assert (round(lo, 4), round(hi, 4)) == (0.9891, 0.9922)
    from_files = x.mean() + stats.t.ppf(0.975, 4) * x.std() / math.sqrt(5) * pd.Series([-1, 1])
    assert from_files.round(4).tolist() == [0.9891, 0.9922]
    assert lo < 0.9921 < hi and (x < 0.9921).all()                             # inside the interval, though every split is below
    assert round((0.9921 - x.mean()) * N_TEST) == 14                           # 14.4 test images, 0.14 points


def test_l10_ex3_steps_to_98_percent():
    tta = pd.read_csv(BENCH/'tta-tuned-best-uda-cpu.csv')
    S = json.loads((BENCH/'tta-tuned-best-uda-cpu.json').read_text())['config']['steps']
    assert S == 3000
    first = lambda col: tta[tta[col] >= 0.98].iloc[0]
    ema, raw, val = first('test_acc_ema'), first('test_acc'), first('val_acc_ema')
    assert int(ema.step) == 2000 and ema.step / S == pytest.approx(2 / 3) and round(ema.train_s) == 895
    assert int(raw.step) == 2750 and round(raw.step / S, 2) == 0.92 and round(raw.train_s) == 1248
    assert tta.set_index('step').test_acc[2500] == 0.9799                      # the raw model just misses at 2,500
    assert int(val.step) == 2000
    steps = tta.step.tolist()                                                 # evaluated every 250 steps: crossed between 1,750 and 2,000
    assert steps[steps.index(2000) - 1] == 1750 and tta.set_index('step').test_acc_ema[1750] < 0.98


def test_l10_ex4_validation_gaps_against_binomial_se():
    val = {p.parent.name: final(p)['val_acc_ema'] for p in sorted((RESULTS/'tuning').glob('*/final.json'))}
    assert len(val) == 4
    best = max(val, key=val.get)
    assert (best, val[best]) == ('geometric', 0.966)
    se = math.sqrt(0.966 * 0.034 / N_VAL)                                       # 0.0057: 5.7 images
    assert se == pytest.approx(0.0057, abs=5e-5)
    assert math.sqrt(val[best] * (1 - val[best]) / N_VAL) == pytest.approx(se)
    gaps = sorted(images(val[best], N_VAL) - images(v, N_VAL) for r, v in val.items() if r != best)
    assert gaps == [3, 6, 7]
    se_diff_images = math.sqrt(2) * se * N_VAL                                  # 8.1 images
    assert se_diff_images == pytest.approx(8.1, abs=0.05)
    assert all(g < se_diff_images for g in gaps)                                # none larger than the noise of a difference
    # (c) lean against tuned UDA on each split's validation set
    tuned, lean = per_split('tuned', 'best-uda', 'val_acc_ema'), per_split('lean', 'lean-uda', 'val_acc_ema')
    lead = {s: images(lean[s], N_VAL) - images(tuned[s], N_VAL) for s in tuned}
    assert lead == {0: 19, 1: 27, 2: 5, 3: 3, 4: 5}
    z = {s: (lean[s] - tuned[s]) / math.sqrt((lean[s] * (1 - lean[s]) + tuned[s] * (1 - tuned[s])) / N_VAL) for s in tuned}
    assert {s for s, v in z.items() if v > 2} == {0, 1}                         # the splits of lesson 09's crossed 7s
    assert z[0] == pytest.approx(2.5, abs=0.05) and z[1] == pytest.approx(3.8, abs=0.05) and max(z[2], z[3], z[4]) < 1.3
