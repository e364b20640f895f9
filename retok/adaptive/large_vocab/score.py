"""Held-out bits per byte under a large vocabulary: text cut into entries by the growth's merges, scored over all N entries.

>>> lv = LargeVocab.load("runs/large-vocab-1m-hn")
>>> score_text(lv, held_out, merged=True).bits_per_byte     # the text in entries, softmax over the 1M rows
>>> score_text(lv, held_out, merged=False).bits_per_byte    # the same text in base tokens, softmax over the base rows

The text is split into paragraphs, each paragraph into windows of ``window`` *base* tokens, and
every window starts from the document separator (as :func:`retok.eval.bits_per_byte` does), so
both vocabularies score the same bytes from the same contexts. ``merged=True`` cuts each window
with :meth:`LargeVocab.segment` and normalises over every entry (exact: a running logsumexp over
chunks of rows, so memory stays ``positions x chunk``); ``merged=False`` is the model itself
over its own vocabulary (no prior); merged windows add :attr:`LargeVocab.base_bias` to the base tokens' logits. The context of a merged window is read through the entries' predicted input rows
(``feed="rows"``) or as its base pieces (``feed="pieces"``: the model reads what it was trained on, and only
the output rows of the entries are predicted ones). The bits of a window are the sum of ``-log2 p(entry)`` over its entries.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from retok.errors import RetokError
from retok.progress import bars_on

if TYPE_CHECKING:
    from .decode import LargeVocab


@dataclass(frozen=True)
class LargeVocabScore:
    """Bits and bytes of a scored text, and how many tokens (entries) it took."""

    bits: float
    bytes: int
    tokens: int
    new_tokens: int
    windows: int

    @property
    def bits_per_byte(self) -> float:
        return self.bits / max(self.bytes, 1)

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / max(self.tokens, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bits_per_byte": self.bits_per_byte, "bytes_per_token": self.bytes_per_token,
                "new_share": self.new_tokens / max(self.tokens, 1)}


def log_normaliser(h: torch.Tensor, rows: torch.Tensor, *, chunk: int = 131_072, bias: torch.Tensor | None = None) -> torch.Tensor:
    """logsumexp over all rows of ``h . row + bias``: h (Q, d), rows (N, d) (a memory map is fine), bias (B <= N,) for the
    first B rows (None: none) -> (Q,), in chunks of ``chunk`` rows."""
    h = h.float()
    total = torch.full((len(h),), float("-inf"))
    for start in range(0, len(rows), chunk):
        logits = h @ rows[start : start + chunk].float().T
        if bias is not None and start < len(bias):
            part = bias[start : start + chunk]
            logits[:, : len(part)] += part
        total = torch.logaddexp(total, torch.logsumexp(logits, dim=1))
    return total


def windows_of(lv: LargeVocab, text: str, *, window: int) -> list[list[int]]:
    """Base ids of ``text``: one list per window of at most ``window`` tokens, paragraph by paragraph."""
    paragraphs = [p for p in text.split("\n") if p.strip()]
    if not paragraphs:
        raise RetokError("the text to score is empty; pass held-out text (one paragraph per line)")
    out: list[list[int]] = []
    for ids in lv.tokenizer(paragraphs, add_special_tokens=False, verbose=False)["input_ids"]:
        out += [ids[s : s + window] for s in range(0, len(ids), window)]
    return [w for w in out if w]


@torch.inference_mode()
def score_text(lv: LargeVocab, text: str, *, merged: bool = True, window: int = 256, batch_positions: int = 2048,
               chunk: int = 131_072, feed: str = "rows", progress: bool = False) -> LargeVocabScore:
    """Bits per byte of ``text`` under the large vocabulary (``merged``) or the base one; see the module docstring.

    ``feed`` (merged only): the context is read through the entries' input rows (``"rows"``) or as base pieces
    (``"pieces"``), as :meth:`LargeVocab.generate` reads back what it chose.
    """
    from retok.eval import document_separator

    if window < 1:
        raise RetokError(f"window must be at least 1 base token; got {window}")
    separator = document_separator(lv.tokenizer)
    rows = lv.output_rows if merged else lv.output_rows[: lv.base_size]
    bits = 0.0
    n_bytes = tokens = new = 0
    pending_h: list[torch.Tensor] = []
    pending_t: list[torch.Tensor] = []

    def flush() -> float:
        if not pending_h:
            return 0.0
        h, targets = torch.cat(pending_h), torch.cat(pending_t)
        pending_h.clear()
        pending_t.clear()
        logits = torch.einsum("qd,qd->q", h.float(), lv.output_rows[targets].float())
        if not merged:  # the model itself: no prior
            return float((log_normaliser(h, rows, chunk=chunk) - logits).sum()) / math.log(2)
        logits = logits + lv.bias_of(targets)
        return float((log_normaliser(h, rows, chunk=chunk, bias=lv.base_bias) - logits).sum()) / math.log(2)

    all_windows = windows_of(lv, text, window=window)
    for ids in tqdm(all_windows, desc="scoring" + (" (large vocabulary)" if merged else " (base vocabulary)"), unit="window",
                    disable=not bars_on(progress)):
        if merged:
            entries, h = lv.entry_states(ids, feed=feed)  # type: ignore[arg-type]
        else:
            entries = list(ids)
            h = lv.body(lv.embed([separator] + entries[:-1])[None]).last_hidden_state[0]
        pending_h.append(h)
        pending_t.append(torch.tensor(entries, dtype=torch.long))
        n_bytes += sum(len(lv.vocab.keys[i] or b"") for i in ids)
        tokens += len(entries)
        new += sum(e >= lv.base_size for e in entries)
        if sum(len(t) for t in pending_t) >= batch_positions:
            bits += flush()
    bits += flush()
    return LargeVocabScore(bits, n_bytes, tokens, new, len(all_windows))


__all__ = ["LargeVocabScore", "log_normaliser", "score_text", "windows_of"]
