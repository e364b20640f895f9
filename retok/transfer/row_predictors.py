"""Embedding predictors: rows for tokens that exist only as a tuple of base ids, made on demand.

A transplant predicts rows for a target vocabulary known in advance; dynamic tokenization
(:mod:`retok.adaptive.dynamic`) and very large vocabularies (:mod:`retok.adaptive.large_vocab.build`) need rows for
tokens that are only known as their pieces, ``(N, L)`` base ids -1 padded (:mod:`retok.vocab.pieces`).
A :class:`RowPredictor` turns pieces into rows; the registry holds one per method:

* ``fvt``: the mean of the pieces' rows;
* ``compose``: FVT blended with the ridge composition learned from the base tokenizer's merges
  (the ``compose`` initializer's estimate, so the two agree row for row);
* ``hypernet``: a trained ZeTT hypernetwork (``hypernet`` package, loaded on first use).

>>> predictor = make_predictor("compose", TokenEmbeddings.from_model(model, tokenizer))
>>> rows_in, rows_out = predictor.predict(pieces)      # (N, d), (N, d) or None when tied

:class:`RowCache` puts an LRU cache keyed by the token's canonical bytes in front of a
predictor and counts its hits, the cache that dynamic tokenization serves its merges from.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from retok._registry import Registry
from retok.errors import RetokError
from retok.vocab.pieces import PAD, piece_counts
from .embeddings import TokenEmbeddings
from .initializers.combine import pool_pieces
from .initializers.subword import apply_composition, source_composition, with_fvt_blend


class RowPredictor(Protocol):
    """Rows for tokens given as pieces; ``tied`` says whether ``predict`` returns output rows."""

    name: str
    source: TokenEmbeddings

    def predict(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """pieces (N, L) int64 base ids, -1 padded, each row non-empty -> input rows (N, d), output rows (N, d) or None (tied)."""
        ...

    def fingerprint(self) -> str:
        """A short hash of everything the rows depend on (method, options, source tables)."""
        ...


def check_pieces(pieces: torch.Tensor, rows: int) -> torch.Tensor:
    """``pieces`` as (N, L) int64 with every row non-empty and every id in ``[0, rows)``; RetokError otherwise."""
    if not isinstance(pieces, torch.Tensor) or pieces.dim() != 2:
        raise RetokError(f"pieces must be a (N, L) int64 tensor of base ids, -1 padded; got {type(pieces).__name__} "
                         f"{tuple(getattr(pieces, 'shape', ()))}")
    pieces = pieces.long()
    if len(pieces) and bool((piece_counts(pieces) == 0).any()):
        raise RetokError("every token needs at least one piece; a row of only -1 has nothing to predict from")
    real = pieces[pieces != PAD]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= rows):
        raise RetokError(f"piece ids must lie in [0, {rows}) (the base vocabulary's rows); got {int(real.min())}..{int(real.max())}")
    return pieces


def table_digest(*tables: torch.Tensor | None) -> str:
    """blake2b of the tables' dtype, shape and bytes (None counts as absent): tells two sets of embeddings apart."""
    h = hashlib.blake2b(digest_size=12)
    for t in tables:
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


@dataclass
class FVTPredictor:
    """FVT: each row is the mean of its pieces' rows (Gee et al., 2022)."""

    source: TokenEmbeddings
    name: str = "fvt"

    def predict(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pieces = check_pieces(pieces, self.source.input.shape[0])
        out = None if self.source.output is None else pool_pieces(self.source.output.float(), pieces)
        return pool_pieces(self.source.input.float(), pieces), out

    def fingerprint(self) -> str:
        return f"fvt-{table_digest(self.source.input, self.source.output)}"


@dataclass
class ComposePredictor:
    """``compose``: (1 - fvt_weight) * ridge([mean, first, last]) + fvt_weight * mean, fitted on the base merges."""

    source: TokenEmbeddings
    ridge: float = 10.0
    fvt_weight: float = 0.65
    name: str = "compose"

    def __post_init__(self) -> None:
        if not 0.0 <= self.fvt_weight <= 1.0:
            raise RetokError(f"fvt_weight must be in [0, 1]; got {self.fvt_weight}")
        tables = [self.source.input.float()] + ([] if self.source.output is None else [self.source.output.float()])
        self._fits = [(t, with_fvt_blend(source_composition(self.source.tokenizer, t, self.ridge), self.fvt_weight)) for t in tables]

    def predict(self, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pieces = check_pieces(pieces, self.source.input.shape[0])
        rows = [apply_composition(t, w, pieces) for t, w in self._fits]
        return rows[0], rows[1] if len(rows) > 1 else None

    def fingerprint(self) -> str:
        return f"compose-{self.ridge!r}-{self.fvt_weight!r}-{table_digest(self.source.input, self.source.output)}"


PredictorFactory = Callable[..., RowPredictor]
PREDICTORS: Registry[PredictorFactory] = Registry("embedding predictor")
PREDICTORS.add("fvt", FVTPredictor)
PREDICTORS.add("compose", ComposePredictor)
PREDICTORS.register_lazy("hypernet", "hypernet.zett.predictor:HypernetPredictor", install="install retok with its hypernet package (pip install retok)")


def make_predictor(name: str, source: TokenEmbeddings, **options: Any) -> RowPredictor:
    """The predictor ``name`` (``fvt``, ``compose``, ``hypernet``) over ``source``; ``options`` go to its constructor.

    ``hypernet`` needs ``hypernet=HN_DIR``, a folder written by ``retok train-hypernet`` for these embeddings.
    """
    factory = PREDICTORS.get(name)
    try:
        return factory(source, **options)
    except TypeError as e:
        raise RetokError(f"bad options for embedding predictor {name!r}: {e}") from None


class RowCache:
    """An LRU cache of predicted rows in front of a :class:`RowPredictor`, keyed by canonical bytes.

    ``rows(keys, pieces)`` returns the rows of every key, predicting only the keys it does not
    hold (one batched ``predict`` call) and evicting the least recently used beyond ``capacity``.
    ``hits`` / ``misses`` count keys served from the cache / predicted; ``hit_rate`` is their ratio.
    """

    def __init__(self, predictor: RowPredictor, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise RetokError(f"the row cache needs a capacity >= 1; got {capacity}")
        self.predictor, self.capacity = predictor, capacity
        self._rows: OrderedDict[bytes, tuple[torch.Tensor, torch.Tensor | None]] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    def rows(self, keys: Sequence[bytes], pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """keys (N,) canonical bytes, pieces (N, L) -> input rows (N, d), output rows (N, d) or None."""
        if len(keys) != len(pieces):
            raise RetokError(f"{len(keys)} keys but {len(pieces)} rows of pieces; pass one key per token")
        missing = [i for i, key in enumerate(keys) if key not in self._rows]
        first: dict[bytes, int] = {}
        for i in missing:
            first.setdefault(keys[i], i)
        if first:
            got_in, got_out = self.predictor.predict(pieces[list(first.values())])
            for j, key in enumerate(first):
                self._rows[key] = (got_in[j], None if got_out is None else got_out[j])
        self.misses += len(first)
        self.hits += len(keys) - len(first)
        picked = []
        for key in keys:
            self._rows.move_to_end(key)
            picked.append(self._rows[key])
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
        if not picked:
            empty = torch.empty(0, self.predictor.source.dim)
            return empty, None if self.predictor.source.output is None else empty.clone()
        rows_out = None if picked[0][1] is None else torch.stack([p[1] for p in picked])
        return torch.stack([p[0] for p in picked]), rows_out


__all__ = ["PREDICTORS", "ComposePredictor", "FVTPredictor", "RowCache", "RowPredictor", "check_pieces", "make_predictor", "table_digest"]
