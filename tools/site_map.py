"""The site's map, read from its ONE list, `nbs/sidebar.yml`: the sidebar's order (previous/next follow it), which
notebooks are walk pages (the numbered notebooks of the section "The walk") and which are under the hood.

    from site_map import sidebar, walk_notebooks, hood_notebooks, page_of
    python tools/site_map.py   # print the map

Used by `tools/build_docs.py` (the sidebar both the Quarto and the smalldocs build get), `tools/browser_test.py`,
`tools/page_report.py` and `tools/shown_code.py`, so that the walk is decided in one place.
"""
import re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDEBAR = ROOT / "nbs" / "sidebar.yml"
WALK_SECTION, HOOD_SECTION = "The walk", "Under the hood"


def _items(contents, section=None):
    "Flatten a sidebar's `contents:`: (notebook file, its section, its sidebar text or None), in order."
    for c in contents or []:
        if isinstance(c, str): yield c, section, None
        elif isinstance(c, dict) and "contents" in c: yield from _items(c["contents"], c.get("section") or section)
        elif isinstance(c, dict) and c.get("href"): yield c["href"], section, c.get("text")


def sidebar(path=SIDEBAR):
    "The sidebar's entries in order: a list of (notebook file name, section title or None, text or None)."
    import yaml
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: it is the site's sidebar and the list of walk pages (commit it; "
                                "nbdev's custom_sidebar = true means nbdev does not write it)")
    d = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    bars = (d.get("website") or {}).get("sidebar")
    bars = bars if isinstance(bars, list) else [bars]
    return [it for sb in bars if isinstance(sb, dict) for it in _items(sb.get("contents"))]


def is_numbered(nb): return bool(re.match(r"\d+_", Path(nb).name))


def walk_notebooks(path=SIDEBAR):
    "The walk pages' notebooks, in order: the numbered notebooks in the section 'The walk' (not the home page)."
    return [nb for nb, sec, _ in sidebar(path) if sec == WALK_SECTION and is_numbered(nb)]


def hood_notebooks(path=SIDEBAR):
    "The notebooks under the hood, in order."
    return [nb for nb, sec, _ in sidebar(path) if sec == HOOD_SECTION]


def page_of(nb):
    "The page nbdev makes of a notebook (its `output-file`): `01_losses.ipynb` -> `losses.html`."
    return re.sub(r"^\d+_", "", Path(nb).stem) + ".html"


if __name__ == "__main__":
    for nb, sec, text in sidebar():
        kind = "walk" if nb in walk_notebooks() else sec or ""
        exists = (SIDEBAR.parent / nb).exists()
        print(f"{nb:28} {page_of(nb):20} {kind:16} {text or ''}{'' if exists else '  (notebook not written yet)'}")
    sys.exit(0)
