"""Rows for new tokens that an embedding-space method cannot place: the FVT estimate or seeded noise."""

from __future__ import annotations

from typing import Literal

import torch

from ..embeddings import TokenEmbeddings
from ..vocab import VocabAlignment
from .base import NewRows
from .gaussian import gaussian_rows


def fallback_rows(
    source: TokenEmbeddings, alignment: VocabAlignment, prior: NewRows, kind: Literal["fvt", "random"], *, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Starting rows for every id in ``alignment.new`` (input (N, d), output (N, d) or None), as new tensors.

    ``fvt`` copies the subword ``prior``; ``random`` draws N(mean_d, std_d) of the source rows with
    ``seed`` (what WECHSEL and FOCUS do for tokens without an auxiliary vector).
    """
    if kind == "fvt":
        return prior.input.clone(), None if prior.output is None else prior.output.clone()
    if kind == "random":
        return gaussian_rows(source, alignment, len(alignment.new), seed=seed)
    raise ValueError(f"unknown fallback {kind!r}; use 'fvt' or 'random'")
