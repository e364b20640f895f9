"""Subword estimates: a new token's rows from its pieces under the old tokenizer.

Two estimates, each a registered method of its own and the *subword prior* that the
embedding-space methods (``wechsel``, ``focus``, ``tokenadapt``) blend with and fall back to:

* :func:`fvt_rows`: the mean of the pieces' rows (FVT, Gee et al., 2022);
* :func:`compose_rows`: FVT blended with a learned composition, a ridge map
  ``[mean, first piece, last piece] -> row`` fitted on the source tokenizer's own merges
  (retok's ``compose``; see :mod:`.compose` for the method).

The pieces come from the alignment (:attr:`retok.vocab.VocabAlignment.new_pieces`), computed
once per alignment and shared by every estimate that needs them. The composition depends only
on the source matrix and its merges, not on the target, so each fit is cached on disk under
``cache_dir()/compose-fits/``. The normal equations are accumulated in chunks of
merges, so a 262k-token source (Gemma-3) fits without a (merges x 3d) feature matrix in memory.

This module is shared machinery, not a method: method files import it, never each other.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

import torch

from retok.atomic import atomic_write_bytes
from retok.cache import cache_dir
from retok.errors import RetokError
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from retok.vocab.pieces import last_pieces, piece_counts
from retok.vocab.pipeline import backend_json, fast_backend
from .base import NewRows, gaussian_rows, source_statistics
from .combine import pool_pieces

Prior = Literal["fvt", "compose"]
Pooling = Literal["mean", "first", "last"]
FIT_FORMAT = 2  # bump when the fit changes, so that old cached fits are not reused
CHUNK = 8192  # merges (or new tokens) per block of the normal equations / of the prediction


# ----------------------------------------------------------------------------- FVT


def fvt_rows(source: TokenEmbeddings, alignment: VocabAlignment, output_pooling: Pooling = "mean") -> NewRows:
    """The FVT estimate for every id in ``alignment.new`` (input rows (N, d), output rows or None).

    Tokens whose bytes nothing in the old vocabulary covers get the mean of the source rows.
    """
    pieces = alignment.new_pieces
    rows_in = pool_pieces(source.input, pieces)
    rows_out = None if source.output is None else pool_pieces(source.output, pieces, output_pooling)
    empty = (piece_counts(pieces) == 0).nonzero().squeeze(1)
    provenance = ["fvt"] * len(alignment.new)
    if empty.numel():  # e.g. a SentencePiece source without byte fallback
        mean_in, _, mean_out, _ = source_statistics(source, alignment)
        rows_in[empty] = mean_in
        if rows_out is not None:
            rows_out[empty] = mean_out
        for i in empty.tolist():
            provenance[i] = "fallback-mean"
    return NewRows(rows_in, rows_out, provenance)


# ----------------------------------------------------------------------------- learned composition


def merge_triples(tokenizer: Any, rows: int) -> torch.Tensor:
    """(M, 3) int64 ids ``[a, b, a+b]`` for every merge of a BPE tokenizer whose three strings are in the vocabulary."""
    model = backend_json(tokenizer).get("model", {})
    if model.get("type") != "BPE" or not model.get("merges"):
        raise RetokError(
            f"compose learns from the source tokenizer's BPE merges, but it is a {model.get('type', 'unknown')} model "
            "without merges; use fvt or tokenadapt for this source"
        )
    vocab = model["vocab"]
    triples = []
    for merge in model["merges"]:
        a, b = merge if isinstance(merge, list) else merge.split(" ", 1)
        ids = (vocab.get(a), vocab.get(b), vocab.get(a + b))
        if None not in ids and max(ids) < rows:
            triples.append(ids)
    if not triples:
        raise RetokError("the source tokenizer's merges name no tokens of its vocabulary; cannot learn a composition")
    return torch.tensor(triples, dtype=torch.long)


def piece_features(table: torch.Tensor, pieces: torch.Tensor) -> torch.Tensor:
    """[mean, first, last, 1] of each row's pieces: table (V, d), pieces (N, L) -1 padded -> (N, 3d + 1) float32.

    Every row must have at least one piece. The trailing 1 is the regression's bias column.
    """
    table = table.float()
    mean = pool_pieces(table, pieces)
    first, last = table[pieces[:, 0].clamp(min=0)], table[last_pieces(pieces).clamp(min=0)]
    return torch.cat([mean, first, last, torch.ones(len(pieces), 1)], dim=1)


def fit_composition(table: torch.Tensor, triples: torch.Tensor, penalty: float) -> torch.Tensor:
    """argmin_W ||X W - Y||^2 + penalty ||W||^2 over the merges: table (V, d), triples (M, 3) -> W (3d + 1, d) float64.

    X (M, 3d + 1) holds :func:`piece_features` of ``[a, b]`` and Y (M, d) the rows of ``a+b``.
    A merge has exactly two pieces, so its features are linear in Z = [a, b, 1]: X = Z T with
    T (2d + 1, 3d + 1) mapping [a, b, 1] to [(a + b) / 2, a, b, 1]. The normal equations are
    therefore T^T (Z^T Z) T and T^T (Z^T Y), the same system at (2/3)^2 of the cost; Z^T Z and
    Z^T Y are accumulated block by block (each block's product in float32, the sum in float64),
    so memory grows with the block, not with M.
    """
    d = table.shape[1]
    gram = torch.zeros(2 * d + 1, 2 * d + 1, dtype=torch.float64)
    cross = torch.zeros(2 * d + 1, d, dtype=torch.float64)
    for start in range(0, len(triples), CHUNK):
        block = triples[start : start + CHUNK]
        z = torch.cat([table[block[:, 0]].float(), table[block[:, 1]].float(), torch.ones(len(block), 1)], dim=1)
        gram += (z.T @ z).double()
        cross += (z.T @ table[block[:, 2]].float()).double()
    eye = torch.eye(d, dtype=torch.float64)
    lift = torch.zeros(2 * d + 1, 3 * d + 1, dtype=torch.float64)
    lift[:d, :d], lift[d : 2 * d, :d] = 0.5 * eye, 0.5 * eye  # the mean
    lift[:d, d : 2 * d], lift[d : 2 * d, 2 * d : 3 * d] = eye, eye  # first, last
    lift[2 * d, 3 * d] = 1.0  # bias
    system = lift.T @ gram @ lift + penalty * torch.eye(3 * d + 1, dtype=torch.float64)
    return torch.linalg.solve(system, lift.T @ cross)


def apply_composition(table: torch.Tensor, weights: torch.Tensor, pieces: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """X W for each row's pieces: table (V, d), weights (3d + 1, d), pieces (N, L) -> (N, d) in table's dtype.

    ``mean`` (N, d), when given, is the pieces' mean already computed (the FVT rows), so it is not
    pooled again. X W is summed part by part, ``b + mean W_m + first W_f + last W_l``, without
    building the (N, 3d + 1) features, and the first and last terms project each *distinct* piece
    once: the new tokens of a vocabulary share few end pieces (26k German tokens over SmolLM2
    have 3.6k distinct first pieces and 2.4k last ones), so those two products cost a fraction of
    N d^2. Blocks of ``CHUNK`` rows keep the memory bounded.
    """
    w = weights.float()
    d = table.shape[1]
    w_mean, w_first, w_last, bias = w[:d], w[d : 2 * d], w[2 * d : 3 * d], w[3 * d]
    out = torch.empty(len(pieces), d, dtype=table.dtype)
    for start in range(0, len(pieces), CHUNK):
        block = pieces[start : start + CHUNK]
        m = pool_pieces(table, block) if mean is None else mean[start : start + CHUNK]
        y = torch.addmm(bias, m.float(), w_mean)
        for ends, w_end in ((block[:, 0], w_first), (last_pieces(block), w_last)):
            distinct, which = torch.unique(ends.clamp(min=0), return_inverse=True)
            y += (table[distinct].float() @ w_end)[which]
        out[start : start + CHUNK] = y
    return out


def with_fvt_blend(weights: torch.Tensor, fvt_weight: float) -> torch.Tensor:
    """W' with X W' = (1 - f) X W + f mean (the blend with FVT folded into the map): (3d + 1, d) -> (3d + 1, d)."""
    d = weights.shape[1]
    folded = (1.0 - fvt_weight) * weights
    folded[:d] += fvt_weight * torch.eye(d, dtype=weights.dtype)
    return folded


def _digest(h: Any, t: torch.Tensor) -> None:
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.detach().contiguous().view(-1).view(torch.uint8).numpy().data)


def _load_fit(path: Path) -> torch.Tensor | None:
    try:
        return torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # missing or damaged: fit again
        return None


def _cached_fit(h: Any, fit: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The fit stored under the digest ``h`` in ``cache_dir()/compose-fits/``, else ``fit()`` as float32, stored."""
    path = cache_dir() / "compose-fits" / f"{h.hexdigest()}.pt"
    weights = _load_fit(path)
    if weights is None:
        weights = fit().float()
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError:  # a read-only cache only costs the refit next time
            pass
    return weights


def _fit_digest(kind: str, table: torch.Tensor, penalty: float) -> Any:
    h = hashlib.sha256(f"compose-fit-{FIT_FORMAT}-{kind}-{penalty!r}".encode())  # sha256: hardware-accelerated, 2x blake2b
    _digest(h, table)
    return h


def composition(table: torch.Tensor, triples: torch.Tensor, penalty: float) -> torch.Tensor:
    """:func:`fit_composition` as float32, cached on disk by a digest of (table, merges, penalty).

    The fit takes seconds (a minute for a 262k vocabulary); the digest a fraction of that.
    """
    h = _fit_digest("triples", table, penalty)
    _digest(h, triples)
    return _cached_fit(h, lambda: fit_composition(table, triples, penalty))


def source_composition(tokenizer: Any, table: torch.Tensor, penalty: float) -> torch.Tensor:
    """:func:`composition` on the merges of the source ``tokenizer``, keyed by its model's state instead of the merges.

    The key hashes the tokenizer model's serialised state (vocabulary and merges: milliseconds),
    so a cached fit costs neither parsing the merges nor building :func:`merge_triples`.
    """
    h = _fit_digest("tokenizer", table, penalty)
    h.update(fast_backend(tokenizer, what="the source tokenizer").model.__getstate__())
    return _cached_fit(h, lambda: fit_composition(table, merge_triples(tokenizer, table.shape[0]), penalty))


def compose_rows(source: TokenEmbeddings, alignment: VocabAlignment, *, ridge: float = 10.0, fvt_weight: float = 0.65) -> NewRows:
    """The ``compose`` estimate for every id in ``alignment.new``: (1 - fvt_weight) * X W + fvt_weight * FVT mean."""
    if not 0.0 <= fvt_weight <= 1.0:
        raise RetokError(f"fvt_weight must be in [0, 1]; got {fvt_weight}")
    prior = fvt_rows(source, alignment)
    has = piece_counts(alignment.new_pieces) > 0
    if not has.any():
        return prior
    pieces = alignment.new_pieces[has]
    tables = [(source.input, prior.input)] + ([] if source.output is None else [(source.output, prior.output)])
    blended = []
    for table, fvt in tables:
        rows = fvt.clone()
        weights = with_fvt_blend(source_composition(alignment.source.tokenizer, table, ridge), fvt_weight)
        rows[has] = apply_composition(table, weights, pieces, mean=fvt[has])
        blended.append(rows)
    provenance = ["compose" if h else p for h, p in zip(has.tolist(), prior.provenance)]
    return NewRows(blended[0], blended[1] if len(blended) > 1 else None, provenance)


# ----------------------------------------------------------------------------- the prior of the other methods


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
        self.source, self.alignment, self.kind = source, alignment, kind

    @functools.cached_property
    def rows(self) -> NewRows:
        return prior_rows(self.source, self.alignment, self.kind)

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
