"""How much the runs of one preset vary. One row per committed run (model, method, label split,
run_seed, CPU threads, test accuracy raw and EMA, training time, commit) goes to OUT.csv, where OUT
is `results/<preset>/spread`. OUT.md gets, as Markdown: each row's mean over splits with both
spreads (`runs_summary`), the reruns (runs of one row on one label split) and the band a run of
split 0 is held to (`rerun_tolerance`, `run_band`), all from lesson 07.
`uda_reproduce --preset <preset>` prints a user's run beside OUT.csv
(lesson 07, `reference_spread`).

usage: python experiments/spread.py results/PRESET/spread.csv RUNS:THREADS [RUNS:THREADS ...]
RUNS is a run folder (config.json, final.json) or a folder of run folders, e.g.
results/quick/quick-seed0; THREADS is the number of CPU threads the runs were made with
(`OMP_NUM_THREADS`; newer run folders also record it in config.json), or ? when not recorded.
It only reads files, so it takes seconds.
"""
import json, sys
from pathlib import Path
import pandas as pd
from uda_course.experiment import rerun_tolerance, run_band, runs_summary

METHOD = {'sup': 'supervised', 'uda': 'UDA'}          # the names of `results_table` (lesson 07)


def rows(folder: Path, threads):
    finals = [folder/'final.json'] if (folder/'final.json').exists() else sorted(
        folder.glob('*/final.json'))
    for final in finals:
        run = final.parent
        f, c = json.loads(final.read_text()), json.loads((run/'config.json').read_text())
        env = c['environment']
        recorded = env.get('threads')
        if recorded is not None and threads is not None and recorded != threads:
            sys.exit(f"{run}: config.json records {recorded} threads, "
                     f"the command line says {threads}")
        yield dict(run=str(run), model=f['model'], method=METHOD[f['method']], seed=f['seed'],
                   run_seed=c['config'].get('run_seed', 0),
                   threads=threads if threads is not None else recorded, steps=f['steps'],
                   test_acc=f['test_acc'], test_acc_ema=f['test_acc_ema'],
                   train_wall_s=f['train_wall_s'], git_commit=(env.get('git_commit') or '')[:7])


def md_table(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, floatfmt='.4f')


def main(argv):
    if len(argv) < 2 or not argv[0].endswith('spread.csv'): sys.exit(__doc__)
    out, df = Path(argv[0]), []
    preset = out.parent.name
    for arg in argv[1:]:
        folder, _, threads = arg.rpartition(':')
        if not Path(folder).is_dir() or not (threads.isdigit() or threads == '?'):
            sys.exit(f"{arg}: expected RUNS:THREADS with an existing folder, THREADS a number or ?")
        df += list(rows(Path(folder), int(threads) if threads.isdigit() else None))
    df = pd.DataFrame(df).sort_values(['model', 'method', 'seed', 'threads', 'run'],
                                      ascending=[False, False, True, True, True], kind='stable')
    df['threads'] = df.threads.astype('Int64')
    df.to_csv(out, index=False)
    summary = runs_summary(df)[['model', 'method', 'runs', 'splits', 'mean', 'sd_splits',
                                'rerun_gap', 'lowest_split']].rename(columns={
        'mean': 'mean over splits', 'sd_splits': 'sd over splits',
        'rerun_gap': 'largest gap, one split', 'lowest_split': 'lowest split'})
    # every split-0 run, by thread count: '0.9435, 0.9435' ('–' when none)
    split0 = (df[df.seed == 0].assign(threads=df.threads.map(lambda t: '?' if pd.isna(t)
                                                              else str(int(t))))
              .groupby(['model', 'method', 'threads'], sort=False).test_acc_ema
              .agg(lambda a: ', '.join(f'{x:.4f}' for x in a)).unstack())
    split0.columns = [f'split 0, {t} thread{"" if t == "1" else "s"}' if t != '?'
                      else 'split 0, threads not recorded' for t in split0.columns]
    for c in ['mean over splits', 'sd over splits', 'largest gap, one split', 'lowest split']:
        summary[c] = summary[c].map(lambda x: '–' if pd.isna(x) else f'{x:.4f}')
    table = summary.merge(split0.reset_index(), on=['model', 'method'], how='left').fillna('–')
    tol = rerun_tolerance(df).rename(columns={'set_by': 'set by'})
    band = run_band(df, 0)[['model', 'method', 'committed', 'tolerance', 'band']].rename(
        columns={'committed': 'committed, split 0'})
    md = (f"# Spread of the {preset} preset's runs\n\n"
          f"EMA test accuracy on all 10,000 test images; one row per model and method over the "
          f"runs listed in `{out.name}`. Made by\n\n"
          f"```\n.venv/bin/python experiments/spread.py {' '.join(argv)}\n```\n\n"
          "which only reads the run folders' `config.json` and `final.json`. The mean over "
          "splits averages each split's runs first (`runs_summary`, lesson 07).\n\n"
          + md_table(table) + '\n\n'
          "**Reruns: one row, one label split.** Runs of one row on one label split differ only "
          "in what a user does not choose: the thread count, the commit (when it leaves results "
          "unchanged), the machine, or `run_seed`. Per method, the largest difference between "
          "such runs is the tolerance (`rerun_tolerance`, lesson 07):\n\n"
          + md_table(tol) + '\n\n'
          "**The band a run of split 0 is held to:** the committed runs of split 0, widened on "
          "each side by the tolerance of the row's method (`run_band`, lesson 07). "
          f"`uda_reproduce --preset {preset}` prints a run beside it:\n\n"
          + md_table(band) + '\n')
    out.with_suffix('.md').write_text(md)
    print(md)


if __name__ == '__main__':
    main(sys.argv[1:])
