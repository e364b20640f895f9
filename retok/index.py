"""Nearest-neighbour search: one interface over faiss (exact, HNSW, IVF) and a pure-torch fallback.

Every kNN in retok goes through :class:`NeighbourIndex`, so that metric conventions, input
checks and thread settings live in one place.

>>> index = NeighbourIndex(E_source, metric="cosine")      # E_source (N, d)
>>> scores, ids = index.search(E_queries, k=10)             # (Q, 10) float32, (Q, 10) int64

Conventions:

* ``cosine`` is the inner product of L2-normalized copies (the caller's tensors are never
  changed). A zero row stays zero, scores 0 against everything, and never produces NaN.
* ``cosine`` and ``ip`` return similarities, best first (descending). ``l2`` returns *squared*
  Euclidean distances, nearest first (ascending), as faiss does.
* Exact search returns the true top-k (up to float32 rounding between near ties). The
  approximate kinds (``hnsw``, ``ivf``) may miss neighbours; where they find fewer than k, the
  row is padded with id -1 (and faiss's sentinel score, about -3.4e38 for similarities and
  +3.4e38 for distances).

Which kind:

* ``exact`` (faiss ``IndexFlatIP`` / ``IndexFlatL2``): brute force, every query against every
  row; faiss computes scores in BLAS blocks and keeps a k-heap per query. It is the fastest exact
  method measured on the 2-core AMD EPYC benchmark (``recipes/index_benchmark.py``: cosine
  top-10, 32k queries against a 50k x 300 table): about 10 s, against about 14 s for the torch
  path, whose MKL sgemm (torch's CPU wheel) ran at 60-70% of the speed of the OpenBLAS that faiss
  and numpy ship, on that CPU; retuning faiss's BLAS block sizes gave nothing beyond the noise.
  The product alone is 0.96 TFLOP there, 6-7 s at the 130-150 GFLOP/s sgemm peak of those two
  cores, so no exact float32 method reaches the 5 s that the issue asked for on that machine.
  A certified int8 first pass was prototyped, exact but slower than faiss there: ``docs/index-int8.md``.
* ``hnsw`` (faiss ``IndexHNSWFlat``) for large tables: fast queries, no training, a graph
  build that takes a while. The graph is built in parallel, so it is not bit-identical across
  thread counts. It needs structure in the data: on the benchmark's isotropic random 300-d
  table, recall@10 was only 0.30 at ``ef_search=64`` and search was slower than exact.
* ``ivf`` (faiss ``IndexIVFFlat``): ``nlist`` about 4 sqrt(N) k-means cells trained on a
  seeded sample; ``nprobe`` cells searched per query (more: better recall, slower).
* ``auto``: ``exact`` up to :data:`AUTO_EXACT_MAX_ROWS` rows, ``hnsw`` above.

Inner product on the approximate kinds: HNSW graphs and IVF cells are built for distances, and
the inner product is not one (a row is not its own best match; long rows dominate). ``ip`` on
``hnsw`` and ``ivf`` therefore uses the exact reduction of maximum inner-product search to
nearest-neighbour search (Bachrach et al., 2014): with ``M`` the largest row norm, each row x
is stored as ``[x, sqrt(M^2 - |x|^2)]`` and each query q searched as ``[q, 0]``, so that
``|q' - x'|^2 = |q|^2 + M^2 - 2 q . x`` ranks rows exactly as ``q . x`` does, norms included
(normalising both sides instead would turn it into cosine search and drop the norms, which
for an LM head are a frequency prior). The scores returned are inner products again.
``ivf_codes="sq8"`` stores 8-bit codes instead of float rows in the IVF cells (4x less memory;
the scores are then approximate, and callers that need exact ones re-score the candidates).

An index over faiss can be grown with :meth:`NeighbourIndex.add` (start from
:meth:`NeighbourIndex.trained`, an empty index trained on a sample) and written with
:meth:`NeighbourIndex.save` / read with :meth:`NeighbourIndex.load`, so a long build can be
checkpointed chunk by chunk.
* ``torch``: exact brute force without faiss (:func:`brute_force_topk`: chunked matmul, then a
  group-max top-k). It is also what ``auto`` becomes, with a warning, when faiss cannot be
  imported; the explicit faiss kinds raise instead.

Each kind is one small backend class (build + search) in the :data:`_BACKENDS` registry;
:class:`NeighbourIndex` checks the input, batches the queries and hands them to its backend.
faiss is imported lazily, and its OpenMP thread count is set to ``torch.get_num_threads()``
before every build and search, so one setting (``torch.set_num_threads``) governs both.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import numpy as np
import torch
from tqdm.auto import tqdm

from ._registry import did_you_mean
from .atomic import atomic_write_text
from .errors import RetokError
from .progress import bars_on

Metric = Literal["cosine", "ip", "l2"]
Kind = Literal["auto", "exact", "hnsw", "ivf", "torch"]
IVFCodes = Literal["flat", "sq8"]

#: files of a saved index (:meth:`NeighbourIndex.save`)
INDEX_FILE, INDEX_META = "index.faiss", "index.json"
INDEX_FORMAT = 1

#: ``kind="auto"`` uses exact search up to this many rows and HNSW above it.
AUTO_EXACT_MAX_ROWS = 200_000
ROWS_BLOCK = 65536  # rows gathered (and normalized) at a time by NeighbourIndex.of_rows

# Rows per group in the group-max top-k; 64 keeps the gathered candidates (k * 64 per query) small
# while the per-group max is still a long, vectorizable reduction.
_GROUP = 64


# ----------------------------------------------------------------------------- pure functions


def as_float32_matrix(x: Any, *, name: str) -> torch.Tensor:
    """A float32, contiguous, CPU, 2-D tensor view or copy of ``x`` (torch tensor or array-like).

    x (N, d) -> (N, d) float32. Refuses other ranks and non-finite values.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float32)
    else:
        try:
            t = torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32)))
        except (TypeError, ValueError) as err:
            raise RetokError(f"{name} must be a float tensor or array of shape (n, d); could not convert it: {err}") from None
    if t.dim() != 2:
        hint = " (for one vector use x.reshape(1, -1))" if t.dim() == 1 else ""
        raise RetokError(f"{name} must be 2-D (n, d); got shape {tuple(t.shape)}{hint}")
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise RetokError(f"{name} contains NaN or infinite values; clean or drop those rows first")
    return t.contiguous()


def prepare(x: torch.Tensor, metric: str) -> torch.Tensor:
    """Rows as the index stores them: L2-normalized for cosine (zero rows stay zero), else as is.

    x (N, d) float32 -> (N, d) float32, never the same storage as ``x`` for cosine.
    """
    if metric == "cosine":
        # normalize divides by max(norm, eps), so a zero row stays exactly zero instead of 0/0 = NaN.
        return torch.nn.functional.normalize(x, dim=1)
    return x


def mips_augment(x: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Rows for inner-product search by L2: x (N, d) -> (N, d + 1) ``[x, sqrt(max_norm^2 - |x|^2)]``.

    ``max_norm`` must be >= every row's norm (tiny float excesses are clamped to 0). Queries get a 0
    appended (:func:`mips_query`); then ``|q' - x'|^2 = |q|^2 + max_norm^2 - 2 q . x``.
    """
    extra = (max_norm**2 - (x.double() * x.double()).sum(dim=1)).clamp_min(0).sqrt()
    return torch.cat([x, extra.to(x.dtype)[:, None]], dim=1).contiguous()


def mips_query(q: torch.Tensor) -> torch.Tensor:
    """Queries for :func:`mips_augment` rows: q (Q, d) -> (Q, d + 1) with a 0 appended."""
    return torch.cat([q, q.new_zeros(q.shape[0], 1)], dim=1).contiguous()


def mips_scores(q: torch.Tensor, distances: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Inner products back from squared L2 distances of augmented vectors: (Q, d), (Q, k) -> (Q, k).

    ``q . x = (|q|^2 + max_norm^2 - |q' - x'|^2) / 2``; faiss's "not found" sentinel stays -3.4e38.
    """
    found = distances < 1e38
    ip = ((q.double() * q.double()).sum(dim=1, keepdim=True) + max_norm**2 - distances.double()) / 2
    return torch.where(found, ip, torch.full_like(ip, -3.4028234663852886e38)).float()


def topk_rows(scores: torch.Tensor, k: int, *, group: int = _GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k (largest) of each row, sorted descending: the same answer as ``scores.topk(k)``.

    scores (Q, N) -> values (Q, k), indices (Q, k) int64. Falls back to plain ``topk`` when N is
    not a multiple of ``group`` or has fewer than 4k groups.

    Why not plain ``topk``: on long rows it costs a few ns per score. Here each row is cut into
    groups of ``group`` columns; only the k groups with the largest maxima can hold a top-k
    element (any element outside them is <= its group's max <= the k-th largest group max, and
    the k chosen groups already hold k elements >= that), so one vectorized ``amax`` over all
    scores and a top-k over k * group candidates give the exact answer.
    """
    q, n = scores.shape
    if group <= 1 or n % group or n // group < 4 * k:
        return scores.topk(k, dim=1)
    grouped = scores.reshape(q, n // group, group)
    best_groups = grouped.amax(dim=2).topk(k, dim=1).indices  # (Q, k)
    candidates = grouped.gather(1, best_groups.unsqueeze(2).expand(q, k, group)).reshape(q, k * group)
    values, where = candidates.topk(k, dim=1)
    ids = best_groups.gather(1, where // group) * group + where % group
    return values, ids


def _bias_and_pad(table: torch.Tensor, metric: str, group: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The table padded with zero rows to a multiple of ``group``, and the per-row score bias.

    table (N, d) -> padded (N', d), bias (N',) or None. The search ranks ``q . x + bias``
    (largest first): bias 0 for similarities, ``-|x|^2 / 2`` for l2 (so that the largest
    ``q . x - |x|^2 / 2`` is the smallest ``|q - x|^2``), and -inf on padding rows.
    """
    n, d = table.shape
    pad = (-n) % group if n // group >= 4 else 0
    bias = -0.5 * (table * table).sum(dim=1) if metric == "l2" else None
    if pad:
        table = torch.cat([table, table.new_zeros(pad, d)])
        bias = torch.cat([bias if bias is not None else table.new_zeros(n), table.new_full((pad,), -math.inf)])
    return table.contiguous(), bias


def _search_prepared(
    table: torch.Tensor, bias: torch.Tensor | None, n: int, queries: torch.Tensor, k: int, metric: str, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute force on an already prepared (normalized, padded) table; see :func:`brute_force_topk`."""
    scores_out = torch.empty(queries.shape[0], k, dtype=torch.float32)
    ids_out = torch.empty(queries.shape[0], k, dtype=torch.int64)
    table_t = table.T
    for start in range(0, queries.shape[0], chunk_size):
        q = queries[start : start + chunk_size]
        sims = torch.addmm(bias, q, table_t) if bias is not None else q @ table_t
        values, ids = topk_rows(sims, k)
        if metric == "l2":
            # |q - x|^2 = |q|^2 - 2 (q . x - |x|^2 / 2); clamp the rounding below zero.
            values = ((q * q).sum(dim=1, keepdim=True) - 2 * values).clamp_min_(0)
        scores_out[start : start + len(q)] = values
        ids_out[start : start + len(q)] = ids
        del sims  # free this chunk's (chunk_size, N) scores before the next one is allocated
    return scores_out, ids_out


def brute_force_topk(
    vectors: Any, queries: Any, k: int, *, metric: Metric = "cosine", chunk_size: int = 2048
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest rows of ``vectors`` for each query, in plain torch (chunked matmul + top-k).

    vectors (N, d), queries (Q, d) -> scores (Q, k) float32, ids (Q, k) int64.
    Scores follow :class:`NeighbourIndex`: similarities descending for ``cosine``/``ip``, squared
    distances ascending for ``l2``. ``chunk_size`` queries are scored at a time, so memory is
    ``chunk_size * N`` floats.
    """
    _check_metric(metric)
    table = as_float32_matrix(vectors, name="vectors")
    q = as_float32_matrix(queries, name="queries")
    _check_search(table.shape[0], table.shape[1], q, k)
    k = int(k)
    padded, bias = _bias_and_pad(prepare(table, metric), metric, _GROUP)
    return _search_prepared(padded, bias, table.shape[0], prepare(q, metric), k, metric, chunk_size)


# ----------------------------------------------------------------------------- checks


def _check_metric(metric: str) -> None:
    valid = list(get_args(Metric))
    if metric not in valid:
        raise RetokError(f"unknown metric {metric!r}.{did_you_mean(str(metric), valid)} Valid metrics: {', '.join(valid)}")


def _check_search(size: int, dim: int, queries: torch.Tensor, k: int) -> None:
    if size == 0:
        raise RetokError("the index is empty (0 vectors); build it from at least one row")
    if queries.shape[1] != dim:
        raise RetokError(
            f"queries have dimension {queries.shape[1]} but the index has dimension {dim}; "
            "embed the queries in the same space as the indexed vectors"
        )
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise RetokError(f"k must be a positive integer; got {k!r}")
    if k > size:
        raise RetokError(f"k must be <= the number of indexed vectors ({size}); got k={k}. Pass k={size} for all of them")


def _import_faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


# ----------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class _BuildOptions:
    """The constructor options of :class:`NeighbourIndex`; each backend reads the ones it uses."""

    seed: int
    hnsw_m: int
    ef_construction: int
    ef_search: int
    nlist: int | None
    nprobe: int | None
    ivf_codes: str = "flat"


class _Backend:
    """One kind of index: ``build`` it from a prepared (N, d) float32 table, then ``search`` it.

    ``tunables`` names the search options that can be changed after the build (read and set as
    attributes of the backend).
    """

    needs_faiss: ClassVar[bool] = True
    tunables: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build(cls, table: torch.Tensor, *, metric: str, faiss: Any, options: _BuildOptions) -> _Backend:
        raise NotImplementedError

    def add(self, rows: torch.Tensor) -> None:
        """Append prepared (N, d) float32 rows (their ids continue the numbering)."""
        raise RetokError(f"an index of kind {type(self).__name__} cannot grow; build it from all its rows at once")

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (Q, d) prepared -> scores (Q, k) float32, ids (Q, k) int64."""
        raise NotImplementedError


class _TorchBackend(_Backend):
    """Exact brute force in plain torch (:func:`brute_force_topk` on a table prepared once)."""

    needs_faiss = False

    def __init__(self, table: torch.Tensor, bias: torch.Tensor | None, size: int, metric: str) -> None:
        self.table, self.bias, self.size, self.metric = table, bias, size, metric

    @classmethod
    def build(cls, table, *, metric, faiss, options):
        # For cosine, prepare() already made a new tensor; otherwise the table may still be the caller's.
        padded, bias = _bias_and_pad(table.clone() if metric != "cosine" else table, metric, _GROUP)
        return cls(padded, bias, table.shape[0], metric)

    def search(self, queries, k):
        return _search_prepared(self.table, self.bias, self.size, queries, k, self.metric, chunk_size=2048)


class _FaissBackend(_Backend):
    """A faiss index over the table; subclasses say which (``make_index``)."""

    def __init__(self, faiss: Any, index: Any, options: _BuildOptions) -> None:
        self.faiss, self.index = faiss, index

    @classmethod
    def build(cls, table, *, metric, faiss, options):
        backend = cls.build_empty(table, metric=metric, faiss=faiss, options=options)
        backend.add(table)
        return backend

    @classmethod
    def build_empty(cls, sample: torch.Tensor, *, metric: str, faiss: Any, options: _BuildOptions) -> _FaissBackend:
        """An empty index, trained on ``sample`` (N, d) where the kind needs training."""
        faiss.omp_set_num_threads(torch.get_num_threads())
        return cls(faiss, cls.make_index(faiss, sample.numpy(), metric=metric, options=options), options)

    def add(self, rows):
        self.faiss.omp_set_num_threads(torch.get_num_threads())
        self.index.add(np.ascontiguousarray(rows.numpy()))

    @classmethod
    def make_index(cls, faiss: Any, table: np.ndarray, *, metric: str, options: _BuildOptions) -> Any:
        """An empty (trained, where it needs training) faiss index for ``table`` (N, d)."""
        raise NotImplementedError

    def search(self, queries, k):
        self.faiss.omp_set_num_threads(torch.get_num_threads())
        distances, ids = self.index.search(queries.numpy(), k)
        return torch.from_numpy(distances), torch.from_numpy(ids)


def _flat_index(faiss: Any, d: int, metric: str) -> Any:
    return faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)


def _faiss_metric(faiss: Any, metric: str) -> Any:
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


class _ExactBackend(_FaissBackend):
    """faiss ``IndexFlatIP`` / ``IndexFlatL2``: every query against every row."""

    @classmethod
    def make_index(cls, faiss, table, *, metric, options):
        return _flat_index(faiss, table.shape[1], metric)


class _HNSWBackend(_FaissBackend):
    """faiss ``IndexHNSWFlat``; ``ef_search`` is the search beam width (raised to k when smaller)."""

    tunables = ("ef_search",)

    def __init__(self, faiss: Any, index: Any, options: _BuildOptions) -> None:
        super().__init__(faiss, index, options)
        self.ef_search: int = options.ef_search

    @classmethod
    def make_index(cls, faiss, table, *, metric, options):
        index = faiss.IndexHNSWFlat(table.shape[1], options.hnsw_m, _faiss_metric(faiss, metric))
        index.hnsw.efConstruction = options.ef_construction
        return index

    def search(self, queries, k):
        self.index.hnsw.efSearch = max(self.ef_search, k)
        return super().search(queries, k)


class _IVFBackend(_FaissBackend):
    """faiss ``IndexIVFFlat``: k-means cells trained on a seeded sample; ``nprobe`` cells searched per query."""

    tunables = ("nprobe",)

    @property
    def nprobe(self) -> int:
        return self.index.nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.index.nprobe = value

    @classmethod
    def make_index(cls, faiss, table, *, metric, options):
        n, d = table.shape
        # faiss warns below 39 training points per centroid; cap nlist so that never happens.
        nlist = options.nlist or max(1, min(round(4 * math.sqrt(n)), n // 39))
        if not 1 <= nlist <= n:
            raise RetokError(f"nlist must be between 1 and the number of vectors ({n}); got {nlist}")
        # The IVF index does not own its quantizer; faiss's Python wrapper keeps a reference to it.
        quantizer = _flat_index(faiss, d, metric)
        if options.ivf_codes == "sq8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, _faiss_metric(faiss, metric))
        else:
            index = faiss.IndexIVFFlat(quantizer, d, nlist, _faiss_metric(faiss, metric))
        index.cp.seed = options.seed
        # faiss would subsample 256 points per centroid itself; sampling here, from our seed,
        # keeps the training set a function of (vectors, seed) alone.
        rng = np.random.default_rng(options.seed)
        sample = min(n, 256 * nlist)
        train = table if sample == n else table[np.sort(rng.choice(n, size=sample, replace=False))]
        index.train(np.ascontiguousarray(train))
        index.nprobe = options.nprobe or min(nlist, max(8, nlist // 16))
        return index


#: Every kind but ``auto``, in the order the errors list them.
_BACKENDS: dict[str, type[_Backend]] = {"exact": _ExactBackend, "hnsw": _HNSWBackend, "ivf": _IVFBackend, "torch": _TorchBackend}


# ----------------------------------------------------------------------------- the index


class NeighbourIndex:
    """k-nearest-neighbour search over the rows of a (N, d) float matrix; see the module docstring.

    Args:
        vectors: (N, d) torch tensor or numpy array; copied (as float32) into the index.
        metric: ``"cosine"`` (default), ``"ip"`` (inner product) or ``"l2"`` (squared Euclidean).
        kind: ``"auto"``, ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"torch"``.
        seed: seeds the IVF training sample and k-means (HNSW levels use faiss's own fixed seed).
        hnsw_m: HNSW neighbours per node (memory and recall grow with it).
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW search-time beam width (raised to k when smaller); settable later.
        nlist: IVF cells; default ``4 * sqrt(N)``, capped so that each cell has >= 39 training points.
        nprobe: IVF cells searched per query; default ``max(8, nlist // 16)`` (at most nlist); settable later.
        ivf_codes: ``"flat"`` (float rows, exact scores) or ``"sq8"`` (8-bit codes, 4x smaller, approximate scores).
    """

    def __init__(
        self,
        vectors: Any,
        *,
        metric: Metric = "cosine",
        kind: Kind = "auto",
        seed: int = 0,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        nlist: int | None = None,
        nprobe: int | None = None,
        ivf_codes: IVFCodes = "flat",
    ) -> None:
        table = as_float32_matrix(vectors, name="vectors")
        if table.shape[0] == 0:
            raise RetokError("cannot build an index from 0 vectors; pass a (N, d) matrix with N >= 1")
        options = self._setup(table, metric, kind, dict(seed=seed, hnsw_m=hnsw_m, ef_construction=ef_construction,
                                                        ef_search=ef_search, nlist=nlist, nprobe=nprobe, ivf_codes=ivf_codes))
        self._backend = _BACKENDS[self._kind].build(self._stored(table), metric=self._stored_metric, faiss=self._faiss, options=options)
        self._size = table.shape[0]

    def _setup(self, table: torch.Tensor, metric: str, kind: str, options: dict[str, Any], max_norm: float | None = None) -> _BuildOptions:
        """Check the options, resolve ``auto``, and decide how rows are stored (MIPS reduction or not)."""
        _check_metric(metric)
        kinds = list(get_args(Kind))
        if kind not in kinds:
            raise RetokError(f"unknown index kind {kind!r}.{did_you_mean(str(kind), kinds)} Valid kinds: {', '.join(kinds)}")
        codes = list(get_args(IVFCodes))
        if options["ivf_codes"] not in codes:
            raise RetokError(f"unknown ivf_codes {options['ivf_codes']!r}; use one of {', '.join(codes)}")
        self.metric: str = metric
        self.seed = options["seed"]
        self._dim = table.shape[1]
        faiss = None if kind == "torch" else _import_faiss()
        if kind == "auto":
            kind = "exact" if table.shape[0] <= AUTO_EXACT_MAX_ROWS else "hnsw"
            if faiss is None:
                warnings.warn("faiss is not installed; NeighbourIndex falls back to exact torch search (pip install faiss-cpu)", stacklevel=3)
                kind = "torch"
        elif _BACKENDS[kind].needs_faiss and faiss is None:
            raise RetokError(f"kind={kind!r} needs faiss, which is not installed; pip install faiss-cpu, or use kind='torch'")
        self._kind: str = kind
        self._faiss = faiss
        self._options = options
        # MIPS on a graph or cells: store [x, sqrt(M^2 - |x|^2)] and search by L2 (module docstring).
        self._mips = metric == "ip" and kind in ("hnsw", "ivf")
        if self._mips and max_norm is None:
            max_norm = float(table.norm(dim=1).max()) if table.shape[0] else 0.0
        self._max_norm: float | None = max_norm if self._mips else None
        self._stored_metric = "l2" if self._mips else metric
        return _BuildOptions(**options)

    def _stored(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows as the backend stores them: normalized (cosine), augmented (MIPS) or as they are."""
        if not self._mips:
            return prepare(rows, self.metric)
        norms = rows.norm(dim=1)
        if rows.shape[0] and float(norms.max()) > self._max_norm * (1 + 1e-6) + 1e-12:
            raise RetokError(f"a row has norm {float(norms.max()):.6g}, above the index's max_norm {self._max_norm:.6g}; "
                             "build the index with max_norm >= the largest norm of all rows it will hold")
        return mips_augment(rows, self._max_norm)

    # ---------------------------------------------------------------- growing, saving, loading

    @classmethod
    def trained(cls, sample: Any, *, metric: Metric = "cosine", kind: Kind = "ivf", max_norm: float | None = None,
                seed: int = 0, hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 64, nlist: int | None = None,
                nprobe: int | None = None, ivf_codes: IVFCodes = "flat") -> NeighbourIndex:
        """An empty faiss index (``exact``, ``hnsw`` or ``ivf``), trained on ``sample`` (S, d) where the kind needs it; grow it with :meth:`add`.

        ``nlist`` defaults from the sample size. For ``ip`` on ``hnsw``/``ivf``, ``max_norm`` must bound
        the norm of every row that will be added (the MIPS reduction needs it up front).
        """
        if kind in ("auto", "torch"):
            raise RetokError(f"kind={kind!r} cannot start empty; use 'exact', 'hnsw' or 'ivf'")
        table = as_float32_matrix(sample, name="sample")
        self = cls.__new__(cls)
        options = self._setup(table, metric, kind, dict(seed=seed, hnsw_m=hnsw_m, ef_construction=ef_construction,
                                                        ef_search=ef_search, nlist=nlist, nprobe=nprobe, ivf_codes=ivf_codes), max_norm)
        if self._mips and max_norm is None:
            raise RetokError("an empty inner-product index needs max_norm (the largest norm of the rows to come)")
        self._backend = _BACKENDS[kind].build_empty(self._stored(table), metric=self._stored_metric, faiss=self._faiss, options=options)
        self._size = 0
        return self

    @classmethod
    def of_rows(cls, table: torch.Tensor, rows: torch.Tensor, *, metric: Metric = "cosine", kind: Kind = "exact") -> NeighbourIndex:
        """An index over ``table[rows]``: table (V, d), rows (R,) int64 -> ids 0..R-1 for those rows, in order.

        The selection is gathered (and normalized, for cosine) ``ROWS_BLOCK`` rows at a time and
        appended, so a 262k x 640 table costs the index's own copy and one block, not two more full
        copies. ``exact`` and ``torch`` only: a graph or cell index is built from the whole table.
        """
        if kind not in ("exact", "torch"):
            raise RetokError(f"of_rows builds exact indexes only (kind='exact' or 'torch'); got kind={kind!r}")
        if rows.numel() == 0:
            raise RetokError("cannot build an index from 0 rows; pass at least one row id")
        index = cls(table[rows[:ROWS_BLOCK]], metric=metric, kind=kind)
        for start in range(ROWS_BLOCK, rows.numel(), ROWS_BLOCK):
            index.add(table[rows[start : start + ROWS_BLOCK]])
        return index

    def add(self, vectors: Any) -> None:
        """Append (N, d) rows; their ids continue from :attr:`size`."""
        rows = as_float32_matrix(vectors, name="vectors")
        if rows.shape[1] != self._dim:
            raise RetokError(f"rows have dimension {rows.shape[1]} but the index has dimension {self._dim}")
        self._backend.add(self._stored(rows))
        self._size += rows.shape[0]

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``index.faiss`` + ``index.json`` into ``folder`` (each file atomically: a temporary name, then a rename)."""
        if not isinstance(self._backend, _FaissBackend):
            raise RetokError(f"only faiss indexes can be saved; this one is kind={self._kind!r}")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{INDEX_FILE}.tmp"
        self._faiss.write_index(self._backend.index, str(tmp))
        os.replace(tmp, folder / INDEX_FILE)
        meta = {"format": INDEX_FORMAT, "metric": self.metric, "kind": self._kind, "size": self._size, "dim": self._dim,
                "max_norm": self._max_norm, "options": self._options}
        atomic_write_text(folder / INDEX_META, json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, *, mmap: bool = False) -> NeighbourIndex:
        """Read an index written by :meth:`save`; ``mmap`` maps the file instead of reading it (flat IVF and exact kinds)."""
        folder = Path(folder)
        meta_path, index_path = folder / INDEX_META, folder / INDEX_FILE
        if not meta_path.is_file() or not index_path.is_file():
            raise RetokError(f"{str(folder)!r} holds no saved index ({INDEX_META} and {INDEX_FILE}); build it again")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            assert meta["format"] == INDEX_FORMAT
        except (ValueError, KeyError, AssertionError):
            raise RetokError(f"{str(meta_path)!r} is damaged or from another retok version; build the index again") from None
        faiss = _import_faiss()
        if faiss is None:
            raise RetokError("loading a saved index needs faiss; pip install faiss-cpu")
        flags = faiss.IO_FLAG_MMAP if mmap else 0
        try:
            index = faiss.read_index(str(index_path), flags)
        except RuntimeError as e:
            raise RetokError(f"cannot read {str(index_path)!r} (damaged or half-written?): {str(e).splitlines()[0]}; build the index again") from None
        if index.ntotal != meta["size"]:
            raise RetokError(f"{str(index_path)!r} holds {index.ntotal} rows but {INDEX_META} says {meta['size']}; build the index again")
        self = cls.__new__(cls)
        self.metric, self.seed, self._dim, self._kind, self._size = meta["metric"], meta["options"]["seed"], meta["dim"], meta["kind"], meta["size"]
        self._faiss, self._options, self._max_norm = faiss, meta["options"], meta["max_norm"]
        self._mips = self._max_norm is not None
        self._stored_metric = "l2" if self._mips else self.metric
        backend = _BACKENDS[self._kind](faiss, index, _BuildOptions(**meta["options"]))
        self._backend = backend
        return self

    # ---------------------------------------------------------------- properties

    @property
    def size(self) -> int:
        """N, the number of indexed vectors."""
        return self._size

    @property
    def dim(self) -> int:
        """d, the vector dimension."""
        return self._dim

    @property
    def kind(self) -> str:
        """The resolved kind: ``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"torch"`` (never ``"auto"``)."""
        return self._kind

    @property
    def max_norm(self) -> float | None:
        """The norm bound of the MIPS reduction (``ip`` on ``hnsw``/``ivf``), else None."""
        return self._max_norm

    @property
    def nprobe(self) -> int | None:
        """IVF cells searched per query (None for other kinds). Settable."""
        return self._tunable("nprobe")

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._set_tunable("nprobe", value)

    @property
    def ef_search(self) -> int | None:
        """HNSW search beam width (None for other kinds). Settable."""
        return self._tunable("ef_search")

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._set_tunable("ef_search", value)

    def _tunable(self, name: str) -> int | None:
        return getattr(self._backend, name) if name in self._backend.tunables else None

    def _set_tunable(self, name: str, value: int) -> None:
        if name not in self._backend.tunables:
            owner = next(kind for kind, backend in _BACKENDS.items() if name in backend.tunables)
            raise RetokError(f"{name} applies to kind={owner!r} only; this index is kind={self._kind!r}")
        if value < 1:
            raise RetokError(f"{name} must be >= 1; got {value}")
        setattr(self._backend, name, int(value))

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"NeighbourIndex(size={self._size}, dim={self._dim}, metric={self.metric!r}, kind={self._kind!r})"

    # ---------------------------------------------------------------- search

    def search(
        self, queries: Any, k: int, *, batch_size: int = 8192, progress: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k nearest indexed rows of each query.

        queries (Q, d) -> scores (Q, k) float32, ids (Q, k) int64 (row numbers of ``vectors``).
        Queries go through in batches of ``batch_size``; ``progress`` shows a bar when there
        are more than 4 batches.
        """
        q = as_float32_matrix(queries, name="queries")
        _check_search(self._size, self._dim, q, k)
        k = int(k)
        if batch_size < 1:
            raise RetokError(f"batch_size must be >= 1; got {batch_size}")
        n_q = q.shape[0]
        scores = torch.empty(n_q, k, dtype=torch.float32)
        ids = torch.empty(n_q, k, dtype=torch.int64)
        starts = range(0, n_q, batch_size)
        bar = tqdm(starts, desc=f"{self._kind} search", unit="batch", disable=not bars_on(progress) or len(starts) <= 4)
        for start in bar:
            batch = q[start : start + batch_size]
            if self._mips:
                distances, i = self._backend.search(mips_query(batch), k)
                s = mips_scores(batch, distances, self._max_norm)
            else:
                s, i = self._backend.search(prepare(batch, self.metric), k)
            scores[start : start + len(batch)] = s
            ids[start : start + len(batch)] = i
        return scores, ids


__all__ = ["AUTO_EXACT_MAX_ROWS", "INDEX_FILE", "INDEX_META", "NeighbourIndex", "brute_force_topk", "mips_augment", "mips_query", "mips_scores", "topk_rows"]
