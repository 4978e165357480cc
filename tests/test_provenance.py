import json, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path
import pytest, torch
from uda_course.experiment import environment_info
from uda_course.provenance import PACKAGE_DIR, freeze_copy, git_state, provenance, source_digest

REPO = PACKAGE_DIR.parent
needs_git = pytest.mark.skipif(shutil.which('git') is None or not (REPO/'.git').exists(), reason='needs git and a git checkout')

def _git(*a): return subprocess.run(['git', '-C', str(REPO), *a], capture_output=True, text=True).stdout.strip()
def _head(): return _git('rev-parse', 'HEAD')
def _dirty(): return bool(_git('status', '--porcelain', '--untracked-files=no'))

def _env_from(folder):
    "environment_info as a fresh process that imports the library from `folder` records it in a run folder."
    code = 'import json, torch; from uda_course.experiment import environment_info; print(json.dumps(environment_info(torch.device("cpu"))))'
    out = subprocess.run([sys.executable, '-c', code], cwd=folder, env={**os.environ, 'PYTHONPATH': str(folder)},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])

@needs_git
def test_run_folders_record_commit_and_dirty_flag():
    "Run from this checkout, a run folder records the checkout's HEAD and whether tracked files differ from it."
    env = environment_info(torch.device('cpu'))
    assert re.fullmatch(r'[0-9a-f]{40}', env['git_commit']) and env['git_commit'] == _head()
    assert env['git_dirty'] is _dirty() and env['git_source'] == 'git'

@needs_git
def test_frozen_copy_records_commit_then_dirty_after_an_edit(tmp_path):
    "A plain copy has no .git: the stamp written by freeze_copy gives the commit, and an edit made to the copy afterwards marks it dirty."
    copy = freeze_copy(tmp_path)
    assert not (REPO/'uda_course'/'_stamp.json').exists()            # the source is not touched
    env = _env_from(tmp_path)
    assert env['git_source'] == 'stamp' and env['git_commit'] == _head() and env['git_dirty'] is _dirty()
    (copy/'uda.py').write_text((copy/'uda.py').read_text() + '\n# edited in the copy\n')
    env = _env_from(tmp_path)
    assert env['git_commit'] == _head() and env['git_dirty'] is True

def test_unstamped_copy_says_unknown(tmp_path):
    "A copy without a stamp records None for all three fields, never a guess."
    shutil.copytree(PACKAGE_DIR, tmp_path/'uda_course', ignore=shutil.ignore_patterns('__pycache__', '_stamp.json'))
    assert provenance(tmp_path/'uda_course') == dict(git_commit=None, git_dirty=None, git_source=None)

@needs_git
def test_copy_in_an_untracked_folder_of_a_checkout_is_not_given_its_head():
    "A copy placed inside a checkout but not tracked by it (e.g. under runs/) is not described by that checkout's HEAD."
    tmp = Path(tempfile.mkdtemp(prefix='.prov-test-', dir=REPO))
    try:
        shutil.copytree(PACKAGE_DIR, tmp/'uda_course', ignore=shutil.ignore_patterns('__pycache__', '_stamp.json'))
        assert git_state(tmp/'uda_course') == (None, None)
        assert provenance(tmp/'uda_course')['git_commit'] is None
    finally: shutil.rmtree(tmp)

def test_digest_sees_edits_and_ignores_caches(tmp_path):
    pkg = tmp_path/'pkg'; pkg.mkdir(); (pkg/'a.py').write_text('x = 1\n')
    d = source_digest(pkg)
    (pkg/'__pycache__').mkdir(); (pkg/'__pycache__'/'a.cpython.pyc').write_bytes(b'\0'); (pkg/'_stamp.json').write_text('{}')
    assert source_digest(pkg) == d
    (pkg/'a.py').write_text('x = 2\n')
    assert source_digest(pkg) != d

@needs_git
def test_built_package_is_stamped(tmp_path):
    "setup.py's build_py (what pip runs to build a wheel) writes the stamp into the built package, whose digest matches the source."
    subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib', str(tmp_path)], cwd=REPO, check=True, capture_output=True)
    stamp = json.loads((tmp_path/'uda_course'/'_stamp.json').read_text())
    assert stamp['git_commit'] == _head() and stamp['git_dirty'] is _dirty()
    assert provenance(tmp_path/'uda_course') == dict(git_commit=_head(), git_dirty=_dirty(), git_source='stamp')


def test_editable_install_builds_without_a_stamp_error(tmp_path):
    "An editable install (`pip install -e .`, what `make install` does) runs build_py in editable mode with no built package to stamp: it must not fail on `_stamp.json` (setuptools used to silence that error with a warning)."
    r = subprocess.run([sys.executable, 'setup.py', '-q', 'editable_wheel', '--dist-dir', str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '_stamp.json' not in r.stdout + r.stderr
    assert list(tmp_path.glob('*.whl'))
