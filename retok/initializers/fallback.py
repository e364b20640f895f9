"""The subword prior of the embedding-space methods, and rows for the tokens they cannot place.

The prior is the estimate a method blends with (``prior_weight``) and falls back to: ``fvt`` (the
mean of the pieces) or ``compose`` (FVT with the learned composition). Tokens without an
auxiliary vector get the prior, or seeded N(mean, std) noise as in the papers (``fallback="random"``).
"""

from __future__ import annotations

import functools
from typing import Literal

import torch

from ..embeddings import TokenEmbeddings
from ..errors import RetokError
from ..vocab import VocabAlignment
from .base import NewRows
from .compose import compose_rows
from .fvt import fvt_rows
from .gaussian import gaussian_rows

Prior = Literal["fvt", "compose"]


def prior_rows(source: TokenEmbeddings, alignment: VocabAlignment, kind: Prior) -> NewRows:
    """The subword estimate of every id in ``alignment.new``: ``fvt`` or ``compose``.

    ``compose`` needs BPE merges in the source tokenizer; without them the prior is ``fvt``, and
    ``details["prior"]`` says so.
    """
    if kind == "fvt":
        return fvt_rows(source, alignment)
    if kind == "compose":
        try:
            return compose_rows(source, alignment)
        except RetokError as e:
            rows = fvt_rows(source, alignment)
            return NewRows(rows.input, rows.output, rows.provenance, {"prior": f"fvt ({e})"})
    raise ValueError(f"unknown prior {kind!r}; use 'fvt' or 'compose'")


class LazyPrior:
    """The subword prior, computed on first use of ``.rows`` (a method whose settings never use it skips the cost)."""

    def __init__(self, source: TokenEmbeddings, alignment: VocabAlignment, kind: Prior) -> None:
        self._args = (source, alignment, kind)

    @functools.cached_property
    def rows(self) -> NewRows:
        return prior_rows(*self._args)

    @property
    def details(self) -> dict:
        return self.rows.details if "rows" in self.__dict__ else {}


def fallback_rows(
    source: TokenEmbeddings, alignment: VocabAlignment, prior: LazyPrior, kind: Literal["prior", "random"], *, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Starting rows for every id in ``alignment.new`` (input (N, d), output (N, d) or None), as new tensors.

    ``prior`` copies the subword ``prior``; ``random`` draws N(mean_d, std_d) of the source rows with
    ``seed`` (what WECHSEL and FOCUS do for tokens without an auxiliary vector).
    """
    if kind == "prior":
        rows = prior.rows
        return rows.input.clone(), None if rows.output is None else rows.output.clone()
    if kind == "random":
        return gaussian_rows(source, alignment, len(alignment.new), seed=seed)
    raise ValueError(f"unknown fallback {kind!r}; use 'prior' or 'random'")
