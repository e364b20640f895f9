"""Training text for continued training: a byte budget, tokenized once, packed into equal blocks.

Every model in a comparison sees the *same text*: paragraphs are taken in file order until the
byte budget would be exceeded, whatever the tokenizer. A tokenizer that needs fewer tokens for
that text simply yields fewer blocks (fewer optimizer steps) — the point of tokenizer transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from .errors import RetokError
from .eval import document_separator


def take_bytes(paragraphs: Sequence[str], max_bytes: int | None) -> list[str]:
    """The leading paragraphs whose ``"\\n"``-joined UTF-8 size stays within ``max_bytes`` (None: all)."""
    if max_bytes is None:
        return list(paragraphs)
    out, size = [], 0
    for p in paragraphs:
        cost = len(p.encode("utf-8")) + (1 if out else 0)
        if size + cost > max_bytes:
            break
        out.append(p)
        size += cost
    return out


@dataclass(frozen=True)
class PackedText:
    """blocks (N, seq_len) of token ids; ``n_bytes`` of text they came from; ``n_tokens`` kept in blocks."""

    blocks: torch.Tensor
    n_bytes: int
    n_tokens: int
    n_dropped: int


def pack(tokenizer: PreTrainedTokenizerBase, paragraphs: Sequence[str], *, seq_len: int) -> PackedText:
    """Tokenize paragraphs (no special tokens), join them with the document separator, cut into blocks.

    The tail that does not fill a whole block is dropped (``n_dropped`` tokens).
    """
    if not paragraphs:
        raise RetokError("no training text: the byte budget or the corpus is empty; pass a larger budget or a fuller file")
    if seq_len < 2:
        raise RetokError(f"seq_len must be at least 2; got {seq_len}")
    sep = document_separator(tokenizer)
    stream: list[int] = []
    for ids in tokenizer(list(paragraphs), add_special_tokens=False, verbose=False)["input_ids"]:
        stream.append(sep)
        stream.extend(ids)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise RetokError(f"the training text gives {len(stream)} tokens, fewer than one block of seq_len={seq_len}; use more text or a shorter seq_len")
    blocks = torch.tensor(stream[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)
    n_bytes = len("\n".join(paragraphs).encode("utf-8"))
    return PackedText(blocks, n_bytes, n_blocks * seq_len, len(stream) - n_blocks * seq_len)
