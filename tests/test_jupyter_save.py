"Opening a lesson in JupyterLab and saving it untouched must leave the clone unchanged (the pre-save hook that `make install` configures)."
import json, shutil
from pathlib import Path

import pytest
from jupyter_server.services.contents.filemanager import FileContentsManager

root = Path(__file__).resolve().parents[1]
LESSONS = sorted(p.name for p in (root/'nbs').glob('*.ipynb'))
HOOK = json.loads((root/'tools'/'jupyter'/'jupyter_server_config.json').read_text())['ContentsManager']['pre_save_hook']

def save_as_jupyterlab_does(cm, path):
    "What JupyterLab changes in an untouched notebook once a kernel has started: the kernel's display name and language_info."
    model = cm.get(path)
    md = model['content'].metadata
    md['kernelspec'] = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}
    md['language_info'] = {'codemirror_mode': {'name': 'ipython', 'version': 3}, 'file_extension': '.py', 'mimetype': 'text/x-python',
                           'name': 'python', 'nbconvert_exporter': 'python', 'pygments_lexer': 'ipython3', 'version': '3.11.7'}
    cm.save(model, path)

@pytest.fixture
def clone(tmp_path, monkeypatch):
    "A copy of settings.ini and the lessons; the hook finds settings.ini from the notebook's path, relative to the server's directory."
    shutil.copy(root/'settings.ini', tmp_path)
    shutil.copytree(root/'nbs', tmp_path/'nbs', ignore=shutil.ignore_patterns('.*'))
    monkeypatch.chdir(tmp_path)
    return tmp_path

@pytest.mark.parametrize('name', LESSONS)
def test_saving_an_untouched_lesson_changes_no_byte(clone, name):
    cm = FileContentsManager(root_dir=str(clone), pre_save_hook=HOOK)
    before = (clone/'nbs'/name).read_bytes()
    save_as_jupyterlab_does(cm, f'nbs/{name}')
    assert (clone/'nbs'/name).read_bytes() == before

def test_without_the_hook_the_lesson_changes(clone):
    "The property above is not vacuous: without the hook, the same save rewrites the file."
    cm = FileContentsManager(root_dir=str(clone))
    before = (clone/'nbs'/LESSONS[0]).read_bytes()
    save_as_jupyterlab_does(cm, f'nbs/{LESSONS[0]}')
    assert (clone/'nbs'/LESSONS[0]).read_bytes() != before

def test_hook_is_on_in_settings():
    "nbdev's hook does nothing unless settings.ini turns it on."
    assert 'jupyter_hooks = True' in (root/'settings.ini').read_text()
