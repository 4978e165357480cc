"""How much a run of the `quick` preset varies: one row per committed run folder (model, method, label split, CPU
threads, test accuracy raw and EMA, training time, commit), written to OUT.csv and, as a Markdown table with the
spread per row, to OUT.md. `uda_reproduce --preset quick` prints a user's run beside OUT.csv (lesson 07,
`reference_spread`).

usage: python experiments/quick_spread.py OUT.csv FOLDER:THREADS [FOLDER:THREADS ...]
Each FOLDER holds run folders (config.json, final.json), e.g. results/quick/quick-seed0; THREADS is the number of
CPU threads the runs were made with (`OMP_NUM_THREADS`; newer run folders also record it in config.json).
"""
import json, sys
from pathlib import Path
import pandas as pd

METHOD = {'sup': 'supervised', 'uda': 'UDA'}          # the names of `results_table` (lesson 07)


def rows(folder: Path, threads: int):
    for final in sorted(folder.glob('*/final.json')):
        run = final.parent
        f, c = json.loads(final.read_text()), json.loads((run/'config.json').read_text())
        recorded = c['environment'].get('threads')
        if recorded is not None and recorded != threads:
            sys.exit(f"{run}: config.json records {recorded} threads, the command line says {threads}")
        yield dict(run=str(run), model=f['model'], method=METHOD[f['method']], seed=f['seed'], threads=threads, steps=f['steps'],
                   test_acc=f['test_acc'], test_acc_ema=f['test_acc_ema'], train_wall_s=f['train_wall_s'],
                   git_commit=(c['environment'].get('git_commit') or '')[:7])


def main(argv):
    if len(argv) < 2 or not argv[0].endswith('.csv'): sys.exit(__doc__)
    out, df = Path(argv[0]), []
    for arg in argv[1:]:
        folder, _, threads = arg.rpartition(':')
        if not Path(folder).is_dir() or not threads.isdigit(): sys.exit(f"{arg}: expected FOLDER:THREADS with an existing folder")
        df += list(rows(Path(folder), int(threads)))
    df = pd.DataFrame(df).sort_values(['model', 'method', 'seed', 'threads'], ascending=[False, False, True, True])
    df.to_csv(out, index=False)
    g = df.groupby(['model', 'method'], sort=False).test_acc_ema
    spread = pd.DataFrame(dict(runs=g.size(), splits=df.groupby(['model', 'method'], sort=False).seed.nunique(),
                               ema_min=g.min(), ema_max=g.max())).reset_index()
    split0 = df[df.seed == 0].groupby(['model', 'method', 'threads'], sort=False).test_acc_ema.first().unstack()
    split0.columns = [f'split 0, {t} thread{"s" if t > 1 else ""}' for t in split0.columns]
    table = spread.merge(split0.reset_index(), on=['model', 'method'], how='left')
    md = (f"# Spread of the quick preset's runs\n\nEMA test accuracy on all 10,000 test images; one row per model and method over the run "
          f"folders listed in `{out.name}`. Made by `python experiments/quick_spread.py {' '.join(argv)}`.\n\n"
          + table.astype(object).where(table.notna(), None).to_markdown(index=False, floatfmt='.4f', missingval='–') + '\n')
    out.with_suffix('.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main(sys.argv[1:])
