"""Batch-level dynamic tokenization for prefill: merge a batch's frequent token pairs on the fly.

Feher, Vulić and Minixhofer, "Retrofitting LLMs with Dynamic Tokenization" (ACL 2025),
https://arxiv.org/abs/2411.18553. Instead of a fixed vocabulary, each batch gets its own: the
base tokenizer's ids are merged with BPE-style merges learned *on the batch itself*, and the
merged tokens' embeddings come from an embedding predictor (a hypernetwork in the paper; any
:class:`~retok.transfer.row_predictors.RowPredictor` here), so the model reads a shorter context.

The algorithm, in three steps:

1. **Segments** (:func:`segment_ids`). Every base token gets a segment number; two neighbours may
   merge only when their numbers are equal. ``boundary`` says where segments end: ``pretokens``
   (the base tokenizer's own pre-tokenizer: a merge never crosses a pre-token, as in BPE),
   ``word`` (whitespace-delimited words with their leading whitespace) or ``sentence`` (after
   ``.``/``!``/``?`` followed by whitespace, and before every newline). Special tokens are always
   a segment of their own.
2. **Merges** (:func:`merge_batch`). Start from the base ids of every sequence of the batch;
   repeatedly take the adjacent pair of units that is most frequent *across the whole batch*
   (both units in one segment) and replace all its occurrences, left to right without overlap,
   by one new unit; stop once the batch has shrunk by ``reduction`` or after ``merges`` merges,
   or when no pair is left. Pair counts are kept up to date incrementally (only the neighbours of
   a replaced occurrence change), so a merge costs time in its occurrences, not in the batch.
   Ties between equally frequent pairs go to the pair seen first: the initial pairs in batch
   order, then the pairs that merges created, in the order they appeared.
3. **Embeddings** (:func:`merged_embeddings`). A unit of one base id keeps the model's own input
   row, exactly; a longer unit's row is predicted from its pieces through a
   :class:`~retok.transfer.row_predictors.RowCache` keyed by the unit's canonical bytes.

The evaluation protocol (:func:`continuation_bits_per_byte`), so that numbers agree across runs:

1. Tokenize each held-out text with the base tokenizer (:func:`retok.eval.scoring_ids`: no special
   tokens, must decode back to the text) and cut it into consecutive windows of ``window``
   (default 512) base tokens; a text's short tail is dropped. Windows are taken in text order,
   at most ``max_windows`` of them.
2. Split every window in half: the first half is the **context**, the second the
   **continuation**. The contexts of ``batch_size`` consecutive windows (default 8) are merged
   jointly (steps 1-3 above, one merge table per batch: that is what makes it batch-level); the
   continuation stays in base tokens.
3. The model reads ``inputs_embeds = [merged context rows ; the model's own rows of the
   continuation]``; the logits at the last context position and at every continuation position
   but the last predict the continuation's tokens. Windows of one batch are left-padded with
   zero rows, with an ``attention_mask`` and ``position_ids = cumsum(mask) - 1`` (clamped at 0),
   so each window sees positions ``0..T-1`` as if it ran alone.
4. ``bpb = sum of the continuation tokens' NLL in nats / ln 2 / UTF-8 bytes of the continuations``
   (a token's bytes are its canonical key, :class:`~retok.vocab.CanonicalVocab`; a special
   token counts the bytes of its string). The NLL comes from a float32 log-softmax, summed in
   float64. The continuations are the same at every reduction, so the numbers compare across
   reduction levels and with the unmerged model: reduction 0 *is* the plain model.

Does not handle: models that transform embeddings inside their embedding module beyond a scalar
``embed_scale`` (Gemma 3 style, which is applied to the predicted rows too); merges across
special tokens; generation (only prefill is merged, the continuation is scored, not decoded).
"""

from __future__ import annotations

import bisect
import heapq
import inspect
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from retok._registry import did_you_mean
from retok.errors import RetokError
from retok.eval import scoring_ids
from retok.progress import bars_on
from retok.transfer.row_predictors import RowCache, RowPredictor
from retok.vocab.canonical import CanonicalVocab
from retok.vocab.pieces import pad_pieces

__all__ = [
    "BOUNDARIES",
    "Boundary",
    "DynamicEvalResult",
    "MergedBatch",
    "continuation_bits_per_byte",
    "continuation_nll",
    "merge_batch",
    "merge_texts",
    "merged_embeddings",
    "segment_ids",
    "unit_key",
]

Boundary = Literal["pretokens", "word", "sentence"]
Unit = tuple[int, ...]
Span = tuple[int, int]  # [start, end) byte offsets into a window's text

# --------------------------------------------------------------------------- segments


def word_spans(vocab: CanonicalVocab, data: bytes) -> list[Span]:
    """Whitespace-delimited words with their leading whitespace (``b"  to be"`` -> ``b"  to"``, ``b" be"``).

    A trailing run of whitespace is a span of its own.
    """
    return [m.span() for m in re.finditer(rb"\s*\S+|\s+", data)]


def sentence_spans(vocab: CanonicalVocab, data: bytes) -> list[Span]:
    """Sentences: a span ends after ``.``/``!``/``?`` followed by whitespace, and before every run of newlines."""
    cuts = {m.end() for m in re.finditer(rb"[.!?](?=\s)", data)} | {m.start() for m in re.finditer(rb"\n+", data)}
    edges = sorted(cuts | {0, len(data)})
    return [(a, b) for a, b in zip(edges, edges[1:]) if a < b]


def pretoken_spans(vocab: CanonicalVocab, data: bytes) -> list[Span]:
    """The base tokenizer's pre-tokens of ``data``, as byte spans; :func:`word_spans` when it has no pre-tokenizer."""
    backend = getattr(vocab.tokenizer, "backend_tokenizer", None)
    pre = None if backend is None else backend.pre_tokenizer
    if pre is None:
        return word_spans(vocab, data)
    # subtle: a window can start or end inside a multi-byte character. surrogateescape turns each
    # stray byte into one character, so character i has a known byte length; the pre-tokenizer
    # (Rust) cannot take lone surrogates, so it sees U+FFFD in their place (same character count).
    text = data.decode("utf-8", errors="surrogateescape")
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + (1 if "\udc80" <= ch <= "\udcff" else len(ch.encode("utf-8"))))
    clean = re.sub("[\udc80-\udcff]", "\ufffd", text)
    return sorted((starts[a], starts[b]) for _, (a, b) in pre.pre_tokenize_str(clean) if a < b)


#: boundary kind -> (vocab, window bytes) -> sorted, non-overlapping byte spans; a merge stays inside one span
BOUNDARIES: dict[str, Callable[[CanonicalVocab, bytes], list[Span]]] = {
    "pretokens": pretoken_spans,
    "word": word_spans,
    "sentence": sentence_spans,
}


def check_boundary(boundary: str) -> str:
    """``boundary`` if it names a kind in :data:`BOUNDARIES`; RetokError with a suggestion otherwise."""
    if boundary not in BOUNDARIES:
        valid = sorted(BOUNDARIES)
        raise RetokError(f"unknown merge boundary {boundary!r}.{did_you_mean(str(boundary), valid)} Available: {', '.join(valid)}")
    return boundary


def token_keys(vocab: CanonicalVocab, ids: Sequence[int]) -> list[bytes | None]:
    """The canonical bytes of every id (None for special tokens); RetokError for an id outside the vocabulary."""
    keys, size = vocab.keys, len(vocab.keys)
    bad = next((i for i in ids if not 0 <= i < size), None)
    if bad is not None:
        raise RetokError(f"token id {bad} is outside the vocabulary (ids 0..{size - 1}); pass ids of this tokenizer")
    return [keys[i] for i in ids]


def segment_ids(vocab: CanonicalVocab, ids: Sequence[int], boundary: Boundary = "pretokens") -> list[int]:
    """One segment number per base token: ids (T,) -> (T,) non-decreasing ints, equal for neighbours that may merge.

    The tokens' canonical bytes are joined into the window's text and cut into spans by the
    ``boundary`` kind (:data:`BOUNDARIES`); a token belongs to the span holding its first byte
    (or, if that byte is in no span, the first span it reaches into; a token that reaches into
    none is alone). Special tokens are always alone.

    >>> segment_ids(vocab, tokenizer.encode("to be. Or"), "word")   # "to", " be", ".", " Or"
    [0, 1, 1, 2]
    """
    kind = BOUNDARIES[check_boundary(boundary)]
    keys = token_keys(vocab, ids)
    spans = kind(vocab, b"".join(k for k in keys if k is not None))
    starts, ends = [s for s, _ in spans], [e for _, e in spans]

    def span_of(start: int, end: int) -> int | None:
        j = bisect.bisect_right(starts, start) - 1
        if j >= 0 and start < ends[j]:
            return j
        j += 1
        return j if j < len(starts) and starts[j] < end else None

    out: list[int] = []
    segment, previous, offset = -1, None, 0
    for key in keys:
        label = None
        if key is not None:
            label = span_of(offset, offset + len(key))
            offset += len(key)
        if label is None or label != previous:
            segment += 1
        previous = label
        out.append(segment)
    return out


# --------------------------------------------------------------------------- merges


@dataclass(frozen=True)
class MergedBatch:
    """The outcome of :func:`merge_batch`.

    Attributes:
        units: per sequence, per position, the base ids that the unit stands for.
        merges: the merged pairs in order, each as the (left, right) units' base ids.
        base_length: base tokens in the batch.
        length: units in the batch after merging.
    """

    units: list[list[Unit]]
    merges: list[tuple[Unit, Unit]]
    base_length: int
    length: int

    @property
    def reduction(self) -> float:
        """``1 - length / base_length``: the share of positions the merges removed (0 for an empty batch)."""
        return 1.0 - self.length / self.base_length if self.base_length else 0.0


def check_budget(reduction: float | None, merges: int | None) -> None:
    """Exactly one of ``reduction`` in [0, 1) and ``merges`` >= 0; RetokError otherwise."""
    if (reduction is None) == (merges is None):
        raise RetokError("pass exactly one of reduction= (share of positions to remove, in [0, 1)) and merges= (number of merges)")
    if reduction is not None and not (isinstance(reduction, (int, float)) and 0.0 <= reduction < 1.0):
        raise RetokError(f"reduction must be in [0, 1) (0.2 removes a fifth of the positions); got {reduction!r}")
    if merges is not None and (isinstance(merges, bool) or not isinstance(merges, int) or merges < 0):
        raise RetokError(f"merges must be a whole number >= 0; got {merges!r}")


def merge_batch(
    sequences: Sequence[Sequence[int]],
    segments: Sequence[Sequence[int]],
    *,
    reduction: float | None = None,
    merges: int | None = None,
) -> MergedBatch:
    """Merge the batch's most frequent in-segment pairs until it is ``reduction`` shorter or ``merges`` merges are done.

    sequences (B, T_b) base ids >= 0, segments (B, T_b) as from :func:`segment_ids` -> units (B, T'_b).
    Pure: the inputs are not changed. See the module docstring for the tie-breaking rule.

    >>> merge_batch([[1, 2, 3], [1, 2, 1, 2]], [[0, 0, 0], [0, 0, 0, 0]], merges=1).units
    [[(1, 2), (3,)], [(1, 2), (1, 2)]]
    """
    check_budget(reduction, merges)
    if len(sequences) != len(segments):
        raise RetokError(f"{len(sequences)} sequences but {len(segments)} segment lists; pass one segment number per token")
    # The batch as one doubly linked list per sequence over global positions; tok[i] == -1 marks a removed position.
    tok: list[int] = []
    seg: list[int] = []
    nxt: list[int] = []
    prv: list[int] = []
    heads: list[int] = []
    for b, (seq, sg) in enumerate(zip(sequences, segments)):
        if len(seq) != len(sg):
            raise RetokError(f"sequence {b} has {len(seq)} tokens but {len(sg)} segment numbers; pass one per token")
        start, n = len(tok), len(seq)
        heads.append(start if n else -1)
        tok.extend(int(i) for i in seq)
        seg.extend(sg)
        nxt.extend(range(start + 1, start + n + 1))
        prv.extend(range(start - 1, start + n - 1))
        if n:
            nxt[-1] = prv[start] = -1
    if tok and min(tok) < 0:
        raise RetokError(f"token ids must be >= 0; got {min(tok)}")
    base = len(tok)
    limit = merges if merges is not None else math.inf
    floor = (1.0 - reduction) * base if reduction is not None else -math.inf
    first_new = max(tok, default=-1) + 1
    pieces: list[Unit] = []  # pieces[c - first_new]: base ids of merged unit c

    where: dict[tuple[int, int], set[int]] = {}  # pair -> left positions of its occurrences
    birth: dict[tuple[int, int], int] = {}  # pair -> order of first appearance (the tie-break)
    heap: list[tuple[int, int, tuple[int, int]]] = []  # (-count, birth, pair), lazily corrected

    def add(pos: int, pair: tuple[int, int]) -> None:
        found = where.get(pair)
        if found is None:
            found = where[pair] = set()
            birth.setdefault(pair, len(birth))
        found.add(pos)
        heapq.heappush(heap, (-len(found), birth[pair], pair))

    def drop(pos: int, pair: tuple[int, int]) -> None:
        found = where.get(pair)
        if found is not None:
            found.discard(pos)
            if not found:
                del where[pair]

    for i in range(base):
        j = nxt[i]
        if j != -1 and seg[i] == seg[j]:
            pair = (tok[i], tok[j])
            if pair not in where:
                where[pair] = set()
                birth[pair] = len(birth)
            where[pair].add(i)
    heap = [(-len(found), birth[pair], pair) for pair, found in where.items()]
    heapq.heapify(heap)

    def unit(u: int) -> Unit:
        return (u,) if u < first_new else pieces[u - first_new]

    done: list[tuple[Unit, Unit]] = []
    total = base
    while heap and len(done) < limit and total > floor:
        negative, order, pair = heapq.heappop(heap)
        found = where.get(pair)
        count = len(found) if found else 0
        if count != -negative:  # stale: the count changed since this entry was pushed
            if 0 < count < -negative:  # decreases are not pushed; re-queue at the true count
                heapq.heappush(heap, (-count, order, pair))
            continue
        del where[pair]
        a, b = pair
        c = first_new + len(pieces)
        pieces.append(unit(a) + unit(b))
        done.append((unit(a), unit(b)))
        for i in sorted(found):
            j = nxt[i]
            if tok[i] != a or j == -1 or tok[j] != b:  # taken by an overlapping occurrence (a, a, a)
                continue
            p, n, s = prv[i], nxt[j], seg[i]
            left = p != -1 and seg[p] == s
            right = n != -1 and seg[n] == s
            if left:
                drop(p, (tok[p], a))
            if right:
                drop(j, (b, tok[n]))
            tok[i], tok[j], nxt[i] = c, -1, n
            if n != -1:
                prv[n] = i
            if left:
                add(p, (tok[p], c))
            if right:
                add(i, (c, tok[n]))
            total -= 1

    units: list[list[Unit]] = []
    for head in heads:
        row, i = [], head
        while i != -1:
            row.append(unit(tok[i]))
            i = nxt[i]
        units.append(row)
    return MergedBatch(units, done, base, total)


def merge_texts(
    vocab: CanonicalVocab,
    texts_ids: Sequence[Sequence[int]],
    *,
    boundary: Boundary = "pretokens",
    reduction: float | None = None,
    merges: int | None = None,
) -> MergedBatch:
    """:func:`segment_ids` of every sequence, then :func:`merge_batch`: base ids (B, T_b) -> merged units (B, T'_b)."""
    check_budget(reduction, merges)
    segments = [segment_ids(vocab, ids, boundary) for ids in texts_ids]
    return merge_batch(texts_ids, segments, reduction=reduction, merges=merges)


# --------------------------------------------------------------------------- embeddings


def unit_key(vocab: CanonicalVocab, unit: Unit) -> bytes:
    """The canonical bytes of a merged unit (its pieces' keys joined): what the row cache is keyed by."""
    keys = token_keys(vocab, unit)
    if any(k is None for k in keys):
        raise RetokError(f"unit {unit} contains a special token; special tokens are never merged (give them a segment of their own)")
    return b"".join(keys)  # type: ignore[arg-type]


def merged_embeddings(units: Sequence[Unit], table: torch.Tensor, vocab: CanonicalVocab, cache: RowCache) -> torch.Tensor:
    """Input rows for one sequence of units: units (T,), table E_in (V, d) -> (T, d) in ``table``'s dtype and device.

    A unit of one base id takes ``table[id]`` exactly, and so does a merged unit whose bytes are a
    base token (another split of that token); other units are predicted from their pieces, all in one ``cache.rows`` call (so a unit repeated in ``units`` is predicted once).
    Pass the units of a whole batch, flattened, to serve them with one prediction.
    """
    if any(len(u) == 0 for u in units):
        raise RetokError("a unit must hold at least one base id; got an empty unit")
    out = torch.empty(len(units), table.shape[1], dtype=table.dtype, device=table.device)
    own: dict[int, int] = {i: u[0] for i, u in enumerate(units) if len(u) == 1}
    keys = {i: unit_key(vocab, u) for i, u in enumerate(units) if len(u) > 1}
    for i, key in keys.items():  # a merge that spells a base token (another split of it) takes that token's own row
        if key in vocab.key_to_id:
            own[i] = vocab.key_to_id[key]
    merged = [i for i in keys if i not in own]
    if own:
        out[list(own)] = table[torch.tensor(list(own.values()), device=table.device)]
    if merged:
        rows, _ = cache.rows([keys[i] for i in merged], pad_pieces([units[i] for i in merged]))
        out[merged] = rows.to(device=table.device, dtype=table.dtype)
    return out


# --------------------------------------------------------------------------- evaluation


def continuation_nll(model: torch.nn.Module, contexts: Sequence[torch.Tensor], continuations: torch.Tensor) -> torch.Tensor:
    """Per-window NLL (nats) of the continuations after their contexts' rows, in one left-padded forward pass.

    contexts: B tensors (T_b, d), rows already in the model's input space (T_b >= 1);
    continuations (B, C) base ids, C >= 1 -> (B,) float64. Step 3 of the module's protocol.
    Call under ``torch.inference_mode()`` with the model in eval mode.
    """
    if len(contexts) != len(continuations):
        raise RetokError(f"{len(contexts)} contexts but {len(continuations)} continuations; pass one per window")
    if any(len(c) == 0 for c in contexts):
        raise RetokError("every context needs at least one row: its last row predicts the continuation's first token")
    emb = model.get_input_embeddings()
    device, dtype = emb.weight.device, emb.weight.dtype
    continuations = continuations.to(device)
    batch, span = continuations.shape
    rows = emb(continuations[:, :-1])  # (B, C-1, d); the last token is only a target
    lengths = [len(c) + span - 1 for c in contexts]
    width = max(lengths)
    inputs = torch.zeros(batch, width, emb.weight.shape[1], dtype=dtype, device=device)
    mask = torch.zeros(batch, width, dtype=torch.long, device=device)
    for b, (context, n) in enumerate(zip(contexts, lengths)):
        inputs[b, width - n :] = torch.cat([context.to(device=device, dtype=dtype), rows[b]])
        mask[b, width - n :] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    keep = {"logits_to_keep": span} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    logits = model(inputs_embeds=inputs, attention_mask=mask, position_ids=positions, use_cache=False, **keep).logits
    # left padding aligns the tails: the last C positions are the last context row and the continuation's first C-1
    logits = logits[:, -span:]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    vocab = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, vocab), continuations.reshape(-1), reduction="none")
    return nll.view(batch, span).double().sum(1).cpu()


@dataclass(frozen=True)
class DynamicEvalResult:
    """The outcome of :func:`continuation_bits_per_byte`.

    Attributes:
        bits_per_byte: continuation NLL / ln 2 / continuation bytes; lower is better.
        reduction: achieved share of context positions removed, ``1 - context_units / context_tokens``.
        target_reduction: the ``reduction`` asked for (each batch stops at the first merge that reaches it).
        merges: merges applied, summed over batches.
        windows: windows scored.
        window: base tokens per window (half context, half continuation).
        context_tokens: base tokens in all contexts.
        context_units: positions in all contexts after merging.
        continuation_bytes: UTF-8 bytes of all continuations.
        nll_nats: summed continuation NLL, in nats.
        cache_hits / cache_misses: merged units served from the row cache / predicted, during this call.
        cache_hit_rate: ``cache_hits / (cache_hits + cache_misses)``, 0 when nothing was merged.
        prefill_seconds_per_window: wall time of segmenting, merging, embedding and the forward pass
            (with the continuation's loss), averaged per window.
        predictor: the row predictor's name.
        boundary: the merge boundary kind.
    """

    bits_per_byte: float
    reduction: float
    target_reduction: float
    merges: int
    windows: int
    window: int
    context_tokens: int
    context_units: int
    continuation_bytes: int
    nll_nats: float
    cache_hits: int
    cache_misses: int
    cache_hit_rate: float
    prefill_seconds_per_window: float
    predictor: str
    boundary: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON and :func:`retok.eval.markdown_table`)."""
        return asdict(self)


def token_bytes(vocab: CanonicalVocab, token_id: int) -> int:
    """UTF-8 bytes token ``token_id`` stands for: its canonical key, or a special token's string."""
    key = vocab.keys[token_id]
    if key is not None:
        return len(key)
    return len(vocab.specials.get(token_id, "").encode("utf-8"))


def cut_windows(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], window: int, max_windows: int | None) -> list[list[int]]:
    """Step 1 of the protocol: consecutive ``window``-token windows of every text, tails dropped, at most ``max_windows``."""
    windows: list[list[int]] = []
    longest = 0
    for text in texts:
        if not isinstance(text, str) or not text:
            raise RetokError("every text to score must be a non-empty string")
        ids = scoring_ids(tokenizer, text)
        longest = max(longest, len(ids))
        windows += [ids[s : s + window] for s in range(0, len(ids) - window + 1, window)]
        if max_windows is not None and len(windows) >= max_windows:
            return windows[:max_windows]
    if not windows:
        raise RetokError(
            f"the text is too short for one window: its longest text has {longest} tokens but a window needs {window}; "
            "pass more text or a smaller window="
        )
    return windows


def continuation_bits_per_byte(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str] | str,
    predictor: RowPredictor,
    *,
    reduction: float = 0.2,
    boundary: Boundary = "pretokens",
    window: int = 512,
    batch_size: int = 8,
    max_windows: int | None = None,
    cache: RowCache | None = None,
    progress: bool = False,
) -> DynamicEvalResult:
    """Bits per byte of the second half of every window, its first half dynamically merged (module docstring protocol).

    Sets ``model.eval()`` in place and runs on the model's device under ``torch.inference_mode()``.

    Args:
        model: a causal LM taking ``inputs_embeds``, ``attention_mask`` and ``position_ids``.
        tokenizer: the model's own (base) tokenizer.
        texts: the held-out text, or several; each is cut into windows on its own.
        predictor: makes the rows of merged units; built over this model's embeddings.
        reduction: share of each batch's context positions to remove, in [0, 1); 0 scores the plain model.
        boundary: where merges must stop (:data:`BOUNDARIES`).
        window: base tokens per window, even and >= 4.
        batch_size: windows merged jointly and run in one forward pass.
        max_windows: score at most this many windows (the first ones).
        cache: a row cache to reuse across calls; a fresh one over ``predictor`` by default.
        progress: show a tqdm bar over windows.

    Raises:
        RetokError: bad ``window``/``batch_size``/``reduction``/``boundary``, a text too short for one
            window, or a predictor built for another embedding table.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise RetokError("no texts to score; pass the held-out text (a string or a list of strings)")
    if window < 4 or window % 2:
        raise RetokError(f"window must be an even number of tokens >= 4 (half context, half continuation); got {window}")
    if batch_size < 1:
        raise RetokError(f"batch_size must be at least 1; got {batch_size}")
    if max_windows is not None and max_windows < 1:
        raise RetokError(f"max_windows must be at least 1 (or None for all); got {max_windows}")
    check_budget(reduction, None)
    check_boundary(boundary)
    emb = model.get_input_embeddings()
    table = emb.weight
    rows = predictor.source.input.shape[0]
    if table.shape[0] != rows:
        raise RetokError(
            f"the model has {table.shape[0]} embedding rows but the predictor was built over {rows}; "
            "build the predictor from this model's embeddings (TokenEmbeddings.from_model(model, tokenizer))"
        )
    cache = cache if cache is not None else RowCache(predictor)
    hits, misses = cache.hits, cache.misses
    scale = getattr(emb, "embed_scale", None)  # models that scale inside the embedding module (Gemma 3)

    vocab = CanonicalVocab.of(tokenizer)
    windows = cut_windows(tokenizer, texts, window, max_windows)
    half = window // 2
    model.eval()
    device = table.device
    nll = prefill = 0.0
    n_merges = units = 0
    with torch.inference_mode(), tqdm(total=len(windows), desc="dynamic bpb", unit="window", disable=not bars_on(progress)) as bar:
        for start in range(0, len(windows), batch_size):
            batch = windows[start : start + batch_size]
            tic = time.perf_counter()
            merged = merge_texts(vocab, [w[:half] for w in batch], boundary=boundary, reduction=reduction)
            flat = [u for row in merged.units for u in row]
            context = merged_embeddings(flat, table, vocab, cache)
            if scale is not None:
                context = context * torch.as_tensor(scale, dtype=context.dtype, device=context.device)
            contexts = list(context.split([len(row) for row in merged.units]))
            continuations = torch.tensor([w[half:] for w in batch], dtype=torch.long)
            nll += float(continuation_nll(model, contexts, continuations).sum())
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            prefill += time.perf_counter() - tic
            n_merges += len(merged.merges)
            units += merged.length
            bar.update(len(batch))

    context_tokens = len(windows) * half
    continuation_bytes = sum(token_bytes(vocab, i) for w in windows for i in w[half:])
    if continuation_bytes == 0:
        raise RetokError("the continuations hold no bytes (only empty tokens); score a text with real content")
    hits, misses = cache.hits - hits, cache.misses - misses
    return DynamicEvalResult(
        bits_per_byte=nll / math.log(2) / continuation_bytes,
        reduction=1.0 - units / context_tokens,
        target_reduction=float(reduction),
        merges=n_merges,
        windows=len(windows),
        window=window,
        context_tokens=context_tokens,
        context_units=units,
        continuation_bytes=continuation_bytes,
        nll_nats=nll,
        cache_hits=hits,
        cache_misses=misses,
        cache_hit_rate=hits / (hits + misses) if hits + misses else 0.0,
        prefill_seconds_per_window=prefill / len(windows),
        predictor=predictor.name,
        boundary=boundary,
    )
