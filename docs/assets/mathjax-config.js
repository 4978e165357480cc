// MathJax 3 for the lesson pages, served from this site (no CDN): the notebooks write $...$ and $$...$$ as in
// JupyterLab. mkdocs-jupyter loads this file where nbconvert would load MathJax; it configures MathJax and
// loads the bundled copy next to it (assets/mathjax/tex-svg-full.js: all TeX extensions, SVG output).
// Pages may load this twice (notebook content and extra_javascript): only the first one counts.
if (!window.__udaMathJaxLoaded) {
window.__udaMathJaxLoaded = true;
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    tags: 'ams'
  },
  // pymdownx.arithmatex (Markdown pages) wraps math in span/div.arithmatex; notebook pages have none
  options: { ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process|arithmatex' },
  svg: { fontCache: 'global' }
};
(function () {
  var me = document.currentScript ? document.currentScript.src : '';
  var s = document.createElement('script');
  s.src = me.replace(/mathjax-config\.js(\?.*)?$/, 'mathjax/tex-svg-full.js');
  s.async = true;
  document.head.appendChild(s);
})();
}
