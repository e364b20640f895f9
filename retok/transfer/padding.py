"""Embedding rows beyond the tokenizer: a vocabulary padded to a multiple keeps its padding.

Many checkpoints have more embedding rows than their tokenizer has ids: GPT-2-style models pad
50,257 ids to 50,304 rows (a multiple of 128, for fast matrix kernels), Llama-3 variants 128,257 to
128,320, Qwen2.5 151,665 to 151,936. The tokenizer never produces those ids, but they are part of the
model: dropping them changes the logits' shape even for a transplant onto the model's own tokenizer.
A transplant keeps them: the new vocabulary is padded the same way (:func:`padded_rows`) and the
padding rows are the source's own, in order (:func:`padding_rows`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

MAX_MULTIPLE = 1024  # padding to a multiple larger than this is not a kernel-size convention


class Padding(NamedTuple):
    """How a vocabulary is padded: ``rows`` in the matrix for ``used`` ids, to a ``multiple`` (None: a fixed count)."""

    rows: int
    used: int
    multiple: int | None

    @property
    def extra(self) -> int:
        return self.rows - self.used


def find_padding(rows: int, used: int) -> Padding:
    """The padding of a ``rows``-row matrix whose tokenizer uses ids ``0 .. used - 1``.

    ``multiple`` is the largest power of two up to :data:`MAX_MULTIPLE` such that rounding ``used`` up to it
    gives ``rows`` (50,257 -> 50,304: 128); None when no such multiple exists (Qwen2.5's 151,936 rows for
    151,665 ids): then the number of padding rows is what is kept.
    """
    multiple = None
    m = 1
    while m <= MAX_MULTIPLE and rows > used:
        if rows % m == 0 and -(-used // m) * m == rows:
            multiple = m
        m *= 2
    return Padding(rows, used, multiple)


def padded_rows(source: Padding, used: int) -> int:
    """The row count for a new vocabulary of ``used`` ids, padded like ``source``.

    The same ids keep the same rows (identity keeps the shape); otherwise ``used`` rounded up to the
    source's multiple, or ``used`` plus the source's number of padding rows.
    """
    if source.extra <= 0:
        return used
    if used == source.used:
        return source.rows
    if source.multiple is not None:
        return -(-used // source.multiple) * source.multiple
    return used + source.extra


def padding_rows(source_rows: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` padding rows from the source's padding rows (P, ...): the first ones copied in order,
    any beyond P their mean -> (count, ...)."""
    if count <= source_rows.shape[0]:
        return source_rows[:count].clone()
    fill = source_rows.float().mean(0, keepdim=True).to(source_rows.dtype) if source_rows.shape[0] else None
    if fill is None:
        raise ValueError("cannot make padding rows without source padding rows")
    return torch.cat([source_rows, fill.expand(count - source_rows.shape[0], *source_rows.shape[1:])])


__all__ = ["Padding", "find_padding", "padded_rows", "padding_rows"]
