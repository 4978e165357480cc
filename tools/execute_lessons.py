"""Execute the lessons in place, in full mode, so that they are committed with their outputs (`make lessons`).

Each notebook of `nbs/` (or the ones named) runs top to bottom in a fresh kernel, from `nbs/` as working directory, with
`IN_TEST` and `UDA_FAST` removed from the environment (full mode: lessons whose full runs would take hours read the
committed results instead, and say so). Widget state is stored, so a saved explorer still renders in JupyterLab.
A notebook is written only when every cell ran; it is written cleaned by `nbdev_clean` (so `.ci/check-sync` passes) and
gets a note under its title: when, from which commit, on what machine and in how long it was executed.

    python tools/execute_lessons.py [NOTEBOOK ...] [--timeout SECONDS] [--jobs N]

Prints one line per notebook (seconds, size) and the total wall time; a run of every lesson also writes them to
`results/lessons_executed.txt` (`--times FILE` to choose).
"""
import argparse, math, os, platform, queue, re, subprocess, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

root = Path(__file__).resolve().parents[1]
TIMES = root/'results'/'lessons_executed.txt'  # what a run of every lesson printed
NOTE_ID = 'executed'  # the id of the note cell, so that re-executing replaces it instead of adding a second one

def machine() -> str:
    "Platform, CPU model and core count, e.g. 'Linux x86_64, AMD EPYC, 2 CPU cores'."
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} CPU cores"

def commit(path: Path | None = None) -> str:
    """Short commit of the checkout, with '+ uncommitted changes' when the library, the scripts, the committed results or
    this lesson's own cells (sources, not outputs) differ from it; other lessons' fresh outputs do not count."""
    git = lambda *a: subprocess.run(['git', *a], cwd=root, capture_output=True, text=True).stdout.strip()
    sha = git('rev-parse', '--short', 'HEAD') or 'unknown'
    dirty = bool(git('status', '--porcelain', '--', 'uda_course', 'experiments', 'results', 'tools'))
    if path is not None:  # a lesson
        committed = git('show', f"HEAD:{path.relative_to(root).as_posix()}") if path.is_relative_to(root) else ''
        sources = lambda nb: [(c.cell_type, c.source) for c in nb.cells if c.get('id') != NOTE_ID]
        try: dirty = dirty or sources(nbformat.reads(committed, as_version=4)) != sources(nbformat.read(path, as_version=4))
        except Exception: dirty = True  # not committed yet
    return f"`{sha}`" + (' + uncommitted changes' if dirty else '')

def note(seconds: float, threads: int, source: str) -> str:
    import torch
    when = datetime.now(timezone.utc).strftime('%Y-%m-%d')
    return (f"*Executed on {when} from commit {source} on {machine()} (torch {torch.__version__}, "
            f"{threads} thread{'s' * (threads > 1)}), in {seconds:.0f} s, in full mode. "
            "`make lessons` re-executes every lesson in place; `make test` runs them in fast mode and changes no file.*")

def set_note(nb, text: str):
    "Put the note right under the title (the first Markdown cell that starts with '# '), replacing an older one."
    nb.cells = [c for c in nb.cells if c.get('id') != NOTE_ID]
    cell = nbformat.v4.new_markdown_cell(text); cell['id'] = NOTE_ID
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == 'markdown' and c.source.lstrip().startswith('# ')), 0)
    nb.cells.insert(title + 1, cell)  # a lesson starts with its `#| default_exp` cell, then the title

def sliced(get_msg, slice_s: float = 1.0):
    """`get_msg(timeout)` of a kernel channel, polled in slices of at most `slice_s` seconds up to the same deadline.
    nbclient waits for a cell's reply in one poll of the shell socket, and the Output widget of an `interact` sends on
    that socket meanwhile (nbclient issue 312): a reply that arrives then can go unnoticed until the cell's whole timeout
    ends. A fresh poll every second sees it. Raises `queue.Empty`, as `get_msg` does, when the deadline passes."""
    async def get(timeout=None):
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try: return await get_msg(timeout=max(0.0, min(slice_s, left)))
            except queue.Empty:
                if left <= slice_s: raise
    return get

class Client(NotebookClient):
    "nbclient's NotebookClient, with the shell channel polled in slices (`sliced`)."
    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        kc.shell_channel.get_msg = sliced(kc.shell_channel.get_msg)
        return kc

def last_seconds(path: Path) -> float:
    "Seconds of the lesson's last full run, read from its note (inf when it has none), so the longest start first."
    try: nb = nbformat.read(path, as_version=4)
    except Exception: return math.inf
    m = next((re.search(r'in (\d+) s, in full mode', c.source) for c in nb.cells if c.get('id') == NOTE_ID), None)
    return float(m.group(1)) if m else math.inf

SKIP = re.compile(r'^#\|\s*eval:\s*false', re.M)  # cells nbdev_test leaves unrun (e.g. the index's example run)

def execute(path: Path, timeout: int, threads: int = 0) -> float:
    "Execute `path` in place (`threads` > 0: torch's thread count in the kernel); raises, leaving the file as it was, when a cell fails."
    import torch
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ('IN_TEST', 'UDA_FAST')}
    if threads: env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    t0, source = time.time(), commit(path)  # the code the kernel imports is the code of this moment
    log = lambda cell, cell_index, **_: print(f"  {path.name} cell {cell_index} at {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    skipped = [i for i, c in enumerate(nb.cells) if c.cell_type == 'code' and SKIP.search(c.source)]
    for i in skipped: nb.cells[i].cell_type = 'raw'  # nbclient runs code cells only
    Client(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}},
                   store_widget_state=True, on_cell_start=log).execute(env=env)  # the kernel gets exactly this environment
    for i in skipped: nb.cells[i].cell_type = 'code'
    seconds = time.time() - t0
    set_note(nb, note(seconds, threads or torch.get_num_threads(), source))
    # write next to the lesson, clean it as nbdev_clean would, then rename: an interrupted run never leaves half a notebook
    with tempfile.NamedTemporaryFile('w', dir=path.parent, prefix='.executing-', suffix='.ipynb', delete=False, encoding='utf-8') as f:
        nbformat.write(nb, f)
    try:
        subprocess.run([Path(sys.executable).parent/'nbdev_clean', '--fname', f.name], cwd=root, check=True)
        os.replace(f.name, path)
    finally: Path(f.name).unlink(missing_ok=True)
    return seconds

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', help='notebooks to execute (default: every nbs/*.ipynb)')
    ap.add_argument('--timeout', type=int, default=3600, help='seconds one cell may run')
    ap.add_argument('--jobs', type=int, default=1, help='lessons executed at once, each kernel with one thread when > 1')
    ap.add_argument('--times', type=Path, default=None,
                    help=f'file for the printed lines (default: {TIMES.relative_to(root)} when every lesson runs, else none)')
    a = ap.parse_args(argv)
    if a.jobs < 1: sys.exit(f"--jobs must be at least 1, got {a.jobs}")
    paths = [Path(p).resolve() for p in a.notebooks] or sorted((root/'nbs').glob('*.ipynb'))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing: sys.exit(f"no such notebook: {', '.join(missing)}")
    times = a.times or (None if a.notebooks else TIMES)
    t0, failed, lines = time.time(), [], []
    def say(line): lines.append(line.splitlines()[0]); print(line, flush=True)  # the file: a line per lesson
    def report(p, run):
        try: say(f"{p.name}: {run():.0f} s, {p.stat().st_size / 1e3:.0f} kB")
        except Exception as e:  # keep going: the other lessons are independent
            failed.append(p.name); say(f"{p.name}: FAILED, left unchanged ({type(e).__name__}: {str(e)[:2000]})")
    if a.jobs == 1:
        for p in paths: report(p, lambda: execute(p, a.timeout))
    else:
        with ProcessPoolExecutor(a.jobs) as pool:  # one process per lesson at a time; each starts its own kernel
            jobs = {pool.submit(execute, p, a.timeout, 1): p for p in sorted(paths, key=last_seconds, reverse=True)}
            for job in as_completed(jobs): report(jobs[job], job.result)
    say(f"total: {time.time() - t0:.0f} s wall for {len(paths)} notebooks, {sum(p.stat().st_size for p in paths) / 1e6:.2f} MB"
        + (f"; failed: {', '.join(failed)}" if failed else ''))
    if times:
        when = datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
        head = (f"# tools/execute_lessons.py --jobs {a.jobs} (`make lessons`), {when}, commit {commit()}, {machine()}:\n"
                "# seconds of each lesson in full mode and the size of the saved notebook, in the order they ended, then the wall time\n")
        times.write_text(head + '\n'.join(lines) + '\n')
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
