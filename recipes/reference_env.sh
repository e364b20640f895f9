#!/usr/bin/env bash
# Build .venv-ref: a separate Python environment with the *reference* implementations from PyPI,
# wechsel==0.0.4 (CPJKU/wechsel) and deepfocus==1.0.1 (konstantinjdobler/focus), for the benchmark.
# recipes/reference_init.py runs inside it and wraps their public APIs (no patching).
# It also has zip2zip-compression==0.3.4 (epfl-dlab, the Rust LZW codec of zip2zip, a wheel):
# recipes/lzw_reference.py compares retok.adaptive.lzw with it and wrote tests/data/lzw_reference.json.
#
# Usage (from anywhere; idempotent):
#     bash recipes/reference_env.sh
#     VENV_REF=/some/dir PYTHON=python3.11 bash recipes/reference_env.sh
#
# Why a separate environment: both packages pull a lot that retok does not want (datasets, gensim,
# nltk, numba, fastdist, entmax, print-on-steroids, pandas, pyarrow) and both require `fasttext`,
# the source distribution, while retok's .venv has the binary `fasttext-wheel`: the two provide the
# same `fasttext` module and must not be mixed in one environment.
#
# What happens (measured on the 2-core machine, Python 3.11, warm pip cache for torch):
#   * torch==2.13.0 first: the CPU wheel lies on local disk; a bare `torch` requirement (deepfocus
#     asks for one) would otherwise pull a multi-GB CUDA build.
#   * fasttext 0.9.3 has no wheels on PyPI, so pip builds it from source: needs g++ and the Python
#     headers, ~2-3 min on 2 cores (pip caches the built wheel, so a rebuild is quick). Its Python
#     code still uses `np.array(..., copy=False)` in predict()/test(), which numpy 2 rejects, but
#     neither wechsel nor deepfocus calls those (they use get_word_vector/get_words/load_model).
#   * everything else comes as wheels; `pip check` is clean. Whole build: ~5-6 min.
# Nothing here or at import time needs the network beyond PyPI. At call time the packages only
# download when given a *name* instead of a file (a dictionary name, a language code); the wrapper
# passes files only and refuses missing paths.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV_REF:-$ROOT/.venv-ref}"
PY="$VENV/bin/python"
STAMP="$VENV/.reference-installed"
PYTHON="${PYTHON:-python3}"
PINS=(torch==2.13.0 transformers==5.23.0)  # repeated on every install line so nothing moves them

check_imports() {
    "$PY" - <<'EOF'
import importlib.metadata as md
import fasttext  # noqa: F401
from wechsel import WECHSEL  # noqa: F401
from deepfocus import FOCUS  # noqa: F401
import zip2zip_compression  # noqa: F401  (recipes/lzw_reference.py)
print("reference env ok:", ", ".join(f"{p}=={md.version(p)}" for p in
      ("wechsel", "deepfocus", "zip2zip-compression", "fasttext", "torch", "transformers", "numpy")))
EOF
}

if [[ -f "$STAMP" ]]; then
    check_imports
    exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q "${PINS[@]}" tokenizers safetensors numpy
"$PY" -m pip install -q "${PINS[@]}" fasttext==0.9.3 wechsel==0.0.4 deepfocus==1.0.1 zip2zip-compression==0.3.4
"$PY" -m pip check
check_imports
touch "$STAMP"
echo "built $VENV in $(( $(date +%s) - start )) s"
