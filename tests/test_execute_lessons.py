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

def run(*paths):
    return subprocess.run([sys.executable, TOOL, *map(str, paths)], cwd=root, capture_output=True, text=True, timeout=600)

@pytest.fixture(scope='module')
def executed(tmp_path_factory):
    d = tmp_path_factory.mktemp('lessons')
    ok = lesson(d/'ok.ipynb', "import os; print('fast' if os.environ.get('IN_TEST') else 'full')", '#| eval: false\nprint("never")', '6 * 7')
    bad = lesson(d/'bad.ipynb', "print('first')", "raise ValueError('broken cell')")
    bad_before = bad.read_bytes()
    r = run(ok, bad)
    nb = nbformat.read(ok, as_version=4)
    rerun = run(ok)
    return r, nb, bad.read_bytes() == bad_before, rerun, nbformat.read(ok, as_version=4)

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

def test_a_failing_lesson_is_left_unchanged_and_reported(executed):
    r, _, unchanged, *_ = executed
    assert unchanged
    assert 'bad.ipynb: FAILED' in r.stdout and 'broken cell' in r.stdout and r.returncode == 1

def test_rerun_replaces_the_note(executed):
    *_, rerun, nb = executed
    assert rerun.returncode == 0 and [c['id'] for c in nb.cells].count('executed') == 1

def test_missing_notebook_is_refused_before_any_work(tmp_path):
    r = run(tmp_path/'nope.ipynb')
    assert r.returncode != 0 and 'no such notebook' in r.stderr
