#!/usr/bin/env python
"""Build the documentation site into `_docs/` and `README.md` from `nbs/index.ipynb`.

    python tools/build_docs.py                      # build the site into _docs/, and README.md
    python tools/build_docs.py --out /tmp/site      # build into another folder (README.md untouched unless --readme)
    python tools/build_docs.py --preview            # build, serve on localhost, rebuild on every notebook change

Safe to run while notebooks are being edited and while another build runs: the build works on a private snapshot of
`nbs/` in a temporary folder of its own (a notebook caught half-written is read again until it parses), processes and
renders there, and only then swaps the finished site into `--out` with a rename, so a reader of `--out` sees the old
site or the new one, never a mixture. Nothing else in the checkout is written, except README.md (by default).

The sidebar is `nbs/sidebar.yml` (nbdev's custom sidebar): the one list of the walk and the pages under the hood,
read by Quarto, by smalldocs and by the tests (`tools/site_map.py`). An entry whose notebook does not exist yet is left
out of the build, with a note.

With `quarto` on PATH this runs the steps of `nbdev-docs` with Quarto (see `build_with_quarto`). Without it (the usual
case):

1. nbdev's own processing step, the `_proc` stage of `nbdev-docs`: `refresh_quarto_yml`, `nbdev_sidebar` and
   `proc_nbs`, which applies the directives and renders `show_doc` (the module index `_modidx.py` is nbdev-export's).
2. `smalldocs` on the same `_quarto.yml` in `_proc/`, written to `_docs/`. Pages get the names nbdev gives them
   (its `output-file`, so `01_losses.ipynb` -> `losses.html`), as Quarto would.
3. KaTeX (from npm, pinned and checked, cached outside the repo) is shipped inside the site, so maths renders
   without a network; links nbdev writes to the hosted docs become relative, so the offline site is whole.
4. `README.md` from the processed index notebook, in the shape `nbdev-readme` gives.

Where this differs from what nbdev 3 + Quarto would give:
- `show_doc` also gets the docments table (parameter, type, default, details), as nbdev 2 had, and its source link
  gets the line number nbdev 3.3 leaves as `#LNone`;
- a cell that mixes imports with other code has only its imports re-run (nbdev re-runs the whole cell and warns),
  so pages keep the outputs the notebooks were saved with;
- nbdev's automatic links (a backticked exported name) are guarded: no link for a dunder name, for
  "PyTorch's `X`", or for a word that is also a parameter name elsewhere (`targets`); one to an anchor that its page
  lacks is dropped (see `guard_links`, `drop_dead_autolinks`);
- an unannotated parameter defaulting to None shows no type, not "NoneType", and a `**kwargs` row gets its comment (`no_nonetype`);
- every reference entry is titled with its own symbol: methods added with `@fc.patch` (nbdev only knows a bare
  `@patch`) get `show_doc(Class.method)`, not `show_doc(None)`; an entry the notebook documents itself is not added
  a second time; dunders keep their underscores (`Module.__repr__`); a class shows `class Name(...)`, not `def`
  (`reference_fixes`, `table_renderer`);
- every image has alt text: the cell's `#| fig-alt:`, else "<page title>, figure N" (`alt_text`), and a figure
  opens full size on a tap: smalldocs' inline image is written to a file beside the page and linked (`lightbox`;
  Quarto's own `lightbox` does this on the Quarto path);
- a solution cell (`#| code-fold: true`, `#| code-summary: "Solution"`) is a collapsed `<details>`, as in Quarto;
- every page links its notebook under its title (`notebook_link`); `_quarto.yml` adds previous/next links;
- the build fails (exit 1) on a broken link, a missing page, an asset that would need a network, or a notebook that
  nbdev's processing cannot process; the rest of the site is still written, so that it can be looked at.
The build executes no notebook: nbdev's processing re-runs only exported, import and show_doc cells.
"""
import argparse, base64, hashlib, html, inspect, json, os, posixpath, re, shutil, subprocess, sys, tarfile, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KATEX_VERSION = "0.16.11"  # the version smalldocs' layout asks for; pinned with the npm tarball's integrity below
KATEX_INTEGRITY = "sha512-RQrI8rlHY92OLf3rho/Ts8i/XvjgguEjOkO1BEXcU3N8BqPpSzBNwV/G0Ukr+P/l3ivvJUE/Fa/CwbS6HesGNQ=="
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
# The cosmo theme's web font, which Bootswatch imports from a font CDN: the Fontsource copy on npm, pinned the same way
FONTS = {"Source Sans Pro": ("@fontsource/source-sans-pro", "5.3.0",
                             "sha512-nd96qXI4stbyRPNEygS2cNhMkAc1kkW9+ORmIOK0oelPTyiitRPk/+9+HUuUYuEjwRRkK/+Gat2J9/NMJest/A==")}
# Quarto-isms smalldocs reports but that change nothing on an HTML site
BENIGN = ("unknown key format-links", "lightbox", "format commonmark is not built", "format.html.keep-md is ignored",
          "output-file is not read by smalldocs")


def say(msg): print(msg, flush=True)
class DocsError(Exception): "A build problem to report in one line."


# ---------------------------------------------------------------- nbdev's processing step

def table_renderer():
    "nbdev's show_doc renderer plus the docments table (nbdev 2's reference table) under the signature."
    from nbdev.showdoc import BasicMarkdownRenderer
    from fastcore.docments import DocmentTbl

    class TableRenderer(BasicMarkdownRenderer):
        def _repr_markdown_(self):
            md = super()._repr_markdown_()
            if "#LNone)" in md:  # nbdev looks the line up by the qualified name, which its table keys by the short one
                try: md = md.replace("#LNone)", f"#L{inspect.getsourcelines(inspect.unwrap(self.sym))[1]})")
                except (TypeError, OSError): md = md.replace("#LNone)", ")")
            try: tbl = DocmentTbl(self.sym)._repr_markdown_()
            except Exception: tbl = ''  # a symbol without a signature (a constant, a builtin): the signature block stays alone
            md, tbl = no_nonetype(self.sym, md, tbl)
            md = entry_title(self.sym, md)
            if self.nm in SOURCE_SHOWN and (m := _re_sig_block.search(md)):
                # the exported source, right below this entry, already shows the signature with a comment per
                # parameter: the entry keeps its title and docstring, and folds the signature with the table
                md = md[:m.start()] + md[m.end():]
                return md.rstrip() + '\n\n' + folded_table(tbl, m.group(0), "Signature and parameters")
            return md + ('\n\n' + folded_table(tbl) if tbl else '')
    return TableRenderer


SOURCE_SHOWN = set()  # this notebook's names whose entry comes with its exported source (`#| exports`), refilled per notebook
_re_sig_block = re.compile(r"```python\n.*?\n```", re.S)

def folded_table(tbl, sig="", what="Parameters"):
    """The docments table in a closed `<details>`: the signature above it already names every parameter, and the
    exported source above an entry shows each one's comment; a reader who wants the table opens it with one tap.
    A walk page stays within its budget without dropping a word of the reference."""
    n = max(0, sum(1 for l in tbl.splitlines() if l.startswith("|")) - 2)
    if not n and not sig: return tbl
    body = "\n\n".join(x for x in (sig, tbl if n else "") if x)
    return f'<details class="sd-params">\n<summary>{what} ({n})</summary>\n\n{body}\n\n</details>'


_re_title = re.compile(r"^(#{1,6} )(.+)$", re.M)
_re_sig = re.compile(r"(```python\n)(?:async )?def (\w+)(.*?)(\n```)", re.S)

def entry_title(sym, md):
    """A reference entry's heading keeps a dunder's underscores (Markdown reads `Module.__repr__` as `Module.**repr**`),
    and a class's signature reads `class Name(...)`, as Sphinx and PyTorch's docs write a constructor, not `def Name(...):`."""
    md = _re_title.sub(lambda m: m.group(1) + m.group(2).replace("_", r"\_"), md, count=1)
    if inspect.isclass(sym):
        md = _re_sig.sub(lambda m: f"{m.group(1)}class {m.group(2)}{re.sub(r':$', '', m.group(3).rstrip())}{m.group(4)}", md, count=1)
    return md


def _decor_name(d):
    "A decorator's name, also when written as an attribute (`fc.patch`) or called (`patch(as_prop=True)`)."
    import ast
    f = d.func if isinstance(d, ast.Call) else d
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def reference_fixes():
    """nbdev names a method added by `@patch` as `Class.method`, but only when the decorator is spelt `patch` or
    `patch_to`: with `@fc.patch` it documents `show_doc(__repr__)`, which fastcore's patch leaves as None, so the page
    shows an entry for `show_doc` itself. And a method the notebook documents with its own `show_doc(Class.method)` is
    added again, because nbdev compares the bare name. Recognise `fc.patch`/`fastcore.basics.patch`, and add no
    second entry for a name already documented on the page."""
    import ast
    from nbdev import doclinks, showdoc, processors as P
    if getattr(P.add_show_docs.begin, "_fixed", False): return

    def patch_name(o):
        if not isinstance(o, (ast.FunctionDef, ast.AsyncFunctionDef)): return o.name
        d = next((d for d in o.decorator_list if _decor_name(d) in ("patch", "patch_to")), None)
        if d is None: return o.name
        if _decor_name(d) == "patch":
            a = o.args.args[0].annotation if o.args.args else None
            if a is None: return o.name
            if isinstance(a, ast.BinOp): return doclinks._binop_leafs(a, o)
        else:
            if not getattr(d, "args", None): return o.name
            a = d.args[0]
        return doclinks._sym_nm(a, o)
    doclinks.patch_name = showdoc.patch_name = patch_name

    def add_fold(cell):
        """nbdev shows an `exports` cell's source open under "Exported source". A cell that defines only private names
        (plumbing behind the lesson: `_Batches`, `_torch_loader`) is shown folded instead, as a closed `<details>` a tap
        opens: still on the page, in the notebook's order, but the lesson's own code is what the eye meets."""
        if cell.cell_type != 'code' or 'exports' not in cell.directives_: return
        fold = "true" if private_only(cell.source) else "show"
        what = "Exported source (plumbing)" if fold == "true" else "Exported source"
        cell.source = f'#| code-fold: {fold}\n#| code-summary: "{what}"\n{cell.source}'
    P.add_fold = add_fold

    orig = P.add_show_docs.begin
    def begin(self):
        SOURCE_SHOWN.clear()  # one notebook's entries at a time: a name documented with its source on one page is not folded on another
        orig(self)
        shown, keep, auto = set(), [], lambda c: getattr(c, "has_sd", False)
        names = lambda c: re.findall(r"^\s*show_doc\(\s*([\w.]+)", c.source or "", re.M) if c.cell_type == "code" else []
        explicit = {n for c in self.nb.cells if not auto(c) for n in names(c)}
        prev = None
        for c in self.nb.cells:
            n = names(c)[0] if auto(c) and names(c) else None
            if n is not None and (n in explicit or n in shown): continue  # documented already on this page
            if n is not None:
                shown.add(n)
                src = prev if prev is not None and not auto(prev) else None
                if src is not None and 'exports' in (src.directives_ or {}): SOURCE_SHOWN.add(n)
            if not auto(c): prev = c
            keep.append(c)
        self.nb.cells = keep
    begin._fixed = True
    P.add_show_docs.begin = begin


def private_only(src):
    "Does this cell define names (functions, classes, assignments) and all of them private (`_name`)?"
    import ast
    try: tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith("#|")))
    except SyntaxError: return False
    names = []
    if any(isinstance(o, (ast.Import, ast.ImportFrom)) for o in tree.body): return False  # a page's imports show
    for o in tree.body:
        if isinstance(o, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.append(o.name)
        elif isinstance(o, (ast.Assign, ast.AnnAssign)):
            for t in (o.targets if isinstance(o, ast.Assign) else [o.target]):
                names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return bool(names) and all(n.startswith("_") for n in names)


def no_nonetype(sym, md, tbl):
    """fastcore takes an unannotated parameter's type from its default, so `sched=None` shows the type "NoneType",
    which tells a reader nothing: show such a parameter with no type, in the signature and in the table. And fastcore's
    docments skips the comment after `**kwargs,`, which would leave that row blank: fill it from the source."""
    try: params = inspect.signature(sym).parameters.values()
    except (TypeError, ValueError): return md, tbl
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:  # fastcore's docments skips the comment after `**kwargs,`
            try: src = inspect.getsource(inspect.unwrap(sym.__init__ if inspect.isclass(sym) else sym))
            except (TypeError, OSError): src = ""
            if m := re.search(rf"\*\*{re.escape(p.name)}\s*,?\s*#\s*(.+)", src):
                doc = m.group(1).strip().replace("|", "\\|")
                tbl = re.sub(rf"^(\|\s*(?:\\?\*\\?\*)?{re.escape(p.name)}\s*\|[^|\n]*\|[^|\n]*\|)\s*\|\s*$",
                             lambda r: f"{r.group(1)} {doc} |", tbl, flags=re.M)
        if p.annotation is inspect.Parameter.empty and p.default is None:
            md = re.sub(rf"\b{re.escape(p.name)}:\s*NoneType\s*=\s*None", f"{p.name}=None", md)
            tbl = re.sub(rf"^(\|\s*{re.escape(p.name)}\s*\|)\s*NoneType\s*\|", r"\1 |", tbl, flags=re.M)
    return md, tbl


# A backticked word that nbdev would link to one of our own exported names, but that is not used as that name:
# "PyTorch's `BatchSampler`" names torch's class; `targets` in a docstring is a parameter, not bench's function.
_re_torch_owner = re.compile(r"\b(?:PyTorch|torch)'s\s+(?:`[^`]+`\s*(?:,|/|\band\b|\bor\b)\s*)*$")

def guard_links(lib, unlinked):
    """nbdev links every backticked word that is an exported name anywhere in the library (or in another nbdev library).
    For our own names, link only where the word is used as that name: not a bare dunder (`__iter__` is every class's,
    not the one class nbdev picks; `Module.__setattr__` may link), not right after "PyTorch's" (torch's twin is meant),
    and, for a name that is also a parameter of a function in another of our modules (bench's `targets`, `nll`'s
    `targets`), only when written as a call (`targets()`) or qualified (`minibatch.bench.targets`)."""
    import importlib, pkgutil
    from nbdev import doclinks
    if getattr(doclinks.NbdevLookup.link_line, "_guarded", False): return
    params = {}  # parameter name -> the modules with a function that takes it
    pkg = importlib.import_module(lib)
    for m in pkgutil.iter_modules(pkg.__path__, lib + "."):
        try: mod = importlib.import_module(m.name)
        except Exception: continue
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) != mod.__name__: continue
            for f in [obj, *(vars(obj).values() if isinstance(obj, type) else [])]:
                try: names = inspect.signature(f).parameters
                except (TypeError, ValueError): continue
                for n in names: params.setdefault(n, set()).add(mod.__name__.rsplit(".", 1)[-1])
    orig_sym = doclinks.NbdevLookup._link_sym

    def link_line(self, line):
        def sub(m):
            word, res = m.group(1), self[m.group(1)]
            ours = isinstance(res, tuple) and str(res[1]).startswith(lib + "/")
            if ours and re.fullmatch(r"__\w+__", word): unlinked.add(f"`{word}` (a dunder)"); return m.group(0)
            if ours and _re_torch_owner.search(line[:m.start()]): unlinked.add(f"PyTorch's `{word}`"); return m.group(0)
            home = Path(str(res[1])).stem if ours else None
            if ours and params.get(word, set()) - {home} and not m.group(0).endswith("()`"):
                unlinked.add(f"`{word}` (a parameter in {', '.join(sorted(params[word] - {home}))})"); return m.group(0)
            return orig_sym(self, m)
        return doclinks._re_backticks.sub(sub, line)
    link_line._guarded = True
    doclinks.NbdevLookup.link_line = link_line


def imports_only(notes):
    """nbdev's processing re-runs any cell with an import in it (and warns when the cell also does other work). For a cell
    that mixes imports with other code, run only its imports: the page keeps the outputs the notebook was saved with,
    and the build does not redo a notebook's computations or fail on names defined in cells it does not run."""
    import ast
    from nbdev import processors as P
    orig = P.exec_show_docs.__call__
    if getattr(orig, "_imports_only", False): return
    imp, defs = (ast.Import, ast.ImportFrom), (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def call(self, cell):
        fm = getattr(self.nb, "frontmatter_", {}) or {}
        if (not hasattr(self, "k") or not getattr(self.nb, "has_docs_", False) or cell.cell_type != "code" or not cell.source
                or P.cell_lang(cell) != "python" or str(fm.get("skip_showdoc", "")).lower() == "true"
                or cell.directives_.keys() & {"export", "exports", "exporti", "exec_doc"}
                or str(cell.directives_.get("eval", "")).lower() == "false"):
            return orig(self, cell)
        trees = cell.parsed_()
        if not trees or P._show_docs(trees) or not P._ast_contains(trees, imp) or all(isinstance(t, imp + defs) for t in trees):
            return orig(self, cell)
        code = "\n".join(ast.unparse(t) for t in trees if isinstance(t, imp))
        if code: self.k.run(code)
        if self.k.exc:
            raise Exception(f"Error in notebook: {fm.get('title', '')} in cell {cell.idx_} (its imports):\n{code}\n{type(self.k.exc).__name__}: {self.k.exc}")
        notes.append(f"{fm.get('title', '?')!r} cell {cell.idx_} mixes imports with other code: only its imports ran (nbdev-docs would re-run it all)")
    call._imports_only = True
    P.exec_show_docs.__call__ = call


SNAPSHOT_SKIP = {"_proc", "_docs", "_site", "__pycache__", ".ipynb_checkpoints"}

def read_whole(f, bound=120):
    """A notebook's bytes once they parse as JSON: an editor (or nbdev-clean) may be writing it right now, so a read
    that does not parse is repeated until one does. `bound` seconds is only the last-resort limit."""
    t0 = time.monotonic()
    while True:
        data = f.read_bytes()
        try:
            json.loads(data)
            return data
        except ValueError as e:
            if time.monotonic() - t0 > bound: raise DocsError(f"{f} did not parse as JSON for {bound} s: {e}") from e
            time.sleep(0.05)


def snapshot(work, nbs=None):
    """Copy what the build reads into the private folder `work`: `pyproject.toml`, `nbs/` (every notebook whole) and a
    link to the package, so that nbdev's config, `_proc` and the output are this build's own. Returns notes."""
    nbs, dst, notes = Path(nbs or ROOT / "nbs"), work / "nbs", []
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")
    from nbdev.config import get_config
    lib = get_config(ROOT).lib_path
    (work / lib.name).symlink_to(lib, target_is_directory=True)
    for f in sorted(nbs.rglob("*")):
        rel = f.relative_to(nbs)
        if any(part.startswith(".") or part in SNAPSHOT_SKIP for part in rel.parts) or not f.is_file(): continue
        d = dst / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            if f.suffix == ".ipynb": d.write_bytes(read_whole(f)); shutil.copystat(f, d)
            else: shutil.copy2(f, d)
        except FileNotFoundError: notes.append(f"{rel} was removed while the build read it: left out")
    notes += prune_sidebar(dst / "sidebar.yml")
    return notes


def prune_sidebar(path):
    "Leave out of the snapshot's sidebar the entries whose notebook does not exist (yet): Quarto would fail on them."
    import yaml
    if not path.is_file(): return []
    d, gone = yaml.safe_load(path.read_text(encoding="utf-8")) or {}, []
    def keep(contents):
        out = []
        for c in contents or []:
            if isinstance(c, dict) and "contents" in c:
                c = {**c, "contents": keep(c["contents"])}
                if c["contents"] or c.get("href"): out.append(c)
                continue
            href = c if isinstance(c, str) else c.get("href") if isinstance(c, dict) else None
            if href and "://" not in href and not (path.parent / href).exists(): gone.append(href); continue
            out.append(c)
        return out
    sb = (d.get("website") or {}).get("sidebar")
    for bar in (sb if isinstance(sb, list) else [sb]):
        if isinstance(bar, dict) and "contents" in bar: bar["contents"] = keep(bar["contents"])
    if gone: path.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
    return [f"sidebar.yml lists {', '.join(gone)}, not written yet: left out of this build"] if gone else []


def proc(work):
    """Run the `_proc` stage of `nbdev-docs` (no Quarto needed) on the snapshot in `work`: returns `work/_proc` and
    nbdev's config (whose `config_path` is `work`)."""
    import nbdev.showdoc
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar, _chk_nbdev_yml
    os.chdir(work)  # as `_pre_docs`: nbdev reads its config from the cwd downstream, here the snapshot's
    cfg = get_config(work)
    refresh_quarto_yml()
    _chk_nbdev_yml(cfg.nbs_path)
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)  # a no-op with custom_sidebar = true: nbs/sidebar.yml is written by hand
    # In this process (n_workers=0), so that the processing, which re-runs show_doc, uses the patches above.
    nbdev.showdoc.BasicMarkdownRenderer = table_renderer()
    reference_fixes()
    unlinked = set()
    guard_links(cfg.lib_path.name, unlinked)
    notes = []
    imports_only(notes)
    cache, failed = proc_each(cfg)
    for n in notes: say(f"  note: {n}")
    if unlinked: say(f"  note: not linked to our own names (another thing of that name is meant): {', '.join(sorted(unlinked))}")
    return cache, cfg, failed


def proc_each(cfg):
    """nbdev's `proc_nbs` (in this process), one notebook at a time, so that one notebook that fails to process (while
    others edit it) costs its own page, not the site: returns `_proc` and the problems, one line per failed notebook."""
    from nbdev.serve import _proc_file
    from nbdev.doclinks import nbglob
    import nbdev.serve_drv
    path, cache, failed = cfg.nbs_path, cfg.config_path / "_proc", []
    files = list(nbglob(path, func=Path, file_glob="", file_re=""))
    files += [path / f for f in ("_quarto.yml", "_brand.yml") if (path / f).exists()]
    files += list(nbglob(path, func=Path, file_glob="_metadata.y*ml", skip_file_re="^[.]"))
    if (path / "_extensions").exists(): files += list(nbglob(path / "_extensions", func=Path, file_glob="", file_re="", skip_file_re="^[.]"))
    cache.mkdir(parents=True, exist_ok=True)
    for f in files:
        res = _proc_file(f, cache, path)
        if not res: continue
        try: nbdev.serve_drv.main(res)
        except Exception as e:
            failed.append(f"{Path(f).name}: nbdev's processing step failed (its page is left out): {type(e).__name__}: "
                          f"{str(e).strip()[-600:]}\n    (it re-runs exported cells, imports and show_doc cells, as nbdev-docs does: "
                          "the cells it needs must run on their own, in order)")
            Path(res[1]).unlink(missing_ok=True)
        finally: os.environ.pop("IN_TEST", None)  # serve_drv sets it for the processing, and leaves it on an error
    return cache, failed


def publish(built, out, work):
    """Put the finished site `built` at `out` with renames: the old site moves aside into `work` (this build's private
    folder, on the same filesystem), the new one moves in. Another build doing the same at the same moment is never
    mixed with: whichever rename comes last wins whole."""
    out, old = Path(out), Path(work) / "old-site"
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    while True:
        shutil.rmtree(old, ignore_errors=True)
        try: os.rename(out, old)
        except FileNotFoundError: pass
        try:
            os.rename(built, out)
            break
        except OSError as e:
            if e.errno == 18: shutil.copytree(built, out); break  # EXDEV: another filesystem (only when `out` is absent)
            if time.monotonic() - t0 > 60: raise  # another build put its site there between our two renames: again


def work_dir(out):
    "A private folder for one build, on the filesystem of `out` (so the finished site moves in with a rename)."
    out = Path(out).resolve()
    try:
        out.relative_to(ROOT)
        base = ROOT / "build"  # ignored by git
    except ValueError: base = out.parent
    if any(part.startswith(".") or part in ("_proc", "_docs", "_site") for part in base.parts[1:]):
        base = Path(tempfile.gettempdir())  # nbdev's processing skips any file under such a folder
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="docs-build-", dir=base))


def doc_pages(cache):
    "The pages nbdev made, from the processed notebooks' front matter: {source relative to _proc: output file}."
    pages = {}
    for nb in sorted(cache.rglob("*.ipynb")):
        rel = nb.relative_to(cache)
        if any(p.startswith(("_", ".")) for p in rel.parts): continue
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        front = front_matter(cells)
        out = front.get("output-file") or rel.with_suffix(".html").name
        pages[rel.as_posix()] = (rel.parent / out).as_posix()
    return pages


def front_matter(cells):
    "The YAML front matter of a processed notebook (nbdev puts it in a first raw cell)."
    import yaml
    if cells and cells[0]["cell_type"] == "raw":
        src = "".join(cells[0]["source"]).strip()
        if src.startswith("---"): return yaml.safe_load(src.strip("-\n")) or {}
    return {}


# ---------------------------------------------------------------- KaTeX and the theme's font, shipped with the site

def cache_dir():
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minibatch-docs"


def npm_package(name, version, integrity):
    "An npm package's files, fetched once with `npm pack`, checked against the pinned integrity, cached outside the repo."
    dest = cache_dir() / f"{name.replace('/', '+')}-{version}"
    if (dest / "package.json").is_file(): return dest
    if not shutil.which("npm"): raise DocsError(f"npm is needed once to fetch {name}@{version} (apt-get install -y npm); {dest} is empty")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", f"{name}@{version}", "--json"], cwd=tmp, capture_output=True, text=True)
        try: tgz = Path(tmp) / json.loads(r.stdout)[0]["filename"]
        except (ValueError, LookupError): tgz = None
        if r.returncode or tgz is None or not tgz.is_file():
            raise DocsError(f"npm pack {name}@{version} failed: {(r.stderr or r.stdout).strip()[-500:]}")
        got = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
        if got != integrity: raise DocsError(f"{tgz.name}: integrity mismatch: expected {integrity}, got {got}")
        with tarfile.open(tgz) as tf: tf.extractall(Path(tmp) / "x", filter="data")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(Path(tmp) / "x" / "package", dest)  # package.json last in place: a half-copied cache is refetched
    return dest


def ship_katex(out):
    "Copy the KaTeX files the pages use (scripts, CSS, fonts, licence) into `site_libs/katex`."
    pkg, dst = npm_package("katex", KATEX_VERSION, KATEX_INTEGRITY), out / "site_libs" / "katex"
    shutil.rmtree(dst, ignore_errors=True)
    for f in (*KATEX_FILES, "fonts"):
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (pkg / "dist" / f).is_dir() else shutil.copy2)(pkg / "dist" / f, dst / f)
    shutil.copy2(pkg / "LICENSE", dst / "LICENSE")


_re_gfont = re.compile(r"@import url\((['\"]?)https?://fonts\.googleapis\.com/css2?\?family=([^:&)'\"]+)(?::[a-z,]*@([\d;,.]+))?[^)]*\1\);?")

def ship_fonts(out):
    "Bootswatch themes import their web font from a font CDN: serve it from the site instead (the npm Fontsource copy)."
    notes = []
    for css in (out / "site_libs" / "themes").rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        def local(m):
            family, weights = m.group(2).replace("+", " "), (m.group(3) or "400").replace(",", ";").split(";")
            if family not in FONTS:
                notes.append(f"{css.name}: web font {family!r} dropped (no offline copy), the theme's fallback fonts are used")
                return ""
            name, version, integrity = FONTS[family]
            pkg, dst = npm_package(name, version, integrity), out / "site_libs" / "fonts" / name.rsplit("/", 1)[-1]
            imports = []
            for w in weights:
                w = w.split(".")[0]
                if not (pkg / f"{w}.css").is_file(): continue
                rules = (pkg / f"{w}.css").read_text(encoding="utf-8")
                for f in set(re.findall(r"\./files/([\w.-]+)", rules)):
                    (dst / "files").mkdir(parents=True, exist_ok=True)
                    shutil.copy2(pkg / "files" / f, dst / "files" / f)
                (dst / f"{w}.css").write_text(rules, encoding="utf-8")
                imports.append(f'@import url("{posixpath.relpath((dst / f"{w}.css").as_posix(), css.parent.as_posix())}");')
            shutil.copy2(pkg / "LICENSE", dst / "LICENSE")
            return "".join(imports)
        new = _re_gfont.sub(local, text)
        if new != text: css.write_text(new, encoding="utf-8")
    return notes


# ---------------------------------------------------------------- smalldocs, with nbdev's page names

def nbdev_site_class(out_dir, doc_url):
    "A smalldocs `Site` that writes nbdev's page names and a site that needs no network."
    from smalldocs import layout
    from smalldocs.site import Site

    class NbdevSite(Site):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.out = Path(out_dir)  # `_docs/` in the repo, where nbdev-docs moves the site

        def read(self, src):
            "Honour `output-file` (as Quarto does): nbdev names `01_losses.ipynb`'s page `losses.html`."
            page = super().read(src)
            of = page.front.get("output-file")
            if of: page.out = src.parent / str(of)
            if src.suffix == ".ipynb": page.body = notebook_link(self.project.website, src) + page.body
            return page

        def find_page(self, target):
            "Find a page by its source or by the output name nbdev gave it."
            found = super().find_page(target)
            if found is None and target.suffix == ".html":
                found = next((p for p in self.pages.values() if p.out == target), None)
            return found

        def build(self):
            n = super().build()
            for page in self.pages.values():
                f = self.out / page.out
                if f.is_file(): f.write_text(lightbox(alt_text(f.read_text(encoding="utf-8"), page.title), f), encoding="utf-8")
            localise(self.out, layout.KATEX, doc_url)
            dead = drop_dead_autolinks(self.out)
            if dead: self.warnings.append(f"automatic links dropped, no such anchor on their page: {', '.join(sorted(set(dead)))}")
            ship_katex(self.out)
            self.warnings += ship_fonts(self.out)
            self.warnings = [w for w in self.warnings if not any(b in w for b in BENIGN)]
            return n
    return NbdevSite


def notebook_url(web, src):
    "The notebook a page comes from, in the repository: `repo-url`, `repo-branch` and `repo-subdir`, as Quarto's repo-actions."
    url, branch, sub = str(web.get("repo-url") or "").rstrip("/"), web.get("repo-branch") or "main", str(web.get("repo-subdir") or "").strip("/")
    return f"{url}/blob/{branch}/{sub + '/' if sub else ''}{src}" if url else None


def notebook_link(web, src):
    "A line under the page's title that links the notebook it comes from, so a reader can open and run it."
    url = notebook_url(web, src)
    if not url: return ""
    path = f"{str(web.get('repo-subdir') or '').strip('/')}/{src}".lstrip("/")
    how = "" if src.stem == "index" else ' Run it: <code>jupyter lab nbs/</code> (see <a href="index.html#start-here">Start here</a>).'
    return ('```{=html}\n<p class="nb-source"><i class="bi bi-journal-code" aria-hidden="true"></i> This page is the notebook '
            f'<a class="nb-source-link" href="{html.escape(url)}"><code>{html.escape(path)}</code></a>.{how}</p>\n```\n\n')


_re_img = re.compile(r"<img\b[^>]*>", re.I)
_re_alt = re.compile(r'\balt="([^"]*)"', re.I)

def alt_text(text, title):
    """Every image gets alt text: the cell's `#| fig-alt:` (smalldocs and Quarto put it in), else "<page title>, figure N",
    marked `data-alt-fallback` so the browser test can say which figures still need a `fig-alt`."""
    n = 0
    def fix(m):
        nonlocal n
        n += 1
        tag, alt = m.group(0), _re_alt.search(m.group(0))
        if alt and alt.group(1).strip(): return tag
        tag = _re_alt.sub("", tag) if alt else tag
        return re.sub(r"^<img\b", f'<img alt="{html.escape(title)}, figure {n}" data-alt-fallback=""', tag, flags=re.I)
    return _re_img.sub(fix, text)


_re_data_img = re.compile(r'<img\b[^>]*?\bsrc="data:image/(png|jpeg|gif|webp);base64,([^"]+)"[^>]*>', re.I)

def lightbox(text, page):
    """A figure opens full size on a tap, as Quarto's `lightbox: true` does: smalldocs inlines a cell's image as a data
    URI; write it to a file beside the page (`<page>_files/figure-html/`, Quarto's place) and link it, so a phone can
    open the picture at its natural size and zoom it. The page also gets lighter."""
    n = 0
    def fix(m):
        nonlocal n
        if 'class="lightbox"' in text[max(0, m.start() - 200):m.start()]: return m.group(0)
        n += 1
        ext = "jpg" if m.group(1).lower() == "jpeg" else m.group(1).lower()
        rel = f"{page.stem}_files/figure-html/figure-{n}.{ext}"
        f = page.parent / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(base64.b64decode(m.group(2)))
        img = m.group(0).replace(f"data:image/{m.group(1)};base64,{m.group(2)}", rel)
        return f'<a href="{rel}" class="lightbox" title="Open the figure full size">{img}</a>'
    return _re_data_img.sub(fix, text)


_re_attr = re.compile(r'\b(href|src)="([^"]*)"')

def localise(out, katex_cdn, doc_url):
    "Point KaTeX at the shipped copy, and links to the hosted docs at the pages beside them."
    for page in out.rglob("*.html"):
        offset = posixpath.relpath(".", page.parent.relative_to(out).as_posix())
        offset = "" if offset == "." else offset + "/"
        def fix(m):
            attr, url = m.groups()
            if url.startswith(katex_cdn + "/"): url = f"{offset}site_libs/katex/{url[len(katex_cdn) + 1:]}"
            elif doc_url and html.unescape(url).startswith(doc_url):
                rest = html.unescape(url)[len(doc_url):]
                if (out / rest.split("#")[0].split("?")[0]).is_file() or not rest.split("#")[0]:
                    url = html.escape(offset + rest if rest.split("#")[0] else (offset or "./") + "index.html" + rest)
            return f'{attr}="{url}"'
        text = page.read_text(encoding="utf-8")
        new = toc_math(_re_attr.sub(fix, text))
        if new != text: page.write_text(new, encoding="utf-8")


_re_head = re.compile(r'<h([1-6])\b[^>]*\bdata-anchor-id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_re_toc_link = re.compile(r'(<a href="#([^"]+)"[^>]*\bclass="nav-link"[^>]*>)(.*?)(</a>)', re.S)

def toc_math(text):
    "smalldocs writes a heading's maths into the table of contents as bare TeX: give the TOC the heading's maths spans, as Quarto does."
    heads = {i: inner for _, i, inner in _re_head.findall(text) if 'class="math' in inner}
    if not heads: return text
    return _re_toc_link.sub(lambda m: m.group(1) + heads[m.group(2)] + m.group(4) if m.group(2) in heads else m.group(0), text)


_re_id = re.compile(r'\bid="([^"]+)"')
_re_autolink = re.compile(r'<a href="([^"#:/]+\.html)#([^"]+)"><code>(.*?)</code></a>', re.S)

def drop_dead_autolinks(out):
    """nbdev links a backticked exported name to its show_doc heading; a name with no heading on its page (a private
    helper, a method the page does not document) would be a link to nowhere: keep the code, drop the link."""
    pages = {p.relative_to(out).as_posix(): p for p in out.rglob("*.html")}
    ids = {rel: set(_re_id.findall(p.read_text(encoding="utf-8"))) for rel, p in pages.items()}
    dropped = []
    for rel, page in pages.items():
        text = page.read_text(encoding="utf-8")
        def fix(m):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.group(1)))
            if target not in ids or html.unescape(m.group(2)) in ids[target]: return m.group(0)
            dropped.append(f"{rel}: {m.group(1)}#{m.group(2)}")
            return f"<code>{m.group(3)}</code>"
        new = _re_autolink.sub(fix, text)
        if new != text: page.write_text(new, encoding="utf-8")
    return dropped


def needs_network(out):
    "Scripts, stylesheets and images that a page would fetch from another host."
    bad = []
    pat = re.compile(r'<(script|link|img)\b[^>]*?\b(?:src|href)="(https?:)?//[^"]*"[^>]*>', re.I)
    for page in sorted(out.rglob("*.html")):
        for m in pat.finditer(page.read_text(encoding="utf-8")):
            tag = m.group(0)
            if m.group(1).lower() == "link" and not re.search(r'rel="(stylesheet|preload|modulepreload|icon)"', tag): continue
            bad.append(f"{page.relative_to(out)}: {tag[:160]}")
    for css in sorted(out.rglob("*.css")):
        for m in re.finditer(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", css.read_text(encoding="utf-8", errors="replace")):
            bad.append(f"{css.relative_to(out)}: {m.group(0)[:160]}")
    return bad


def smalldocs_build(cache, cfg, out):
    """Render `_proc` with smalldocs into `out`. Returns (pages, problems): broken links, missing pages, a page that
    needs a network."""
    from smalldocs.config import load
    Site = nbdev_site_class(out, cfg.doc_url)
    site = Site(load(cache), quiet=True)
    n = site.build()
    for w in site.warnings:
        if ": broken link " not in w: say(f"  smalldocs warning: {w}")  # those are listed below, as problems
    problems = [f"broken link in {src}: {href}" for src, href in site.broken]
    missing = [f"{src} -> {o} was not written" for src, o in doc_pages(cache).items() if not (site.out / o).is_file()]
    problems += missing + [f"needs a network: {b}" for b in needs_network(site.out)]
    return n, problems


# ---------------------------------------------------------------- README.md from the processed index notebook

def _cell_opts(src):
    "Split a cell's leading `#| key: value` options from its code."
    import yaml
    lines, opts = src.splitlines(), {}
    while lines and lines[0].startswith("#|"):
        kv = yaml.safe_load(lines.pop(0)[2:].strip() or "{}")
        if isinstance(kv, dict): opts.update(kv)
    return opts, "\n".join(lines).strip("\n")


_re_fence = re.compile(r"^\s*(```|~~~)")
_re_link = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")

def _doc_links(md, doc_url, nbdir):
    "Relative links to pages become links to the hosted docs, as nbdev's readme filter does (not inside code blocks)."
    from nbdev.readme_filter import doc_link
    out, fenced = [], False
    for line in md.splitlines():
        if _re_fence.match(line): fenced = not fenced
        out.append(line if fenced else _re_link.sub(lambda m: m.group(1) + doc_link(m.group(2), doc_url, nbdir) + m.group(3), line))
    return "\n".join(out)


def _indent(text): return "\n".join(("    " + l) if l.strip() else "" for l in text.rstrip("\n").splitlines())


def readme_md(nb_path, cfg):
    "The gfm README `nbdev-readme` would write: title, description, markdown, code and its text outputs."
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    cells, parts, files = nb["cells"], [], {}
    fm = front_matter(cells)
    if fm: cells = cells[1:]
    if fm.get("title"): parts.append(f"# {fm['title']}")
    if fm.get("description"): parts.append(f"> {fm['description']}")
    nbdir = Path(cfg.readme_nb).parent.as_posix()
    stem = Path(cfg.readme_nb).stem
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        if c["cell_type"] == "markdown":
            if src.strip(): parts.append(_doc_links(src.strip("\n"), cfg.doc_url, nbdir))
            continue
        if c["cell_type"] != "code": continue
        opts, code = _cell_opts(src)
        if str(opts.get("include", True)).lower() == "false": continue
        if code and str(opts.get("echo", True)).lower() != "false": parts.append(f"```python\n{code}\n```")
        out_opt = str(opts.get("output", True)).lower()
        if out_opt == "false": continue
        for j, o in enumerate(c.get("outputs", [])):
            if o["output_type"] == "stream":
                text = "".join(o["text"])
                if text.strip(): parts.append(_indent(text))
            elif o["output_type"] in ("execute_result", "display_data"):
                d = o.get("data", {})
                if "text/markdown" in d and (out_opt == "asis" or "image/png" not in d):
                    parts.append(_doc_links("".join(d["text/markdown"]).strip("\n"), cfg.doc_url, nbdir))
                elif "image/png" in d:
                    name = f"{stem}_files/figure-commonmark/cell-{i}-output-{j}.png"
                    files[name] = base64.b64decode("".join(d["image/png"]))
                    parts.append(f"![]({name})")
                elif "text/html" in d: parts.append("".join(d["text/html"]).strip("\n"))
                elif "text/plain" in d: parts.append(_indent("".join(d["text/plain"])))
    return "\n\n".join(p for p in parts if p.strip()) + "\n", files


def write_readme(cache, cfg, root=ROOT):
    "Write README.md (and any pictures it shows) into `root` from the processed index notebook, each file by a rename."
    if not (cache / cfg.readme_nb).is_file(): raise DocsError(f"README.md not written: {cfg.readme_nb} was not processed")
    text, files = readme_md(cache / cfg.readme_nb, cfg)
    for name, data in {**files, "README.md": text.encode("utf-8")}.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)


# ---------------------------------------------------------------- the commands

def build_with_quarto(work, out, readme):
    """Quarto is here: the steps of `nbdev-docs` (processing, `quarto render`), on the same processing as the offline
    build (reference fixes and tables, link guards, no "NoneType"), the same fallback alt text, and the same README (so
    that README.md does not depend on which branch built it). The notebook link, previous/next links, the sidebar
    (`sidebar.yml`), lightbox and folded solutions come from `_quarto.yml` and the cells' options, which Quarto reads
    natively."""
    from nbdev.quarto_render import render_quarto
    from nbdev.quarto import _fix_quarto_nav
    cache, cfg, failed = proc(work)
    if readme: write_readme(cache, cfg)
    site = work / "site"
    say(f"$ quarto render (in {work})")
    render_quarto(cache, site, n_workers=0)
    _fix_quarto_nav(site)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        m = re.search(r'<h1 class="title"[^>]*>(.*?)</h1>', text, re.S)
        title = html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else page.stem
        new = alt_text(text, title)
        if new != text: page.write_text(new, encoding="utf-8")
    publish(site, out, work)
    return failed


def build(work, out, readme):
    "The offline build: nbdev's processing, smalldocs, KaTeX, README. Returns the site's problems (it is written anyway)."
    t0 = time.perf_counter()
    cache, cfg, failed = proc(work)
    t1 = time.perf_counter()
    say(f"nbdev processing step -> {cache} ({t1 - t0:.1f}s)")
    if readme:
        write_readme(cache, cfg)
        say(f"README.md <- {cfg.nbs_path.name}/{cfg.readme_nb}")
    site = work / "site"
    n, problems = smalldocs_build(cache, cfg, site)
    pages = doc_pages(cache)
    publish(site, out, work)
    say(f"smalldocs: {n} page(s) -> {out}/ ({time.perf_counter() - t1:.1f}s)")
    for src, o in pages.items(): say(f"  {src:28} -> {o}")
    return failed + problems


def preview(work, host, port, open_browser):
    """nbdev-preview without Quarto: serve the site; a changed notebook in `nbs/` is re-processed into the private
    `_proc`, and smalldocs rebuilds."""
    import smalldocs.site, smalldocs.serve
    from nbdev.serve import _proc_file
    from nbdev.config import get_config
    import nbdev.serve_drv
    cache, cfg, nbs = work / "_proc", get_config(work), ROOT / "nbs"
    # what smalldocs' rebuild() constructs; the preview build (with its reload script) goes beside _proc's pages
    smalldocs.site.Site = nbdev_site_class(cache / "_preview", cfg.doc_url)

    def watch():
        while True:
            time.sleep(1)
            for f in sorted(nbs.rglob("*")):
                try:
                    res = _proc_file(f, cache, nbs)
                    if res: nbdev.serve_drv.main(res)
                    if res and f.name == cfg.readme_nb: write_readme(cache, cfg)
                except Exception as e: say(f"preview: {f.name}: {type(e).__name__}: {e}")
    threading.Thread(target=watch, daemon=True).start()
    return smalldocs.serve.preview(cache, host=host, port=port, open_browser=open_browser)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "_docs", help="where the site goes (default _docs/)")
    p.add_argument("--readme", action=argparse.BooleanOptionalAction, default=None,
                   help="write README.md from nbs/index.ipynb (default: only when --out is the default _docs/)")
    p.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="the notebooks to build from (default nbs/)")
    p.add_argument("--keep", action="store_true", help="keep the private build folder (its _proc), and print where it is")
    p.add_argument("--preview", action="store_true", help="after building, serve the site and rebuild on every change (nbdev-preview's offline equivalent)")
    p.add_argument("--port", type=int, default=4200, help="preview port (default 4200)")
    p.add_argument("--host", default="127.0.0.1", help="preview address (default 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="preview without opening a browser")
    p.add_argument("--force", action="store_true", help="accepted for compatibility: every build processes every notebook")
    a = p.parse_args(argv)
    out = a.out.resolve()
    readme = a.readme if a.readme is not None else out == (ROOT / "_docs").resolve()
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    work = work_dir(out)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped build (or preview) still removes its folder
    try:
        if shutil.which("quarto") and a.preview:
            return subprocess.run(["nbdev-preview", *(["--no-browser"] if a.no_browser else []), "--port", str(a.port), "--host", a.host], cwd=ROOT).returncode
        for n in snapshot(work, a.nbs): say(f"  note: {n}")
        problems = build_with_quarto(work, out, readme) if shutil.which("quarto") else build(work, out, readme)
        if problems: say("build_docs: the site (written to " + str(out) + ") has problems:\n  " + "\n  ".join(problems))
        else: say(f"docs built in {time.perf_counter() - t0:.1f}s (notebooks are not executed; show_doc cells are re-rendered)")
        if a.preview: return preview(work, a.host, a.port, not a.no_browser)
        return 1 if problems else 0
    except DocsError as e:
        say(f"build_docs: {e}")
        return 1
    finally:
        os.chdir(ROOT)
        if a.keep: say(f"build folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            if work.parent == ROOT / "build":
                try: work.parent.rmdir()  # only when empty: no other build is running
                except OSError: pass


if __name__ == "__main__":
    sys.exit(main())
