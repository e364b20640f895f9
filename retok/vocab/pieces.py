"""The one "token = tuple of base ids" format: a padded ``(N, L)`` int64 tensor, ``-1`` after the last id.

Row ``n`` lists the ids of token ``n``'s pieces in a base vocabulary, left-aligned; ``L`` is the
longest row (at least 1) and a row of only ``-1`` means nothing in the base vocabulary covers the
token. The alignment produces it (:attr:`retok.vocab.VocabAlignment.new_pieces`: each new token
decomposed by the old tokenizer), the subword initializers consume it, and the same shape
describes an LZW hypertoken's base tokens or a dynamic merge. Pure functions; nothing here
knows about tokenizers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

PAD = -1


def pad_pieces(pieces: Sequence[Sequence[int]]) -> torch.Tensor:
    """Ragged id lists -> (N, L) int64, -1 padded, L = max(1, longest list)."""
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    width = max(int(lengths.max(initial=0)), 1)
    out = np.full((len(pieces), width), PAD, dtype=np.int64)
    flat = np.fromiter((i for p in pieces for i in p), dtype=np.int64, count=int(lengths.sum()))
    out[np.arange(width)[None, :] < lengths[:, None]] = flat  # row-major order matches the flattening
    return torch.from_numpy(out)


def piece_lists(pieces: torch.Tensor) -> list[list[int]]:
    """(N, L) padded -> N lists of ids (the inverse of :func:`pad_pieces`)."""
    return [[i for i in row if i != PAD] for row in pieces.tolist()]


def piece_counts(pieces: torch.Tensor) -> torch.Tensor:
    """(N, L) padded -> (N,) int64 number of pieces per row."""
    return (pieces != PAD).sum(1)


def last_pieces(pieces: torch.Tensor) -> torch.Tensor:
    """(N, L) padded -> (N,) int64 the last id of each row (-1 for an empty row)."""
    last = (piece_counts(pieces) - 1).clamp(min=0)
    return pieces.gather(1, last[:, None]).squeeze(1)


__all__ = ["PAD", "last_pieces", "pad_pieces", "piece_counts", "piece_lists"]
