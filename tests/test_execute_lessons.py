"`make lessons` (tools/execute_lessons.py): outputs and a note on success, the file untouched on failure, `#| eval: false` skipped."
import json, subprocess, sys
from pathlib import Path

import nbformat
import pytest

root = Path(__file__).resolve().parents[1]
TOOL = root/'tools'/'execute_lessons.py'

def lesson(path: Path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'display_name': 'python3', 'language': 'python', 'name': 'python3'}
    nb.cells = [nbformat.v4.new_markdown_cell('# A lesson')] + [nbformat.v4.new_code_cell(s) for s in sources]
    for i, c in enumerate(nb.cells): c['id'] = f'c{i}'
    nbformat.write(nb, path)
    return path

def run(*paths, times=None):
    extra = ['--times', str(times)] if times else []
    return subprocess.run([sys.executable, TOOL, *map(str, paths), *extra], cwd=root, capture_output=True, text=True, timeout=600)

@pytest.fixture(scope='module')
def executed(tmp_path_factory):
    d = tmp_path_factory.mktemp('lessons')
    ok = lesson(d/'ok.ipynb', "import os; print('fast' if os.environ.get('IN_TEST') else 'full')", '#| eval: false\nprint("never")', '6 * 7')
    bad = lesson(d/'bad.ipynb', "print('first')", "raise ValueError('broken cell')")
    bad_before = bad.read_bytes()
    r = run(ok, bad, times=d/'times.txt')
    nb = nbformat.read(ok, as_version=4)
    rerun = run(ok)
    return r, nb, bad.read_bytes() == bad_before, rerun, nbformat.read(ok, as_version=4), (d/'times.txt').read_text()

def test_times_file_holds_what_was_printed(executed):
    r, *_, times = executed
    lines = [l for l in times.splitlines() if not l.startswith('#')]
    assert lines == [l for l in r.stdout.splitlines() if l.startswith(('ok.ipynb', 'bad.ipynb', 'total'))] and lines[-1].startswith('total: ') and 'failed: bad.ipynb' in lines[-1]
    assert sorted(l.split(':')[0] for l in lines[:-1]) == ['bad.ipynb', 'ok.ipynb']

def test_outputs_of_a_full_mode_run(executed):
    r, nb, *_ = executed
    assert 'ok.ipynb:' in r.stdout, r.stdout + r.stderr
    first, skipped, last = nb.cells[2:]
    assert first.outputs[0]['text'] == 'full\n'        # IN_TEST removed: full mode even under nbdev_test / pytest
    assert skipped.outputs == []                      # `#| eval: false` stays unrun
    assert last.outputs[0]['data']['text/plain'] == '42'
    assert all(c.get('execution_count') is None for c in nb.cells if c.cell_type == 'code')  # written clean

def test_note_under_the_title(executed):
    _, nb, *_ = executed
    assert nb.cells[1]['id'] == 'executed' and nb.cells[1].source.startswith('*Executed on ')
    assert 'CPU cores' in nb.cells[1].source and ' s, in full mode' in nb.cells[1].source

def test_note_under_a_title_that_is_not_the_first_cell(tmp_path):
    "A lesson starts with its `#| default_exp` code cell; the note goes under the title, not above it (seen on the site)."
    m = tool()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('#| default_exp x'), nbformat.v4.new_markdown_cell('# 03 · A lesson\n\n> summary'),
                nbformat.v4.new_markdown_cell('text')]
    m.set_note(nb, 'first'); m.set_note(nb, 'second')
    assert [c.source for c in nb.cells] == ['#| default_exp x', '# 03 · A lesson\n\n> summary', 'second', 'text']

def test_a_failing_lesson_is_left_unchanged_and_reported(executed):
    r, _, unchanged, *_ = executed
    assert unchanged
    assert 'bad.ipynb: FAILED' in r.stdout and 'broken cell' in r.stdout and r.returncode == 1

def test_rerun_replaces_the_note(executed):
    *_, rerun, nb, _ = executed
    assert rerun.returncode == 0 and [c['id'] for c in nb.cells].count('executed') == 1

def test_missing_notebook_is_refused_before_any_work(tmp_path):
    r = run(tmp_path/'nope.ipynb')
    assert r.returncode != 0 and 'no such notebook' in r.stderr

def tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('execute_lessons', TOOL)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

def test_sliced_poll_sees_a_reply_a_long_poll_would_miss():
    "A reply that one long poll misses (nbclient issue 312) is found by the next one-slice poll, long before the cell's timeout."
    import asyncio, queue
    asked = []
    async def get_msg(timeout=None):
        asked.append(timeout)
        if len(asked) < 4: raise queue.Empty   # three slices see nothing, the fourth sees the reply
        return {'msg': 'reply'}
    got = asyncio.run(tool().sliced(get_msg, slice_s=0.01)(timeout=3600))
    assert got == {'msg': 'reply'} and len(asked) == 4
    assert all(t == 0.01 for t in asked)       # never one poll of 3600 s
    asked.clear()
    assert asyncio.run(tool().sliced(get_msg, slice_s=0.01)(timeout=None)) == {'msg': 'reply'}  # no timeout: slices forever

def test_sliced_poll_still_times_out():
    import asyncio, queue, time
    async def never(timeout=None):
        await asyncio.sleep(timeout); raise queue.Empty
    t0 = time.monotonic()
    with pytest.raises(queue.Empty): asyncio.run(tool().sliced(never, slice_s=0.05)(timeout=0.2))
    assert 0.15 < time.monotonic() - t0 < 1.0

def test_longest_lessons_start_first(tmp_path):
    m = tool()
    def noted(name, text):
        p = lesson(tmp_path/name, '1'); nb = nbformat.read(p, as_version=4); m.set_note(nb, text); nbformat.write(nb, p); return p
    slow, quick = noted('slow.ipynb', m.note(500, 1, '`abc`')), noted('quick.ipynb', m.note(3, 1, '`abc`'))
    new = lesson(tmp_path/'new.ipynb', '1')
    assert (m.last_seconds(slow), m.last_seconds(quick)) == (500, 3)
    assert sorted([quick, slow, new], key=m.last_seconds, reverse=True) == [new, slow, quick]  # never run: first
