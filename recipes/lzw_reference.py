#!/usr/bin/env python
"""retok.adaptive.lzw against the reference LZW codec, ``zip2zip-compression==0.3.4`` (epfl-dlab, Rust/pyo3).

Runs in an environment that has the package (``.venv-ref`` from ``recipes/reference_env.sh``, or
any venv with ``pip install zip2zip-compression==0.3.4``). torch is not needed: ``retok.adaptive.lzw`` is
pure Python, and this script puts the repository root on ``sys.path`` to import it.

Two modes:

* ``--write-vectors tests/data/lzw_reference.json``: encode a fixed set of cases with the package
  and store ids, config, codes, the codebook (``Codebook.to_dict()``), a few ``batch_encode``
  results and a few online ``CodebookManager.update_codebooks`` runs (one code per call). The
  tests (``tests/test_lzw.py``) check retok.adaptive.lzw against the file without the package. Deterministic
  (fixed seeds); generated once.

* ``--compare CASES.json [--out RESULT.json]``: CASES.json is a JSON list of
  ``{"ids": [...], "config": {LZWConfig.to_dict()}, "name": optional}``. Each case is encoded by
  both codecs; the codes and codebooks must be identical. Then codec throughput (ids per second,
  the median of ``--repeats`` runs) for (a) the case cut into ``--window``-id windows, one
  ``encode`` call per window (per-call overhead dominates), and (b) the whole case in one call.
  Prints a JSON result (also to ``--out``); exit code 1 if anything differs.

The package's calls: ``LZWCompressor(initial_vocab_size=V0, max_codebook_size=K, max_subtokens=M,
pad_token_id=P, disabled_ids=[...]).encode(ids) -> (codes, mask, Codebook)``, padding off. It needs
an int pad id; a config without one is given ``V0 + K`` (an id that never occurs in the input).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retok.adaptive import lzw  # noqa: E402  (pure Python: no torch)

PACKAGE = "zip2zip-compression"
PINNED = "0.3.4"


def _package():
    try:
        import zip2zip_compression as z
    except ImportError:
        sys.exit(f"this script needs {PACKAGE}=={PINNED}: pip install {PACKAGE}=={PINNED} "
                 "(or run it with .venv-ref/bin/python, see recipes/reference_env.sh)")
    version = importlib.metadata.version(PACKAGE)
    if version != PINNED:
        print(f"warning: {PACKAGE} is {version}, the vectors were made with {PINNED}", file=sys.stderr)
    return z, version


def _kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The package's constructor arguments for an LZWConfig dict."""
    pad = cfg.get("pad_token_id")
    if pad is None:
        pad = cfg["initial_vocab_size"] + cfg["max_codebook_size"]
    return {"initial_vocab_size": cfg["initial_vocab_size"], "max_codebook_size": cfg["max_codebook_size"],
            "max_subtokens": cfg["max_subtokens"], "pad_token_id": pad, "disabled_ids": list(cfg.get("disabled_ids") or [])}


def _entries(codebook_dict: dict[int, list[int]], v0: int) -> list[list[int]]:
    """``Codebook.to_dict()`` as a list in slot order (it must be dense: slots 0..n-1)."""
    keys = sorted(codebook_dict)
    if keys != list(range(v0, v0 + len(keys))):
        raise AssertionError(f"the package's codebook is not dense from {v0}: {keys[:10]}...")
    return [list(codebook_dict[k]) for k in keys]


# --------------------------------------------------------------------------------------------
# --write-vectors


def _zipf(rng: random.Random, n: int, alphabet: int, offset: int = 0, s: float = 1.1) -> list[int]:
    weights = [1 / (r + 1) ** s for r in range(alphabet)]
    return [offset + i for i in rng.choices(range(alphabet), weights=weights, k=n)]


def _cases() -> list[dict[str, Any]]:
    rng = random.Random(20260702)

    def cfg(v0, k, m, disabled=(), pad=None):
        return lzw.LZWConfig(v0, k, m, frozenset(disabled), pad).to_dict()

    def small(n, alphabet, offset=0):
        return [offset + rng.randrange(alphabet) for _ in range(n)]

    with_disabled = small(400, 10)
    for pos in range(7, 400, 23):
        with_disabled[pos] = rng.choice([3, 7, 25])
    with_pad = small(200, 6, offset=1)
    for pos in (0, 1, 50, 51, 52, 120, 199):
        with_pad[pos] = 0
    doc = _zipf(rng, 1200, 400, offset=4)
    docs = [2] + doc[:600] + [1, 2] + doc[600:] + [1]  # bos/eos inside a stream
    return [
        {"name": "worked_example", "ids": [1, 2, 3, 4, 5] * 3, "config": cfg(27, 100, 5, pad=0)},
        {"name": "small_alphabet_m4", "ids": small(500, 4), "config": cfg(50, 200, 4)},
        {"name": "zipf_long_3000", "ids": _zipf(rng, 3000, 800), "config": cfg(1000, 512, 4, pad=0)},
        {"name": "disabled_in_stream", "ids": with_disabled, "config": cfg(30, 100, 4, disabled=(3, 7, 25), pad=0)},
        {"name": "pad_in_stream", "ids": with_pad, "config": cfg(8, 64, 3, pad=0)},
        {"name": "m2", "ids": small(300, 5), "config": cfg(10, 100, 2)},
        {"name": "m3", "ids": small(300, 5), "config": cfg(10, 100, 3)},
        {"name": "m4", "ids": small(300, 5), "config": cfg(10, 100, 4)},
        {"name": "m5", "ids": small(300, 3), "config": cfg(10, 100, 5)},
        {"name": "m8_runs", "ids": [7] * 60 + [3, 7] * 30, "config": cfg(10, 100, 8)},
        {"name": "tiny_k3_full", "ids": small(300, 4), "config": cfg(10, 3, 4)},
        {"name": "k1_full", "ids": small(100, 3), "config": cfg(5, 1, 3)},
        {"name": "k0_no_merging", "ids": small(100, 3), "config": cfg(5, 0, 4)},
        {"name": "empty", "ids": [], "config": cfg(27, 100, 5, pad=0)},
        {"name": "single_id", "ids": [4], "config": cfg(27, 100, 5, pad=0)},
        {"name": "v0_1_repeats", "ids": [0] * 40, "config": cfg(1, 10, 4)},
        {"name": "cscsc_repeat", "ids": [1] * 30, "config": cfg(5, 50, 5)},
        {"name": "long_small_alphabet_3000", "ids": small(3000, 30), "config": cfg(64, 2048, 4, disabled=(0, 1, 2), pad=0)},
        {"name": "docs_with_bos_eos", "ids": docs, "config": cfg(500, 256, 4, disabled=(0, 1, 2, 3), pad=0)},
        {"name": "pad_none", "ids": small(200, 5), "config": cfg(6, 40, 3)},
    ]


def _batch_cases() -> list[dict[str, Any]]:
    seqs = [[1, 2, 1, 2, 1, 2, 1, 2], [3, 3, 3], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5], [4, 9, 4, 9, 4, 9, 4, 9]]
    cfg = lzw.LZWConfig(27, 100, 3, frozenset({9}), 0).to_dict()
    out = []
    for padding, truncation, max_length in [("longest", False, None), ("do_not_pad", False, None),
                                            ("max_length", False, 6), ("max_length", False, 12),
                                            ("longest", True, 3), ("max_length", True, 5), ("do_not_pad", True, 4)]:
        out.append({"seqs": seqs, "config": cfg, "padding": padding, "truncation": truncation, "max_length": max_length})
    return out


def _online_cases() -> list[dict[str, Any]]:
    rng = random.Random(7)
    stream = [rng.randrange(4) for _ in range(120)]
    cfg = lzw.LZWConfig(10, 30, 3, frozenset(), None).to_dict()
    # "codes": None -> the package's own encoding of the stream
    return [{"name": "base_ids_one_at_a_time", "config": cfg, "stream": stream, "codes": stream},
            {"name": "lzw_codes_one_at_a_time", "config": cfg, "stream": stream, "codes": None}]


def write_vectors(path: Path) -> None:
    z, version = _package()
    cases = []
    for case in _cases():
        c = z.LZWCompressor(**_kwargs(case["config"]))
        codes, _mask, book = c.encode(case["ids"])
        entries = _entries(book.to_dict(), case["config"]["initial_vocab_size"])
        decoded, dbook = c.decode(codes)
        assert decoded == case["ids"] and _entries(dbook.to_dict(), case["config"]["initial_vocab_size"]) == entries
        cases.append({**case, "codes": list(codes), "entries": entries})
    batches = []
    for case in _batch_cases():
        c = z.LZWCompressor(**_kwargs(case["config"]))
        codes, mask, _books = c.batch_encode(case["seqs"], case["padding"], case["truncation"], case["max_length"])
        batches.append({**case, "codes": [list(r) for r in codes], "mask": [list(r) for r in mask]})
    online = []
    for case in _online_cases():
        cfg = case["config"]
        if case["codes"] is None:
            case = {**case, "codes": list(z.LZWCompressor(**_kwargs(cfg)).encode(case["stream"])[0])}
        manager = z.CodebookManager(z.CompressionConfig(**_kwargs(cfg)))
        installed = []
        for code in case["codes"]:
            _updates, indices = manager.update_codebooks([[code]])
            installed.append(list(indices[0]))
        final = _entries(manager.get_codebooks()[0].to_dict(), cfg["initial_vocab_size"])
        online.append({**case, "installed": installed, "entries": final})
    doc = {"package": f"{PACKAGE}=={version}",
           "how": "python recipes/lzw_reference.py --write-vectors tests/data/lzw_reference.json",
           "note": "codes: LZWCompressor(**config).encode(ids)[0] (no padding); entries: Codebook.to_dict() in slot "
                   "order (entry k is hyper id V0+k); batches: batch_encode(seqs, padding, truncation, max_length); "
                   "online: CodebookManager.update_codebooks([[code]]) one code per call, installed = the slots "
                   "returned per call. A config with pad_token_id null was given pad_token_id = V0 + K.",
           "cases": cases, "batches": batches, "online": online}
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["{"]
    keys = list(doc)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        value = doc[key]
        if isinstance(value, list):
            body = ",\n".join("  " + json.dumps(v, separators=(",", ":")) for v in value)
            lines.append(f"{json.dumps(key)}: [\n{body}\n]{comma}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases, {len(batches)} batches, {len(online)} online runs to {path} "
          f"({path.stat().st_size / 1024:.0f} KiB) with {PACKAGE}=={version}")


# --------------------------------------------------------------------------------------------
# --compare


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(cases_path: Path, *, window: int, repeats: int) -> dict[str, Any]:
    z, version = _package()
    raw = json.loads(cases_path.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and "cases" in raw:
        raw = raw["cases"]
    results = []
    tot = {"ids": 0, "windows": {"package": 0.0, "retok": 0.0}, "stream": {"package": 0.0, "retok": 0.0}}
    all_identical = True
    for i, case in enumerate(raw):
        ids = list(case["ids"])
        config = lzw.LZWConfig.from_dict(case["config"])
        c = z.LZWCompressor(**_kwargs(config.to_dict()))
        ref_codes, _mask, ref_book = c.encode(ids)
        codes, book = lzw.encode_with_codebook(ids, config)
        same_codes = list(ref_codes) == codes and lzw.encode(ids, config) == codes
        same_book = _entries(ref_book.to_dict(), config.initial_vocab_size) == [list(e) for e in book.entries]
        windows = [ids[j:j + window] for j in range(0, len(ids), window)]
        package_windows = [list(c.encode(w)[0]) for w in windows]
        same_windows = all(pw == lzw.encode(w, config) for pw, w in zip(package_windows, windows))
        window_codes = {"package": sum(map(len, package_windows)), "retok": sum(len(lzw.encode(w, config)) for w in windows)}
        identical = same_codes and same_book and same_windows
        all_identical &= identical
        timing = {}
        if ids:
            for label, pk, rt in (
                ("windows", lambda: [c.encode(w) for w in windows], lambda: [lzw.encode(w, config) for w in windows]),
                ("stream", lambda: c.encode(ids), lambda: lzw.encode(ids, config)),
            ):
                t_pk, t_rt = _median_seconds(pk, repeats), _median_seconds(rt, repeats)
                tot[label]["package"] += t_pk
                tot[label]["retok"] += t_rt
                timing[label] = {"package_ids_per_s": round(len(ids) / t_pk), "retok_ids_per_s": round(len(ids) / t_rt),
                                 "retok_over_package": round(t_pk / t_rt, 3)}
            tot["ids"] += len(ids)
        results.append({"name": case.get("name", f"case{i}"), "n_ids": len(ids), "n_codes": len(codes),
                        "compression_ratio": round(lzw.compression_ratio(len(ids), len(codes)), 4),
                        "window_compression_ratio": {k: round(lzw.compression_ratio(len(ids), n), 4) for k, n in window_codes.items()},
                        "entries": len(book), "identical": identical,
                        "identical_codes": same_codes, "identical_codebook": same_book,
                        "identical_windows": same_windows, **timing})
    total = {"n_ids": tot["ids"]}
    for label in ("windows", "stream"):
        if tot["ids"]:
            p, r = tot[label]["package"], tot[label]["retok"]
            total[label] = {"package_ids_per_s": round(tot["ids"] / p), "retok_ids_per_s": round(tot["ids"] / r),
                            "retok_over_package": round(p / r, 3)}
    return {"package": f"{PACKAGE}=={version}", "python": platform.python_version(), "machine": platform.machine(),
            "window": window, "repeats": repeats, "statistic": "median", "identical": all_identical,
            "total": total, "cases": results}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-vectors", type=Path, metavar="FILE", help="generate the stored test vectors")
    mode.add_argument("--compare", type=Path, metavar="CASES", help="JSON list of {ids, config}: compare and time")
    p.add_argument("--out", type=Path, help="also write the --compare result here")
    p.add_argument("--window", type=int, default=1024, help="ids per encode call in the windowed timing")
    p.add_argument("--repeats", type=int, default=5, help="timing repeats (the median is reported)")
    args = p.parse_args(argv)
    if args.write_vectors:
        write_vectors(args.write_vectors)
        return 0
    result = compare(args.compare, window=args.window, repeats=args.repeats)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
