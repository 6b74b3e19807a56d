#!/usr/bin/env python
"""Test the built docs site (`_docs/`) in a real browser: Debian's chromium, headless, driven by Playwright.

    python tools/build_docs.py && python tools/browser_test.py

Serves the site on a free localhost port, visits every page, and checks: no console errors and no failed request;
no request to any other host (the site must work offline); maths rendered by KaTeX with no raw TeX left; every
<img> loaded; every internal link (and its #anchor) resolves; the sidebar lists only pages; a search for
"logsumexp" finds the cross-entropy page. Saves screenshots to `screenshots/`. Prints PASS/FAIL per check and
exits non-zero on any failure.
"""
import argparse, functools, http.server, sys, threading, time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urldefrag, urlsplit, unquote

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CONFIG_FILES = ("nbdev.yml", "_quarto.yml", "sidebar.yml", "styles.css", "pyproject.toml", "_metadata.yml")

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

IMAGES_JS = """async () => {
  const imgs = [...document.images];
  imgs.forEach((i) => { i.loading = 'eager'; });
  await Promise.all(imgs.map((i) => i.decode().catch(() => null)));
  return imgs.map((i) => ({src: i.currentSrc.slice(0, 80), ok: i.complete && i.naturalWidth > 0}));
}"""

PAGE_JS = """() => ({
  links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
  ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
  sidebar: [...document.querySelectorAll('#quarto-sidebar a[href]')].map((a) => a.getAttribute('href')),
  math: document.querySelectorAll('.math').length,
  katex: document.querySelectorAll('.katex').length,
  katexErrors: [...document.querySelectorAll('.katex-error')].map((e) => e.textContent.slice(0, 80)),
  outputs: document.querySelectorAll('.cell-output').length,
  tables: document.querySelectorAll('main table').length,
  title: document.title,
})"""


class Results:
    "PASS/FAIL lines, one per check."
    def __init__(self): self.failed, self.passed = [], 0
    def check(self, ok, name, detail=""):
        print(f"{'PASS' if ok else 'FAIL'}  {name}{(': ' + detail) if detail else ''}", flush=True)
        if ok: self.passed += 1
        else: self.failed.append(name)
        return ok


def serve(site):
    "Serve `site` on a free localhost port, in a thread. Returns (server, base url)."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


def run(site, shots, chromium, search_term, search_page):
    from playwright.sync_api import sync_playwright
    R = Results()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    if not R.check(bool(pages) and "index.html" in pages, "site has pages", f"{len(pages)} in {site}"): return R
    srv, base = serve(site)
    origin = base.rstrip("/")
    shots.mkdir(parents=True, exist_ok=True)
    links, ids, page_info = defaultdict(set), {}, {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        external, failed, errors = [], [], []
        def route(r):  # the site must need no network: anything not from our server is refused and reported
            if r.request.url.startswith(origin) or r.request.url.startswith("data:"): r.continue_()
            else: external.append(r.request.url); r.abort()
        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.url} (HTTP {r.status})"))

        for rel in pages:
            external.clear(); failed.clear(); errors.clear()
            url = base + rel
            resp = page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            page.evaluate("document.fonts.ready.then(() => true)")
            info = page.evaluate(PAGE_JS)
            imgs = page.evaluate(IMAGES_JS)
            raw = page.evaluate(RAW_TEX_JS)
            page_info[rel] = info
            ids[rel] = set(info["ids"])
            for l in info["links"]:
                if l.startswith(origin): links[l].add(rel)
            R.check(resp is not None and resp.status == 200, f"{rel}: loads", f"HTTP {resp.status if resp else '?'}; {info['title']}")
            R.check(not errors, f"{rel}: no console errors", "; ".join(errors[:5]))
            R.check(not failed, f"{rel}: no failed requests", "; ".join(failed[:5]))
            R.check(not external, f"{rel}: no request to another host", "; ".join(external[:5]))
            math_ok = info["katex"] >= info["math"] and not info["katexErrors"] and not raw
            R.check(math_ok, f"{rel}: maths rendered",
                    f"{info['math']} formula(s), {info['katex']} KaTeX element(s)"
                    + (f"; KaTeX errors {info['katexErrors'][:3]}" if info["katexErrors"] else "")
                    + (f"; raw TeX left: {raw[:3]}" if raw else ""))
            bad_imgs = [i["src"] for i in imgs if not i["ok"]]
            R.check(not bad_imgs, f"{rel}: every <img> loaded", f"{len(imgs) - len(bad_imgs)}/{len(imgs)}" + (f"; broken: {bad_imgs[:3]}" if bad_imgs else ""))
            side = info["sidebar"]
            cfg_links = [h for h in side if h.split("#")[0].rsplit("/", 1)[-1] in CONFIG_FILES or not h.split("#")[0].endswith(".html")]
            R.check(bool(side) and not cfg_links, f"{rel}: sidebar lists only pages", f"{len(side)} link(s)" + (f"; not pages: {cfg_links}" if cfg_links else ""))
            if rel == "index.html": page.screenshot(path=str(shots / "home.png"), full_page=True)
            if rel == search_page: page.screenshot(path=str(shots / "cross-entropy.png"), full_page=True)

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

        # the pages show their content: the cross-entropy page has maths, outputs, a plot and show_doc tables
        if R.check(search_page in page_info, f"{search_page} exists"):
            i = page_info[search_page]
            R.check(i["katex"] > 0, f"{search_page}: has rendered maths", f"{i['katex']} KaTeX element(s)")
            R.check(i["outputs"] > 0, f"{search_page}: saved outputs visible", f"{i['outputs']} cell output(s)")
            R.check(i["tables"] > 0, f"{search_page}: show_doc tables", f"{i['tables']} table(s)")
        n_out = sum(pi["outputs"] for pi in page_info.values())
        R.check(n_out > 0, "the site shows saved cell outputs", f"{n_out} output(s) on {len(page_info)} page(s)")

        # search, as a reader does it: type into the navbar box on the home page, open the hit
        errors.clear(); external.clear(); failed.clear()
        page.goto(base + "index.html", wait_until="load")
        box = page.locator(".smalldocs-search input, #quarto-search input").first
        box.click(); box.fill(search_term)
        try: page.wait_for_selector(".smalldocs-search-results a.search-result", timeout=5000)
        except Exception: pass
        hits = page.eval_on_selector_all(".smalldocs-search-results a.search-result", "els => els.map((a) => a.getAttribute('href'))")
        page.screenshot(path=str(shots / "search.png"))
        found = [h for h in hits if h.split("#")[0].endswith(search_page)]
        if R.check(bool(found), f'search "{search_term}" finds {search_page}', f"{len(hits)} hit(s): {hits[:4]}"):
            page.locator(".smalldocs-search-results a.search-result").nth(hits.index(found[0])).click()
            page.wait_for_load_state("load")
            R.check(page.url.split("#")[0].endswith(search_page), "the search hit opens the page", page.url.replace(origin, ""))
        R.check(not errors and not external and not failed, "search: no console errors or failed requests", "; ".join((errors + external + failed)[:5]))
        browser.close()
    srv.shutdown()
    return R


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=ROOT / "_docs", help="the built site (default _docs/)")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "screenshots", help="where screenshots go (ignored by git)")
    ap.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"), help="the browser (Debian's chromium)")
    ap.add_argument("--search", default="logsumexp", help="the term to search for")
    ap.add_argument("--search-page", default="losses.html", help="the page the search must find (the cross-entropy page)")
    a = ap.parse_args(argv)
    if not a.chromium.exists():
        print(f"FAIL  browser: {a.chromium} not found (apt-get install -y chromium)"); return 1
    if not (a.site / "index.html").exists():
        print(f"FAIL  site: {a.site}/index.html not found (python tools/build_docs.py)"); return 1
    t0 = time.perf_counter()
    R = run(a.site.resolve(), a.screenshots, a.chromium, a.search, a.search_page)
    print(f"browser test: {R.passed} passed, {len(R.failed)} failed ({time.perf_counter() - t0:.1f}s); screenshots in {a.screenshots}")
    for f in R.failed: print(f"  failed: {f}")
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
