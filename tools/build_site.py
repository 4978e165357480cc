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
   Jupyter way (`#The-UDA-loss`) is mapped to the id the page has (`#the-uda-loss`); "lesson 03" and
   "the notation page" in prose become links; each table gets a box that scrolls sideways
   (`div.uda-scroll`); the search index gets the text a reader sees: no "¶", prompts, copy-button
   labels or second copy of a code cell, and its math as Unicode text (`$\\beta_t$` -> `βₜ`).

Beyond nbdev's directives: an interactive explorer (ipywidgets `interact`) shows its first view, the
picture its Output widget holds in the saved widget state (else a `results/explorers/*.png` that its
section names), with a note; a note "executed from commit `X` + uncommitted changes" loses its
commit part (such a state has no commit to show; `make lessons` in a clean checkout writes a clean
note). The 404 page is `docs/overrides/404.html` (MkDocs' `theme.custom_dir`).
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
EXPLORER_NOTE = ('<p class="widget-note"><strong>Interactive explorer</strong>, shown here in its '
                 'first view (its default settings) as a still picture. Its sliders need a running '
                 'notebook: open this lesson in JupyterLab and run it to use them.</p>')
# the note of tools/execute_lessons.py on a lesson run from a checkout with changes
_UNCOMMITTED = re.compile(r' from commit `[0-9a-f]+` \+ uncommitted changes')

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
    widget_state = nb.get('metadata', {}).get('widgets', {}).get(
        'application/vnd.jupyter.widget-state+json', {}).get('state', {})
    raw = nb.get('cells', [])
    for i, c in enumerate(raw):
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'raw': continue                    # nbdev front matter / quarto raw cells
        if c['cell_type'] == 'markdown':
            src = _INCLUDE.sub(lambda m: _included(ROOT/m[1]) if (ROOT/m[1]).is_file() else m[0], src)
            src = _UNCOMMITTED.sub('', src)
            c['source'] = _relink_assets(src, nb_dirs, stage)
            cells.append(c); continue
        dirs, body = _directives(src)
        if 'hide' in dirs or dirs.get('include') == 'false': continue
        if dirs.get('output') == 'false': c['outputs'] = []
        outs, noted = [], False
        for o in c.get('outputs', []):
            if WIDGET_MIME in o.get('data', {}):
                static = _static_widget(o['data'], widget_state)
                if static is None:
                    static = _explorer_view(o['data'], widget_state, raw[:i + 1], nb_dirs)
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


def _img(mime: str, b64: str) -> str:
    return f'<img src="data:{mime};base64,{b64}" alt="the first view of the explorer">'


def _output_html(o: dict) -> str:
    "One output that an Output widget holds, as HTML: a picture, HTML or text."
    d = o.get('data', {})
    for mime in ('image/png', 'image/jpeg'):
        if mime in d: return _img(mime, ''.join(d[mime]).replace('\n', ''))
    if 'image/svg+xml' in d: return ''.join(d['image/svg+xml'])
    if 'text/html' in d: return ''.join(d['text/html'])
    stream = o.get('output_type') == 'stream'
    text = ''.join(o.get('text', '') if stream else d.get('text/plain', ''))
    return f'<pre>{html.escape(text)}</pre>' if text.strip() else ''


def _explorer_view(data: dict, state: dict, cells: list, nb_dirs: list[Path]):
    """An interactive explorer (`interact`: sliders and an Output widget) as its first view with a
    note: what its Output widget holds in the widget state saved with the executed notebook, else
    the committed picture `results/explorers/NAME.png` that the explorer's cell or its section
    names; None when there is neither."""
    def outputs(mid, seen=()):
        m = state.get(mid)
        if m is None or mid in seen: return []
        st = m.get('state', {})
        if m.get('model_name') == 'OutputModel': return list(st.get('outputs', []))
        kids = st.get('children') if isinstance(st.get('children'), list) else []
        return [o for k in kids for o in outputs(str(k).removeprefix('IPY_MODEL_'), (*seen, mid))]
    view = ''.join(_output_html(o) for o in outputs(data[WIDGET_MIME].get('model_id')))
    if '<img' not in view and '<svg' not in view:
        view = _explorer_picture(cells, nb_dirs) or view
    if not view.strip(): return None
    return {'text/html': f'<div class="explorer-static">{EXPLORER_NOTE}{view}</div>'}


_EXPLORER_PNG = re.compile(r'[\w./-]*explorers/[\w.-]+\.png')


def _explorer_picture(cells: list, nb_dirs: list[Path]) -> str:
    """`<img>` of the last `.../explorers/NAME.png` named by the explorer's cell (the last of
    `cells`) or the cells above it up to the last heading (a committed picture of its first view),
    or ''."""
    import base64
    for c in reversed(cells):
        src = ''.join(c.get('source', ''))
        for name in reversed(_EXPLORER_PNG.findall(src)):
            for d in [*nb_dirs, ROOT]:
                f = (d/name).resolve()
                if f.is_file(): return _img('image/png', base64.b64encode(f.read_bytes()).decode())
        if c['cell_type'] == 'markdown' and re.match(r'\s*#{1,6}\s', src): break
    return ''


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
    if (ROOT/'docs').is_dir():    # CSS, scripts; not the templates (mkdocs.yml: theme.custom_dir)
        shutil.copytree(ROOT/'docs', stage, dirs_exist_ok=True,
                        ignore=lambda d, names: ['overrides'] if Path(d) == ROOT/'docs' else [])
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
    """Links to another lesson's notebook point at its page; a lesson page's TOC links to its
    headings; "lesson 03" and "the notation page" in prose link to those pages; tables scroll in a
    box of their own; what only the screen needs (permalink signs, prompts, the copy button and its
    hidden copy of the code) is kept out of the search index."""
    def fix(m):
        if not _is_local(m[3]): return m[0]
        return m[1] + m[2] + m[3][:-len('.ipynb')] + '.html' + (m[4] or '') + m[2]
    html_text = _HREF.sub(fix, html_text)
    if page.file.src_path.endswith('.ipynb'):
        page.toc = _toc_from_headings(html_text, depth=3)
        # material/search skips these elements, then removes the attribute from the page
        html_text = _NOT_SEARCHED.sub(r'\1 data-search-exclude="1"', html_text)
    html_text = _link_lessons(html_text, page, files)
    return _wrap_tables(html_text)


_NOT_SEARCHED = re.compile(r'(<(?:a|div)\b[^>]*?\bclass="[^"]*(?<![\w-])'
                           r'(?:anchor-link|jp-InputPrompt|jp-OutputPrompt|zeroclipboard-container'
                           r'|clipboard-copy-txt)(?![\w-])[^"]*")')
_SKIP_TAGS = {'a', 'code', 'pre', 'script', 'style', 'textarea', 'svg', 'button', 'kbd', 'title',
              'h1', 'h2', 'h3', 'h4', 'h5', 'h6'}    # and a code cell's hidden copy of its code
_TAG = re.compile(r'(<!--.*?-->|<[^>]+>)', re.S)
_LESSON_REF = re.compile(r'\b(lessons?)(\s+)(\d\d[a-z]?)\b'
                         r'((?:(?:,\s*|,?\s+and\s+|,?\s+or\s+|\s*[-–]\s*)\d\d[a-z]?\b)*)', re.I)
_NOTATION_REF = re.compile(r'\bthe notation page\b', re.I)


def _text_nodes(html_text: str, fn) -> str:
    "`html_text` with `fn` applied to each text node outside links, code, headings, scripts..."
    out, stack = [], []
    for i, part in enumerate(_TAG.split(html_text)):
        if i % 2:                                  # a tag
            m = re.match(r'<(/?)([a-zA-Z][\w-]*)', part)
            name = m and m[2].lower()
            hidden_copy = name == 'div' and ('div' in stack or 'clipboard-copy-txt' in part)
            if (name in _SKIP_TAGS or hidden_copy) and not part.endswith('/>'):
                if not m[1]: stack.append(name)
                elif name in stack:
                    while stack and stack.pop() != name: pass
            out.append(part)
        else: out.append(part if stack or not part.strip() else fn(part))
    return ''.join(out)


def _link_lessons(html_text: str, page, files) -> str:
    "'lesson 03', 'lessons 03 and 04' and 'the notation page' in prose become links to those pages."
    from mkdocs.utils import get_relative_url
    pages = {}
    for f in files:
        m = re.match(r'(\d\d[a-z]?)_[^/]*\.ipynb$', f.src_uri)
        if m: pages[m[1].lower()] = f.url
        elif f.src_uri == 'notation.ipynb': pages['notation'] = f.url
    here = page.file.url
    def a(key, text):
        url = pages.get(key.lower())
        if url is None or url == here: return text
        return f'<a class="lesson-link" href="{get_relative_url(url, here)}">{text}</a>'
    def lessons(m):
        word, space, first, rest = m[1], m[2], m[3], m[4]
        if word.lower() == 'lesson': head = a(first, f'{word}{space}{first}')
        else: head = word + space + a(first, first)
        return head + re.sub(r'\d\d[a-z]?\b', lambda n: a(n[0], n[0]), rest)
    def fn(text):
        text = _LESSON_REF.sub(lessons, text)
        return _NOTATION_REF.sub(lambda m: a('notation', m[0]), text)
    return _text_nodes(html_text, fn)


def _wrap_tables(html_text: str) -> str:
    "Each outermost table inside a `div.uda-scroll`, a box that scrolls sideways (assets/site.css)."
    out, depth, pos = [], 0, 0
    for m in re.finditer(r'<table\b|</table\s*>', html_text):
        if m[0].startswith('</'):
            depth -= 1
            if depth == 0:
                out.append(html_text[pos:m.end()] + '</div>'); pos = m.end()
            depth = max(depth, 0)
        else:
            if depth == 0:
                out.append(html_text[pos:m.start()] + '<div class="uda-scroll">'); pos = m.start()
            depth += 1
    if depth: return html_text                    # unbalanced: leave the page as it is
    return ''.join(out) + html_text[pos:]


_ID = re.compile(r'''\b(?:id|name)\s*=\s*["']([^"']+)["']''')
_FRAG_LINK = re.compile(r'''(\bhref\s*=\s*["'])([^"'#:]*\.html)#([^"']+)(["'])''')


def _slug(s: str) -> str:
    from mkdocs_jupyter.utils import slugify
    return slugify(unquote(s).replace('-', ' '))


def on_post_build(config):
    """A section link written as in JupyterLab (`04_uda.ipynb#The-UDA-loss`) gets the page's own id
    (`#the-uda-loss`); the search index gets the text a reader sees. Runs after material/search has
    written the index (priority 0), before material/offline copies it to search_index.js (-100)."""
    site = Path(config['site_dir'])
    ids = {}
    def ids_of(p: Path):
        if p not in ids:
            ids[p] = set(_ID.findall(p.read_text(errors='replace'))) if p.is_file() else set()
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
    index = site/'search'/'search_index.json'
    if index.is_file():
        data = json.loads(index.read_text(encoding='utf-8'))
        for doc in data.get('docs', []):
            for k in ('title', 'text'):
                if isinstance(doc.get(k), str): doc[k] = search_text(doc[k])
        text = json.dumps(data, ensure_ascii=False, separators=(',', ':'))
        index.write_text(text, encoding='utf-8')


on_post_build.mkdocs_priority = -50     # what mkdocs.plugins.event_priority(-50) sets


# ---------------------------------------------------------------- math as text, for search
def search_text(text: str) -> str:
    """A search-index entry (HTML-escaped text with <p>, <code>, <pre>... tags) without '¶', and
    with the math of its prose ($...$, $$...$$, \\(...\\), \\[...\\]) as Unicode text:
    `$\\beta_t \\le \\frac{1}{2}$` -> `βₜ ≤ 1/2`. Code (<pre>, <code>) keeps its $ and \\."""
    parts = re.split(r'(<pre>.*?</pre>|<code>.*?</code>)', text.replace('¶', ''), flags=re.S)
    for i in range(0, len(parts), 2):
        parts[i] = ''.join(p if j % 2 else html.escape(_math_text(html.unescape(p)), quote=False)
                           for j, p in enumerate(re.split(r'(<[^>]+>)', parts[i])))
    return ''.join(parts)


_MATH = re.compile(r'\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)'
                   r'|(?<![\\$])\$(?!\s)([^$]+?)(?<![\s\\])\$'
                   r'|(\\begin\{(\w+\*?)\}.*?\\end\{\6\})', re.S)


def _math_text(s: str) -> str:
    s = s.replace(r'\$', '\0')                                  # an escaped dollar is a dollar
    s = _MATH.sub(lambda m: tex_to_text(next(g for g in m.groups()[:5] if g is not None)), s)
    return s.replace('\0', '$')


_SYMBOLS = dict(
    alpha='α', beta='β', gamma='γ', delta='δ', epsilon='ϵ', varepsilon='ε', zeta='ζ', eta='η',
    theta='θ', vartheta='ϑ', iota='ι', kappa='κ', lambda_='λ', mu='μ', nu='ν', xi='ξ', pi='π',
    rho='ρ', sigma='σ', tau='τ', upsilon='υ', phi='ϕ', varphi='φ', chi='χ', psi='ψ', omega='ω',
    Gamma='Γ', Delta='Δ', Theta='Θ', Lambda='Λ', Xi='Ξ', Pi='Π', Sigma='Σ', Phi='Φ', Psi='Ψ',
    Omega='Ω', sum='∑', prod='∏', int='∫', infty='∞', approx='≈', sim='∼', simeq='≃', leq='≤',
    le='≤', geq='≥', ge='≥', neq='≠', ne='≠', ll='≪', gg='≫', times='×', cdot='·', cdots='⋯',
    ldots='…', dots='…', pm='±', mp='∓', in_='∈', notin='∉', subset='⊂', subseteq='⊆', cup='∪',
    cap='∩', setminus='∖', emptyset='∅', to='→', rightarrow='→', leftarrow='←', gets='←',
    Rightarrow='⇒', Leftarrow='⇐', iff='⇔', implies='⇒', leftrightarrow='↔', mapsto='↦',
    uparrow='↑', downarrow='↓', mid='|', vert='|', lvert='|', rvert='|', Vert='‖', lVert='‖',
    rVert='‖', partial='∂', nabla='∇', forall='∀', exists='∃', propto='∝', equiv='≡', ell='ℓ',
    circ='∘', star='⋆', ast='∗', bullet='•', odot='⊙', otimes='⊗', oplus='⊕', langle='⟨',
    rangle='⟩', lfloor='⌊', rfloor='⌋', lceil='⌈', rceil='⌉', neg='¬', land='∧', lor='∨',
    top='⊤', perp='⊥', parallel='∥', dagger='†', prime='′', colon=':', lbrace='{', rbrace='}',
    degree='°', quad=' ', qquad=' ', checkmark='✓')
_SYMBOLS = {k.rstrip('_'): v for k, v in _SYMBOLS.items()}
_FONTS = {'mathbb', 'mathcal', 'mathbf', 'mathrm', 'mathit', 'mathsf', 'mathtt', 'mathscr',
          'mathfrak', 'text', 'textrm', 'textbf', 'textit', 'texttt', 'textsf', 'emph',
          'operatorname', 'boldsymbol', 'bm', 'mathop', 'mbox', 'hbox', 'mathnormal', 'pmb'}
_BB = dict(zip('RNZQCEP1', 'ℝℕℤℚℂ𝔼ℙ𝟙'))
_ACCENTS = {'hat': '\u0302', 'widehat': '\u0302', 'tilde': '\u0303', 'widetilde': '\u0303',
            'bar': '\u0304', 'overline': '\u0305', 'vec': '\u20d7', 'dot': '\u0307',
            'ddot': '\u0308', 'check': '\u030c'}
_SIZES = {'left', 'right', 'middle', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr',
          'biggl', 'biggr', 'Biggl', 'Biggr', 'displaystyle', 'textstyle', 'scriptstyle', 'limits',
          'nolimits', 'nonumber', 'notag', 'centering', 'hfill'}
_ESCAPED = {',': ' ', ';': ' ', ':': ' ', '!': '', ' ': ' ', '\\': ' ', '|': '‖'}   # \, \\ \| ...
_SUP = dict(zip('0123456789+-=()nijkT', '⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱʲᵏᵀ'))
_SUB = dict(zip('0123456789+-=()aehijklmnoprstuvx', '₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ'))


def tex_to_text(tex: str) -> str:
    "TeX math as plain Unicode text, for searching and reading: `\\frac{\\lambda}{B_U}` -> `λ/B_U`."
    out, i = _tex(tex, 0, len(tex))
    return re.sub(r'\s+', ' ', out).strip()


def _tex_group(s: str, i: int) -> int:
    "Index just after the group that opens at s[i] == '{'."
    depth = 0
    for j in range(i, len(s)):
        if s[j] == '{' and (j == 0 or s[j - 1] != '\\'): depth += 1
        elif s[j] == '}' and s[j - 1] != '\\':
            depth -= 1
            if depth == 0: return j + 1
    return len(s)


def _tex_arg(s: str, i: int):
    "(text of the argument that starts at s[i], index after it)."
    while i < len(s) and s[i] == ' ': i += 1
    if i >= len(s): return '', i
    if s[i] == '{':
        j = _tex_group(s, i)
        return _tex(s[i + 1:j - 1], 0, j - i - 2)[0], j
    if s[i] == '\\':
        return _tex(s, i, len(s), one=True)
    return s[i], i + 1


def _wrap(x: str) -> str:
    x = x.strip()
    return x if re.fullmatch(r'[\w.′]+', x) else f'({x})'


def _tex(s: str, i: int, end: int, one: bool = False):
    "Convert s[i:end] (or just its first token when `one`); returns (text, index after)."
    out = []
    while i < end:
        c = s[i]
        if c == '\\':
            m = re.match(r'\\([A-Za-z]+)|\\(.)', s[i:])
            if m is None: out.append(c); i += 1; continue
            i += len(m[0])
            name = m[1]
            if name is None: out.append(_ESCAPED.get(m[2], m[2]))
            elif name in _SYMBOLS: out.append(_SYMBOLS[name])
            elif name in _FONTS:
                a, i = _tex_arg(s, i)
                out.append(''.join(_BB.get(ch, ch) for ch in a) if name == 'mathbb' else a)
            elif name in _ACCENTS:
                a, i = _tex_arg(s, i)
                out.append(a + _ACCENTS[name] if len(a) == 1 else a)
            elif name in ('frac', 'tfrac', 'dfrac', 'cfrac'):
                a, i = _tex_arg(s, i); b, i = _tex_arg(s, i)
                out.append(f'{_wrap(a)}/{_wrap(b)}')
            elif name == 'binom':
                a, i = _tex_arg(s, i); b, i = _tex_arg(s, i)
                out.append(f'C({a}, {b})')
            elif name == 'sqrt':
                if s.startswith('[', i): i = s.find(']', i) + 1 or end
                a, i = _tex_arg(s, i)
                out.append('√' + _wrap(a))
            elif name in ('begin', 'end', 'label', 'ref', 'eqref', 'hspace', 'vspace', 'phantom'):
                _, i = _tex_arg(s, i)
                out.append(' ')
                if name == 'begin' and s.startswith('{', i):       # \begin{array}{cc}
                    _, i = _tex_arg(s, i)
            elif name == 'tag':
                a, i = _tex_arg(s, i); out.append(f' ({a})')
            elif name in _SIZES:
                if name in ('left', 'right', 'middle') and s.startswith('.', i): i += 1
            else:                                       # unknown (\cos, \max): its name
                out.append((' ' if out and out[-1][-1:].isalnum() else '') + name)
            if one: break
            if name and i < end and s[i].isalpha() and out[-1:] and out[-1][-1:].isalpha():
                out.append(' ')
            continue
        if c in '^_':
            a, i = _tex_arg(s, i + 1)
            table = _SUP if c == '^' else _SUB
            out.append(''.join(table[ch] for ch in a) if a and all(ch in table for ch in a)
                       else c + _wrap(a) if a else c)
        elif c == '{':
            j = _tex_group(s, i)
            out.append(_tex(s[i + 1:j - 1], 0, j - i - 2)[0]); i = j
        elif c in '}&~': out.append(' '); i += 1
        else: out.append(c); i += 1
        if one: break
    return ''.join(out), i


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
