"""Execute notebooks top to bottom, in their own folder as `nbdev-test` does, and save them with their outputs.

    python tools/run_nb.py nbs/00_losses.ipynb [more.ipynb ...]

Stops at the first failing cell and leaves that notebook unchanged. Run `nbdev-clean` afterwards."""
import os, sys, time
from pathlib import Path
from execnb.shell import CaptureShell

def run(path):
    path = Path(path).resolve()
    cwd = os.getcwd()
    os.chdir(path.parent)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    t0 = time.perf_counter()
    try:
        tmp = path.with_name(f".{path.name}.run")
        CaptureShell(path.parent).execute(path, tmp, exc_stop=True)
        os.replace(tmp, path)
    finally: os.chdir(cwd)
    print(f"{path.name}: executed and saved in {time.perf_counter() - t0:.0f} s", flush=True)

if __name__ == "__main__":
    if len(sys.argv) < 2: sys.exit(__doc__)
    for p in sys.argv[1:]: run(p)
