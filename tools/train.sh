#!/usr/bin/env bash
# One command from a fresh clone to a trained model:
#   bash tools/train.sh --epochs 3
# creates .venv if it is missing, installs PyTorch and the project into it, and runs `minibatch-train` with the
# arguments given (`bash tools/train.sh --help` lists them). A second run reuses .venv and installs nothing.
# PyTorch is installed first, pinned as CI pins it (set TORCH to another pip requirement to change that); where pip is
# pointed at PyTorch's CPU wheel index (PIP_EXTRA_INDEX_URL), that is the CPU build, far smaller than a CUDA one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)  # the clone; the job itself runs where you are, so --out is relative to here
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "train.sh: creating $root/.venv" >&2
  python3 -m venv "$root/.venv"
fi
. "$root/.venv/bin/activate"
if ! { [ -x "$root/.venv/bin/minibatch-train" ] && (cd / && python -c "import torch, safetensors, minibatch.job"); } 2>/dev/null
then  # a new .venv, or one left half-installed
  echo "train.sh: installing ${TORCH:-torch==2.13.0} and the project into .venv" >&2
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  pip install -q "${TORCH:-torch==2.13.0}"
  pip install -q -e "$root"
fi
exec minibatch-train "$@"
