"""Build a very large output vocabulary (a million entries) over a model's own tokenizer, with its rows and a faiss index.

``retok large-vocab build --model M --size 1000000 --out DIR`` (or :func:`build_large_vocab`):

1. **Entries.** The base tokenizer's ids of the corpus (the training paragraphs of every corpus
   retok can fetch, by default: the LibreOffice help in en/de/fr/es and the English man pages;
   the held-out paragraphs are never seen) are merged by BPE continued across words, many pairs
   per round (:mod:`retok.vocab.growth`), until there are ``size`` entries. Entries ``0..V-1``
   are the base vocabulary itself, so the base ids keep their meaning.
2. **Rows.** Each new entry's input and output rows are predicted from its base pieces by an
   embedding predictor (:mod:`retok.transfer.row_predictors`: ``compose`` by default, ``fvt``,
   ``hypernet``) in chunks and written into memory-mapped ``.npy`` files; the base entries keep
   the model's own rows.
3. **Index.** A faiss index over the output rows for maximum inner-product search
   (:class:`retok.index.NeighbourIndex`, metric ``ip``): IVF above 200k rows (k-means cells
   trained on a seeded sample) and HNSW below. The inner product is handled exactly, not as
   cosine, in two steps that leave every logit ``h . x`` unchanged:

   * *the queries' geometry* (:class:`QueryGeometry`): with ``S = E[h h^T]`` the second moment
     of the model's hidden states on training text and ``mu`` the mean row, rows are stored as
     ``x' = S^(1/2) (x - mu)`` and queries searched as ``h' = S^(-1/2) h``; ``h' . x' = h . x - h . mu``,
     and ``h . mu`` is the same for every row, so the ranking is the logits' ranking. LM hidden
     states are far from isotropic (a few directions carry most of their energy), and cells or
     graph edges built on the raw rows follow directions the queries barely use; after the map,
     the queries are white and the cells follow what moves the logits. On SmolLM2 rows
     (60k entries, IVF, 64 of 490 cells probed) top-1 agreement with exact scoring went from
     91% to 99.8% with this map;
   * *the MIPS reduction*: rows are augmented to ``[x', sqrt(M^2 - |x'|^2)]`` and searched by L2
     (:mod:`retok.index`), so row norms, the LM head's frequency prior, still count (normalising
     both sides would turn it into cosine search).

   Decoding re-scores the retrieved candidates exactly from the float rows (:mod:`retok.adaptive.large_vocab.decode`).

The job checkpoints in ``DIR.partial/``: the grown vocabulary, the rows chunk by chunk and the
index chunk by chunk; a rerun with the same settings resumes, other settings are refused. The
finished folder appears atomically. Before any work, the disk and memory it needs are estimated
and a request that does not fit is refused with the estimate.

Folder layout: ``large_vocab.json`` (what was built, from what, how), ``tokenizer/`` (the base
tokenizer), ``pieces.npy`` (N, L) int32 base ids -1 padded, ``input_rows.npy`` (N, d) float32,
``output_rows.npy`` (untied models only), ``merges.npz`` (the growth's rounds, which cut new text
into entries: :meth:`~retok.adaptive.large_vocab.decode.LargeVocab.segment`), ``base_bias.npy`` (the
unmerged share of each base token, :func:`base_bias`), ``index/`` (faiss index + ``built_for.json``, the digest
of the rows it was built from).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from retok.atomic import atomic_dir, atomic_write_bytes, atomic_write_text, check_output_dir
from retok.errors import RetokError
from retok.progress import bars_on
from retok.training.checkpoints import restart_rule, resume_or_start
from .config import LargeVocabConfig

FORMAT = 1
CONFIG_FILE = "large_vocab.json"
PIECES_FILE, INPUT_FILE, OUTPUT_FILE, MERGES_FILE = "pieces.npy", "input_rows.npy", "output_rows.npy", "merges.npz"
BIAS_FILE = "base_bias.npy"  # (V,) log-share of each base token's occurrences that stay unmerged in the grown corpus
INDEX_DIR, TOKENIZER_DIR, BUILT_FOR, GEOMETRY = "index", "tokenizer", "built_for.json", "geometry.npz"
QUERY_POSITIONS = 4096  # hidden states of training text that set the search geometry
DIGEST_ROWS = 1024  # rows sampled (evenly spaced) into the digest that ties an index to its rows


# ----------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class SizeEstimate:
    """Bytes a build of ``rows`` x ``dim`` needs: the row files on disk, the index on disk and in memory."""

    rows_bytes: int
    index_bytes: int

    @property
    def disk_bytes(self) -> int:
        return self.rows_bytes + self.index_bytes

    def __str__(self) -> str:
        return f"rows {self.rows_bytes / 2**30:.2f} GiB + index {self.index_bytes / 2**30:.2f} GiB on disk; index {self.index_bytes / 2**30:.2f} GiB in memory"


def estimate_size(size: int, dim: int, *, tied: bool, config: LargeVocabConfig, max_pieces: int | None = None) -> SizeEstimate:
    """What a build will take: float32 rows (one table if tied, two if not) + pieces, and the index's stored vectors."""
    pieces = size * (max_pieces or config.max_pieces) * 4
    rows = size * dim * 4 * (1 if tied else 2) + pieces
    per_row = {"flat": 4 * (dim + 1), "sq8": dim + 1}[config.ivf_codes] if config.index_kind() == "ivf" else 4 * (dim + 1) + 8 * config.hnsw_m
    return SizeEstimate(rows, size * (per_row + 8))


def available_memory() -> int:
    """Bytes of memory the system says are available (``MemAvailable``), or total memory if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(estimate: SizeEstimate, out: Path) -> None:
    """Refuse a build that the disk under ``out`` or the memory cannot hold (with the estimate, and what to change)."""
    place = out.parent
    while not place.exists():
        place = place.parent
    free = shutil.disk_usage(place).free
    if estimate.disk_bytes > free:
        raise RetokError(f"this build needs about {estimate.disk_bytes / 2**30:.1f} GiB on disk ({estimate}) but {str(place)!r} has "
                         f"{free / 2**30:.1f} GiB free; free space, choose another --out or a smaller --size")
    memory = available_memory()
    if estimate.index_bytes > 0.8 * memory:
        raise RetokError(f"the index needs about {estimate.index_bytes / 2**30:.1f} GiB of memory ({estimate}) but only "
                         f"{memory / 2**30:.1f} GiB are available; pass --ivf-codes sq8 (4x smaller) or a smaller --size")


# ----------------------------------------------------------------------------- digests


def rows_digest(rows: np.ndarray) -> str:
    """A digest of a (N, d) row table: its shape and :data:`DIGEST_ROWS` evenly spaced rows (fast on a memory map)."""
    h = hashlib.blake2b(f"{rows.dtype}{tuple(rows.shape)}".encode(), digest_size=16)
    picks = np.unique(np.linspace(0, len(rows) - 1, num=min(DIGEST_ROWS, len(rows))).astype(np.int64)) if len(rows) else []
    for i in picks:
        h.update(np.ascontiguousarray(rows[i]).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- the search geometry


@dataclass(frozen=True)
class QueryGeometry:
    """The map that makes the queries white while keeping every logit's ranking (module docstring, step 3).

    center (d,) the mean row; rows_map (d, d) = S^(1/2); query_map (d, d) = S^(-1/2), S = E[h h^T] symmetric.
    """

    center: np.ndarray
    rows_map: np.ndarray
    query_map: np.ndarray

    @classmethod
    def fit(cls, queries: np.ndarray, center: np.ndarray, *, floor: float = 1e-6) -> QueryGeometry:
        """From hidden states (P, d) and the mean row (d,); eigenvalues below ``floor * largest`` are raised to it."""
        second = queries.astype(np.float64).T @ queries.astype(np.float64) / max(len(queries), 1)
        values, vectors = np.linalg.eigh(second)
        values = np.clip(values, max(float(values.max()), 1e-30) * floor, None)
        half = (vectors * np.sqrt(values)) @ vectors.T
        inverse = (vectors / np.sqrt(values)) @ vectors.T
        return cls(center.astype(np.float32), half.astype(np.float32), inverse.astype(np.float32))

    def rows(self, x: np.ndarray) -> np.ndarray:
        """x (N, d) -> (N, d) rows as the index stores them."""
        return np.ascontiguousarray((x - self.center) @ self.rows_map, dtype=np.float32)

    def queries(self, h: torch.Tensor) -> torch.Tensor:
        """h (Q, d) -> (Q, d) queries as the index searches them."""
        return h.float() @ torch.from_numpy(self.query_map)

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, center=self.center, rows_map=self.rows_map, query_map=self.query_map)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> QueryGeometry:
        try:
            with np.load(path) as data:
                return cls(data["center"], data["rows_map"], data["query_map"])
        except (OSError, KeyError, ValueError):
            raise RetokError(f"{str(path)!r} is missing or damaged; build the large vocabulary again") from None


@torch.inference_mode()
def hidden_states(model: Any, ids: Sequence[int], *, window: int = 256) -> torch.Tensor:
    """The model's hidden states after the final norm, teacher-forced on base ``ids`` in windows of ``window``: (P, d) float32."""
    table = model.get_input_embeddings()
    states = [model.base_model(inputs_embeds=table(torch.tensor([list(ids[s : s + window])]))).last_hidden_state[0]
              for s in range(0, len(ids), window)]
    return torch.cat(states).float()


def hidden_sample(model: Any, tokenizer: Any, lines: Sequence[str], *, positions: int = QUERY_POSITIONS, window: int = 256) -> np.ndarray:
    """Hidden states (P, d) of the model on ``lines`` (every k-th paragraph, so all languages are seen)."""
    step = max(1, len(lines) // 400)
    ids = tokenizer("\n".join(lines[::step]), add_special_tokens=False, verbose=False)["input_ids"][:positions]
    return hidden_states(model, ids, window=window).numpy()


# ----------------------------------------------------------------------------- corpus


def default_corpus(progress: bool = True) -> list[Path]:
    """Every corpus retok can fetch: the LibreOffice help (en, de, fr, es) and the English man pages."""
    from retok import assets

    help_text = assets.lohelp(progress=progress)
    return [help_text.text(lang) for lang in ("en", "de", "fr", "es")] + [assets.manpages(progress=progress)]


def training_lines(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The training paragraphs (never the held-out ones, :func:`retok.data.split_paragraphs`) of each file, in order."""
    from retok.data import split_paragraphs
    from retok.textio import read_text

    lines: list[str] = []
    for path in paths:
        train, _ = split_paragraphs(read_text(path, what="corpus file (--train)").splitlines())
        lines += train
    if not lines:
        raise RetokError("the corpus has no training paragraphs; pass a text file with one paragraph per line (--train)")
    return lines


# ----------------------------------------------------------------------------- the build


def tokenize_lines(tokenizer: Any, lines: Sequence[str], *, progress: bool = False) -> list[list[int]]:
    """Base ids of each line (no special tokens), tokenized in batches of 4096 lines."""
    ids: list[list[int]] = []
    for start in tqdm(range(0, len(lines), 4096), desc="tokenizing the corpus", unit="batch", disable=not bars_on(progress)):
        ids += tokenizer(list(lines[start : start + 4096]), add_special_tokens=False, verbose=False)["input_ids"]
    return ids


def _open_rows(path: Path, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A writable memory map of ``path``: reopened if an interrupted run created it with this shape, else created."""
    if path.exists():
        rows = np.load(path, mmap_mode="r+")
        if rows.shape == shape and rows.dtype == dtype:
            return rows
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _progress(work: Path, name: str) -> int:
    path = work / f"{name}.json"
    return json.loads(path.read_text())["done"] if path.exists() else 0


def _set_progress(work: Path, name: str, done: int) -> None:
    atomic_write_text(work / f"{name}.json", json.dumps({"done": done}) + "\n")


def grow(work: Path, tokenizer: Any, corpus: Sequence[str | os.PathLike], config: LargeVocabConfig, *, progress: bool) -> dict[str, Any]:
    """Step 1: grow the vocabulary (kept in ``work/vocab.npz``); returns corpus and growth statistics."""
    from retok.vocab.canonical import CanonicalVocab
    from retok.vocab.growth import corpus_array, grow_vocabulary

    path = work / "vocab.npz"
    stats_path = work / "vocab.json"
    if path.exists() and stats_path.exists():
        return json.loads(stats_path.read_text())
    lines = training_lines(corpus)
    began = time.perf_counter()
    ids = tokenize_lines(tokenizer, lines, progress=progress)
    vocab = CanonicalVocab.of(tokenizer)
    units = corpus_array(ids)
    grown = grow_vocabulary(units, vocab.keys, config.size, min_count=config.min_count,
                            max_pieces=config.max_pieces, progress=progress)
    if len(grown) < config.size:
        raise RetokError(f"the corpus supports only {len(grown):,} entries at min_count {config.min_count} "
                         f"({sum(map(len, ids)):,} base tokens); pass more text (--train FILE ...), a smaller --size or --min-count 1")
    pieces = grown.pieces().astype(np.int32)
    np.save(work / BIAS_FILE, base_bias(units, grown.merges, grown.round_ends, len(grown), grown.base_size))
    tmp = work / "vocab.tmp.npz"
    np.savez(tmp, pieces=pieces, counts=grown.counts)
    save_merges(work / MERGES_FILE, grown.merges, grown.round_ends)
    os.replace(tmp, path)
    stats = {"corpus_paragraphs": len(lines), "corpus_base_tokens": int(sum(map(len, ids))), "rounds": grown.rounds,
             "seconds": round(time.perf_counter() - began, 1), "new_entries": len(grown) - grown.base_size,
             "mean_pieces_new": float(grown.lengths[grown.base_size :].mean()) if len(grown) > grown.base_size else 0.0}
    atomic_write_text(stats_path, json.dumps(stats, indent=2) + "\n")
    return stats


def save_merges(path: Path, merges: np.ndarray, round_ends: np.ndarray) -> None:
    """The growth's rounds (``merges`` (M, 3) left, right, entry; ``round_ends`` (R,)), which cut new text as the corpus was cut."""
    buffer = io.BytesIO()
    np.savez(buffer, merges=merges.astype(np.int64), round_ends=round_ends.astype(np.int64))
    atomic_write_bytes(path, buffer.getvalue())


def base_bias(corpus: np.ndarray, merges: np.ndarray, round_ends: np.ndarray, size: int, base: int) -> np.ndarray:
    """(V,) float32 ``log((unmerged + 1) / (occurrences + 1))`` per base token over ``corpus`` (:func:`~retok.vocab.growth.corpus_array`).

    The model's logit for a base token ``t`` is its probability of *starting* with ``t``; in text cut into entries,
    ``t`` is a unit of its own only where no entry covers more, so ``p(t alone) ~ p(t) * P(unmerged | t)``. Added to
    the base tokens' logits, this prior gives the mass of " die" that belongs to " die Datei" back to the entries
    (new entries get no bias). Estimated on the training corpus the vocabulary was grown from.
    """
    from retok.vocab.growth import replay_merges

    units = np.asarray(corpus, dtype=np.int64)
    occurrences = np.bincount(units[(units >= 0) & (units < base)], minlength=base)[:base]
    cut = replay_merges(units, merges, round_ends, size)
    alone = np.bincount(cut[(cut >= 0) & (cut < base)], minlength=base)[:base]
    return np.log((alone + 1.0) / (occurrences + 1.0)).astype(np.float32)


def calibrate(folder: str | os.PathLike, corpus: Sequence[str | os.PathLike] | None = None, *, progress: bool = True) -> Path:
    """Write :data:`BIAS_FILE` into a finished folder built without one (by an older version), from its corpus (default: the default one)."""
    from retok.loading import load_tokenizer
    from retok.vocab.growth import corpus_array

    from retok.integrity import check_json

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise RetokError(f"{str(folder)!r} is not a large-vocabulary folder (no {CONFIG_FILE}); build one with "
                         "`retok large-vocab build --model M --out DIR`")
    info = check_json(folder / CONFIG_FILE, fix="build the folder again with `retok large-vocab build`")
    tok = load_tokenizer(folder / TOKENIZER_DIR)
    lines = training_lines([Path(p) for p in (corpus or default_corpus(progress))])
    ids = tokenize_lines(tok, lines, progress=progress)
    merges, round_ends = load_merges(folder / MERGES_FILE)
    bias = base_bias(corpus_array(ids), merges, round_ends, int(info["size"]), int(info["base_size"]))
    buffer = io.BytesIO()
    np.save(buffer, bias)
    atomic_write_bytes(folder / BIAS_FILE, buffer.getvalue())
    return folder / BIAS_FILE


def load_merges(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(merges (M, 3), round_ends (R,))`` from :func:`save_merges`; RetokError if missing or damaged."""
    try:
        with np.load(path) as data:
            return data["merges"], data["round_ends"]
    except (OSError, KeyError, ValueError):
        raise RetokError(f"{str(path)!r} is missing or damaged (folders built by older versions hold no merges); "
                         "build the large vocabulary again to cut text with it") from None


def predict_rows(work: Path, source: Any, predictor: Any, config: LargeVocabConfig, *, progress: bool) -> float:
    """Step 2: every entry's rows into the memory maps, chunk by chunk (resumable); returns seconds spent."""
    pieces = np.load(work / "vocab.npz")["pieces"]
    np.save(work / PIECES_FILE, pieces)
    n, base = len(pieces), source.input.shape[0]
    tables = [(INPUT_FILE, source.input)] + ([] if source.output is None else [(OUTPUT_FILE, source.output)])
    maps = [_open_rows(work / name, (n, source.dim), np.float32) for name, _ in tables]
    done = _progress(work, "rows")
    began = time.perf_counter()
    if done == 0:
        for rows, (_, table) in zip(maps, tables):
            rows[:base] = table.float().numpy()
        done = base
        _set_progress(work, "rows", done)
    bar = tqdm(total=n - base, initial=done - base, desc=f"predicting rows ({predictor.name})", unit="row", disable=not bars_on(progress))
    while done < n:
        stop = min(n, done + config.chunk)
        got_in, got_out = predictor.predict(torch.from_numpy(pieces[done:stop].astype(np.int64)))
        maps[0][done:stop] = got_in.float().numpy()
        if len(maps) > 1:
            maps[1][done:stop] = got_out.float().numpy()
        for rows in maps:
            rows.flush()
        _set_progress(work, "rows", stop)
        bar.update(stop - done)
        done = stop
    bar.close()
    return time.perf_counter() - began


def build_index(work: Path, config: LargeVocabConfig, queries: np.ndarray, *, progress: bool) -> dict[str, Any]:
    """Step 3: the inner-product index over the output rows, trained once, then grown and saved chunk by chunk (resumable).

    ``queries`` (P, d): hidden states of training text, which set the search geometry (:class:`QueryGeometry`).
    """
    from retok.index import NeighbourIndex

    rows = np.load(work / (OUTPUT_FILE if (work / OUTPUT_FILE).exists() else INPUT_FILE), mmap_mode="r")
    n = len(rows)
    folder = work / INDEX_DIR
    kind = config.index_kind()
    done = _progress(work, "index")
    began = time.perf_counter()
    if done and (folder / "index.json").exists():
        geometry = QueryGeometry.load(folder / GEOMETRY)
        index = NeighbourIndex.load(folder)
        if index.size != done:
            raise RetokError(f"the checkpointed index in {str(folder)!r} holds {index.size} rows, not {done}; rerun with --fresh to discard {str(work)!r} and start over")
    else:
        center = sum(rows[s : s + 65536].astype(np.float64).sum(0) for s in range(0, n, 65536)) / n
        geometry = QueryGeometry.fit(queries, center)
        max_norm = max(float(np.linalg.norm(geometry.rows(rows[s : s + 65536]), axis=1).max()) for s in range(0, n, 65536))
        nlist = min(config.cells(), n)
        rng = np.random.default_rng(config.seed)
        sample = rows[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))] if kind == "ivf" else rows[:1]
        index = NeighbourIndex.trained(geometry.rows(sample), metric="ip", kind=kind, max_norm=max_norm * (1 + 1e-5),
                                       seed=config.seed, nlist=nlist, nprobe=min(config.nprobe, nlist), hnsw_m=config.hnsw_m,
                                       ef_construction=config.ef_construction, ef_search=config.ef_search, ivf_codes=config.ivf_codes)
        folder.mkdir(parents=True, exist_ok=True)
        geometry.save(folder / GEOMETRY)
        index.save(folder)
        done = 0
        _set_progress(work, "index", 0)
    bar = tqdm(total=n, initial=done, desc=f"indexing rows ({kind})", unit="row", disable=not bars_on(progress))
    while done < n:
        stop = min(n, done + config.chunk)
        index.add(geometry.rows(rows[done:stop]))
        index.save(folder)
        _set_progress(work, "index", stop)
        bar.update(stop - done)
        done = stop
    bar.close()
    atomic_write_text(folder / BUILT_FOR, json.dumps({"rows_digest": rows_digest(rows)}) + "\n")
    return {"kind": kind, "nlist": min(config.cells(), n) if kind == "ivf" else None, "codes": config.ivf_codes if kind == "ivf" else None,
            "max_norm": index.max_norm, "seconds": round(time.perf_counter() - began, 1)}


def build_large_vocab(
    model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    tokenizer: str | os.PathLike | None = None,
    corpus: Sequence[str | os.PathLike] | None = None,
    config: LargeVocabConfig | None = None,
    overwrite: bool = False,
    fresh: bool = False,
    progress: bool = True,
) -> Path:
    """Grow, predict and index a large vocabulary over ``model``'s tokenizer into ``out``; see the module docstring.

    ``corpus``: text files (one paragraph per line; only their training paragraphs are used);
    default :func:`default_corpus`. Returns the finished folder. ``overwrite`` replaces ``out`` (and discards
    ``<out>.partial`` if it holds a build of other settings); ``fresh`` discards ``<out>.partial`` and starts over.
    """
    from retok.transfer.embeddings import TokenEmbeddings, check_tokenizer_fits
    from retok.loading import load_model, load_tokenizer
    from retok.transfer.row_predictors import make_predictor

    config = config or LargeVocabConfig()
    out = check_output_dir(out, overwrite=overwrite)
    work = out.parent / f"{out.name}.partial"
    lm = load_model(model)
    tok = load_tokenizer(tokenizer or model)
    check_tokenizer_fits(lm, tok, what="the base tokenizer (--tokenizer)" if tokenizer else f"the tokenizer in --model {model}")
    source = TokenEmbeddings.from_model(lm, tok)
    if config.size < source.input.shape[0]:
        raise RetokError(f"--size {config.size} is below the base vocabulary's {source.input.shape[0]} rows; pass a larger --size")
    estimate = estimate_size(config.size, source.dim, tied=source.tied, config=config)
    check_fits(estimate, out)
    if progress:
        print(f"retok: building {config.size:,} entries over {source.input.shape[0]:,} base tokens; estimated {estimate}")
    extra = {"hypernet": config.hypernet} if config.predictor == "hypernet" else {}
    predictor = make_predictor(config.predictor, source, **extra)
    caveat = getattr(predictor, "multiword_warning", lambda: None)()  # a predictor may know it was not made for entries across words
    if caveat:
        warnings.warn(caveat, stacklevel=2)
    corpus = [Path(p) for p in (corpus or default_corpus(progress))]
    settings = {"format": FORMAT, "model": str(model), "tokenizer": str(tokenizer or model), "config": asdict(config),
                "corpus": [[str(p), p.stat().st_size if p.exists() else None] for p in corpus], "predictor": predictor.fingerprint()}
    resumed = resume_or_start(work, settings, restart=restart_rule(overwrite=overwrite, fresh=fresh), log=print if progress else lambda _: None)
    began = time.perf_counter()
    try:
        vocab_stats = grow(work, tok, corpus, config, progress=progress)
    except RetokError:
        if not resumed:  # nothing worth resuming (a corpus too small, unreadable): leave nothing behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    rows_seconds = predict_rows(work, source, predictor, config, progress=progress)
    queries_path = work / "queries.npy"
    if not queries_path.exists():
        np.save(work / "queries.tmp.npy", hidden_sample(lm, tok, training_lines(corpus)))
        os.replace(work / "queries.tmp.npy", queries_path)
    index_info = build_index(work, config, np.load(queries_path), progress=progress)
    info = {
        "format": FORMAT, "model": str(Path(model).resolve()) if Path(model).exists() else str(model),
        "size": config.size, "base_size": source.input.shape[0], "dim": source.dim, "tied": source.tied,
        "predictor": {"name": predictor.name, "fingerprint": predictor.fingerprint()},
        "config": asdict(config), "vocabulary": vocab_stats, "index": index_info,
        "seconds": {"rows": round(rows_seconds, 1), "index": index_info["seconds"], "total": round(time.perf_counter() - began, 1)},
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:
        tok.save_pretrained(tmp / TOKENIZER_DIR)
        for name in (PIECES_FILE, INPUT_FILE, OUTPUT_FILE, MERGES_FILE, BIAS_FILE, INDEX_DIR):
            if (work / name).exists():
                os.replace(work / name, tmp / name)
        atomic_write_text(tmp / CONFIG_FILE, json.dumps(info, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return out


__all__ = ["BIAS_FILE", "CONFIG_FILE", "FORMAT", "MERGES_FILE", "base_bias", "calibrate", "load_merges", "save_merges", "LargeVocabConfig", "QueryGeometry", "SizeEstimate", "hidden_sample", "hidden_states", "available_memory", "build_large_vocab", "check_fits",
           "default_corpus", "estimate_size", "rows_digest", "tokenize_lines", "training_lines"]
