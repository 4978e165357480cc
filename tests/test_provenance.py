import re, shutil, subprocess
import pytest, torch
from uda_course.experiment import environment_info

@pytest.mark.skipif(shutil.which('git') is None, reason='git not installed')
def test_run_folders_record_commit_and_dirty_flag():
    "Run from this checkout, a run folder records the checkout's HEAD and whether tracked files differ from it."
    env = environment_info(torch.device('cpu'))
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], capture_output=True, text=True).stdout.strip())
    assert re.fullmatch(r'[0-9a-f]{40}', env['git_commit']) and env['git_commit'] == head
    assert env['git_dirty'] is dirty
