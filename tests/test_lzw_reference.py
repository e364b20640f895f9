"""retok.adaptive.lzw against the reference package itself (``zip2zip-compression`` 0.3.4, in ``.venv-ref``), not only stored vectors.

Skipped where ``.venv-ref`` does not exist, except under ``.ci/run`` (``make test`` builds it first),
where a missing environment is an error, as for the other reference packages.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from retok.adaptive.lzw import LZWConfig
from retok.testing import ENGLISH, GERMAN, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"

if not REF_PYTHON.exists():
    if os.environ.get("RETOK_REQUIRE_REFERENCE"):
        raise RuntimeError(f"{REF_PYTHON} is missing although RETOK_REQUIRE_REFERENCE is set; run `make reference-env`")
    pytest.skip(f"{REF_PYTHON} does not exist: build it with `bash recipes/reference_env.sh`", allow_module_level=True)


def test_codes_and_codebooks_equal_the_reference_packages_on_text_and_random_streams(tmp_path):
    tok = tiny_tokenizer()
    rng = random.Random(0)
    text_ids = tok("\n".join(ENGLISH * 4 + GERMAN * 4), add_special_tokens=False)["input_ids"]
    cases = [
        {"name": "text", "ids": text_ids, "config": LZWConfig.from_tokenizer(tok, max_codebook_size=2048, max_subtokens=4).to_dict()},
        {"name": "text-small-k", "ids": text_ids, "config": LZWConfig.from_tokenizer(tok, max_codebook_size=40, max_subtokens=3).to_dict()},
        {"name": "random", "ids": [rng.randrange(12) for _ in range(3000)],
         "config": LZWConfig(initial_vocab_size=12, max_codebook_size=500, max_subtokens=5, disabled_ids={3}, pad_token_id=0).to_dict()},
    ]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases), encoding="utf-8")
    run = subprocess.run([str(REF_PYTHON), str(ROOT / "recipes" / "lzw_reference.py"), "--compare", str(path), "--repeats", "1"],
                         capture_output=True, text=True, timeout=300)
    result = json.loads(run.stdout)
    assert run.returncode == 0 and result["identical"], [c for c in result["cases"] if not c["identical"]]
    assert result["package"] == "zip2zip-compression==0.3.4"
