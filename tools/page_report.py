#!/usr/bin/env python
"""Report on pages as the browser test measures them: height, the closing sections, exercises, figures, overflow.

    python tools/page_report.py                         # build the site privately, report on every walk page
    python tools/page_report.py losses 04_loop.ipynb    # some pages: a page name, a notebook, or its number (07)
    python tools/page_report.py --site _docs all        # a site already built; `all`: every page in the sidebar

Without `--site` it builds the current notebooks into a temporary folder of its own (`tools/build_docs.py --out`),
which is safe while others edit notebooks or build; a build that reports problems (a broken link to a page not
written yet) still gives a site to measure. Prints, for each page: its height in screens of 800 px at 1280 px wide;
whether its last top-level sections are the summary ("What we learned" / "What we built") and then "Exercises",
with nothing after; its exercises and their folded solutions; its link to the notation page; its reference entries;
and at 390 px: each figure (rendered / natural width, estimated text size, lightbox), and anything wider than the
column. Each line says OK or FAIL as the browser test would. Exits 0 (it reports; `tools/browser_test.py` enforces).
"""
import argparse, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_map
import browser_test as bt

ROOT = Path(__file__).resolve().parents[1]


def pick(args, nbs):
    "The pages asked for, by page name, notebook name or number; none: the walk pages."
    known = {site_map.page_of(nb): nb for nb, _, _ in site_map.sidebar(nbs / "sidebar.yml")}
    if not args: return [site_map.page_of(nb) for nb in site_map.walk_notebooks(nbs / "sidebar.yml")]
    if args == ["all"]: return list(known)
    out = []
    for a in args:
        a = Path(a).name
        hit = [p for p, nb in known.items() if a in (p, nb, Path(nb).stem, p.removesuffix(".html")) or nb.startswith(a + "_")]
        out += hit or [a if a.endswith(".html") else a + ".html"]
    return out


def report(site, pages, chromium, bound, nbs):
    from playwright.sync_api import sync_playwright
    listed, _ = bt.site_pages(nbs)
    srv, base = bt.serve(site)
    mark = lambda ok: "OK  " if ok else "FAIL"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=bt.CHROMIUM_ARGS, timeout=bound * 1000)
        wide = browser.new_context(viewport=bt.VIEWPORTS["1280px"])
        narrow = browser.new_context(viewport=bt.VIEWPORTS["390px"])
        pw, pn = wide.new_page(), narrow.new_page()
        for rel in pages:
            nb, _, is_walk, _ = listed.get(rel, (None, None, False, None))
            print(f"\n{rel}" + (f" ({nb}{', walk page' if is_walk else ''})" if nb else ""), flush=True)
            if not (site / rel).is_file(): print("  not in the site (its notebook does not exist yet, or the build failed)"); continue
            _, waits = bt.visit(pw, base + rel, bound)
            for w in waits: print(f"  note: {w}")
            w = pw.evaluate(bt.WALK_JS, {"exercises": bt.EXERCISES_RE})
            checks = bt.walk_checks(w)
            if not is_walk:  # only the height, for a page outside the walk
                checks = checks[:1]
                checks[0] = (True, "height", checks[0][2])
            for ok, check, detail in checks: print(f"  {mark(ok)} {check}: {detail}")
            if is_walk: print(f"       sections: {' > '.join(repr(s) for s in w['sections'])}")
            entries = pw.evaluate(bt.REFERENCE_JS)
            for ok, check, detail in bt.reference_checks(entries):
                if not ok or entries: print(f"  {mark(ok)} {check}: {detail}")
            bt.visit(pn, base + rel, bound)
            checks, lines = bt.figure_checks(pn.evaluate(bt.FIGURES_JS))
            for ok, check, detail in checks: print(f"  {mark(ok)} @390px {check}")
            for l in lines: print(f"         {l}")
            n = pn.evaluate(bt.NARROW_JS)
            ok = n["pageWidth"] <= n["width"] + 1 and not n["bad"]
            print(f"  {mark(ok)} @390px fits the screen: page {n['pageWidth']} px in a {n['width']} px window"
                  + (f"; {n['bad'][:4]}" if n["bad"] else "") + (f"; {len(n['scrollingMaths'])} formula(s) scroll in their box" if n["scrollingMaths"] else ""))
        browser.close()
    srv.shutdown()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", help="pages (losses, losses.html, 01_losses.ipynb, 01), or `all`; default: the walk")
    ap.add_argument("--site", type=Path, help="a site already built (default: build the notebooks now, privately)")
    ap.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="the notebooks (default nbs/)")
    ap.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    ap.add_argument("--bound", type=float, default=180, help="last-resort limit, in seconds, on each wait")
    a = ap.parse_args(argv)
    nbs = a.nbs.resolve()
    with tempfile.TemporaryDirectory(prefix="page-report-") as tmp:
        site = a.site
        if site is None:
            site, t0 = Path(tmp) / "site", time.perf_counter()
            r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_docs.py"), "--out", str(site), "--no-readme", "--nbs", str(nbs)],
                               capture_output=True, text=True)
            print(f"built {site} in {time.perf_counter() - t0:.0f}s" + ("" if r.returncode == 0 else " (with problems:)"))
            if r.returncode:
                print("\n".join("  " + l for l in (r.stdout + r.stderr).splitlines() if any(w in l for w in ("broken link", "build_docs:", "Error", "failed", "note:")))[-3000:])
            if not (site / "index.html").is_file(): print("no site to report on"); return 1
        report(site.resolve(), pick(a.pages, nbs), a.chromium, a.bound, nbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
