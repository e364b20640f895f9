#!/usr/bin/env python
"""Initialize a target embedding matrix with a *reference* implementation from PyPI.

Runs in the separate benchmark environment built by ``recipes/reference_env.sh``
(``.venv-ref/bin/python recipes/reference_init.py ...``). It does not import retok, so it runs in
that environment alone. It wraps the public APIs of the reference packages without patching them:

* ``--method wechsel``: ``wechsel==0.0.4`` (CPJKU/wechsel)::

      WECHSEL(fasttext.load_model(en.bin), fasttext.load_model(de.bin),
              align_strategy="bilingual_dictionary", bilingual_dictionary="pairs.tsv")
          .apply(source_tokenizer, target_tokenizer, source_matrix)   # numpy (V_s, d)

  defaults: neighbors=10, temperature=0.1, use_subword_info=True. The ``WECHSEL`` constructor wraps
  each model in ``WordEmbedding`` itself, so it is given the plain fastText models (a
  ``WordEmbedding`` passed in would be rejected: "neither a fastText nor Word2Vec model").

* ``--method focus``: ``deepfocus==1.0.1`` (konstantinjdobler/focus)::

      FOCUS(target_tokenizer=..., source_tokenizer=..., source_embeddings=Tensor (V_s, d),
            fasttext_model_path="tok.bin", seed=42)

  ``tok.bin`` is a *token-level* fastText model: trained on target text tokenized with the target
  tokenizer, its words are raw vocabulary strings (``Ġein``). Everything else is FOCUS's default
  (auxiliary_embedding_mode="fasttext-tokenlevel", exact_match_all=True, ...).

Only local files are passed in, so neither package reaches the network. (Both would download when
given a name instead of a path: wechsel's ``bilingual_dictionary="german"`` and FOCUS's
``language_identifier``; this script checks that every input path exists first.)

Outputs, written atomically:

* ``--out FILE.safetensors``: key ``"weight"``, float32, ``(len(target_tokenizer), d)``;
* ``FILE.safetensors.json``: timings (package work only, and fastText loading apart), peak RSS,
  versions, the number of tokens the package reported as not found / randomly initialized, and
  notes (warnings the package printed or raised).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import logging
import os
import platform
import re
import resource
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

PACKAGES = {"wechsel": "wechsel", "focus": "deepfocus"}
VERSIONS_OF = ("wechsel", "deepfocus", "fasttext", "torch", "transformers", "tokenizers", "numpy", "scipy",
               "scikit-learn", "entmax", "fastdist", "numba")
FOCUS_DEFAULT_SEED = 42  # deepfocus.FOCUS(seed=42)
MAX_LISTED = 50  # how many token strings / notes to list in the JSON


# --------------------------------------------------------------------------------------------
# measurement helpers
# --------------------------------------------------------------------------------------------

def _status_mib(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in MiB (None where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) of this process; False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
    """Peak RSS of the whole process so far (``resource.getrusage``; KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Tee(io.TextIOBase):
    """Writes to the original stream and keeps a copy, so printed warnings can be reported."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.buffer_ = io.StringIO()

    def write(self, s: str) -> int:
        self.stream.write(s)
        return self.buffer_.write(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def getvalue(self) -> str:
        return self.buffer_.getvalue()


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _capture() -> Iterator[dict[str, Any]]:
    """Capture stdout/stderr (still shown), Python warnings and log records during the package's work."""
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    handler = _ListHandler()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    got: dict[str, Any] = {}
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            yield got
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        got["stdout"] = out.getvalue()
        got["stderr"] = err.getvalue()
        got["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
        got["log"] = [(r.levelname, r.getMessage()) for r in handler.records]
        for w in got["warnings"]:
            print(w, file=sys.stderr)


def _notes_from(captured: dict[str, Any]) -> list[str]:
    """Warnings printed, raised or logged while the package worked, counted, most frequent first."""
    lines: list[str] = list(captured["warnings"])
    lines += [f"log {lvl}: {msg}" for lvl, msg in captured["log"] if lvl not in ("INFO", "DEBUG")]
    for text in (captured["stdout"], captured["stderr"]):
        for line in re.split(r"[\r\n]+", text):
            if re.search(r"warn", line, re.IGNORECASE):
                lines.append(line.strip())
    # Per-token FOCUS warnings ("<tok> has multiple source embeddings") are counted under one note.
    counts = Counter(re.sub(r"^.*?\S+ has multiple source embeddings.*$",
                            "FOCUS - WARNING: <token> has multiple source embeddings (using first)", x)
                     for x in lines)
    return [f"{n}x {note}" if n > 1 else note for note, n in counts.most_common(MAX_LISTED)]


# --------------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------------

def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_source_matrix(path: Path) -> Any:
    """The ``"weight"`` tensor of a safetensors file as float32 (V_s, d) torch tensor."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    if "weight" not in tensors:
        raise SystemExit(f"{path}: no tensor named 'weight' (found {sorted(tensors)})")
    weight = tensors["weight"]
    if weight.ndim != 2:
        raise SystemExit(f"{path}: 'weight' must be (V_s, d); got shape {tuple(weight.shape)}")
    return weight.float().contiguous()


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONS_OF:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


# --------------------------------------------------------------------------------------------
# the two reference methods
# --------------------------------------------------------------------------------------------

def run_wechsel(args: argparse.Namespace, source_tok: Any, target_tok: Any, source_matrix: Any,
                report: dict[str, Any]) -> Any:
    """WECHSEL(en fastText, de fastText, bilingual dictionary).apply(tokenizers, E_s) with defaults."""
    import fasttext
    from wechsel import WECHSEL

    t0 = time.perf_counter()
    source_ft = fasttext.load_model(str(args.source_vectors))
    target_ft = fasttext.load_model(str(args.target_vectors))
    report["seconds"]["fasttext_load"] = time.perf_counter() - t0
    dims = (source_ft.get_dimension(), target_ft.get_dimension())
    report["fasttext"] = {"source_dim": dims[0], "target_dim": dims[1],
                          "source_words": len(source_ft.get_words()), "target_words": len(target_ft.get_words())}
    if dims[0] != dims[1]:
        report["notes"].append(f"fastText dimensions differ {dims}: wechsel 0.0.4 then calls "
                               "fasttext.util.reduce_model on the *source* model in both branches (upstream bug)")
    source_np = source_matrix.numpy()

    report["rss_before_init_mib"] = _status_mib("VmRSS")
    report["init_peak_rss_reset"] = _reset_peak_rss()
    with _capture() as captured:
        t0 = time.perf_counter()
        wechsel = WECHSEL(source_ft, target_ft, align_strategy="bilingual_dictionary",
                          bilingual_dictionary=str(args.dictionary))
        t1 = time.perf_counter()
        target_np, info = wechsel.apply(source_tok, target_tok, source_np)
        t2 = time.perf_counter()
    report["init_peak_rss_mib"] = _status_mib("VmHWM") if report["init_peak_rss_reset"] else None
    report["seconds"]["align"] = t1 - t0  # dictionary reading + orthogonal Procrustes
    report["seconds"]["apply"] = t2 - t1  # subword vectors + kNN init
    report["seconds"]["init"] = t2 - t0
    report["init_seconds"] = t2 - t0
    report["api_call"] = ('WECHSEL(fasttext.load_model(source_vectors), fasttext.load_model(target_vectors), '
                          'align_strategy="bilingual_dictionary", bilingual_dictionary=dictionary)'
                          '.apply(source_tokenizer, target_tokenizer, source_matrix)')
    report["defaults"] = {"use_subword_info": True, "neighbors": 10, "temperature": 0.1, "max_n_word_vectors": None}
    not_found = list(info.not_found)
    report["n_random"] = len(not_found)
    report["n_not_found"] = len(not_found)
    report["n_matched"] = len(target_tok) - len(not_found)
    report["random_tokens_sample"] = not_found[:MAX_LISTED]
    report["notes"] += _notes_from(captured)
    report["package_log"] = [msg for lvl, msg in captured["log"] if lvl == "INFO"][:MAX_LISTED]
    if args.seed is not None:
        report["notes"].append("--seed is ignored for wechsel: it has no seed argument; its random "
                               "fallback always uses np.random.RandomState(1234)")
    import torch

    return torch.from_numpy(target_np).float()


_FOCUS_COUNTS = {
    "n_overlap_copied": r"Copied embeddings for (\d+) overlapping tokens",
    "n_random": r"Initialized (\d+) new tokens from N\(source_mean,\s*source_std\)",
    "n_focus": r"Initialized (\d+) new tokens with FOCUS",
}


def run_focus(args: argparse.Namespace, source_tok: Any, target_tok: Any, source_matrix: Any,
              report: dict[str, Any]) -> Any:
    """FOCUS(target_tokenizer, source_tokenizer, E_s, fasttext_model_path=token-level model, seed)."""
    import fasttext
    import numpy as np
    from deepfocus import FOCUS
    from fastdist import fastdist

    # FOCUS loads the model from the path itself (inside the timed call). Load it once here too,
    # only to measure how long loading takes, then drop it.
    t0 = time.perf_counter()
    ft = fasttext.load_model(str(args.fasttext_model))
    load_s = time.perf_counter() - t0
    report["seconds"]["fasttext_load"] = load_s
    report["fasttext"] = {"dim": ft.get_dimension(), "words": len(ft.get_words())}
    del ft

    # FOCUS's similarity matrix comes from fastdist.cosine_matrix_to_matrix, a numba function
    # compiled on its first call (about 10 s, whatever the input size). Compile it here, on tiny
    # float32 matrices of the kind FOCUS passes, so that init_seconds is FOCUS's own work.
    t0 = time.perf_counter()
    tiny = np.ones((2, 3), dtype="float32")
    fastdist.cosine_matrix_to_matrix(tiny, tiny)
    report["seconds"]["jit_warmup"] = time.perf_counter() - t0

    seed = FOCUS_DEFAULT_SEED if args.seed is None else args.seed
    report["rss_before_init_mib"] = _status_mib("VmRSS")
    report["init_peak_rss_reset"] = _reset_peak_rss()
    with _capture() as captured:
        t0 = time.perf_counter()
        target = FOCUS(target_tokenizer=target_tok, source_tokenizer=source_tok, source_embeddings=source_matrix,
                       fasttext_model_path=str(args.fasttext_model), seed=seed)
        t1 = time.perf_counter()
    report["init_peak_rss_mib"] = _status_mib("VmHWM") if report["init_peak_rss_reset"] else None
    report["seconds"]["init"] = t1 - t0
    report["seconds"]["init_excluding_fasttext_load"] = max(0.0, t1 - t0 - load_s)
    report["init_seconds"] = t1 - t0
    report["notes"].append("FOCUS loads the fastText model from fasttext_model_path inside the call, so "
                           "init_seconds includes one load; seconds.fasttext_load is a separate load timed by "
                           "this wrapper and seconds.init_excluding_fasttext_load subtracts it. The numba "
                           "compilation of fastdist (seconds.jit_warmup) ran before, outside init_seconds")
    report["api_call"] = ("FOCUS(target_tokenizer=target_tokenizer, source_tokenizer=source_tokenizer, "
                          "source_embeddings=source_matrix, fasttext_model_path=fasttext_model, seed=seed)")
    report["defaults"] = {"auxiliary_embedding_mode": "fasttext-tokenlevel", "exact_match_all": True,
                          "match_symbols": False, "fuzzy_match_all": False, "seed": seed}
    printed = re.sub(r"\s+", " ", captured["stdout"] + "\n" + captured["stderr"])
    for key, pattern in _FOCUS_COUNTS.items():
        m = re.search(pattern, printed)
        report[key] = int(m.group(1)) if m else None
    report["n_not_found"] = report["n_random"]
    report["n_multiple_source_warnings"] = len(re.findall(r"has multiple source embeddings", printed))
    report["notes"] += _notes_from(captured)
    return target.detach().float()


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=sorted(PACKAGES), required=True)
    p.add_argument("--source-tokenizer", type=Path, required=True, help="folder for AutoTokenizer")
    p.add_argument("--target-tokenizer", type=Path, required=True, help="folder for AutoTokenizer")
    p.add_argument("--source-embeddings", type=Path, required=True,
                   help='safetensors file with key "weight", shape (V_s, d)')
    p.add_argument("--out", type=Path, required=True, help="output safetensors file (key \"weight\")")
    p.add_argument("--source-vectors", type=Path, help="wechsel: source-language fastText .bin")
    p.add_argument("--target-vectors", type=Path, help="wechsel: target-language fastText .bin")
    p.add_argument("--dictionary", type=Path, help="wechsel: bilingual dictionary, en_word<TAB>de_word per line")
    p.add_argument("--fasttext-model", type=Path, help="focus: token-level fastText .bin for the target tokenizer")
    p.add_argument("--seed", type=int, default=None, help=f"focus: seed (default {FOCUS_DEFAULT_SEED}); "
                   "wechsel has none")
    args = p.parse_args(argv)
    needed = {"wechsel": ("source_vectors", "target_vectors", "dictionary"), "focus": ("fasttext_model",)}[args.method]
    for name in needed:
        if getattr(args, name) is None:
            p.error(f"--method {args.method} needs --{name.replace('_', '-')}")
    for name in ("source_tokenizer", "target_tokenizer", "source_embeddings", *needed):
        path = getattr(args, name)
        if not path.exists():  # never let a package treat a missing path as a name to download
            p.error(f"--{name.replace('_', '-')} {str(path)!r} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    package = PACKAGES[args.method]
    report: dict[str, Any] = {
        "method": args.method,
        "package": package,
        "package_version": importlib.metadata.version(package),
        "versions": _versions(),
        "python": platform.python_version(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seconds": {},
        "notes": [],
    }

    t0 = time.perf_counter()
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    importlib.import_module(package)  # only the package that runs: its imports are slow (datasets, numba, ...)
    report["seconds"]["imports"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    source_tok = AutoTokenizer.from_pretrained(str(args.source_tokenizer))
    target_tok = AutoTokenizer.from_pretrained(str(args.target_tokenizer))
    source_matrix = _load_source_matrix(args.source_embeddings)
    report["seconds"]["load_inputs"] = time.perf_counter() - t0
    report["source_vocab_size"] = len(source_tok)
    report["target_vocab_size"] = len(target_tok)
    report["source_matrix_shape"] = list(source_matrix.shape)
    if source_matrix.shape[0] != len(source_tok):
        report["notes"].append(f"source matrix has {source_matrix.shape[0]} rows but len(source_tokenizer) is "
                               f"{len(source_tok)}")

    torch.manual_seed(FOCUS_DEFAULT_SEED if args.seed is None else args.seed)
    run = {"wechsel": run_wechsel, "focus": run_focus}[args.method]
    target = run(args, source_tok, target_tok, source_matrix, report)

    if tuple(target.shape) != (len(target_tok), source_matrix.shape[1]):
        raise SystemExit(f"{package} returned shape {tuple(target.shape)}; expected "
                         f"({len(target_tok)}, {source_matrix.shape[1]})")
    report["out_shape"] = list(target.shape)
    report["n_nonfinite_rows"] = int((~torch.isfinite(target).all(dim=1)).sum())
    report["peak_rss_mib"] = _peak_rss_mib()
    report["seconds"]["total"] = time.perf_counter() - t_start

    metadata = {"method": args.method, "package": f"{package}=={report['package_version']}"}
    _atomic_write(args.out, lambda tmp: save_file({"weight": target.contiguous()}, tmp, metadata=metadata))
    json_path = args.out.with_name(args.out.name + ".json")
    _atomic_write(json_path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8"))
    print(f"wrote {args.out} {tuple(target.shape)} and {json_path}: init {report['init_seconds']:.1f} s, "
          f"peak RSS {report['peak_rss_mib']:.0f} MiB, random {report['n_random']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
