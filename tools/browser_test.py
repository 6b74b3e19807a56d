#!/usr/bin/env python
"""Test the built docs site (`_docs/`) in a real browser: Debian's chromium, headless, driven by Playwright.

    python tools/build_docs.py && python tools/browser_test.py

Serves the site on a free localhost port and visits every page at a desktop width (1280 px) and a phone width
(390 px). It checks: no console errors and no failed request; no request to any other host (the site must work
offline); maths rendered by KaTeX with no raw TeX left; every <img> loaded and with alt text (a figure whose alt is the
build's fallback, not the cell's `#| fig-alt:`, is a failure); every internal link (and its #anchor) resolves; the
sidebar is `nbs/sidebar.yml`'s (every notebook is in it), in its order; each page links its notebook and has
previous/next links in that order;
each walk page shows the source of its main definition in a code block; no page shows a machine path; the home page
says how to open the notebooks; at 390 px nothing is wider than the screen, and display maths that does not fit
scrolls inside the column with a visible cue; a search for "logsumexp" finds the cross-entropy page.

The walk (issues 16 and 17; which pages are the walk is read from `nbs/sidebar.yml` by `tools/site_map.py`):
- each walk page is at most 15 screens (15 x 800 px = 12,000 px) tall at 1280 px;
- its last top-level sections are the summary ("What we learned" / "What we built") and then "Exercises", with
  nothing after them but the previous/next links;
- it has at least 3 exercises, each with a collapsed solution (a closed `<details>` whose summary is "Solution");
- it links the notation page (notation.html), and shows its imports as code above its first section;
- the sidebar has the walk, then "Under the hood", in the order of `nbs/sidebar.yml`, and previous/next follow it.
At 390 px, on every page: each figure renders at >= 60% of its natural width or opens full size on a tap (a
lightbox link), and its text stays >= 9 CSS px (estimated: 10 pt at the PNG's own dpi, times the rendered / natural
width; at full size when it opens in a lightbox); tables and display maths wider than the column scroll inside
their own box; the page itself never scrolls sideways.
Reference entries (show_doc), on every page: each is titled with its own symbol (not `show_doc`, no source link
into nbdev), its title's last part is the name in its signature (so dunders keep their underscores, and no bold
`Module.**repr**`), a class shows `class Name`, not `def Name`, and no entry appears twice on a page.

It waits on the conditions it checks (the page's load event, KaTeX's output, decoded images, the search index's
response), never on network idleness or a fixed sleep; `--bound` is only the last-resort limit on each wait, generous
so that a busy machine passes, and a wait that reaches it fails with a message naming what did not happen.
Before the site, each of these checks is run on small pages made to break it (`self_test`): it must fail there.
Saves screenshots to `screenshots/`. Prints PASS/WARN/FAIL per check and exits non-zero on any failure.
"""
import argparse, functools, http.server, re, sys, threading, time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urldefrag, urlsplit, unquote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_map
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONFIG_FILES = ("nbdev.yml", "_quarto.yml", "sidebar.yml", "styles.css", "pyproject.toml", "_metadata.yml")
REPO = "https://github.com/minibatch-dev/minibatch/blob/main/"
VIEWPORTS = {"1280px": {"width": 1280, "height": 900}, "390px": {"width": 390, "height": 844}}
# The start of a walk page's main definition's source, which the page must show as code
MAIN_DEFINITION = {
    "01_losses.ipynb": "def log_softmax(",
    "04_loop.ipynb": "def accuracy(",
    "05_optim.ipynb": "class SGD(",
    "06_dataloader.ipynb": "class DataLoader(",
    "07_training.ipynb": "def fit(",
    "09_distributed.ipynb": "class DistributedSampler(",
}
MACHINE_PATHS = ("/tmp/", "/root/")
SCREEN, MAX_SCREENS, MIN_EXERCISES = 800, 15, 3  # a walk page: at most 15 screens of 800 px at 1280 px wide
FIG_MIN_RATIO, FIG_MIN_TEXT_PX, FIG_FONT_PT = 0.6, 9, 10  # figures at 390 px; 10 pt: the smallest font the style allows
SUMMARY_RE, EXERCISES_RE = r"^What we (learned|built)", r"^Exercises\b"


def site_pages(nbs):
    """The sidebar's pages in order, from `nbs/sidebar.yml`: {page: (notebook path from the root, section, is a walk
    page, main definition or None)}. A notebook that does not exist yet is left out (and named in `missing`)."""
    walk, pages, missing = set(site_map.walk_notebooks(nbs / "sidebar.yml")), {}, []
    for nb, sec, _ in site_map.sidebar(nbs / "sidebar.yml"):
        if not (nbs / nb).exists(): missing.append(f"{site_map.page_of(nb)} ({nb} not written yet)"); continue
        pages[site_map.page_of(nb)] = (f"{nbs.name}/{nb}", sec, nb in walk, MAIN_DEFINITION.get(nb))
    return pages, missing

# Text nodes outside code, scripts and rendered maths that still hold TeX (delimiters, or a command such as \log):
# maths KaTeX did not render.
RAW_TEX_JS = r"""() => {
  const skip = (el) => el.closest('pre, code, script, style, textarea, .katex, .sourceCode');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const bad = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement || skip(n.parentElement)) continue;
    const t = n.textContent;
    if (/\\\(|\\\)|\\\[|\\\]|\$\$|\\[a-zA-Z]{2,}/.test(t)) bad.push(t.trim().slice(0, 80));
  }
  return bad;
}"""

# The conditions the test waits on, each a JavaScript predicate polled until it holds (or --bound passes)
MATH_DONE_JS = """() => document.readyState === 'complete' && (document.querySelectorAll('.math').length === 0
  || document.querySelectorAll('.katex').length + document.querySelectorAll('.katex-error').length
     >= document.querySelectorAll('.math').length)"""
IMAGES_EAGER_JS = "() => { [...document.images].forEach((i) => { i.loading = 'eager'; }); return document.images.length; }"
IMAGES_DONE_JS = "() => [...document.images].every((i) => i.complete)"  # complete: decoded, or failed for good

IMAGES_JS = """() => [...document.images].map((i) => ({
  src: i.currentSrc.slice(0, 60), ok: i.complete && i.naturalWidth > 0,
  alt: (i.getAttribute('alt') || '').trim(), fallback: i.hasAttribute('data-alt-fallback')}))"""

PAGE_JS = r"""(a) => {
  const visible = (e) => !!e && e.checkVisibility({visibilityProperty: true, opacityProperty: false})
    && e.getBoundingClientRect().width > 0;
  const text = (() => { const b = document.body.cloneNode(true);
    b.querySelectorAll('script, style').forEach((e) => e.remove()); return b.textContent; })();
  const nb = [...document.querySelectorAll('a[href]')].filter((x) => x.href === a.notebook);
  // `class SGD(` also matches `class SGD:`, a class with no base
  const re = a.needle && new RegExp(a.needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/^(class \w+)\\\($/, '$1[(:]'));
  const code = [...document.querySelectorAll('pre code, pre.sourceCode')].filter((c) => re && re.test(c.textContent));
  const pn = (side) => { const x = document.querySelector(`.page-navigation .nav-page-${side} a[href]`);
    return x ? {href: x.getAttribute('href'), visible: visible(x)} : null; };
  return {
    links: [...document.querySelectorAll('a[href]')].map((x) => x.href),
    ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
    sidebar: [...document.querySelectorAll('#quarto-sidebar a[href]')].map((x) => x.getAttribute('href')),
    sidebarText: document.querySelector('#quarto-sidebar')?.textContent || '',
    math: document.querySelectorAll('.math').length,
    katex: document.querySelectorAll('.katex').length,
    katexErrors: [...document.querySelectorAll('.katex-error')].map((e) => e.textContent.slice(0, 80)),
    outputs: document.querySelectorAll('.cell-output').length,
    tables: document.querySelectorAll('main table').length,
    title: document.title,
    machinePaths: a.paths.filter((p) => text.includes(p)).map((p) => {
      const i = text.indexOf(p); return text.slice(Math.max(0, i - 40), i + 40).replace(/\s+/g, ' '); }),
    notebookLinks: nb.length, notebookVisible: nb.some(visible),
    code: code.length, codeVisible: code.some(visible),
    prev: pn('previous'), next: pn('next'),
    jupyter: /jupyter lab/i.test(text),
    // the reference tables (show_doc's docments): rows with no details, and the type "NoneType"
    blankRows: [...document.querySelectorAll('main table')].filter((t) => /Details/.test(t.querySelector('thead, tr')?.textContent || ''))
      .flatMap((t) => [...t.querySelectorAll('tbody tr')].filter((r) => r.cells.length >= 4 && !r.cells[r.cells.length - 1].textContent.trim())
      .map((r) => r.cells[0].textContent.trim())),
    noneType: [...document.querySelectorAll('main table, main pre')].filter((e) => e.textContent.includes('NoneType')).length,
  };
}"""

# At a phone's width: anything wider than the screen, and display maths or code that overflows its box without a way
# (and, for maths, a visible cue) to scroll it
NARROW_JS = """() => {
  const W = document.documentElement.clientWidth, main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right + 1;
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const bad = [], cut = [];
  document.querySelectorAll('.math.display').forEach((e) => {
    const over = e.scrollWidth > e.clientWidth + 1;
    if (e.getBoundingClientRect().right > right) bad.push('display maths wider than the column: ' + e.textContent.slice(0, 40));
    else if (over && !scrolls(e)) bad.push('display maths cut, not scrollable: ' + e.textContent.slice(0, 40));
    else if (over && !/gradient/.test(getComputedStyle(e).backgroundImage)) bad.push('display maths scrolls with no cue: ' + e.textContent.slice(0, 40));
    else if (over) cut.push(e.textContent.slice(0, 30));
  });
  document.querySelectorAll('main pre').forEach((e) => {
    if (e.closest('details:not([open])')) return;
    const over = e.scrollWidth > e.clientWidth + 1, wraps = getComputedStyle(e.querySelector('code') || e).whiteSpace.startsWith('pre-wrap');
    if (e.getBoundingClientRect().right > right) bad.push('code wider than the column: ' + e.textContent.slice(0, 40));
    else if (over && !scrolls(e) && !wraps) bad.push('code cut, neither wrapped nor scrollable: ' + e.textContent.slice(0, 40));
  });
  document.querySelectorAll('main table').forEach((e) => {
    if (e.closest('details:not([open])')) return;
    const r = e.getBoundingClientRect();
    let box = null;
    for (let x = e; x && x !== main; x = x.parentElement) if (scrolls(x)) { box = x; break; }
    if (r.right > right && !(box && box.getBoundingClientRect().right <= right))
      bad.push('table wider than the column, not in a box of its own that scrolls: ' + e.textContent.trim().slice(0, 40));
  });
  return {pageWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth), width: W, bad, scrollingMaths: cut};
}"""


# A walk page's shape at 1280 px: its height, its top-level sections (the last ones must be the summary, then the
# exercises, then nothing but previous/next), its exercises and their solutions, and its link to the notation page
WALK_JS = r"""(a) => {
  const main = document.querySelector('main') || document.body;
  const top = [...main.querySelectorAll('section.level2')].filter((s) => !s.parentElement.closest('section.level2'));
  const title = (s) => (s.querySelector(':scope > h2')?.textContent || '').trim();
  const last = top[top.length - 1];
  const after = [];
  const skip = 'nav.page-navigation, .page-navigation, footer, script, style, #quarto-appendix';
  for (let n = last; n && n !== main && n !== document.body; n = n.parentElement)  // what follows the last section
    for (let e = n.nextElementSibling; e; e = e.nextElementSibling)
      if (!e.matches(skip) && e.getBoundingClientRect().height > 0) after.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ': ' + e.textContent.trim().slice(0, 50));
  const exSec = top.find((s) => new RegExp(a.exercises, 'i').test(title(s)));
  // an exercise is everything from its "Exercise k" heading to the next one, however the headings nest (Quarto makes
  // a section of a show_doc heading too); its solutions are the <details> there whose summary says "Solution"
  const heads = !exSec ? [] : [...exSec.querySelectorAll('h3, h4')].filter((h) => /^Exercise/i.test(h.textContent.trim()));
  const follows = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  const folds = !exSec ? [] : [...exSec.querySelectorAll('details')].filter((d) => /solution/i.test(d.querySelector('summary')?.textContent || ''));
  const exercises = heads.map((h, i) => {
    const sols = folds.filter((d) => follows(h, d) && (i + 1 === heads.length || follows(d, heads[i + 1])));
    return {title: h.textContent.trim().slice(0, 60), solutions: sols.length, collapsed: sols.some((d) => !d.open)};
  });
  // the imports, shown as code before the first section (the page's one visible imports cell)
  const code = [...main.querySelectorAll('pre')].filter((c) => !c.closest('.cell-output') && !c.closest('details:not([open])')
    && (!top[0] || (c.compareDocumentPosition(top[0]) & Node.DOCUMENT_POSITION_FOLLOWING)));
  return {
    height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
    imports: code.some((c) => /^\s*(from\s+\S+\s+import\s|import\s)/m.test(c.textContent)),
    sections: top.map(title), after,
    exercises,
    notation: [...main.querySelectorAll('a[href]')].some((x) => /(^|\/)notation\.html([#?]|$)/.test(x.getAttribute('href'))),
  };
}"""

# The reference entries (show_doc): a heading followed by a signature code block that starts `def`/`class`
REFERENCE_JS = r"""() => {
  const out = [];
  document.querySelectorAll('main h2, main h3, main h4').forEach((h) => {
    const next = h.nextElementSibling;
    const code = next && (next.matches('pre') ? next : next.querySelector('pre'));
    const sig = code ? code.textContent.trim() : '';
    if (!/^(async\s+def|def|class)\s/.test(sig)) return;
    // show_doc's Markdown is "---", a "source" link, the heading, the signature: a rule (or the link) just above
    let src = null, rule = false;
    for (let e = h.previousElementSibling; e && !rule && !/^H[1-6]$/.test(e.tagName); e = e.previousElementSibling) {
      if (e.tagName === 'HR') { rule = true; break; }
      const l = [...e.querySelectorAll('a[href]')].find((x) => x.textContent.trim() === 'source');
      if (l) src = l.getAttribute('href'); else break;
    }
    if (!rule && !src) return;
    out.push({title: h.textContent.trim(), emphasis: !!h.querySelector('strong, em, b, i'), sig: sig.split('\n')[0].slice(0, 120), src,
              inFold: !!h.closest('details:not([open])')});
  });
  return out;
}"""

# At a phone's width, each figure: its rendered and natural widths, whether it opens full size on a tap, and the dpi
# the PNG says it was drawn at (matplotlib writes it in the pHYs chunk), to estimate the size of its text
FIGURES_JS = r"""async () => {
  const main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right + 1;
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const dpiOf = async (s) => {
    let b;
    try {
      if (s.startsWith('data:')) { const i = s.indexOf(',') + 1; b = Uint8Array.from(atob(s.slice(i, i + 800)), (c) => c.charCodeAt(0)); }
      else b = new Uint8Array(await (await fetch(s)).arrayBuffer()).slice(0, 8192);
    } catch (e) { return null; }
    for (let i = 8; i + 12 < b.length; i++)
      if (b[i] === 0x70 && b[i + 1] === 0x48 && b[i + 2] === 0x59 && b[i + 3] === 0x73)
        return b[i + 12] === 1 ? (((b[i + 4] << 24) | (b[i + 5] << 16) | (b[i + 6] << 8) | b[i + 7]) >>> 0) * 0.0254 : null;
    return null;
  };
  const out = [];
  for (const img of main.querySelectorAll('img')) {
    if (img.closest('details:not([open])') || img.naturalWidth < 100) continue;  // folded, or an icon
    const r = img.getBoundingClientRect();
    const box = (() => { for (let e = img.parentElement; e && e !== main; e = e.parentElement) if (scrolls(e)) return e; return null; })();
    const link = img.closest('a[href]');
    const lightbox = !!link && (link.matches('.lightbox, .glightbox, [data-lightbox]') || /\.(png|jpe?g|gif|svg|webp)([?#]|$)/i.test(link.getAttribute('href')));
    out.push({alt: (img.getAttribute('alt') || img.currentSrc).slice(0, 50), width: r.width, natural: img.naturalWidth,
              fits: r.right <= right || (!!box && box.getBoundingClientRect().right <= right),
              lightbox, href: link ? link.href : null, dpi: await dpiOf(img.currentSrc || img.src)});
  }
  return out;
}"""

class Results:
    "PASS/WARN/FAIL lines, one per check."
    def __init__(self): self.failed, self.warned, self.passed = [], [], 0
    def check(self, ok, name, detail=""):
        print(f"{'PASS' if ok else 'FAIL'}  {name}{(': ' + detail) if detail else ''}", flush=True)
        if ok: self.passed += 1
        else: self.failed.append(name)
        return ok
    def warn(self, name, detail=""):
        print(f"WARN  {name}{(': ' + detail) if detail else ''}", flush=True)
        self.warned.append(name)


def serve(site):
    "Serve `site` on a free localhost port, in a thread. Returns (server, base url)."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


def wait_until(page, js, what, bound, arg=None):
    "Poll the predicate `js` until it holds. Returns None, or a message naming what did not happen within `bound` s."
    from playwright.sync_api import TimeoutError as PWTimeout
    t0 = time.perf_counter()
    try: page.wait_for_function(js, arg=arg, timeout=bound * 1000, polling=100)
    except PWTimeout: return f"gave up after {bound:.0f} s waiting for {what}"
    dt = time.perf_counter() - t0
    if dt > 5: print(f"      ({what}: {dt:.1f} s)", flush=True)
    return None


def walk_checks(w):
    "A walk page's shape (WALK_JS): [(ok, check, detail)]."
    secs, ex = w["sections"], w["exercises"]
    tail_ok = len(secs) >= 2 and re.match(SUMMARY_RE, secs[-2], re.I) and re.match(EXERCISES_RE, secs[-1], re.I)
    unsolved = [e["title"] for e in ex if not e["solutions"]]
    open_ = [e["title"] for e in ex if e["solutions"] and not e["collapsed"]]
    return [
        (w["height"] <= SCREEN * MAX_SCREENS, f"at most {MAX_SCREENS} screens tall",
         f"{w['height'] / SCREEN:.1f} screens ({w['height']} px at 1280 px; the budget is {SCREEN * MAX_SCREENS} px)"),
        (bool(tail_ok) and not w["after"], "ends with the summary, then the exercises",
         "last sections: " + " > ".join(f"{s!r}" for s in secs[-3:]) + ("" if tail_ok else " (want 'What we learned'/'What we built', then 'Exercises')")
         + (f"; after them: {w['after'][:3]}" if w["after"] else "")),
        (len(ex) >= MIN_EXERCISES, f"has at least {MIN_EXERCISES} exercises", f"{len(ex)}: {[e['title'] for e in ex][:6]}"),
        (bool(ex) and not unsolved and not open_, "every exercise has a collapsed solution (<details> 'Solution')",
         (f"no solution: {unsolved[:4]}" if unsolved else "") + (f"; shown open: {open_[:4]}" if open_ else "") or f"{len(ex)} folded"),
        (w["notation"], "links the notation page (notation.html)", ""),
        (w["imports"], "shows its imports as code before its first section",
         "" if w["imports"] else "no import shown above the first section: the imports cell must be `#| exports` "
         "(shown), not `#| export` (nbdev hides its code)"),
    ]


def reference_checks(entries):
    """The reference entries (REFERENCE_JS): each titled with its own symbol, dunders whole, classes as classes, none
    twice. [(ok, check, detail)]."""
    bad_title, wrong_name, as_def, emph = [], [], [], []
    for e in entries:
        m = re.match(r"(?:async\s+def|def|class)\s+(\w+)", e["sig"])
        name, last = (m.group(1) if m else ""), e["title"].rsplit(".", 1)[-1]
        if e["title"] == "show_doc" or name == "show_doc" or (e["src"] and "/nbdev/" in e["src"]):
            bad_title.append(f"{e['title']} ({e['sig'][:40]}; source {e['src']})")
        elif last != name: wrong_name.append(f"{e['title']!r} documents {name!r}")
        if e["emphasis"]: emph.append(e["title"])
        if e["sig"].startswith("def ") and last[:1].isupper(): as_def.append(f"{e['title']}: {e['sig'][:40]}")
    twice = [f"{k} (x{n})" for k, n in Counter(e["title"] for e in entries).items() if n > 1]
    n = len(entries)
    return [
        (not bad_title, "reference entries: none is nbdev's own show_doc", "; ".join(bad_title[:4]) or f"{n} entries"),
        (not wrong_name and not emph, "reference entries: titled with their own symbol (dunders keep their underscores)",
         "; ".join(wrong_name[:4] + [f"{t!r} has bold/italic in its title" for t in emph[:4]])),
        (not as_def, "reference entries: classes render as classes", "; ".join(as_def[:4])),
        (not twice, "reference entries: none appears twice", ", ".join(twice[:6])),
    ]


def figure_checks(figs):
    """Figures at 390 px (FIGURES_JS): each renders at >= 60% of its natural width or opens full size on a tap, and its
    text is >= 9 CSS px: a FIG_FONT_PT font at the PNG's dpi (matplotlib's 100 if it does not say), times the rendered
    / natural width, or at full size (x1) when it opens in a lightbox. [(ok, check, detail)] and one line per figure."""
    bad, lines = [], []
    for f in figs:
        ratio = f["width"] / f["natural"] if f["natural"] else 0
        px = FIG_FONT_PT / 72 * (f["dpi"] or 100)  # text height in the image's own pixels
        inline, full = px * ratio, px
        ok = f["fits"] and (ratio >= FIG_MIN_RATIO or f["lightbox"]) and (inline >= FIG_MIN_TEXT_PX or (f["lightbox"] and full >= FIG_MIN_TEXT_PX))
        line = (f"{f['alt'][:40]!r}: {f['width']:.0f}/{f['natural']} px ({ratio:.0%}), text ~{inline:.1f} px"
                + (f", {full:.0f} px full size (lightbox)" if f["lightbox"] else ", no lightbox") + ("" if f["fits"] else ", wider than the column"))
        lines.append(line)
        if not ok: bad.append(line)
    return [(not bad, f"figures readable at 390 px (>= {FIG_MIN_RATIO:.0%} wide or a lightbox; text >= {FIG_MIN_TEXT_PX} px)",
             "; ".join(bad[:4]) or f"{len(figs)} figure(s)")], lines


def visit(page, url, bound):
    "Open a page and wait until it is whole: its load event, its maths rendered, its images decoded (or failed)."
    resp = page.goto(url, wait_until="load", timeout=bound * 1000)
    waits = [wait_until(page, MATH_DONE_JS, "KaTeX to render the maths", bound)]
    page.evaluate(IMAGES_EAGER_JS)
    waits.append(wait_until(page, IMAGES_DONE_JS, "every image to decode", bound))
    page.evaluate("document.fonts.ready.then(() => true)")
    return resp, [w for w in waits if w]


def run(site, shots, chromium, search_term, search_page, bound, nbs):
    from playwright.sync_api import sync_playwright
    R = Results()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    if not R.check(bool(pages) and "index.html" in pages, "site has pages", f"{len(pages)} in {site}"): return R
    listed, missing = site_pages(nbs)
    for m in missing: R.warn(f"sidebar page not checked: {m}")
    in_sidebar = {nb for nb, _, _ in site_map.sidebar(nbs / "sidebar.yml")}
    stray = sorted(f.name for f in nbs.glob("*.ipynb") if not f.name.startswith(("_", ".")) and f.name not in in_sidebar)
    R.check(not stray, "every notebook is in nbs/sidebar.yml (the walk or under the hood)", ", ".join(stray))
    order = list(listed)  # the sidebar's order: previous/next follow it
    visits = order + [p for p in pages if p not in order]
    srv, base = serve(site)
    origin = base.rstrip("/")
    shots.mkdir(parents=True, exist_ok=True)
    links, ids, page_info, entry_pages = defaultdict(set), {}, {}, defaultdict(set)
    fallback_alts = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS, timeout=bound * 1000)
        print(f"browser: {chromium} (Chromium {browser.version}), driven by Playwright; no browser of Playwright's own", flush=True)
        self_test(browser, R)
        external, failed, errors = [], [], []
        def route(r):  # the site must need no network: anything not from our server is refused and reported
            if r.request.url.startswith(origin) or r.request.url.startswith("data:"): r.continue_()
            else: external.append(r.request.url); r.abort()

        for vp, size in VIEWPORTS.items():
            ctx = browser.new_context(viewport=size)
            ctx.set_default_timeout(bound * 1000)
            ctx.route("**/*", route)
            page = ctx.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
            page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} (HTTP {r.status})"))
            desktop = vp == "1280px"
            for rel in visits:
                external.clear(); failed.clear(); errors.clear()
                name = f"{rel} @{vp}"
                if rel not in pages:
                    R.check(False, f"{name}: exists", f"{listed[rel][0]} is in the repository, but the site has no {rel}")
                    continue
                resp, timeouts = visit(page, base + rel, bound)
                nb, _, is_walk, needle = listed.get(rel, (None, None, False, None))
                info = page.evaluate(PAGE_JS, {"notebook": REPO + nb if nb else "", "needle": needle, "paths": list(MACHINE_PATHS)})
                imgs = page.evaluate(IMAGES_JS)
                R.check(resp is not None and resp.status == 200 and not timeouts, f"{name}: loads",
                        f"HTTP {resp.status if resp else '?'}; {info['title']}" + (f"; {'; '.join(timeouts)}" if timeouts else ""))
                R.check(not errors, f"{name}: no console errors", "; ".join(errors[:5]))
                R.check(not failed, f"{name}: no failed requests", "; ".join(failed[:5]))
                R.check(not external, f"{name}: no request to another host", "; ".join(external[:5]))
                raw = page.evaluate(RAW_TEX_JS)
                math_ok = info["katex"] >= info["math"] and not info["katexErrors"] and not raw
                R.check(math_ok, f"{name}: maths rendered",
                        f"{info['math']} formula(s), {info['katex']} KaTeX element(s)"
                        + (f"; KaTeX errors {info['katexErrors'][:3]}" if info["katexErrors"] else "")
                        + (f"; raw TeX left: {raw[:3]}" if raw else ""))
                if rel in listed:  # the sidebar's pages, at both widths: its notebook, then previous / next in order
                    R.check(info["notebookVisible"], f"{name}: links its notebook", f"{info['notebookLinks']} visible link(s) to {REPO}{nb}")
                    i = order.index(rel)
                    want = {"prev": order[i - 1] if i > 0 else None, "next": order[i + 1] if i + 1 < len(order) else None}
                    got = {k: (info[k] or {}).get("href") for k in want}
                    shown = all((info[k] or {}).get("visible") for k in want if want[k])
                    R.check(got == want and shown, f"{name}: previous/next links", f"previous {got['prev']}, next {got['next']}"
                            + ("" if got == want else f" (expected {want['prev']}, {want['next']})") + ("" if shown else "; not visible"))
                    if needle:
                        R.check(info["codeVisible"], f"{name}: shows the source of its main definition",
                                f"{'a' if info['code'] else 'no'} code block with {needle!r}" + ("" if info["codeVisible"] or not info["code"] else ", but hidden"))
                if desktop:  # once per page: what does not depend on the width
                    page_info[rel] = info
                    ids[rel] = set(info["ids"])
                    for l in info["links"]:
                        if l.startswith(origin): links[l].add(rel)
                    bad_imgs = [i["src"] for i in imgs if not i["ok"]]
                    R.check(not bad_imgs, f"{name}: every <img> loaded", f"{len(imgs) - len(bad_imgs)}/{len(imgs)}" + (f"; broken: {bad_imgs[:3]}" if bad_imgs else ""))
                    no_alt = [i["src"] for i in imgs if not i["alt"]]
                    R.check(not no_alt, f"{name}: every <img> has alt text", f"{len(imgs) - len(no_alt)}/{len(imgs)}" + (f"; none on: {no_alt[:3]}" if no_alt else ""))
                    fallback_alts += [f"{rel}: {i['alt']!r}" for i in imgs if i["fallback"]]
                    R.check(not info["machinePaths"], f"{name}: no machine paths ({', '.join(MACHINE_PATHS)})", "; ".join(info["machinePaths"][:3]))
                    R.check(not info["noneType"], f"{name}: no \"NoneType\" in the reference", f"{info['noneType']} table(s) or signature(s) show it" if info["noneType"] else "")
                    R.check(not info["blankRows"], f"{name}: every reference row has its docments", ", ".join(info["blankRows"][:10]))
                    side = info["sidebar"]
                    cfg_links = [h for h in side if h.split("#")[0].rsplit("/", 1)[-1] in CONFIG_FILES or not h.split("#")[0].endswith(".html")]
                    R.check(bool(side) and not cfg_links, f"{name}: sidebar lists only pages", f"{len(side)} link(s)" + (f"; not pages: {cfg_links}" if cfg_links else ""))
                    # pages the site has (a sidebar link to a page it lacks fails "exists" and the link check instead)
                    side_pages = [h for h in dict.fromkeys(h.split("#")[0].rsplit("/", 1)[-1] for h in side) if h in pages]
                    parts = [s for s in (site_map.WALK_SECTION, site_map.HOOD_SECTION) if s not in info["sidebarText"]]
                    R.check(side_pages == [r for r in order if r in pages] and not parts, f"{name}: sidebar is nbs/sidebar.yml's, in its order",
                            " > ".join(side_pages) + (f"; no section {parts}" if parts else ""))
                    entries = page.evaluate(REFERENCE_JS)
                    for ok, check, detail in reference_checks(entries):
                        R.check(ok, f"{name}: {check}", detail)
                    for e in entries: entry_pages[e["title"]].add(rel)
                    if is_walk:
                        w = page.evaluate(WALK_JS, {"exercises": EXERCISES_RE})
                        for ok, check, detail in walk_checks(w):
                            R.check(ok, f"{name}: walk page {check}", detail)
                    if rel == "index.html":
                        R.check(info["jupyter"], f"{name}: says how to open the notebooks", "names `jupyter lab`" if info["jupyter"] else "no `jupyter lab` on the home page")
                else:
                    for ok, check, detail in figure_checks(page.evaluate(FIGURES_JS))[0]:
                        R.check(ok, f"{name}: {check}", detail)
                    n = page.evaluate(NARROW_JS)
                    R.check(n["pageWidth"] <= n["width"] + 1 and not n["bad"], f"{name}: fits the screen",
                            f"page {n['pageWidth']} px wide in a {n['width']} px window"
                            + (f"; {n['bad'][:3]}" if n["bad"] else "")
                            + (f"; {len(n['scrollingMaths'])} formula(s) scroll with a cue" if n["scrollingMaths"] else ""))
                if rel == "index.html" and desktop: page.screenshot(path=str(shots / "home.png"), full_page=True)
                if rel == search_page: page.screenshot(path=str(shots / f"cross-entropy-{vp}.png"), full_page=desktop)

            if desktop:
                # every internal link: the file answers 200, and an #anchor names an element on that page
                bad, anchors, n_frag = [], [], 0
                for l, where in sorted(links.items()):
                    target, frag = urldefrag(l)
                    rel = unquote(urlsplit(target).path).lstrip("/") or "index.html"
                    if rel.endswith("/"): rel += "index.html"
                    short = l[len(origin) + 1:]
                    if rel not in ids:
                        r = ctx.request.get(target)
                        if r.status != 200: bad.append(f"{short} (HTTP {r.status}, from {sorted(where)[0]})"); continue
                    if frag and rel in ids:
                        n_frag += 1
                        if unquote(frag) not in ids[rel]: anchors.append(f"{short} (from {', '.join(sorted(where)[:3])})")
                R.check(not bad, "every internal link resolves (HTTP 200)", f"{len(links)} distinct link(s)" + (f"; broken: {bad[:8]}" if bad else ""))
                R.check(not anchors, "every internal #anchor exists on its page", f"{n_frag} link(s) with an anchor"
                        + (f"; missing (a backticked name nbdev links to a heading that no show_doc made?): {anchors[:8]}" if anchors else ""))

                # search, as a reader does it: type into the navbar box on the home page, wait for the index, open the hit
                errors.clear(); external.clear(); failed.clear()
                visit(page, base + "index.html", bound)
                box = page.locator(".smalldocs-search input, #quarto-search input").first
                index_wait = None
                try:
                    with page.expect_response(lambda r: urlsplit(r.url).path.endswith("/search.json"), timeout=bound * 1000):
                        box.click()
                except Exception: index_wait = f"the search index (search.json) was not fetched within {bound:.0f} s"
                box.fill(search_term)
                sel = ".smalldocs-search-results a.search-result, .smalldocs-search-results .search-none"
                res_wait = wait_until(page, f"() => document.querySelector({sel!r})", "search results", bound)
                hits = page.eval_on_selector_all(".smalldocs-search-results a.search-result", "els => els.map((a) => a.getAttribute('href'))")
                page.screenshot(path=str(shots / "search.png"))
                found = [h for h in hits if h.split("#")[0].endswith(search_page)]
                if R.check(bool(found), f'search "{search_term}" finds {search_page}', f"{len(hits)} hit(s): {hits[:4]}"
                           + "".join(f"; {w}" for w in (index_wait, res_wait) if w)):
                    with page.expect_navigation(wait_until="load"):
                        page.locator(".smalldocs-search-results a.search-result").nth(hits.index(found[0])).click()
                    R.check(page.url.split("#")[0].endswith(search_page), "the search hit opens the page", page.url.replace(origin, ""))
                R.check(not errors and not external and not failed, "search: no console errors or failed requests", "; ".join((errors + external + failed)[:5]))
            ctx.close()

        # the pages show their content: the cross-entropy page has maths, outputs, a plot and show_doc tables
        if R.check(search_page in page_info, f"{search_page} exists"):
            i = page_info[search_page]
            R.check(i["katex"] > 0, f"{search_page}: has rendered maths", f"{i['katex']} KaTeX element(s)")
            R.check(i["outputs"] > 0, f"{search_page}: saved outputs visible", f"{i['outputs']} cell output(s)")
            R.check(i["tables"] > 0, f"{search_page}: show_doc tables", f"{i['tables']} table(s)")
        for title, where in sorted(entry_pages.items()):
            if len(where) > 1: R.warn(f"reference entry {title} is on {len(where)} pages", ", ".join(sorted(where)))
        n_out = sum(pi["outputs"] for pi in page_info.values())
        R.check(n_out > 0, "the site shows saved cell outputs", f"{n_out} output(s) on {len(page_info)} page(s)")
        R.check(not fallback_alts, f"every figure has its cell's `#| fig-alt:` text, not the build's fallback "
                f"({len(fallback_alts)} without)", "; ".join(fallback_alts[:12]) + (" ..." if len(fallback_alts) > 12 else ""))
        browser.close()
    srv.shutdown()
    return R


# ---------------------------------------------------------------- the checks, checked

def _png(width, height, dpi):
    "A blank grey PNG that says it was drawn at `dpi` (a pHYs chunk, as matplotlib writes)."
    import struct, zlib
    def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    rows = b"".join(b"\x00" + b"\xc8" * width for _ in range(height))
    ppm = round(dpi / 0.0254)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _entry(title, sig, src="https://github.com/minibatch-dev/minibatch/blob/main/minibatch/x.py#L1"):
    "A reference entry as nbdev's show_doc Markdown renders: a rule, the source link, the heading, the signature."
    return (f'<div class="cell-output cell-output-display cell-output-markdown"><hr /><p><a href="{src}">source</a></p>'
            f'<h3 class="anchored">{title}</h3><div class="sourceCode"><pre class="sourceCode python"><code>{sig}</code></pre></div></div>')


def self_test(browser, R):
    """Each page check run on small pages made to break it once: it must fail on the broken page and pass on the good
    one, so that a check that has silently stopped seeing anything is caught here."""
    import base64
    ctx = browser.new_context(viewport=VIEWPORTS["1280px"])
    page = ctx.new_page()
    def main(body): return f'<html><body><main id="quarto-document-content">{body}</main></body></html>'
    good = _entry("Module", "class Module()") + _entry("Module.__repr__", "def __repr__():") + _entry("fit", "def fit(\n  model\n):")
    bad = {
        "none is nbdev's own show_doc": _entry("show_doc", "def show_doc(\n  sym,", "https://github.com/AnswerDotAI/nbdev/blob/main/nbdev/showdoc.py#L60"),
        "titled with their own symbol": _entry("Module.<strong>repr</strong>", "def __repr__():"),
        "classes render as classes": _entry("Module", "def Module():"),
        "none appears twice": _entry("MNISTDataModule.setup", "def setup():") * 2,
    }
    def ref(body):
        page.set_content(main(body))
        return {c.split(": ", 1)[1].split(" (")[0]: ok for ok, c, _ in reference_checks(page.evaluate(REFERENCE_JS))}
    ok_good = all(ref(good).values())
    R.check(ok_good, "self-test: the reference checks pass good entries", f"{ref(good)}" if not ok_good else "")
    for name, body in bad.items():
        got = ref(good + body)
        R.check(got.get(name) is False, f"self-test: the reference check '{name}' fails where it should", f"{got}")
    # a walk page: tall, the exercises before the summary, an open solution, no notation link, no imports shown
    ex = lambda k, fold: (f'<section class="level3"><h3>Exercise {k}: x</h3><p>?</p>'
                          f'<details{"" if fold else " open"} class="code-fold"><summary>Solution</summary><pre><code>1</code></pre></details></section>')
    def walk(body):
        page.set_content(main(body))
        return {c: ok for ok, c, _ in walk_checks(page.evaluate(WALK_JS, {"exercises": EXERCISES_RE}))}
    good_walk = ('<pre><code>import torch</code></pre><section class="level2"><h2>Idea</h2><p><a href="notation.html#logit">logit</a></p></section>'
                 '<section class="level2"><h2>What we learned</h2></section><section class="level2"><h2>Exercises</h2>'
                 + "".join(ex(k, True) for k in (1, 2, 3)) + '</section><nav class="page-navigation"><a href="a.html">next</a></nav>')
    got = walk(good_walk)
    R.check(all(got.values()), "self-test: the walk checks pass a good page", "" if all(got.values()) else f"{got}")
    broken = {
        f"at most {MAX_SCREENS} screens tall": good_walk.replace("<p>?</p>", f'<div style="height:{SCREEN * MAX_SCREENS // 3 + 10}px"></div>'),
        "ends with the summary, then the exercises": good_walk.replace('<nav class="page-navigation">', '<section class="level2"><h2>Appendix</h2><p>more</p></section><nav class="page-navigation">'),
        f"has at least {MIN_EXERCISES} exercises": good_walk.replace(ex(3, True), ""),
        "every exercise has a collapsed solution (<details> 'Solution')": good_walk.replace(ex(2, True), ex(2, False)),
        "links the notation page (notation.html)": good_walk.replace("notation.html#logit", "losses.html"),
        "shows its imports as code before its first section": good_walk.replace("import torch", "x = 1"),
    }
    for name, body in broken.items():
        got = walk(body)
        R.check(got.get(name) is False, f"self-test: the walk check '{name}' fails where it should", "" if got.get(name) is False else f"{got}")
    ctx.close()
    # figures at 390 px: a 7-inch figure at 200 dpi in the column, with and without a lightbox, and one drawn small
    ctx = browser.new_context(viewport=VIEWPORTS["390px"])
    page = ctx.new_page()
    def figs(body):
        page.set_content(f'<html><head><style>img{{max-width:100%}}</style></head><body style="margin:0 17px">{main(body)}</body></html>')
        page.wait_for_function(IMAGES_DONE_JS)
        return figure_checks(page.evaluate(FIGURES_JS))[0][0][0]
    wide = "data:image/png;base64," + base64.b64encode(_png(1400, 300, 200)).decode()
    small = "data:image/png;base64," + base64.b64encode(_png(500, 300, 100)).decode()
    cases = [(f'<img src="{wide}" alt="w">', False, "a 7-inch figure shrunk to the column, no lightbox"),
             (f'<a href="f.png" class="lightbox"><img src="{wide}" alt="w"></a>', True, "the same figure in a lightbox"),
             (f'<img src="{small}" alt="s">', True, "a 5-inch figure at 100 dpi"),
             (f'<img src="{small}" alt="s" style="width:120px">', False, "a figure at 24% of its width")]
    for body, want, what in cases:
        got = figs(body)
        R.check(got == want, f"self-test: the figure check {'passes' if want else 'fails'} {what}", "" if got == want else f"got {got}")
    row = "<tr>" + "".join(f"<td>column{i:02d}</td>" for i in range(12)) + "</tr>"
    for style, want, what in [("", False, "a wide table that overflows the page"),
                              ("display:block;overflow-x:auto;max-width:100%", True, "a wide table that scrolls in its own box")]:
        page.set_content(f'<html><body style="margin:0 17px">{main(f"<table style={chr(34)}{style}{chr(34)}>{row}</table>")}</body></html>')
        n = page.evaluate(NARROW_JS)
        got = n["pageWidth"] <= n["width"] + 1 and not n["bad"]
        R.check(got == want, f"self-test: the narrow-screen check {'passes' if want else 'fails'} {what}", "" if got == want else f"{n}")
    ctx.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "_docs", help="the built site (default _docs/)")
    ap.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="the notebooks (a walk page is required once its notebook exists)")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "screenshots", help="where screenshots go (ignored by git)")
    ap.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"), help="the browser (Debian's chromium)")
    ap.add_argument("--search", default="logsumexp", help="the term to search for")
    ap.add_argument("--search-page", default="losses.html", help="the page the search must find (the cross-entropy page)")
    ap.add_argument("--bound", type=float, default=180, help="last-resort limit, in seconds, on each wait (default 180)")
    a = ap.parse_args(argv)
    if not a.chromium.exists():
        print(f"FAIL  browser: {a.chromium} not found (apt-get install -y chromium)"); return 1
    if not (a.site / "index.html").exists():
        print(f"FAIL  site: {a.site}/index.html not found (python tools/build_docs.py)"); return 1
    t0 = time.perf_counter()
    R = run(a.site.resolve(), a.screenshots, a.chromium, a.search, a.search_page, a.bound, a.nbs.resolve())
    print(f"browser test: {R.passed} passed, {len(R.failed)} failed, {len(R.warned)} warning(s) "
          f"({time.perf_counter() - t0:.1f}s); screenshots in {a.screenshots}")
    for w in R.warned: print(f"  warning: {w}")
    for f in R.failed: print(f"  failed: {f}")
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
