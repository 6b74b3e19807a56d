#!/usr/bin/env python
"""Shown code runs (issue 16.5): copy a walk page's visible code into a fresh kernel, and it works.

    python tools/shown_code.py                    # every walk notebook (nbs/sidebar.yml's walk), in parallel
    python tools/shown_code.py nbs/04_loop.ipynb  # some notebooks
    python tools/shown_code.py --list 04_loop     # print which cells it would run, and why, without running

For each notebook it runs, in order, in a fresh kernel (execnb's CaptureShell, as `nbdev-test` does), only:
- the cells the site shows as code: a code cell with no `#| hide`, `#| exporti`, `#| echo: false` or
  `#| include: false` (`#| exports` and folded `#| code-fold` cells are shown as code);
- the `#| export` cells that give the page a reference entry (a public function or class, or a method patched onto
  one): nbdev shows their `show_doc`, so a reader meets the name;
- every cell that only imports (its code is nothing but `import` / `from ... import`), hidden or not.
Cells marked `#| eval: false` are skipped, and the test flags behave as `nbdev-test --flags slow` (`slow` cells run,
`notest` cells do not). Hidden cells that assert or define anything are NOT run: a visible cell that needs what
such a cell defines fails here with the notebook, the cell's index and its first line.

Prints one line per notebook and ends with "shown code: N passed, N failed"; exits non-zero on any failure.
"""
import argparse, ast, os, sys, time, traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_map

ROOT = Path(__file__).resolve().parents[1]
HIDING = ("hide", "exporti", "hide_input")


def _code(src):
    "A cell's Python without its `#|` directives, or None when it does not parse (a magic, a shell line)."
    lines = [l for l in src.splitlines() if not l.lstrip().startswith("#|")]
    try: return ast.parse("\n".join(lines))
    except SyntaxError: return None


def only_imports(src):
    "The cell is nothing but import statements."
    tree = _code(src)
    return bool(tree and tree.body) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in tree.body)


def documented(src):
    "The cell defines something nbdev gives a reference entry: a public (or dunder) function or class at its top level."
    tree = _code(src)
    return bool(tree) and any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                              and (not s.name.startswith("_") or s.name.startswith("__")) for s in tree.body)


def why(cell):
    "Why the cell runs in this test (a short reason), or None when it does not."
    if cell.cell_type != "code" or not "".join(l for l in cell.source.splitlines() if not l.startswith("#|")).strip(): return None
    d = {k.rstrip(":"): str(v).strip().lower() for k, v in (getattr(cell, "directives_", None) or {}).items()}
    if only_imports(cell.source): return "imports"
    tree = _code(cell.source)
    if tree and tree.body and all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                                  and getattr(s.value.func, "id", "") == "show_doc" for s in tree.body): return "reference entry"
    if any(h in d for h in HIDING) or d.get("echo") == "false" or d.get("include") == "false": return None
    if "export" in d: return "reference entry" if documented(cell.source) else None
    return "shown"


def shown_cells(fn, flags=("slow",)):
    "The notebook's cells that this test runs, as (cell, reason), honouring `eval: false` and the test flags."
    from nbdev.process import NBProcessor
    from nbdev.config import get_config
    from nbdev.test import _skip_cell
    nb = NBProcessor(fn, rm_directives=False, process=True).nb
    skip_flags = get_config(Path(fn).parent).tst_flags
    skip_flags = skip_flags.split() if isinstance(skip_flags, str) else list(skip_flags or [])
    base = _skip_cell(nb, skip_flags, list(flags))
    return nb, [(c, why(c)) for c in nb.cells if not base(c) and why(c)], base


def run_nb(fn, flags=("slow",)):
    "Run the shown cells of one notebook in a fresh kernel: (ok, seconds, cells run, failure message or '')."
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    fn = Path(fn).resolve()
    os.environ["IN_TEST"] = "1"
    cfg = get_config(fn.parent)
    if str(cfg.config_path) not in sys.path: sys.path.insert(0, str(cfg.config_path))
    t0 = time.perf_counter()
    nb, cells, base = shown_cells(fn, flags)
    keep = {c.idx_ for c, _ in cells}
    ran = []
    def skip(cell):
        if cell.idx_ not in keep: return True
        ran.append(cell)
        return False
    k = CaptureShell(fn, profile=bool(cfg.exec_profile))
    try:
        with working_directory(fn.parent):
            k.run_all(nb, exc_stop=True, preproc=skip, cell_timeout=cfg.cell_timeout or None)
        return True, time.perf_counter() - t0, len(ran), ""
    except BaseException:
        c = ran[-1] if ran else None
        first = next((l for l in (c.source.splitlines() if c else []) if l.strip() and not l.startswith("#|")), "")
        tb = k.prettytb(fname=fn) or traceback.format_exc()
        msg = (f"cell {c.idx_} ({dict(cells)[c] if c in dict(cells) else '?'}): {first[:80]!r}\n" if c else "") + tb
        return False, time.perf_counter() - t0, len(ran), msg


def _run(fn, flags): return (fn,) + run_nb(fn, flags)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks (path, name or number); default: every walk notebook")
    ap.add_argument("--flags", default="slow", help="test flags to run that are normally skipped (default: slow, as CI)")
    ap.add_argument("--n-workers", type=int, default=None, help="notebooks run at once (default: one per core, at most 8)")
    ap.add_argument("--list", action="store_true", help="print the cells that would run, and why; run nothing")
    a = ap.parse_args(argv)
    nbs = ROOT / "nbs"
    walk = site_map.walk_notebooks(nbs / "sidebar.yml")
    if a.notebooks:
        files = []
        for n in a.notebooks:
            p = Path(n)
            names = [nb for nb, _, _ in site_map.sidebar(nbs / "sidebar.yml")]
            hit = [nbs / w for w in names if p.name in (w, Path(w).stem) or w.startswith(p.name + "_")]
            files.append(p.resolve() if p.exists() else (hit[0] if hit else p))
    else: files = [nbs / w for w in walk]
    missing = [f for f in files if not Path(f).exists()]
    for f in missing: print(f"SKIP  {Path(f).name}: not written yet")
    files = [Path(f) for f in files if Path(f).exists()]
    flags = tuple(a.flags.split())
    if a.list:
        for f in files:
            _, cells, _ = shown_cells(f, flags)
            print(f"{f.name}: {len(cells)} cell(s)")
            for c, reason in cells:
                print(f"  {c.idx_:4} {reason:16} {next((l for l in c.source.splitlines() if not l.startswith('#|')), '')[:70]}")
        return 0
    if not files: print("shown code: 0 passed, 0 failed (no walk notebooks)"); return 0
    from fastcore.parallel import parallel
    cpus = os.cpu_count() or 1
    n = a.n_workers if a.n_workers is not None else (0 if len(files) == 1 else min(cpus, 8))
    t0 = time.perf_counter()
    import shown_code  # the workers import the function by its module's name (this file runs as __main__)
    results = parallel(shown_code._run, files, flags=flags, n_workers=n, pause=0.01)
    failed = 0
    for fn, ok, secs, nrun, msg in results:
        print(f"{'PASS' if ok else 'FAIL'}  {Path(fn).name}: {nrun} shown cell(s) run in a fresh kernel ({secs:.0f}s)", flush=True)
        if not ok:
            failed += 1
            print("      " + msg.rstrip().replace("\n", "\n      ")[-4000:], flush=True)
    print(f"shown code: {len(results) - failed} passed, {failed} failed ({time.perf_counter() - t0:.0f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
