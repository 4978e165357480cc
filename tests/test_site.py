"""The course website (`make site`, tools/build_site.py): a page per lesson and per public module, and no broken link.

The site is built once per session into a temporary folder, from the notebooks as they are (never executed).
`UDA_SITE_DIR=_site` checks an already-built folder instead (what `make test` does after `make site`).
"""
import json, os, re, shutil, sys
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


def test_notebook_links_resolve_through_the_build(tmp_path):
    "Staged from notebooks: `X.ipynb#Jupyter-Style-Anchor` resolves, `missing.ipynb` is reported."
    nbs = tmp_path/'nbs'
    nbs.mkdir()
    def nb(*cells):
        return json.dumps({'cells': [{'cell_type': 'markdown', 'id': f'c{i}', 'metadata': {}, 'source': c}
                                     for i, c in enumerate(cells)],
                           'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5})
    (nbs/'index.ipynb').write_text(nb('# Home\n\n[first](01_a.ipynb), [its part two](01_a.ipynb#Part-Two:-the-loss)'))
    (nbs/'01_a.ipynb').write_text(nb('# A\n\n## Part Two: the loss\n\n$x^2$ and [nothing](02_missing.ipynb)'))
    site = build_site.build(nbs, tmp_path/'site', quiet=True, api_pages=False)
    bad = broken_links(site)
    assert len(bad) == 1 and '02_missing.html' in bad[0], bad
    assert 'href="01_a.html#part-two-the-loss"' in (site/'index.html').read_text()


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
