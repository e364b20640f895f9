"""Compressed-mode bits per byte, and the codec's statistics on a text.

The protocol is :mod:`retok.eval`'s with one change: the text's base ids are cut into windows of
``window`` base tokens, and each window is LZW-encoded on its own (a fresh codebook, as the
model sees it) and fed as ``[SEP] + codes[:-1]`` to predict ``codes``. Every code, and so every
byte, is scored exactly once; ``bpb = total NLL / (ln 2 * UTF-8 bytes)`` as for any tokenizer.
With ``max_codebook_size = 0`` it equals :func:`retok.eval.bits_per_byte` with the same window.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from retok.adaptive.lzw import LZWConfig, encode, encode_with_codebook
from retok.errors import RetokError
from retok.eval import document_separator, scoring_ids
from retok.measure import measure
from retok.progress import bars_on

from .data import collate, compress_window
from .model import Zip2ZipLM


@dataclass(frozen=True)
class CompressedEval:
    """bits per byte in compressed mode; ``tokens_per_byte`` counts codes, ``compression_ratio`` = base tokens / codes."""

    bpb: float
    tokens_per_byte: float
    base_tokens_per_byte: float
    compression_ratio: float
    n_codes: int
    n_base_tokens: int
    n_bytes: int
    nll_nats: float
    n_windows: int
    window: int
    seconds: float
    peak_rss_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def windows_of(ids: list[int], window: int) -> list[list[int]]:
    """Consecutive windows of ``window`` ids (the last may be shorter)."""
    return [ids[i : i + window] for i in range(0, len(ids), window)]


def compressed_bits_per_byte(model: Zip2ZipLM, tokenizer: Any, text: str, *, window: int = 1024, batch_size: int = 2,
                             separator: str | int | None = None, progress: bool = True, strict: bool = True) -> CompressedEval:
    """Score ``text`` under a zip2zip model by the protocol in the module docstring (sets ``model.eval()``)."""
    if not isinstance(text, str) or not text:
        raise RetokError("the text to score is empty; pass the held-out text (a non-empty string)")
    sep = document_separator(tokenizer, separator)
    n_bytes = len(text.encode("utf-8"))
    model.eval()
    device = next(model.parameters()).device
    with measure() as m, torch.inference_mode():
        ids = scoring_ids(tokenizer, text, strict=strict)
        pieces = [compress_window(w, model.lzw, prefix=sep) for w in windows_of(ids, window)]
        nll, n_codes = 0.0, 0
        with tqdm(total=len(pieces), desc="compressed bits per byte", unit="window", disable=not bars_on(progress)) as bar:
            for i in range(0, len(pieces), batch_size):
                group = pieces[i : i + batch_size]
                batch = {k: v.to(device) for k, v in collate(group, model.lzw.max_subtokens).items()}
                out = model(**batch)
                nll += out.nll
                n_codes += out.n_targets
                bar.update(len(group))
    return CompressedEval(
        bpb=nll / (math.log(2) * n_bytes), tokens_per_byte=n_codes / n_bytes, base_tokens_per_byte=len(ids) / n_bytes,
        compression_ratio=len(ids) / n_codes, n_codes=n_codes, n_base_tokens=len(ids), n_bytes=n_bytes, nll_nats=nll,
        n_windows=len(pieces), window=window, seconds=m.seconds, peak_rss_mb=m.peak_rss_mb,
    )


def codec_stats(ids: list[int], config: LZWConfig, *, window: int = 1024, n_bytes: int | None = None) -> dict[str, Any]:
    """What LZW does to ``ids`` in windows of ``window``: the ratio per window, the entries made and used, codec throughput."""
    parts = windows_of(ids, window)
    began = time.perf_counter()
    codes = [encode(w, config) for w in parts]
    seconds = time.perf_counter() - began
    rows = []
    for w, c in zip(parts, codes):
        _, book = encode_with_codebook(w, config)
        used = len({x for x in c if x >= config.initial_vocab_size})
        rows.append({"base_tokens": len(w), "codes": len(c), "ratio": len(w) / max(len(c), 1), "entries": len(book), "entries_used": used})
    n_codes = sum(len(c) for c in codes)
    stats = {
        "windows": len(parts), "window": window, "base_tokens": len(ids), "codes": n_codes,
        "compression_ratio": len(ids) / max(n_codes, 1), "token_reduction": 1 - n_codes / max(len(ids), 1),
        "ids_per_second": len(ids) / seconds if seconds > 0 else float("inf"), "per_window": rows,
    }
    if n_bytes:
        stats.update(base_tokens_per_byte=len(ids) / n_bytes, tokens_per_byte=n_codes / n_bytes)
    return stats


__all__ = ["CompressedEval", "codec_stats", "compressed_bits_per_byte", "windows_of"]
