"""Build the course website (lessons with their saved outputs + API reference) into `_site/`, offline.

    python tools/build_site.py [--nbs nbs] [--out _site]      # what `make site` runs

Tool: MkDocs + Material + mkdocs-jupyter + mkdocstrings (see mkdocs.yml for why). This file is both the glue and
the MkDocs hooks module (mkdocs.yml: `hooks:`). It never executes a notebook: the pages show the outputs that are
saved in the notebooks. Steps:

1. stage a docs folder in a temporary directory: each `nbs/*.ipynb` (nbdev directives applied: `#| hide` and
   `#| include: false` cells dropped, `#| echo: false` inputs and `#| output: false` outputs hidden, `#|` lines
   removed; `<!-- include: PATH -->` replaced by the file, as for the README; widget outputs, which need a live
   kernel, replaced by a note), the files that markdown cells link to (e.g. `../results/*.png`, copied under
   `assets/repo/`; nbconvert would strip a `files/` prefix), one API page per public module of `uda_course/` (`::: uda_course.MODULE`), `docs/` (CSS, MathJax
   config) and MathJax 3 itself, from the pip package `django-static-mathjax` (so math renders offline);
2. build with MkDocs, the navigation made from the staged pages;
3. hooks: links to `LESSON.ipynb[#section]` become `LESSON.html[#section]`, and a section anchor written the
   Jupyter way (`#The-UDA-loss`) is mapped to the id the page has (`#the-uda-loss`).
"""
from __future__ import annotations

import argparse, html, json, re, shutil, sys, tempfile, time
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_FILE = 'tex-svg-full.js'   # MathJax 3, every TeX extension inside, SVG output: one file, no fonts to fetch
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'
WIDGET_NOTE = ('<p class="widget-note"><strong>Interactive explorer.</strong> Its sliders need a running '
               'notebook: open this lesson in JupyterLab and run it to use them.</p>')

# ---------------------------------------------------------------- staging
_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_MD_LINK = re.compile(r'(\]\()(<?)([^)\s>]+)')                                 # [text](path "title")
_HTML_LINK = re.compile(r'''(\b(?:src|href)\s*=\s*)(["'])([^"']+)\2''')        # src="path", href='path'
_INCLUDE = re.compile(r'<!-- include: (\S+) -->')


def _directives(src: str):
    "nbdev/Quarto directives of a code cell (`#| name: value` lines at its top) and the source without them."
    dirs, lines = {}, src.splitlines()
    while lines and (m := _DIRECTIVE.match(lines[0])):
        dirs[m[1].lower()] = m[2].lower()
        lines.pop(0)
    lines = [l for l in lines if not re.search(r'#\s*\|\s*hide_line\s*$', l)]
    return dirs, '\n'.join(lines).strip('\n')


def _is_local(url: str) -> bool:
    return not (re.match(r'^[a-zA-Z][\w+.-]*:', url) or url.startswith(('#', '/', '//')))


def _included(path: Path) -> str:
    text = path.read_text().strip()
    return re.sub(r'\A# [^\n]*\n+', '', text)    # as tools/make_readme.py: no second page title


def _relink_assets(src: str, nb_dirs: list[Path], stage: Path) -> str:
    "Copy the local non-notebook files that a markdown cell links to into the staging folder and point at the copy."
    def fix(m):
        url = html.unescape(m[3])
        path, _, frag = url.partition('#')
        if not _is_local(url) or not path or path.endswith('.ipynb'): return m[0]
        for d in nb_dirs:
            f = (d/unquote(path)).resolve()
            if f.is_file():
                try: rel = f.relative_to(d.resolve())        # beside the notebooks: same place on the site
                except ValueError:
                    try: rel = Path('assets/repo')/f.relative_to(ROOT)   # elsewhere in the repository (../results/...)
                    except ValueError: return m[0]
                (stage/rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, stage/rel)
                return m[1] + m[2] + rel.as_posix() + ('#'+frag if frag else '')
        return m[0]          # left as it is: the site's link check reports it
    src = _MD_LINK.sub(fix, src)
    return _HTML_LINK.sub(lambda m: m[1] + m[2] + fix(re.match(r'()()(.*)', m[3], re.S)) + m[2], src)


def prepare_notebook(nb: dict, nb_dirs: list[Path], stage: Path) -> dict:
    "What nbdev's doc build does to a notebook before rendering, without executing it."
    cells = []
    widget_state = nb.get('metadata', {}).get('widgets', {}).get('application/vnd.jupyter.widget-state+json', {}).get('state', {})
    for c in nb.get('cells', []):
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'raw': continue                    # nbdev front matter / quarto raw cells
        if c['cell_type'] == 'markdown':
            src = _INCLUDE.sub(lambda m: _included(ROOT/m[1]) if (ROOT/m[1]).is_file() else m[0], src)
            c['source'] = _relink_assets(src, nb_dirs, stage)
            cells.append(c); continue
        dirs, body = _directives(src)
        if 'hide' in dirs or dirs.get('include') == 'false': continue
        if dirs.get('output') == 'false': c['outputs'] = []
        outs, noted = [], False
        for o in c.get('outputs', []):
            if WIDGET_MIME in o.get('data', {}):
                static = _static_widget(o['data'], widget_state)
                if static is not None:
                    outs.append({'output_type': 'display_data', 'metadata': {}, 'data': static}); continue
                if not noted:
                    outs.append({'output_type': 'display_data', 'metadata': {}, 'data': {'text/html': WIDGET_NOTE}})
                    noted = True
                continue
            outs.append(o)
        c['outputs'] = outs
        if not body.strip() and not outs: continue              # e.g. a `#| default_exp` cell
        c['source'] = body
        if dirs.get('echo') == 'false':
            c.setdefault('metadata', {}).setdefault('tags', []).append('site-hide-input')
        cells.append(c)
    nb['cells'] = cells
    nb.get('metadata', {}).pop('widgets', None)                # widget state would load a manager from a CDN
    return nb


_SHOWN_WIDGETS = {'HBoxModel', 'VBoxModel', 'BoxModel', 'HTMLModel', 'HTMLMathModel', 'LabelModel',
                  'FloatProgressModel', 'IntProgressModel'}


def _static_widget(data: dict, state: dict):
    """A display-only widget (e.g. a tqdm bar: HBox of HTML, FloatProgress, HTML) as HTML, from the widget state
    saved in the notebook; None for a widget one interacts with (sliders...), which needs a running kernel."""
    def render(mid):
        m = state.get(mid)
        if m is None or m.get('model_name') not in _SHOWN_WIDGETS: raise LookupError(mid)
        name, st = m['model_name'], m.get('state', {})
        if name.endswith('BoxModel'):
            kids = ''.join(render(k.removeprefix('IPY_MODEL_')) for k in st.get('children', []))
            return f'<div class="widget-box" style="display:flex;gap:0.5em;align-items:center;' \
                   f'flex-direction:{"column" if name == "VBoxModel" else "row"}">{kids}</div>'
        if name.endswith('ProgressModel'):
            return f'<progress value="{st.get("value", 0)}" max="{st.get("max", 100)}"></progress>'
        value = st.get('value', '')
        return f'<span>{value if name.startswith("HTML") else html.escape(value)}</span>'
    mid = data[WIDGET_MIME].get('model_id')
    if state:
        try: return {'text/html': render(mid)}
        except LookupError: return None
    text = ''.join(data.get('text/plain', ''))      # no saved state: the text the widget left, unless it is a repr
    if text and not re.match(r'^\s*(interactive|[A-Z]\w*(Box|Slider|Dropdown|Button))\(', text):
        return {'text/plain': text}
    return None


def public_modules(lib: Path = ROOT/'uda_course') -> list[str]:
    return sorted(p.stem for p in lib.glob('*.py') if not p.stem.startswith('_'))


def _module_summary(mod: str) -> str:
    "First line of the module docstring (nbdev puts the notebook's description there)."
    import ast
    doc = ast.get_docstring(ast.parse((ROOT/'uda_course'/f'{mod}.py').read_text())) or ''
    return doc.strip().splitlines()[0] if doc.strip() else ''


def _title(nb: dict, default: str) -> str:
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', ''.join(c['source']), re.M)
            if m: return re.sub(r'`|\*\*', '', m[1]).strip()      # plain text: no `code` or **bold** marks
    return default


def stage_docs(nbs: Path, stage: Path, api_pages: bool = True) -> list:
    "Fill `stage` with the pages and assets; return the MkDocs navigation."
    nb_dirs = [nbs] + ([ROOT/'nbs'] if nbs.resolve() != (ROOT/'nbs').resolve() else [])
    lessons, extra, home = [], [], None
    for f in sorted(nbs.glob('*.ipynb')):
        nb = prepare_notebook(json.loads(f.read_text()), nb_dirs, stage)
        (stage/f.name).write_text(json.dumps(nb))
        title = _title(nb, f.stem)
        if f.stem == 'index': home = f.name
        elif re.match(r'\d', f.stem):
            num = f.stem.split('_')[0]
            lessons.append({title if title.startswith(num) else f'{num} · {title}': f.name})
        else: extra.append({title: f.name})
    if (ROOT/'docs').is_dir(): shutil.copytree(ROOT/'docs', stage, dirs_exist_ok=True)
    api = [{'Overview': 'api/index.md'}]
    rows = ['# API reference', '',
            'Made from the docstrings of the `uda_course` package, which the lessons export '
            '(`nbdev_export`): the code here is the code in the lessons.', '',
            '| module | what it holds |', '|---|---|']
    (stage/'api').mkdir(exist_ok=True)
    for mod in (public_modules() if api_pages else []):
        (stage/'api'/f'{mod}.md').write_text(f'# uda_course.{mod}\n\n::: uda_course.{mod}\n')
        api.append({mod: f'api/{mod}.md'})
        rows.append(f'| [`uda_course.{mod}`]({mod}.md) | {_module_summary(mod)} |')
    (stage/'api'/'index.md').write_text('\n'.join(rows) + '\n')
    mj = _mathjax_dir()/MATHJAX_FILE
    (stage/'assets'/'mathjax').mkdir(parents=True, exist_ok=True)
    shutil.copy2(mj, stage/'assets'/'mathjax'/MATHJAX_FILE)
    shutil.copy2(mj.parent.parent/'LICENSE', stage/'assets'/'mathjax'/'LICENSE')
    return ([{'Home': home}] if home else []) + [{'Lessons': lessons}] + extra + [{'API reference': api}]


def _mathjax_dir() -> Path:
    try:
        import mathjax     # the `django-static-mathjax` package: MathJax 3's files, no Django needed
    except ImportError:
        sys.exit('MathJax is missing: `make install` (pip install -e ".[dev]") installs django-static-mathjax')
    return Path(mathjax.__file__).parent/'static'/'mathjax'/'es5'


def build(nbs: Path = ROOT/'nbs', out: Path = ROOT/'_site', quiet: bool = False, api_pages: bool = True) -> Path:
    from mkdocs.commands.build import build as mk_build
    from mkdocs.config import load_config
    import logging
    if quiet: logging.getLogger('mkdocs').setLevel(logging.WARNING)
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix='uda-site-') as tmp:
        stage = Path(tmp)/'docs'
        stage.mkdir()
        nav = stage_docs(Path(nbs), stage, api_pages)
        cfg = load_config(str(ROOT/'mkdocs.yml'), docs_dir=str(stage), site_dir=str(out), nav=nav)
        mk_build(cfg)
    return out


# ---------------------------------------------------------------- MkDocs hooks
_HREF = re.compile(r'''(\bhref\s*=\s*)(["'])([^"']*?\.ipynb)(#[^"']*)?\2''')


_HEADING = re.compile(r'<h([1-6])\b[^>]*?\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def _toc_from_headings(html_text: str, depth: int):
    "The page's table of contents made from its headings' own ids (mkdocs-jupyter's TOC can disagree with them)."
    from mkdocs.structure.toc import get_toc
    root, stack = [], []
    for m in _HEADING.finditer(html_text):
        level = int(m[1])
        if level > depth: continue
        name = html.unescape(re.sub(r'<[^>]+>', '', m[3])).rstrip('¶').strip()
        tok = {'level': level, 'id': m[2], 'name': name, 'children': []}
        while stack and stack[-1]['level'] >= level: stack.pop()
        (stack[-1]['children'] if stack else root).append(tok)
        stack.append(tok)
    return get_toc(root)


def on_page_content(html_text, page, config, files):
    "Links to another lesson's notebook point at its page; a lesson page's TOC links to its headings."
    def fix(m):
        if not _is_local(m[3]): return m[0]
        return m[1] + m[2] + m[3][:-len('.ipynb')] + '.html' + (m[4] or '') + m[2]
    html_text = _HREF.sub(fix, html_text)
    if page.file.src_path.endswith('.ipynb'):
        page.toc = _toc_from_headings(html_text, depth=3)
    return html_text


_ID = re.compile(r'''\b(?:id|name)\s*=\s*["']([^"']+)["']''')
_FRAG_LINK = re.compile(r'''(\bhref\s*=\s*["'])([^"'#:]*\.html)#([^"']+)(["'])''')


def _slug(s: str) -> str:
    from mkdocs_jupyter.utils import slugify
    return slugify(unquote(s).replace('-', ' '))


def on_post_build(config):
    "A section link written as in JupyterLab (`04_uda.ipynb#The-UDA-loss`) gets the page's own id (`#the-uda-loss`)."
    site = Path(config['site_dir'])
    ids = {}
    def ids_of(p: Path):
        if p not in ids: ids[p] = set(_ID.findall(p.read_text(errors='replace'))) if p.is_file() else set()
        return ids[p]
    for page in site.rglob('*.html'):
        text = page.read_text()
        def fix(m):
            target = (page.parent/m[2]).resolve()
            have = ids_of(target)
            if m[3] in have or not have: return m[0]
            by_slug = {_slug(i): i for i in have}
            new = by_slug.get(_slug(m[3]))
            return m[1] + m[2] + '#' + (new or m[3]) + m[4]
        new_text = _FRAG_LINK.sub(fix, text)
        if new_text != text: page.write_text(new_text)


# ---------------------------------------------------------------- command line
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--nbs', default=str(ROOT/'nbs'), help='folder of the notebooks to render (default: nbs/)')
    ap.add_argument('--out', default=str(ROOT/'_site'), help='output folder (default: _site/)')
    a = ap.parse_args(argv)
    t0 = time.time()
    out = build(Path(a.nbs), Path(a.out))
    print(f'site built in {time.time()-t0:.0f} s: open {out}/index.html, or `python -m http.server -d {out}`')


if __name__ == '__main__':
    main()
