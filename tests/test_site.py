"""The course website (`make site`, tools/build_site.py): a page per lesson and per public module, and no broken link.

The site is built once per session into a temporary folder, from the notebooks as they are (never executed).
`UDA_SITE_DIR=_site` checks an already-built folder instead (what `make test` does after `make site`).
"""
import base64, html, json, os, re, shutil, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_site  # noqa: E402

pytest.importorskip('mkdocs', reason='the site tools are dev requirements: make install')


class _Refs(HTMLParser):
    "Every href/src of a page, and every id/name it defines."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs, self.ids, self.external_assets = [], set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name'):
            if a.get(k): self.ids.add(a[k])
        for k in ('href', 'src'):
            v = a.get(k)
            if v is None: continue
            self.refs.append((tag, k, v))
            needed = (tag == 'script' and k == 'src') or (tag == 'link' and 'stylesheet' in (a.get('rel') or ''))
            if needed and re.match(r'^(https?:)?//', v): self.external_assets.append(v)


def parse(page: Path) -> _Refs:
    p = _Refs()
    p.feed(page.read_text(errors='replace'))
    return p


def broken_links(site: Path) -> list[str]:
    """Every local link (href/src relative to the site) that does not resolve to a file in the site, and every
    `#section` of a link into a lesson page that the page does not define."""
    site = site.resolve()
    # 404.html is for a web server at the site's root (absolute links); the site is read from disk or http.server
    pages = {p: parse(p) for p in site.rglob('*.html') if p.name != '404.html'}
    bad = []
    for page, info in pages.items():
        for tag, attr, url in info.refs:
            u = urlsplit(url)
            if u.scheme or u.netloc or url.startswith(('#', 'data:', 'javascript:', 'mailto:')):
                if url.startswith('#') and len(url) > 1 and not _is_nav_anchor(url) and unquote(url[1:]) not in info.ids:
                    bad.append(f'{page.relative_to(site)}: <{tag} {attr}="{url}">: no such anchor on the page')
                continue
            if not u.path: continue
            target = (page.parent/unquote(u.path)).resolve()
            if u.path.endswith('/'): target = target/'index.html'
            try: target.relative_to(site)
            except ValueError:
                bad.append(f'{page.relative_to(site)}: <{tag} {attr}="{url}">: outside the site'); continue
            if not target.is_file():
                bad.append(f'{page.relative_to(site)}: <{tag} {attr}="{url}">: no such file'); continue
            if u.fragment and target in pages and not _is_nav_anchor('#'+u.fragment) \
                    and unquote(u.fragment) not in pages[target].ids:
                bad.append(f'{page.relative_to(site)}: <{tag} {attr}="{url}">: no such section in {target.name}')
    return bad


def _is_nav_anchor(url: str) -> bool:
    "Anchors that the theme's scripts handle (e.g. `#__codelineno-0-1`, `#__drawer`)."
    return url.startswith('#__')


@pytest.fixture(scope='session')
def site(tmp_path_factory):
    given = os.environ.get('UDA_SITE_DIR')
    if given and (Path(given)/'index.html').is_file(): return Path(given).resolve()
    return build_site.build(ROOT/'nbs', tmp_path_factory.mktemp('site')/'_site', quiet=True)


def lessons():
    return sorted(p.stem for p in (ROOT/'nbs').glob('*.ipynb'))


def test_every_lesson_has_a_page(site):
    missing = [n for n in lessons() if not (site/f'{n}.html').is_file()]
    assert not missing, f'lessons without a page: {missing}'
    for n in lessons():
        text = (site/f'{n}.html').read_text()
        assert 'jupyter-wrapper' in text, f'{n}.html does not hold the rendered notebook'


def test_api_reference_has_a_page_per_public_module(site):
    mods = sorted(p.stem for p in (ROOT/'uda_course').glob('*.py') if not p.stem.startswith('_'))
    assert mods, 'no modules found'
    for m in mods:
        page = site/'api'/f'{m}.html'
        assert page.is_file(), f'no API page for uda_course.{m}'
        text = page.read_text()
        assert 'doc-object' in text or 'doc doc-' in text, f'api/{m}.html shows no documented object'
    index = (site/'api'/'index.html').read_text()
    assert all(f'{m}.html' in index for m in mods)


def test_no_broken_internal_links(site):
    bad = broken_links(site)
    assert not bad, f'{len(bad)} broken links:\n' + '\n'.join(bad[:40])


def test_reading_needs_no_cdn(site):
    "Scripts and stylesheets come from the site itself (it is read offline, from file:// too)."
    ext = {str(p.relative_to(site)): parse(p).external_assets for p in site.rglob('*.html')}
    ext = {k: v for k, v in ext.items() if v}
    assert not ext, f'pages that load scripts/styles from the network: {ext}'
    assert (site/'assets'/'mathjax'/build_site.MATHJAX_FILE).is_file(), 'MathJax is not bundled'
    assert 'assets/mathjax-config.js' in (site/'04_uda.html').read_text(), 'the lesson pages do not load MathJax'


def test_lesson_links_are_rewritten(site):
    "A lesson's `[the notation](notation.ipynb)` points at notation.html on the site."
    text = (site/'04_uda.html').read_text()
    assert 'notation.html' in text and 'href="notation.ipynb' not in text


def test_link_check_catches_a_broken_link(site, tmp_path):
    "The check fails on a link to a lesson that does not exist and on a section that does not exist."
    copy = tmp_path/'site'
    shutil.copytree(site, copy)
    page = copy/'index.html'
    page.write_text(page.read_text().replace('</body>', '<a href="99_missing.html">x</a>'
                                             '<a href="notation.html#no-such-section">y</a></body>'))
    bad = broken_links(copy)
    assert any('99_missing.html' in b for b in bad) and any('no-such-section' in b for b in bad), bad


def _nb(*cells, metadata=None) -> str:
    "A notebook: each cell a markdown string or a code cell dict (as `_code` makes)."
    md = lambda i, c: {'cell_type': 'markdown', 'id': f'c{i}', 'metadata': {}, 'source': c}
    cells = [c if isinstance(c, dict) else md(i, c) for i, c in enumerate(cells)]
    nb = {'cells': cells, 'metadata': metadata or {}, 'nbformat': 4, 'nbformat_minor': 5}
    return json.dumps(nb)


def _code(src: str, *outs, cid='x') -> dict:
    return {'cell_type': 'code', 'id': cid, 'metadata': {}, 'execution_count': None, 'source': src,
            'outputs': list(outs)}


def _stream(text: str) -> dict:
    return {'output_type': 'stream', 'name': 'stdout', 'text': text}


PNG = bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000'
                    '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082')


@pytest.fixture(scope='module')
def tiny_site(tmp_path_factory):
    "A site made of three small notebooks: links, nbdev directives, an explorer, an execution note."
    tmp = tmp_path_factory.mktemp('tiny')
    nbs = tmp/'nbs'
    nbs.mkdir()
    (tmp/'results'/'explorers').mkdir(parents=True)
    (tmp/'results'/'explorers'/'view.png').write_bytes(PNG)
    (nbs/'index.ipynb').write_text(_nb(
        '# Home',
        '*Executed on 2026-12-02 from commit `01e91d6` + uncommitted changes on Linux, in 1 s.*',
        '[first](01_a.ipynb), [its part two](01_a.ipynb#Part-Two:-the-loss)'))
    (nbs/'01_a.ipynb').write_text(_nb(
        '# A\n\n## Part Two: the loss\n\n$x^2$ and [nothing](02_missing.ipynb)'))
    explorer = {'output_type': 'display_data', 'metadata': {}, 'data': {
        build_site.WIDGET_MIME: {'model_id': 'gone', 'version_major': 2, 'version_minor': 0},
        'text/plain': 'interactive(children=(FloatSlider(value=0.4),))'}}
    (nbs/'03_cells.ipynb').write_text(_nb(
        '# Cells',
        _code('#| hide\nprint("HIDDEN_SOURCE")', _stream('HIDDEN_OUTPUT\n'), cid='h'),
        _code('#|hide\nHIDDEN_TOO = 1', cid='h2'),
        _code('#| echo: false\nprint("ECHO_FALSE_SOURCE")', _stream('ECHO_FALSE_OUTPUT\n'),
              cid='e'),
        _code('#| output: false\nprint("OUTPUT_FALSE_SOURCE")', _stream('OUTPUT_FALSE_OUTPUT\n'),
              cid='o'),
        _code('print("SHOWN_SOURCE")', _stream('SHOWN_OUTPUT\n'), cid='s'),
        '## Explore\n\nIts first view: `../results/explorers/view.png`.',
        _code('interact(show, t=FloatSlider(value=0.4))', explorer, cid='w')))
    return build_site.build(nbs, tmp/'site', quiet=True, api_pages=False)


def test_notebook_links_resolve_through_the_build(tiny_site):
    "Staged from notebooks: `X.ipynb#Jupyter-Style-Anchor` resolves, `missing.ipynb` is reported."
    bad = broken_links(tiny_site)
    assert len(bad) == 1 and '02_missing.html' in bad[0], bad
    assert 'href="01_a.html#part-two-the-loss"' in (tiny_site/'index.html').read_text()


def _code_cells(page: str) -> list[str]:
    "The source of each code cell a lesson page shows (the copy button's copy of it)."
    return [html.unescape(t) for t in
            re.findall(r'<div class="clipboard-copy-txt"[^>]*>(.*?)</div>', page, re.S)]


def test_nbdev_directives_through_the_build(tiny_site):
    """`#| hide` drops the cell (code and output), `#| echo: false` shows the output without the
    code, `#| output: false` the code without the output; no `#|` line is shown."""
    page = (tiny_site/'03_cells.html').read_text()
    for gone in ('HIDDEN_SOURCE', 'HIDDEN_OUTPUT', 'HIDDEN_TOO', 'ECHO_FALSE_SOURCE',
                 'OUTPUT_FALSE_OUTPUT'):
        assert gone not in page, gone
    for shown in ('ECHO_FALSE_OUTPUT', 'OUTPUT_FALSE_SOURCE', 'SHOWN_SOURCE', 'SHOWN_OUTPUT'):
        assert shown in page, shown
    assert not any(l.lstrip().startswith('#|') for c in _code_cells(page) for l in c.splitlines())


def test_hidden_cells_stay_hidden_on_the_site(site):
    "No code cell of the lessons whose first line is `#| hide` shows on its page."
    for f in sorted((ROOT/'nbs').glob('*.ipynb')):
        shown = {c.strip() for c in _code_cells((site/f'{f.stem}.html').read_text())}
        for c in json.loads(f.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and re.match(r'\s*#\s*\|\s*hide\s*$', src.split('\n')[0]):
                body = src.split('\n', 1)[1].strip() if '\n' in src else ''
                assert body not in shown, f'{f.name}: a `#| hide` cell is shown: {body[:60]!r}'
        assert not any(l.lstrip().startswith('#|') for c in shown for l in c.splitlines()), f.name


def test_explorer_shows_its_first_view(tiny_site, site):
    """An interactive explorer shows a picture of its first view with the note: from the widget
    state saved in the executed notebook (the lessons), else from the committed picture its section
    names."""
    def views(page):
        return re.findall(r'<div class="explorer-static">(.*?)</div>', page, re.S)
    tiny = views((tiny_site/'03_cells.html').read_text())
    assert len(tiny) == 1 and 'widget-note' in tiny[0]
    assert base64.b64encode(PNG).decode() in tiny[0]
    for f in sorted((ROOT/'nbs').glob('*.ipynb')):
        n = sum(''.join(o.get('data', {}).get('text/plain', '')).startswith('interactive(')
                for c in json.loads(f.read_text())['cells'] for o in c.get('outputs', []))
        if not n: continue
        got = views((site/f'{f.stem}.html').read_text())
        assert len(got) == n, f'{f.name}: {n} explorers, {len(got)} shown as pictures'
        for v in got:
            assert 'widget-note' in v, f.name
            assert re.search(r'<img [^>]*src="data:image/png;base64,\w', v), f.name


def test_execution_note_shows_no_uncommitted_state(tiny_site, site):
    "A note 'from commit `X` + uncommitted changes' loses its commit part; no page says it."
    home = (tiny_site/'index.html').read_text()
    assert 'Executed on 2026-12-02 on Linux, in 1 s.' in home and 'uncommitted' not in home
    for page in site.rglob('*.html'):
        assert '+ uncommitted changes' not in page.read_text(), page.name


def test_widget_outputs_become_static(tmp_path):
    "A saved tqdm bar (display-only widgets) is drawn from its saved state; a slider explorer becomes a note."
    view = lambda mid, text: {'output_type': 'display_data', 'metadata': {}, 'data': {
        build_site.WIDGET_MIME: {'model_id': mid, 'version_major': 2, 'version_minor': 0}, 'text/plain': text}}
    state = {'bar': {'model_name': 'HBoxModel', 'state': {'children': ['IPY_MODEL_txt', 'IPY_MODEL_pr']}},
             'txt': {'model_name': 'HTMLModel', 'state': {'value': 'sup: 100%'}},
             'pr': {'model_name': 'FloatProgressModel', 'state': {'value': 20.0, 'max': 20.0}},
             'sl': {'model_name': 'FloatSliderModel', 'state': {'value': 0.4}}}
    code = lambda *outs: {'cell_type': 'code', 'id': 'x', 'metadata': {}, 'execution_count': 1, 'source': 'f()',
                          'outputs': list(outs)}
    nb = {'cells': [code(view('bar', 'sup: 0%')), code(view('sl', 'interactive(children=(FloatSlider(...')),
                    {'cell_type': 'code', 'id': 'h', 'metadata': {}, 'source': '#| hide\nsecret()', 'outputs': []}],
          'metadata': {'widgets': {'application/vnd.jupyter.widget-state+json': {'state': state}}}}
    out = build_site.prepare_notebook(nb, [tmp_path], tmp_path)
    assert len(out['cells']) == 2 and 'widgets' not in out['metadata']
    bar, note = (c['outputs'][0]['data']['text/html'] for c in out['cells'])
    assert '<progress value="20.0" max="20.0">' in bar and 'sup: 100%' in bar
    assert 'JupyterLab' in note


def test_classes_show_their_constructor(site):
    "A class's heading shows its __init__ arguments (mkdocstrings' merge_init_into_class), not a bare name."
    text = re.sub(r'<[^>]+>', '', (site/'api'/'train.html').read_text())
    assert re.search(r'InfiniteSampler\(n: int, batch_size: int, seed: int = 0\)', text)


def test_no_empty_prompts_on_lesson_pages(site):
    "Lessons are saved clean (no execution counts): the site hides the 'In [ ]:' prompts that would read as 'not run'."
    css = (site/'assets'/'site.css').read_text()
    assert re.search(r'\.jp-InputPrompt,\s*\.jupyter-wrapper \.jp-OutputPrompt\s*\{\s*display:\s*none\s*!important', css)
    assert '<link rel="stylesheet" href="assets/site.css">' in (site/'04_uda.html').read_text()


def _prose(text: str) -> str:
    "A search-index entry without its code (<pre>, <code>), whose backslashes and $ are its own."
    return re.sub(r'<pre>.*?</pre>|<code>.*?</code>', ' ', text, flags=re.S)


_TEX = re.compile(r'(?<!\\)\$[^$]+\$|\\(?:frac|mathbb|mathcal|mathrm|text|left|[a-zA-Z]{2,})\b')


def test_search_index_is_plain_text(site):
    "What search finds and shows has no '¶', no raw TeX, no prompts or copy-button labels."
    index = json.loads((site/'search'/'search_index.json').read_text(encoding='utf-8'))
    assert len(index['docs']) > 50
    bad = []
    for doc in index['docs']:
        for k in ('title', 'text'):
            t = doc[k]
            if '¶' in t or 'In\xa0[' in t or 'Copied!' in t or _TEX.search(_prose(t)):
                bad.append(f"{doc['location']} {k}: {(_TEX.search(_prose(t)) or [t[:80]])[0]!r}")
    assert not bad, f'{len(bad)} entries:\n' + '\n'.join(bad[:20])
    offline = (site/'search'/'search_index.js').read_text(encoding='utf-8')   # read from file://
    assert '¶' not in offline and '\\\\frac' not in offline
    lesson = {d['location']: d['text'] for d in index['docs']}
    assert any('λ' in t for loc, t in lesson.items() if loc.startswith('04_uda.html')), 'math lost'


def test_tex_to_text():
    t = build_site.tex_to_text
    assert t(r'\beta_t\,\bar p_t(c) \le \frac{1}{2}') == 'βₜ p̄ₜ(c) ≤ 1/2'
    assert t(r'\mathbb{E}_{\hat x\sim \mathcal A(\hat x\mid x)}') == '𝔼_(x̂∼ A(x̂| x))'
    assert t(r'\eta\cos\left(\frac{7\pi t}{16\,S}\right)') == 'η cos((7π t)/(16 S))'
    assert t(r'\operatorname{clamp}(x^2, 0, 255) \text{ if } \lambda \times n_{\text{ops}}') == \
        'clamp(x², 0, 255) if λ × nₒₚₛ'
    text = build_site.search_text(r'<p>rate $\lambda$¶ and $$\sqrt{x}$$</p><code>$HOME \n</code>')
    assert text == '<p>rate λ and √x</p><code>$HOME \\n</code>'


def _css_rules(css: str) -> dict:
    "selector -> declarations (comments dropped; a rule with several selectors is kept under each)."
    rules = {}
    for sel, body in re.findall(r'([^{}]+)\{([^}]*)\}', re.sub(r'/\*.*?\*/', '', css, flags=re.S)):
        for one in sel.split(','):
            rules[' '.join(one.split())] = rules.get(' '.join(one.split()), '') + body
    return rules


def test_wide_tables_and_code_scroll(site):
    """Every table of the lessons and the API pages scrolls sideways in a box of its own; the code
    boxes keep a margin on the right for their copy button, so that it never covers a line's end."""
    rules = _css_rules((site/'assets'/'site.css').read_text())
    assert re.search(r'overflow-x:\s*auto', rules.get('.uda-scroll', '')), rules.get('.uda-scroll')
    for flex_item in ('.jupyter-wrapper .jp-RenderedMarkdown',
                      '.jupyter-wrapper .jp-OutputArea-output'):
        assert re.search(r'min-width:\s*0', rules.get(flex_item, '')), flex_item   # else it grows
    # lesson cells: the copy button is absolute at the right of .CodeMirror; the code scrolls inside
    editor = rules.get('.jupyter-wrapper .jp-InputArea-editor .CodeMirror', '')
    assert re.search(r'padding-right:\s*[1-9]', editor)
    # markdown code and API source: the theme's buttons are at the right of <pre>; <code> scrolls
    assert re.search(r'padding-right:\s*[2-9]', rules.get('.md-typeset pre > code', ''))
    tables = 0
    for page in [*site.glob('*.html'), *site.glob('api/*.html')]:
        text = page.read_text()
        n = len(re.findall(r'<table\b', text))
        tables += n
        wrapped = len(re.findall(r'<div class="uda-scroll">\s*<table\b', text))
        assert wrapped == n, f'{page.name}: {n - wrapped} of {n} tables not in a scrolling box'
    assert tables > 10


class _Text(HTMLParser):
    "The text of a page outside links, code and headings, and where its links point."
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.links, self.depth, self.href = [], [], [], None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        hidden = tag == 'div' and 'clipboard-copy-txt' in (a.get('class') or '')
        if tag in ('a', 'code', 'pre', 'script', 'style', 'h1', 'h2', 'h3', 'h4') or hidden or \
                (tag == 'div' and self.depth and self.depth[-1] == 'hidden'):
            self.depth.append('hidden' if hidden else tag)
        if tag == 'a': self.href, self.links = a.get('href'), self.links + [[a.get('href'), '']]
    def handle_endtag(self, tag):
        if self.depth and self.depth[-1] in (tag, 'hidden' if tag == 'div' else None):
            self.depth.pop()
    def handle_data(self, data):
        if self.depth and self.depth[-1] == 'a' and self.links: self.links[-1][1] += data
        if not self.depth: self.text.append(data)


def test_lesson_references_are_links(site):
    """'Defined in lesson 03', 'lesson 04's ...' in the API pages' docstrings and 'the notation
    page' are links to those pages: no such words are left as plain text where the page exists."""
    lessons = {p.stem.split('_')[0]: p.stem for p in (ROOT/'nbs').glob('[0-9]*.ipynb')}
    api = sorted(site.glob('api/*.html'))
    linked = 0
    for page in [*api, site/'index.html']:
        p = _Text()
        p.feed(page.read_text())
        text = ' '.join(p.text)
        refs = re.finditer(r'\blessons? (\d\d[a-z]?)\b', text, re.I)
        plain = [m[0] for m in refs if m[1] in lessons]
        assert not plain, f'{page.name}: {plain[:5]} not linked'
        for href, words in p.links:
            m = re.fullmatch(r'(?:lessons? )?(\d\d[a-z]?)', words.strip(), re.I)
            if m and m[1] in lessons and href:
                assert href.split('/')[-1] == f'{lessons[m[1]]}.html', (page.name, href, words)
                linked += 1
        if page == site/'index.html':
            assert 'the notation page' not in text.lower()
            assert ['notation.html', 'the notation page'] in p.links
    assert linked > 50
    link = '<a class="lesson-link" href="../03_augment.html">lesson 03</a>'
    assert f'Defined in {link}' in (site/'api'/'augment.html').read_text()


def test_404_page(site):
    "404.html has the site's look (theme and site styles, header, navigation) and a link home."
    page = (site/'404.html').read_text()
    info = parse(site/'404.html')
    assert 'md-header' in page and 'md-nav' in page
    css = [u for t, k, u in info.refs if t == 'link' and u.endswith('.css')]
    assert any('/assets/stylesheets/main.' in u for u in css) and '/assets/site.css' in css
    body = page[page.index('md-content__inner'):]
    assert re.search(r'<a [^>]*href="/index.html"[^>]*>[^<]*home page', body), 'no link home'
    # a web server shows it at any depth: its links start at the site's root and lead to its files
    missing = [u for t, k, u in info.refs if u.startswith('/') and not u.startswith('//')
               and not (site/unquote(urlsplit(u).path).lstrip('/')).is_file()]
    assert not missing, missing
