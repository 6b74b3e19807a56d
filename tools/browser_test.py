#!/usr/bin/env python
"""Test the built docs site (`_docs/`) in a real browser: Debian's chromium, headless, driven by Playwright.

    python tools/build_docs.py && python tools/browser_test.py

Serves the site on a free localhost port and visits every page at a desktop width (1280 px) and a phone width
(390 px). It checks: no console errors and no failed request; no request to any other host (the site must work
offline); maths rendered by KaTeX with no raw TeX left; every <img> loaded and with alt text (a figure whose alt is the
build's fallback, not the cell's `#| fig-alt:`, is a failure); every internal link (and its #anchor) resolves; the
sidebar lists only pages, in the walk's order; each page links its notebook and has previous/next links in that order;
each walk page shows the source of its main definition in a code block; no page shows a machine path; the home page
says how to open the notebooks; at 390 px nothing is wider than the screen, and display maths that does not fit
scrolls inside the column with a visible cue; a search for "logsumexp" finds the cross-entropy page.

It waits on the conditions it checks (the page's load event, KaTeX's output, decoded images, the search index's
response), never on network idleness or a fixed sleep; `--bound` is only the last-resort limit on each wait, generous
so that a busy machine passes, and a wait that reaches it fails with a message naming what did not happen.
Saves screenshots to `screenshots/`. Prints PASS/WARN/FAIL per check and exits non-zero on any failure.
"""
import argparse, functools, http.server, sys, threading, time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urldefrag, urlsplit, unquote

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONFIG_FILES = ("nbdev.yml", "_quarto.yml", "sidebar.yml", "styles.css", "pyproject.toml", "_metadata.yml")
REPO = "https://github.com/minibatch-dev/minibatch/blob/main/"
VIEWPORTS = {"1280px": {"width": 1280, "height": 900}, "390px": {"width": 390, "height": 844}}
# The walk, in order: page -> (its notebook, the start of its main definition's source, or None)
WALK = {
    "index.html":       ("nbs/index.ipynb", None),
    "losses.html":      ("nbs/01_losses.ipynb", "def log_softmax("),
    "mnist.html":       ("nbs/03_mnist.ipynb", None),
    "loop.html":        ("nbs/04_loop.ipynb", "def accuracy("),
    "optim.html":       ("nbs/05_optim.ipynb", "class SGD("),
    "dataloader.html":  ("nbs/06_dataloader.ipynb", "class DataLoader("),
    "training.html":    ("nbs/07_training.ipynb", "def fit("),
    "distributed.html": ("nbs/09_distributed.ipynb", "class DistributedSampler("),
    "benchmarks.html":  ("nbs/14_benchmarks.ipynb", None),
}
MACHINE_PATHS = ("/tmp/", "/root/")

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
  return {pageWidth: document.documentElement.scrollWidth, width: W, bad, scrollingMaths: cut};
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


def walk_order(pages, nbs):
    "The walk's pages that exist, in order, and a warning for each one not written yet (its notebook is missing too)."
    order, missing = [], []
    for rel, (nb, _) in WALK.items():
        if rel in pages: order.append(rel)
        elif not (nbs.parent / nb).exists(): missing.append(f"{rel} ({nb} not written yet)")
        else: order.append(rel)  # the notebook exists, so its page must: the checks below fail on it
    return order, missing


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
    order, missing = walk_order(pages, nbs)
    for m in missing: R.warn(f"walk page not checked: {m}")
    visits = [rel for rel in order] + [p for p in pages if p not in order]
    srv, base = serve(site)
    origin = base.rstrip("/")
    shots.mkdir(parents=True, exist_ok=True)
    links, ids, page_info = defaultdict(set), {}, {}
    fallback_alts = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS, timeout=bound * 1000)
        print(f"browser: {chromium} (Chromium {browser.version}), driven by Playwright; no browser of Playwright's own", flush=True)
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
                    R.check(False, f"{name}: exists", f"{WALK[rel][0]} is in the repository, but the site has no {rel}")
                    continue
                resp, timeouts = visit(page, base + rel, bound)
                nb, needle = WALK.get(rel, (None, None))
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
                if rel in WALK:  # the walk's navigation, at both widths: its notebook, then previous / next in order
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
                    side_walk = [h.split("#")[0].rsplit("/", 1)[-1] for h in side]
                    side_walk = [h for h in dict.fromkeys(side_walk) if h in WALK]
                    R.check(side_walk == [r for r in order if r in pages], f"{name}: sidebar in the walk's order", " > ".join(side_walk))
                    if rel == "index.html":
                        R.check(info["jupyter"], f"{name}: says how to open the notebooks", "names `jupyter lab`" if info["jupyter"] else "no `jupyter lab` on the home page")
                else:
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
        n_out = sum(pi["outputs"] for pi in page_info.values())
        R.check(n_out > 0, "the site shows saved cell outputs", f"{n_out} output(s) on {len(page_info)} page(s)")
        R.check(not fallback_alts, f"every figure has its cell's `#| fig-alt:` text, not the build's fallback "
                f"({len(fallback_alts)} without)", "; ".join(fallback_alts[:12]) + (" ..." if len(fallback_alts) > 12 else ""))
        browser.close()
    srv.shutdown()
    return R


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
