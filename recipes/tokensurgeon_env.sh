#!/usr/bin/env bash
# Build .venv-mergekit: mergekit==0.1.5 (arcee-ai, LGPL) in its own environment, so that
# recipes/donor_benchmark.py can run `mergekit-tokensurgeon` itself beside retok's donor methods.
# recipes/tokensurgeon_run.py wraps its command line (no patching).
#
# Usage (from anywhere; idempotent):
#     bash recipes/tokensurgeon_env.sh
#     VENV_MERGEKIT=/some/dir PYTHON=python3.11 bash recipes/tokensurgeon_env.sh
#
# Why a separate environment: mergekit pulls datasets, pydantic, immutables, accelerate, peft,
# scipy and more that retok does not want, and pins its own ranges; retok never imports it.
# torch==2.13.0 goes first (the CPU wheel on local disk): mergekit asks for `torch>=2.0.0`, which
# would otherwise pull a multi-GB CUDA build. transformers stays on the 5.x retok is tested with.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV_MERGEKIT:-$ROOT/.venv-mergekit}"
PY="$VENV/bin/python"
STAMP="$VENV/.mergekit-installed"
PYTHON="${PYTHON:-python3}"
PINS=(torch==2.13.0 transformers==5.23.0)  # repeated on every install line so nothing moves them

check() {
    "$PY" - <<'PYEOF'
import importlib.metadata as md
import mergekit.scripts.tokensurgeon  # noqa: F401
print("mergekit env ok:", ", ".join(f"{p}=={md.version(p)}" for p in ("mergekit", "torch", "transformers")))
PYEOF
    test -x "$VENV/bin/mergekit-tokensurgeon"
}

if [[ -f "$STAMP" ]]; then
    check
    exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q "${PINS[@]}" mergekit==0.1.5
"$PY" -m pip check
check
touch "$STAMP"
echo "built $VENV in $(( $(date +%s) - start )) s"
