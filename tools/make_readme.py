"""Write README.md from nbs/index.ipynb (quarto, which nbdev_readme needs, cannot be installed here).

Markdown cells are copied as they are; code cells become ```python blocks; cells marked `#| hide` are skipped, and so is
the note that `make lessons` puts under the title (cell id `executed`: when and where the notebook was executed).
A markdown line `<!-- include: PATH -->` (PATH relative to the repository root) is replaced by that file's text (less its `# ` title line, if any), so the
README's results tables are the very files the runs wrote (results/...).
Relative links and images, written relative to `nbs/` as the notebook needs them (`04_uda.ipynb`, `../results/x.png`),
are made relative to the repository root, where README.md lives (`nbs/04_uda.ipynb`, `results/x.png`); code and included files are left alone.
`--check` exits 1 when README.md is not what index.ipynb gives (used by .ci/check-sync).
"""
import sys
from pathlib import Path
import posixpath, re
import nbformat

root = Path(__file__).resolve().parents[1]

def included(path: Path) -> str:
    "The text of an included file, without its own title line (`# ...`), which would break the README's outline."
    text = path.read_text().strip()
    return re.sub(r'\A# [^\n]*\n+', '', text)

_LINK = re.compile(r'(\]\(<?|\b(?:src|href)=["\'])([^)\s"\'>]+)')   # [text](url), ![alt](url), src="url", href='url'
_CODE = re.compile(r'(```.*?```|`[^`\n]*`)', re.S)

def relink(md: str) -> str:
    "Links of a markdown cell of nbs/index.ipynb made relative to the repository root; code spans and blocks unchanged."
    def fix(m):
        url = m[2]
        if re.match(r'[a-zA-Z][\w+.-]*:|[#/]', url): return m[0]          # http:, mailto:, #anchor, /absolute
        path, sep, frag = url.partition('#')
        return m[1] + posixpath.normpath('nbs/' + path) + sep + frag
    return ''.join(part if i % 2 else _LINK.sub(fix, part) for i, part in enumerate(_CODE.split(md)))

def render() -> str:
    nb = nbformat.read(root/'nbs'/'index.ipynb', as_version=4)
    parts = []
    for c in nb.cells:
        src = c.source.strip()
        if not src or c.get('id') == 'executed' or src.startswith('#| hide') or src.startswith('#|hide'): continue
        if c.cell_type == 'code': src = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if c.cell_type == 'markdown': src = re.sub(r'<!-- include: (\S+) -->', lambda m: included(root/m[1]), relink(src))
        parts.append(src if c.cell_type == 'markdown' else f"```python\n{src}\n```")
    return '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), root/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            print('README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`'); sys.exit(1)
        print('README.md matches nbs/index.ipynb')
    else: readme.write_text(text)
