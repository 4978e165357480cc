"""How much a run of the `quick` preset varies. One row per committed run folder (model, method,
label split, CPU threads, test accuracy raw and EMA, training time, commit) goes to OUT.csv. OUT.md
gets, as Markdown, the spread per row, the reruns (runs of one row on one label split) and the band
a run of split 0 is held to, from lesson 07's `rerun_tolerance` and `run_band`.
`uda_reproduce --preset quick` prints a user's run beside OUT.csv (lesson 07, `reference_spread`).

usage: python experiments/quick_spread.py OUT.csv FOLDER:THREADS [FOLDER:THREADS ...]
Each FOLDER holds run folders (config.json, final.json), e.g. results/quick/quick-seed0; THREADS is
the number of CPU threads the runs were made with (`OMP_NUM_THREADS`; newer run folders also record
it in config.json). It only reads files, so it takes seconds.
"""
import json, sys
from pathlib import Path
import pandas as pd
from uda_course.experiment import rerun_tolerance, run_band

METHOD = {'sup': 'supervised', 'uda': 'UDA'}          # the names of `results_table` (lesson 07)


def rows(folder: Path, threads: int):
    for final in sorted(folder.glob('*/final.json')):
        run = final.parent
        f, c = json.loads(final.read_text()), json.loads((run/'config.json').read_text())
        env = c['environment']
        recorded = env.get('threads')
        if recorded is not None and recorded != threads:
            sys.exit(f"{run}: config.json records {recorded} threads, "
                     f"the command line says {threads}")
        yield dict(run=str(run), model=f['model'], method=METHOD[f['method']], seed=f['seed'],
                   threads=threads, steps=f['steps'], test_acc=f['test_acc'],
                   test_acc_ema=f['test_acc_ema'], train_wall_s=f['train_wall_s'],
                   git_commit=(env.get('git_commit') or '')[:7])


def md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, floatfmt='.4f')


def main(argv):
    if len(argv) < 2 or not argv[0].endswith('.csv'): sys.exit(__doc__)
    out, df = Path(argv[0]), []
    for arg in argv[1:]:
        folder, _, threads = arg.rpartition(':')
        if not Path(folder).is_dir() or not threads.isdigit():
            sys.exit(f"{arg}: expected FOLDER:THREADS with an existing folder")
        df += list(rows(Path(folder), int(threads)))
    df = pd.DataFrame(df).sort_values(['model', 'method', 'seed', 'threads', 'run'],
                                      ascending=[False, False, True, True, True], kind='stable')
    df.to_csv(out, index=False)
    by_row = df.groupby(['model', 'method'], sort=False)
    g = by_row.test_acc_ema
    spread = pd.DataFrame(dict(runs=g.size(), splits=by_row.seed.nunique(),
                               ema_min=g.min(), ema_max=g.max())).reset_index()
    # every split-0 run, by thread count: '0.9435, 0.9435' ('–' when none)
    split0 = (df[df.seed == 0].groupby(['model', 'method', 'threads'], sort=False).test_acc_ema
              .agg(lambda a: ', '.join(f'{x:.4f}' for x in a)).unstack())
    split0.columns = [f'split 0, {t} thread{"s" if t > 1 else ""}' for t in split0.columns]
    table = spread.merge(split0.reset_index(), on=['model', 'method'], how='left').fillna('–')
    tol = rerun_tolerance(df).rename(columns={'set_by': 'set by'})
    band = run_band(df, 0)[['model', 'method', 'committed', 'tolerance', 'band']].rename(
        columns={'committed': 'committed, split 0'})
    md = (f"# Spread of the quick preset's runs\n\n"
          f"EMA test accuracy on all 10,000 test images; one row per model and method over the "
          f"run folders listed in `{out.name}`. Made by\n\n"
          f"```\n.venv/bin/python experiments/quick_spread.py {' '.join(argv)}\n```\n\n"
          "which only reads the run folders' `config.json` and `final.json`.\n\n"
          + md_table(table) + '\n\n'
          "**Reruns: one row, one label split.** Runs of one row on one label split differ only "
          "in what a user does not choose: the thread count, the commit (when it leaves results "
          "unchanged) or the machine. Per method, the largest difference between such runs is the "
          "tolerance (`rerun_tolerance`, lesson 07):\n\n"
          + md_table(tol) + '\n\n'
          "**The band a run of split 0 is held to:** the committed runs of split 0, widened on "
          "each side by the tolerance of the row's method (`run_band`, lesson 07). "
          "`uda_reproduce --preset quick` prints a run beside it:\n\n"
          + md_table(band) + '\n')
    out.with_suffix('.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main(sys.argv[1:])
