"""recipes/reference_init.py wraps the PyPI reference packages (wechsel, deepfocus) on tiny inputs.

Runs where the benchmark environment ``.venv-ref`` exists (``make test`` builds it first with
``bash recipes/reference_env.sh``); skipped otherwise, except under ``.ci/run``, where a missing
environment is an error. The wrapper runs in that environment as a subprocess, and the tiny fastText
models are trained there too, with its ``fasttext``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from retok.testing import ENGLISH, GERMAN, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
WRAPPER = ROOT / "recipes" / "reference_init.py"

if not REF_PYTHON.exists():
    if os.environ.get("RETOK_REQUIRE_REFERENCE"):  # set by .ci/run: `make test` builds .venv-ref first
        raise RuntimeError(f"{REF_PYTHON} is missing although RETOK_REQUIRE_REFERENCE is set; run `make reference-env`")
    pytest.skip(f"{REF_PYTHON} does not exist: build it with `bash recipes/reference_env.sh`",
                allow_module_level=True)

DIM = 8
METHODS = ["wechsel", "focus"]
# Trains one tiny fastText model in the reference env. One process per model: fasttext 0.9.3
# (what wechsel/deepfocus install) hits "Encountered NaN" when a second model is trained in the
# same process on these tiny texts.
TRAIN_FASTTEXT = """
import sys, fasttext
fasttext.train_unsupervised(sys.argv[1], model="cbow", dim=16, minCount=1, epoch=5, minn=2, maxn=4,
                            bucket=2000, thread=1, verbose=0).save_model(sys.argv[2])
"""
RESULT_FIELDS = {
    "method", "package", "package_version", "versions", "seconds", "init_seconds", "peak_rss_mib",
    "n_random", "n_not_found", "notes", "api_call", "out_shape", "target_vocab_size",
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("reference")
    source, target = tiny_tokenizer(ENGLISH), tiny_tokenizer(GERMAN)
    source.save_pretrained(d / "source_tok")
    target.save_pretrained(d / "target_tok")
    save_file({"weight": torch.randn(len(source), DIM, generator=torch.Generator().manual_seed(0))},
              str(d / "source.safetensors"))
    (d / "en.txt").write_text("\n".join(ENGLISH * 5) + "\n", encoding="utf-8")
    (d / "de.txt").write_text("\n".join(GERMAN * 5) + "\n", encoding="utf-8")
    (d / "de.tok.txt").write_text("\n".join(" ".join(target.tokenize(x)) for x in GERMAN * 5) + "\n",
                                  encoding="utf-8")
    (d / "pairs.tsv").write_text("the\tdie\nhouse\tHaus\ngarden\tGarten\n", encoding="utf-8")
    # English and German word vectors for WECHSEL; a token-level German model (its words are
    # target-tokenizer tokens such as "Ġdas") for FOCUS.
    for name in ("en", "de", "de.tok"):
        subprocess.run([str(REF_PYTHON), "-c", TRAIN_FASTTEXT, str(d / f"{name}.txt"), str(d / f"{name}.bin")],
                       check=True, timeout=60)
    return {"dir": d, "n_target": len(target)}


def _command(method: str, d: Path) -> list[str]:
    extra = {
        "wechsel": ["--source-vectors", str(d / "en.bin"), "--target-vectors", str(d / "de.bin"),
                    "--dictionary", str(d / "pairs.tsv")],
        "focus": ["--fasttext-model", str(d / "de.tok.bin")],
    }[method]
    return [str(REF_PYTHON), str(WRAPPER), "--method", method, "--source-tokenizer", str(d / "source_tok"),
            "--target-tokenizer", str(d / "target_tok"), "--source-embeddings", str(d / "source.safetensors"),
            "--out", str(d / f"{method}.safetensors"), *extra]


@pytest.fixture(scope="module")
def runs(inputs: dict[str, Any]) -> dict[str, tuple[torch.Tensor, dict[str, Any]]]:
    """Both methods, run at the same time (most of each run is importing the reference packages)."""
    d = inputs["dir"]
    # Offline, and any cache a package writes lands in the temporary folder.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(d / "cache")}
    procs = {m: subprocess.Popen(_command(m, d), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for m in METHODS}
    results = {}
    for method, proc in procs.items():
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{method}: {err[-3000:]}"
        out = d / f"{method}.safetensors"
        report = json.loads(out.with_name(out.name + ".json").read_text(encoding="utf-8"))
        results[method] = (load_file(str(out))["weight"], report)
    return results


@pytest.mark.parametrize("method", METHODS)
def test_reference_wrapper(method: str, inputs: dict[str, Any], runs: dict[str, Any]) -> None:
    weight, report = runs[method]
    n_target = inputs["n_target"]
    assert tuple(weight.shape) == (n_target, DIM)
    assert weight.dtype == torch.float32 and torch.isfinite(weight).all()
    assert RESULT_FIELDS <= report.keys(), RESULT_FIELDS - report.keys()
    assert report["method"] == method
    assert report["package_version"] == {"wechsel": "0.0.4", "focus": "1.0.1"}[method]
    assert report["out_shape"] == [n_target, DIM] and report["target_vocab_size"] == n_target
    assert isinstance(report["n_random"], int) and 0 <= report["n_random"] <= n_target
    assert report["init_seconds"] > 0 and report["peak_rss_mib"] > 0
    if method == "focus":  # the counts FOCUS logged add up to the target vocabulary
        assert report["n_overlap_copied"] + report["n_random"] + report["n_focus"] == n_target


def test_missing_input_is_refused_before_any_download(inputs: dict[str, Any]) -> None:
    """A dictionary name instead of a path would make wechsel download one; the wrapper refuses it."""
    d = inputs["dir"]
    proc = subprocess.run(
        [str(REF_PYTHON), str(WRAPPER), "--method", "wechsel", "--source-tokenizer", str(d / "source_tok"),
         "--target-tokenizer", str(d / "target_tok"), "--source-embeddings", str(d / "source.safetensors"),
         "--out", str(d / "never.safetensors"), "--source-vectors", str(d / "en.bin"),
         "--target-vectors", str(d / "de.bin"), "--dictionary", "german"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert not (d / "never.safetensors").exists()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
