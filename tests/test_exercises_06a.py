"""The answers to the exercises of lesson 06a (Where a run came from: the commit in every run folder) that have a definite
answer, checked, so that no exercise is wrong: each test names its exercise number and holds the hand-derived value.
The tests build a throwaway git repository, so their answers do not depend on the state of this checkout."""
import json, os, shutil, subprocess
import pytest
from uda_course.provenance import freeze_copy, provenance, source_digest


def git(repo, *args):
    return subprocess.run(['git', '-C', str(repo), '-c', 'user.name=kit', '-c', 'user.email=kit@example.com', *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    "A throwaway git repository with one committed package, pkg/ (__init__.py and core.py). Returns (package folder, HEAD)."
    if shutil.which('git') is None: pytest.skip('needs git')
    r = tmp_path/'repo'; (r/'pkg').mkdir(parents=True)
    (r/'pkg'/'__init__.py').write_text('')
    (r/'pkg'/'core.py').write_text('def f(): return 1\n')
    git(r, 'init', '-q'); git(r, 'add', '.'); git(r, 'commit', '-q', '-m', 'pkg')
    return r/'pkg', git(r, 'rev-parse', 'HEAD')


def test_l06a_ex1_three_answers_to_one_question(repo, tmp_path):
    pkg, head = repo
    assert provenance(pkg) == dict(git_commit=head, git_dirty=False, git_source='git')
    plain = shutil.copytree(pkg, tmp_path/'plain'/'pkg')                       # outside any repository, no stamp
    assert provenance(plain) == dict(git_commit=None, git_dirty=None, git_source=None)
    frozen = freeze_copy(tmp_path/'frozen', src=pkg)
    assert provenance(frozen) == dict(git_commit=head, git_dirty=False, git_source='stamp')


def test_l06a_ex2_what_the_digest_sees(repo, tmp_path):
    pkg, _ = repo
    def changes(edit):
        "(digest changed, copy reports dirty) after `edit` of a fresh frozen copy."
        copy = freeze_copy(tmp_path/edit.__name__, src=pkg); before = source_digest(copy)
        edit(copy)
        return source_digest(copy) != before, provenance(copy)['git_dirty']
    def comment(c): (c/'core.py').write_text((c/'core.py').read_text() + '# a comment\n')
    def touch(c): st = (c/'core.py').stat(); os.utime(c/'core.py', (st.st_atime + 100, st.st_mtime + 100))
    def notes(c): (c/'notes.txt').write_text('a note\n')
    def rename(c): (c/'core.py').rename(c/'core2.py')
    def pycache(c): (c/'__pycache__').mkdir(); (c/'__pycache__'/'core.cpython-311.pyc').write_bytes(b'\0' * 16)
    assert [changes(e) for e in (comment, touch, notes, rename, pycache)] == [(True, True), (False, False), (False, False), (True, True), (False, False)]


def test_l06a_ex3_untracked_and_staged_files(repo, tmp_path):
    pkg, head = repo
    (pkg/'extra.py').write_text('def g(): return 2\n')                          # untracked: git status --untracked-files=no
    assert provenance(pkg) == dict(git_commit=head, git_dirty=False, git_source='git')
    frozen = freeze_copy(tmp_path/'frozen', src=pkg)
    assert (frozen/'extra.py').exists()                                        # the copy runs code no commit holds ...
    assert provenance(frozen) == dict(git_commit=head, git_dirty=False, git_source='stamp')   # ... and says clean
    git(pkg.parent, 'add', 'pkg/extra.py')                                     # staged, not committed: a tracked change
    assert provenance(pkg)['git_dirty'] is True


def test_l06a_ex4_a_copy_of_an_edited_copy(repo, tmp_path):
    pkg, head = repo
    first = freeze_copy(tmp_path/'first', src=pkg)
    (first/'core.py').write_text((first/'core.py').read_text() + '# edited in the copy\n')
    second = freeze_copy(tmp_path/'second', src=first)
    assert source_digest(second) == json.loads((second/'_stamp.json').read_text())['source_digest']   # matches its own stamp
    assert provenance(second) == dict(git_commit=head, git_dirty=True, git_source='stamp')          # dirty all the same
    with pytest.raises(FileExistsError): freeze_copy(tmp_path/'second', src=first)                  # nothing overwritten
