"""Decoding with a very large vocabulary: retrieve k candidates per step from faiss, score them exactly, feed the choice back.

>>> lv = LargeVocab.load("runs/large-vocab")          # a folder from `retok large-vocab build`
>>> out = lv.generate("The Basic IDE", max_new_tokens=64)
>>> out.text, out.new_share, out.bytes_per_token

Each step takes the model's last hidden state ``h`` (after the final norm), asks the index for
the ``k`` entries with the largest ``h . o_e`` (the inner product, searched exactly by the MIPS
reduction of :mod:`retok.index`), optionally adds the whole base vocabulary to the candidates,
computes the exact logits of the candidates from the float rows and takes the argmax or samples
(temperature). The chosen entry's *input* row is fed back through ``inputs_embeds`` with the
KV cache. ``exact=True`` scores all N output rows instead (the reference the restricted step is
compared with). The base entries' rows are the model's own, so a model that only ever picks
base entries decodes exactly as without the large vocabulary.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from retok.errors import RetokError
from retok.integrity import check_json, check_npy
from .config import FEEDS
from .build import (BIAS_FILE, BUILT_FOR, CONFIG_FILE, FORMAT, GEOMETRY, INDEX_DIR, INPUT_FILE, MERGES_FILE, OUTPUT_FILE, PIECES_FILE,
                    TOKENIZER_DIR, QueryGeometry, hidden_states, load_merges, rows_digest)


Feed = Literal["rows", "pieces"]


def check_feed(feed: str) -> None:
    if feed not in FEEDS:
        raise RetokError(f"feed must be one of {', '.join(FEEDS)}; got {feed!r}")


def _rows(path: Path) -> tuple[np.ndarray, torch.Tensor]:
    """A read-only memory map of a row file and a torch view of it (nothing is copied into memory)."""
    rows = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():  # torch warns that the array is not writable; nothing writes to it
        warnings.simplefilter("ignore", UserWarning)
        return rows, torch.from_numpy(rows)


@dataclass(frozen=True)
class LargeVocabGeneration:
    """What :meth:`LargeVocab.generate` made: text, entry ids, per-step seconds (model step + selection)."""

    text: str
    entries: list[int]
    base_size: int
    entry_bytes: list[int]
    prefill_seconds: float
    step_seconds: list[float]
    select_seconds: list[float] = field(repr=False)

    @property
    def new_share(self) -> float:
        """Share of generated entries outside the base vocabulary."""
        return sum(e >= self.base_size for e in self.entries) / max(len(self.entries), 1)

    @property
    def bytes_per_token(self) -> float:
        return sum(self.entry_bytes) / max(len(self.entries), 1)


class LargeVocab:
    """A built large-vocabulary folder with its model: candidate retrieval, exact scoring and generation."""

    def __init__(self, folder: str | Path, model: Any = None, *, nprobe: int | None = None, ef_search: int | None = None,
                 prefix: int = 4, prefix_cap: int = 512, prior: float = 0.0) -> None:
        from retok.index import NeighbourIndex
        from retok.loading import load_model, load_tokenizer
        from retok.vocab.canonical import CanonicalVocab

        self.folder = Path(folder)
        config_path = self.folder / CONFIG_FILE
        if not config_path.is_file():
            raise RetokError(f"{str(self.folder)!r} is not a large-vocabulary folder (no {CONFIG_FILE}); build one with "
                             "`retok large-vocab build --model M --out DIR`")
        self.info = check_json(config_path, fix="build the folder again with `retok large-vocab build`")
        if self.info.get("format") != FORMAT:
            raise RetokError(f"{str(self.folder)!r} was built by another retok version (format {self.info.get('format')}); build it again")
        for name in (PIECES_FILE, INPUT_FILE, TOKENIZER_DIR, INDEX_DIR) + (() if self.info["tied"] else (OUTPUT_FILE,)):
            if not (self.folder / name).exists():
                raise RetokError(f"{str(self.folder)!r} lacks {name} (half-written or damaged?); build it again")
        self.size, self.base_size = int(self.info["size"]), int(self.info["base_size"])
        rebuild = "build the folder again with `retok large-vocab build`"
        for name in (PIECES_FILE, INPUT_FILE) + (() if self.info["tied"] else (OUTPUT_FILE,)):
            check_npy(self.folder / name, fix=rebuild)
        self.pieces = np.load(self.folder / PIECES_FILE, mmap_mode="r")
        self._merges: tuple[np.ndarray, np.ndarray] | None = None
        if isinstance(prefix, bool) or not isinstance(prefix, int) or prefix < 0 or not isinstance(prefix_cap, int) or prefix_cap < 1:
            raise RetokError(f"prefix must be an integer >= 0 and prefix_cap >= 1; got {prefix!r} and {prefix_cap!r}")
        self.prefix, self.prefix_cap = prefix, prefix_cap  # extensions of the best base tokens scored beside the index's candidates
        self._by_first: tuple[torch.Tensor, torch.Tensor] | None = None
        bias_path = self.folder / BIAS_FILE
        # the base tokens' unmerged prior (build.base_bias) times ``prior``, opt-in: measured at full weight, it made BPB worse and
        # greedy text repetitive; a fraction trades new entries against repetition (the benchmark's prior sweep)
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not 0.0 <= prior <= 1.0:
            raise RetokError(f"prior must be a weight in [0, 1] (0: off, 1: the full unmerged prior); got {prior!r}")
        self.prior = float(prior)
        self.base_bias = torch.zeros(self.base_size)
        if prior > 0:
            if not bias_path.is_file():
                raise RetokError(f"{str(self.folder)!r} has no {BIAS_FILE}, the unmerged prior; add it with "
                                 f"`retok large-vocab calibrate --model {self.folder}` or load with prior=0")
            self.base_bias = torch.from_numpy(np.load(bias_path).astype(np.float32)) * self.prior
            if self.base_bias.shape != (self.base_size,):
                raise RetokError(f"{str(bias_path)!r} holds {tuple(self.base_bias.shape)} values, not {self.base_size}; build the folder again")
        _, self.input_rows = _rows(self.folder / INPUT_FILE)
        out_array, self.output_rows = _rows(self.folder / (INPUT_FILE if self.info["tied"] else OUTPUT_FILE))
        if self.input_rows.shape != (self.size, self.info["dim"]) or self.output_rows.shape != self.input_rows.shape:
            raise RetokError(f"the row files in {str(self.folder)!r} do not have {self.size} x {self.info['dim']} rows; build it again")
        built_for = self.folder / INDEX_DIR / BUILT_FOR
        if not built_for.is_file():
            raise RetokError(f"{str(built_for)!r} is missing: the index was not finished; build the folder again")
        if check_json(built_for, fix=rebuild).get("rows_digest") != rows_digest(out_array):
            raise RetokError(f"the index in {str(self.folder / INDEX_DIR)!r} was built for other embeddings than {str(self.folder)!r} "
                             "holds (the stored row digest differs); rebuild the index with `retok large-vocab build`")
        self.index = NeighbourIndex.load(self.folder / INDEX_DIR)
        self.geometry = QueryGeometry.load(self.folder / INDEX_DIR / GEOMETRY)
        if self.index.size != self.size:
            raise RetokError(f"the index holds {self.index.size} rows but the vocabulary has {self.size}; build the folder again")
        if nprobe is not None:
            self.index.nprobe = nprobe
        if ef_search is not None:
            self.index.ef_search = ef_search
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_DIR)
        self.vocab = CanonicalVocab.of(self.tokenizer)
        self.model = model if model is not None else load_model(self.info["model"])
        self.model.eval()
        rows = self.model.get_input_embeddings().weight.shape
        if tuple(rows) != (self.base_size, self.info["dim"]):
            raise RetokError(f"the model has {rows[0]} x {rows[1]} embeddings but the vocabulary was built over "
                             f"{self.base_size} x {self.info['dim']}; pass the model it was built for")

    @classmethod
    def load(cls, folder: str | Path, model: Any = None, **search: Any) -> LargeVocab:
        return cls(folder, model, **search)

    # ---------------------------------------------------------------- entries

    def entry_ids(self, entry: int) -> list[int]:
        """The base ids an entry stands for."""
        row = self.pieces[entry]
        return [int(i) for i in row if i >= 0]

    def entry_bytes(self, entry: int) -> bytes:
        return b"".join(self.vocab.keys[i] or b"" for i in self.entry_ids(entry))

    def segment(self, ids: Sequence[int]) -> list[int]:
        """Base ids of one text -> its entries, cut by the growth's own rounds (as the training corpus was cut)."""
        from retok.vocab.growth import replay_merges

        if self._merges is None:
            self._merges = load_merges(self.folder / MERGES_FILE)
        return replay_merges(np.asarray(ids, dtype=np.int64), *self._merges, self.size).tolist()

    def embed(self, entries: Sequence[int]) -> torch.Tensor:
        """Input rows of entries (T,) -> (T, d) in the model's dtype: the model's own embedding for base ids, the predicted rows else."""
        table = self.model.get_input_embeddings()
        ids = torch.as_tensor(list(entries), dtype=torch.long)
        base = ids < self.base_size
        out = table(ids.clamp(max=self.base_size - 1))
        if not bool(base.all()):
            scale = getattr(table, "embed_scale", None)  # Gemma scales its input rows inside the module
            rows = self.input_rows[ids[~base]].to(out.dtype)
            out[~base] = rows * scale.to(out.dtype) if scale is not None else rows
        return out

    # ---------------------------------------------------------------- one step

    def check_k(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RetokError(f"k must be a positive integer; got {k!r}")
        if k > self.size:
            raise RetokError(f"k={k} is larger than the vocabulary ({self.size} entries); pass k <= {self.size}")

    def candidates(self, h: torch.Tensor, *, k: int = 32) -> torch.Tensor:
        """h (Q, d) -> the k candidate entry ids (Q, k) the index retrieves for each hidden state; -1 where none was found."""
        self.check_k(k)
        _, ids = self.index.search(self.geometry.queries(h), k)
        return ids

    def restricted(self, h: torch.Tensor, *, k: int = 32, include_base: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """h (Q, d) -> candidate ids (Q, C) and their exact logits (Q, C): the k retrieved [+ every base entry, one matmul].

        With the base vocabulary included and :attr:`prefix` > 0, the new entries that begin with one of the ``prefix``
        best-scoring base tokens are candidates too (:meth:`extensions`): an entry that wins usually starts with a token
        that scores well on its own, and the index can miss it.
        """
        parts = self.scored_parts(h, k=k, include_base=include_base)
        ids = [torch.arange(self.base_size).expand(len(h), -1) if i is None else i for i, _ in parts]
        return torch.cat(ids, dim=1), torch.cat([logits for _, logits in parts], dim=1)

    def scored_parts(self, h: torch.Tensor, *, k: int, include_base: bool) -> list[tuple[torch.Tensor | None, torch.Tensor]]:
        """The candidates of :meth:`restricted` in parts, ``(ids (Q, C), logits (Q, C))``; ids None: the base vocabulary in order."""
        ids = self.candidates(h, k=k)
        parts: list[tuple[torch.Tensor | None, torch.Tensor]] = [(ids, self.scores(h, ids))]
        if include_base:
            base = h.float() @ self.output_rows[: self.base_size].T  # (Q, V_base)
            parts.append((None, base + self.base_bias))
            if self.prefix > 0:  # the tokens the model itself would start with (before the unmerged prior)
                more = self.extensions(base.topk(min(self.prefix, self.base_size), dim=1).indices)
                parts.append((more, self.scores(h, more)))
        return parts

    def extensions(self, base_ids: torch.Tensor) -> torch.Tensor:
        """base ids (Q, m) -> (Q, C) the new entries whose first piece is one of them (at most :attr:`prefix_cap` each, the
        earliest grown, i.e. most frequent, first), -1 padded."""
        if self._by_first is None:
            first = torch.from_numpy(np.ascontiguousarray(self.pieces[self.base_size :, 0]).astype(np.int64))
            order = torch.argsort(first, stable=True)
            self._by_first = (order + self.base_size, torch.searchsorted(first[order], torch.arange(self.base_size + 1)))
        order, starts = self._by_first
        rows = []
        for query in base_ids.tolist():
            picked = [order[starts[b] : min(starts[b + 1], starts[b] + self.prefix_cap)] for b in query]
            rows.append(torch.cat(picked) if picked else torch.empty(0, dtype=torch.long))
        width = max((len(r) for r in rows), default=0)
        out = torch.full((len(rows), max(width, 1)), -1, dtype=torch.long)
        for q, r in enumerate(rows):
            out[q, : len(r)] = r
        return out

    def scores(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Exact logits ``h . o_e`` of candidates: h (Q, d), ids (Q, C) -> (Q, C); -inf for id -1."""
        safe = ids.clamp(min=0)
        rows = self.output_rows[safe.reshape(-1)].reshape(*ids.shape, -1)
        logits = torch.einsum("qcd,qd->qc", rows, h.float()) + self.bias_of(safe)
        return logits.masked_fill(ids < 0, float("-inf"))

    def bias_of(self, ids: torch.Tensor) -> torch.Tensor:
        """The logit bias of entries (any shape, ids >= 0): the base tokens' unmerged prior, 0 for new entries."""
        return torch.where(ids < self.base_size, self.base_bias[ids.clamp(max=self.base_size - 1)], 0.0)

    def exact_logits(self, h: torch.Tensor, *, chunk: int = 262_144) -> torch.Tensor:
        """h (Q, d) -> logits over all N entries (Q, N), read from the memory map in chunks of rows."""
        h = h.float()
        out = torch.empty(len(h), self.size)
        for start in range(0, self.size, chunk):
            out[:, start : start + chunk] = h @ self.output_rows[start : start + chunk].T
        out[:, : self.base_size] += self.base_bias
        return out

    def best(self, h: torch.Tensor, *, exact: bool = False, k: int = 32, include_base: bool = False) -> torch.Tensor:
        """The top-1 entry per hidden state: h (Q, d) -> (Q,) int64, exactly over all N or over the retrieved candidates."""
        if exact:
            return self.exact_logits(h).argmax(dim=1)
        top: tuple[torch.Tensor, torch.Tensor] | None = None  # (logit, entry) of the best so far; earlier parts win ties
        for ids, logits in self.scored_parts(h, k=k, include_base=include_base):  # no (Q, V_base + k) concatenation
            value, where = logits.max(dim=1)
            entry = where if ids is None else ids.gather(1, where[:, None]).squeeze(1)
            if top is None:
                top = (value, entry)
            else:
                better = value > top[0]
                top = (torch.where(better, value, top[0]), torch.where(better, entry, top[1]))
        return top[1]

    def choose(self, h: torch.Tensor, *, exact: bool, k: int, include_base: bool, temperature: float,
               generator: torch.Generator | None, base_only: bool = False) -> int:
        """One entry for one hidden state h (d,): greedy at temperature 0, else sampled from the softmax over the scored entries.

        ``base_only``: over the base vocabulary alone (the model as it is, the baseline decoding is timed against)."""
        if base_only:
            ids, logits = None, h.float() @ self.output_rows[: self.base_size].T
        elif exact:
            ids, logits = None, self.exact_logits(h[None])[0]
        elif temperature <= 0:
            return int(self.best(h[None], k=k, include_base=include_base)[0])
        else:
            ids, logits = (t[0] for t in self.restricted(h[None], k=k, include_base=include_base))
        if temperature <= 0:
            pick = int(logits.argmax())
        else:
            pick = int(torch.multinomial(torch.softmax(logits / temperature, dim=0), 1, generator=generator))
        return pick if ids is None else int(ids[pick])

    # ---------------------------------------------------------------- the model

    def body(self, embeds: torch.Tensor, **kwargs: Any) -> Any:
        """The transformer body on inputs_embeds (B, T, d); returns the HF output (last_hidden_state after the final norm, cache)."""
        return self.model.base_model(inputs_embeds=embeds, **kwargs)

    def input_row(self, entry: int) -> torch.Tensor:
        """(d,) the row fed back for an entry: the model's own for base ids, the predicted one for new entries (:meth:`embed`)."""
        return self.embed([entry])[0]

    @torch.inference_mode()
    def generate(self, prompt: str, *, max_new_tokens: int = 64, exact: bool = False, k: int = 32, include_base: bool = True,
                 temperature: float = 0.0, seed: int = 0, stop_at_eos: bool = True, base_only: bool = False,
                 feed: Feed = "rows", on_text: Callable[[str], None] | None = None) -> LargeVocabGeneration:
        """Continue ``prompt`` (base-tokenized) by ``max_new_tokens`` entries with the KV cache; ``on_text`` streams the text.

        ``include_base`` (default on) scores the whole base vocabulary beside the ``k`` retrieved entries every
        step: retrieval alone agreed with exact scoring on 87.6% of the steps in the large-vocabulary benchmark
        (100% with the base vocabulary) and can loop. The prompt follows the document separator, as in the evaluation protocol and zip2zip's generation,
        so an empty prompt generates from the start of a document. ``base_only`` decodes over the base vocabulary alone.
        ``feed``: how a chosen entry is read back (:data:`FEEDS`): its predicted input row (one position), or its base
        pieces (as many positions, one forward pass), so the context is always what the model was trained on.
        """
        check_feed(feed)
        if max_new_tokens < 1:
            raise RetokError(f"max_new_tokens must be at least 1; got {max_new_tokens}")
        if not exact:
            self.check_k(k)
        from retok.eval import document_separator

        ids = [document_separator(self.tokenizer)] + self.tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
        table = self.model.get_input_embeddings()
        began = time.perf_counter()
        out = self.body(table(torch.tensor([ids])), use_cache=True)
        prefill = time.perf_counter() - began
        generator = torch.Generator().manual_seed(seed) if temperature > 0 else None
        eos = self.tokenizer.eos_token_id
        entries: list[int] = []
        steps: list[float] = []
        selects: list[float] = []
        data = b""
        shown = ""
        for _ in range(max_new_tokens):
            began = time.perf_counter()
            h = out.last_hidden_state[0, -1]
            entry = self.choose(h, exact=exact, k=k, include_base=include_base, temperature=temperature, generator=generator,
                                base_only=base_only)
            selected = time.perf_counter()
            entries.append(entry)
            if stop_at_eos and entry == eos:
                steps.append(time.perf_counter() - began)
                selects.append(selected - began)
                break
            fed = self.input_row(entry)[None, None] if feed == "rows" else self.embed(self.entry_ids(entry))[None]
            out = self.body(fed, cache=out.cache, use_cache=True)
            steps.append(time.perf_counter() - began)
            selects.append(selected - began)
            data += self.entry_bytes(entry)
            if on_text is not None:
                text = data.decode("utf-8", errors="ignore")
                if text.startswith(shown) and len(text) > len(shown):
                    on_text(text[len(shown):])
                    shown = text
        return LargeVocabGeneration(data.decode("utf-8", errors="replace"), entries, self.base_size,
                                    [len(self.entry_bytes(e)) for e in entries], prefill, steps, selects)

    @torch.inference_mode()
    def generate_batch(self, prompts: Sequence[str], *, max_new_tokens: int = 64, k: int = 32, include_base: bool = True,
                       base_only: bool = False) -> list[LargeVocabGeneration]:
        """Greedy continuations of several prompts at once: left-padded, one forward pass and one index search per step for all.

        Each continuation equals :meth:`generate`'s for its prompt alone (up to float summation order); generation runs
        ``max_new_tokens`` steps for every prompt (no early stop). Step seconds are the batch's, shared by its prompts.
        """
        if max_new_tokens < 1:
            raise RetokError(f"max_new_tokens must be at least 1; got {max_new_tokens}")
        if not prompts:
            raise RetokError("generate_batch needs at least one prompt")
        if not base_only:
            self.check_k(k)
        from retok.eval import document_separator

        separator = document_separator(self.tokenizer)
        rows = [[separator] + self.tokenizer(p, add_special_tokens=False, verbose=False)["input_ids"] for p in prompts]
        width = max(map(len, rows))
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        embeds = torch.stack([self.embed([separator] * (width - len(r)) + r) for r in rows])  # pads are masked out
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        began = time.perf_counter()
        out = self.body(embeds, attention_mask=mask, position_ids=positions, use_cache=True)
        prefill = time.perf_counter() - began
        chosen: list[list[int]] = [[] for _ in rows]
        steps: list[float] = []
        selects: list[float] = []
        for _ in range(max_new_tokens):
            began = time.perf_counter()
            h = out.last_hidden_state[:, -1]
            if base_only:
                picks = (h.float() @ self.output_rows[: self.base_size].T).argmax(dim=1)
            else:
                picks = self.best(h, k=k, include_base=include_base)
            selected = time.perf_counter()
            for row, entry in zip(chosen, picks.tolist()):
                row.append(entry)
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype)], dim=1)
            positions = positions[:, -1:] + 1
            out = self.body(self.embed(picks.tolist())[:, None], attention_mask=mask, position_ids=positions, cache=out.cache, use_cache=True)
            steps.append(time.perf_counter() - began)
            selects.append(selected - began)
        results = []
        for row in chosen:
            data = b"".join(self.entry_bytes(e) for e in row)
            results.append(LargeVocabGeneration(data.decode("utf-8", errors="replace"), row, self.base_size,
                                                [len(self.entry_bytes(e)) for e in row], prefill, steps, selects))
        return results

    def entry_states(self, ids: Sequence[int], *, feed: Feed = "rows", start: int | None = None) -> tuple[list[int], torch.Tensor]:
        """One window of base ids -> its entries (:meth:`segment`) and the hidden state (E, d) that predicts each entry.

        The window is read after ``start`` (default: the document separator). ``feed="rows"`` reads the entries through
        their input rows (one position each), ``feed="pieces"`` reads the base ids themselves and takes the state before
        each entry's first piece.
        """
        from retok.eval import document_separator

        check_feed(feed)
        first = document_separator(self.tokenizer) if start is None else start
        entries = self.segment(ids)
        if feed == "rows":
            h = self.body(self.embed([first] + entries[:-1])[None]).last_hidden_state[0]
            return entries, h
        h = self.body(self.embed([first] + list(ids[:-1]))[None]).last_hidden_state[0]
        lengths = torch.tensor([len(self.entry_ids(e)) for e in entries])
        return entries, h[torch.cumsum(lengths, 0) - lengths]

    @torch.inference_mode()
    def hidden_states(self, text: str, *, window: int = 256, max_positions: int = 1024, merged: bool = False,
                      feed: Feed = "rows") -> torch.Tensor:
        """Teacher-forced hidden states (P, d) of ``text``, in windows of ``window`` tokens, at most ``max_positions``.

        ``merged``: the states that predict each entry of the text cut into entries (:meth:`entry_states`, read as
        ``feed`` says), as decoding with them sees them; else in base tokens.
        """
        from retok.eval import scoring_ids

        ids = scoring_ids(self.tokenizer, text, strict=False)
        if not ids:
            raise RetokError("the text is empty after tokenization; pass held-out text to compare on")
        if not merged:
            return hidden_states(self.model, ids[:max_positions], window=window)
        states = [self.entry_states(ids[s : s + window], feed=feed)[1] for s in range(0, len(ids), window)]
        return torch.cat(states).float()[:max_positions]

    def top1_agreement(self, h: torch.Tensor, *, k: int = 32, include_base: bool = False, batch: int = 64) -> dict[str, float]:
        """Share of hidden states h (P, d) whose restricted top-1 equals the exact top-1 over all N rows, and the exact top-1's new share."""
        same = new = 0
        for start in range(0, len(h), batch):
            block = h[start : start + batch]
            exact = self.best(block, exact=True)
            restricted = self.best(block, k=k, include_base=include_base)
            same += int((exact == restricted).sum())
            new += int((exact >= self.base_size).sum())
        return {"agreement": same / len(h), "exact_new_share": new / len(h), "positions": len(h)}


__all__ = ["FEEDS", "Feed", "LargeVocab", "LargeVocabGeneration", "check_feed"]
