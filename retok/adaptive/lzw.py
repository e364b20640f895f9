"""The LZW codec of zip2zip ("hypertokens"), in pure Python.

zip2zip (Geng et al., arXiv 2506.01084) compresses a stream of base token ids with greedy LZW, one
fresh codebook per sequence. Base ids are ``0..V0-1`` (the model's embedding rows); entry ``k`` of
the codebook is the hyper id ``V0 + k``; an entry holds 2..M base ids. This module re-implements the
codec of the PyPI package ``zip2zip-compression`` (a Rust extension) from its description, and
produces the very same codes and codebooks (``tests/data/lzw_reference.json`` holds vectors made
with version 0.3.4; ``recipes/lzw_reference.py`` compares the two and times them).

The encoder, per id ``x`` (``buffer`` is the current phrase, named by one code):

* a *disabled* id (special tokens, the pad id, optionally digits): emit the buffer if it is not
  empty, emit ``x`` alone, empty the buffer. No entry contains or spans a disabled id.
* otherwise, if ``buffer + [x]`` is known, it becomes the buffer, and if it now holds M ids it is
  emitted at once and the buffer emptied (the "force emit"; no entry bridges it);
* else ``buffer + [x]`` becomes the next entry (if the codebook has a free slot), the buffer is
  emitted and ``[x]`` becomes the buffer.
* at the end of the input the buffer is emitted.

The decoder (:class:`Codebook`) runs that same state machine over the *base ids* the codes stand
for. So its codebook depends only on the base-id stream, never on how the stream was segmented: a
model that writes ``[1, 2]`` as two base ids instead of the hypertoken still builds the encoder's
codebook ("corrupted generation" is harmless). The decoder lags the encoder by one entry; the one
hyper id it can read before installing it is the LZW "cScSc" case, :meth:`Codebook.pending`.

The tries are plain dicts keyed by ``prefix_code * V0 + next_id`` (an int, cheap to hash). Measured
with ``recipes/lzw_reference.py`` on SmolLM2-tokenized text (V0=49152, K=2048, M=4): about 6M ids/s,
twice the package's rate on 1024-id windows (its per-call cost grows with K), and 0.6 times its rate
on one long stream.

Standard library only: importing this module pulls in neither torch nor numpy.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from retok.errors import RetokError

__all__ = [
    "Codebook",
    "LZWConfig",
    "batch_decode",
    "batch_encode",
    "check_ids",
    "compression_ratio",
    "decode",
    "encode",
    "encode_with_codebook",
]

_PADDING = ("longest", "max_length", "do_not_pad")
_DIGIT_MARKERS = ("Ġ", "▁")  # byte-level BPE and SentencePiece word-start markers


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = operator.index(value)
        except TypeError:
            raise RetokError(f"{what} must be an integer, got {value!r}") from None
        if isinstance(value, bool):
            raise RetokError(f"{what} must be an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class LZWConfig:
    """The codec's settings: ``V0`` base ids, ``K`` hyper slots, at most ``M`` base ids per entry.

    ``disabled_ids`` are never merged (special and added tokens, the pad id; see
    :meth:`from_tokenizer`). ``pad_token_id`` is folded into ``disabled_ids``, as in the package,
    so ``LZWConfig(..., pad_token_id=0).disabled_ids`` contains ``0``. ``K = 0`` turns merging off
    (the codes are the ids).
    """

    initial_vocab_size: int
    max_codebook_size: int
    max_subtokens: int
    disabled_ids: frozenset[int] = field(default_factory=frozenset)
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        v0 = _int(self.initial_vocab_size, "initial_vocab_size (V0, the number of base ids)")
        k = _int(self.max_codebook_size, "max_codebook_size (K, the number of hyper slots)")
        m = _int(self.max_subtokens, "max_subtokens (M, base ids per entry)")
        if v0 < 1:
            raise RetokError(f"initial_vocab_size must be at least 1 (the model's embedding rows), got {v0}")
        if k < 0:
            raise RetokError(f"max_codebook_size must be >= 0 (0 turns merging off), got {k}")
        if m < 2:
            raise RetokError(f"max_subtokens must be at least 2 (an entry merges 2..M base ids), got {m}")
        pad = self.pad_token_id
        if pad is not None:
            pad = _int(pad, "pad_token_id")
            if not 0 <= pad < v0:
                raise RetokError(f"pad_token_id {pad} is outside the base vocabulary 0..{v0 - 1}; "
                                 "use a base id (often the EOS id) or None")
        raw = () if self.disabled_ids is None else self.disabled_ids
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
            raise RetokError(f"disabled_ids must be an iterable of token ids, got {raw!r}")
        disabled = set()
        for i in raw:
            i = _int(i, "a disabled id")
            if not 0 <= i < v0:
                raise RetokError(f"disabled id {i} is outside the base vocabulary 0..{v0 - 1}; "
                                 "pass only ids of the model's base vocabulary (or a larger initial_vocab_size)")
            disabled.add(i)
        if pad is not None:
            disabled.add(pad)
        for name, value in (("initial_vocab_size", v0), ("max_codebook_size", k), ("max_subtokens", m),
                            ("pad_token_id", pad), ("disabled_ids", frozenset(disabled))):
            object.__setattr__(self, name, value)

    @property
    def hyper_vocab_size(self) -> int:
        """``V0 + K``: every code is below it."""
        return self.initial_vocab_size + self.max_codebook_size

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, *, vocab_size: int | None = None, max_codebook_size: int = 2048,
                       max_subtokens: int = 4, protect_digits: bool = False) -> LZWConfig:
        """Settings for an HF tokenizer (duck-typed).

        ``V0`` is ``vocab_size``, the *model's* embedding rows (pass it: it can exceed
        ``len(tokenizer)``, e.g. 32064 rows for Phi-3.5's 32011 ids), else ``len(tokenizer)``.
        Disabled: every special id, every added-token id and the pad id; with ``protect_digits``
        also every token whose text, without a leading ``Ġ``/``▁``, is non-empty and all decimal
        digits (zip2zip++ found that merging digits ruins arithmetic).
        """
        n_tok = len(tokenizer)
        v0 = n_tok if vocab_size is None else _int(vocab_size, "vocab_size")
        if v0 < n_tok:
            raise RetokError(f"vocab_size {v0} is smaller than the tokenizer ({n_tok} ids): the model must have an "
                             "embedding row for every token id; pass the model's embedding rows")
        disabled = set(getattr(tokenizer, "all_special_ids", None) or ())
        added = tokenizer.get_added_vocab() if hasattr(tokenizer, "get_added_vocab") else {}
        disabled.update(added.values())
        pad = getattr(tokenizer, "pad_token_id", None)
        if protect_digits:
            if hasattr(tokenizer, "get_vocab"):
                pairs = tokenizer.get_vocab().items()
            else:
                pairs = zip(tokenizer.convert_ids_to_tokens(list(range(n_tok))), range(n_tok))
            for text, i in pairs:
                if not isinstance(text, str):
                    continue
                for marker in _DIGIT_MARKERS:
                    if text.startswith(marker):
                        text = text[len(marker):]
                        break
                if text and text.isdecimal():
                    disabled.add(i)
        return cls(v0, max_codebook_size, max_subtokens, frozenset(disabled), pad)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``disabled_ids`` as a sorted list); :meth:`from_dict` reads it back."""
        return {"initial_vocab_size": self.initial_vocab_size, "max_codebook_size": self.max_codebook_size,
                "max_subtokens": self.max_subtokens, "disabled_ids": sorted(self.disabled_ids),
                "pad_token_id": self.pad_token_id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LZWConfig:
        if not isinstance(d, dict):
            raise RetokError(f"an LZW config must be a JSON object, got {type(d).__name__}")
        required = ("initial_vocab_size", "max_codebook_size", "max_subtokens")
        allowed = set(required) | {"disabled_ids", "pad_token_id"}
        missing = [k for k in required if k not in d]
        unknown = sorted(set(d) - allowed)
        if missing or unknown:
            raise RetokError(f"bad LZW config: missing {missing}, unknown {unknown}; the keys are {sorted(allowed)}")
        return cls(d["initial_vocab_size"], d["max_codebook_size"], d["max_subtokens"],
                   frozenset(d.get("disabled_ids") or ()), d.get("pad_token_id"))


# --------------------------------------------------------------------------------------------
# input checks


def _as_list(ids: Any, what: str) -> list:
    if isinstance(ids, list):
        return ids
    if isinstance(ids, (str, bytes)):
        raise RetokError(f"{what} must be a sequence of integers, got a {type(ids).__name__}; tokenize the text first")
    tolist = getattr(ids, "tolist", None)  # numpy arrays, torch tensors: their elements would hash wrongly
    if tolist is not None:
        out = tolist()
        if not isinstance(out, list):
            raise RetokError(f"{what} must be one-dimensional, got a scalar")
        return out
    try:
        return list(ids)
    except TypeError:
        raise RetokError(f"{what} must be a sequence of integers, got {type(ids).__name__}") from None


def _check_range(ids: Any, lo_ok: int, hi: int, what: str, space: str) -> list[int]:
    """``ids`` as a list of ints in ``[lo_ok, hi)``; RetokError naming the first bad one and its position."""
    lst = _as_list(ids, what)
    if not lst:
        return lst
    try:
        lo, top = min(lst), max(lst)
    except TypeError:
        lo = top = None
    if type(lo) is not int or type(top) is not int:
        fixed = []
        for pos, x in enumerate(lst):
            try:
                if isinstance(x, bool):
                    raise TypeError
                fixed.append(operator.index(x))
            except TypeError:
                raise RetokError(f"{what}: element {x!r} at position {pos} is not an integer") from None
        lst = fixed
        lo, top = min(lst), max(lst)
    if lo < lo_ok or top >= hi:
        for pos, x in enumerate(lst):
            if not lo_ok <= x < hi:
                raise RetokError(f"{what}: {'token id' if space == 'base' else 'code'} {x} at position {pos} is outside "
                                 f"the {space} vocabulary {lo_ok}..{hi - 1}"
                                 + (" (base ids index the model's embedding rows; build the config with "
                                    "LZWConfig.from_tokenizer(tokenizer, vocab_size=<embedding rows>))" if space == "base" else
                                    " (codes are base ids 0..V0-1 and hyper ids V0..V0+K-1)"))
    return lst


def check_ids(ids: Sequence[int], config: LZWConfig, *, what: str = "token ids") -> list[int]:
    """Check that every id is a base id (in ``[0, V0)``); returns them as a list of ints.

    RetokError names the first bad id and its position.
    """
    return _check_range(ids, 0, config.initial_vocab_size, what, "base")


# --------------------------------------------------------------------------------------------
# encoder


def _encode(ids: list[int], v0: int, k: int, m: int, dis: frozenset[int]) -> tuple[list[int], dict[int, int], int, int]:
    """The greedy LZW encoder: (codes, trie, final buffer code or -1, its length).

    ``trie`` maps ``prefix_code * v0 + next_id`` to the entry's code, in creation order. The loops
    are written for speed: the buffer is never empty inside them (after a disabled id or a force
    emit, the inner ``for`` pulls ids from the same iterator until a phrase starts), and once the
    codebook is full a second loop runs without the insertion.
    """
    trie: dict[int, int] = {}
    get = trie.get
    out: list[int] = []
    append = out.append
    nxt = v0
    limit = v0 + k
    it = iter(ids)
    cur = -1
    n = 0
    for x in it:  # the first phrase starts at the first id that is not disabled
        if x in dis:
            append(x)
        else:
            cur = x
            n = 1
            break
    if cur < 0:
        return out, trie, cur, n
    if nxt < limit:  # phase 1: the codebook has room
        for x in it:
            key = cur * v0 + x
            code = get(key)
            if code is not None:  # buffer + [x] is known
                n += 1
                if n < m:
                    cur = code
                    continue
                append(code)  # force emit at M
            elif x not in dis:  # a new entry; x starts the next phrase
                trie[key] = nxt
                nxt += 1
                append(cur)
                cur = x
                n = 1
                if nxt == limit:
                    break
                continue
            else:  # a disabled id: flush the buffer, then the id alone
                append(cur)
                append(x)
            cur = -1
            for x in it:
                if x in dis:
                    append(x)
                else:
                    cur = x
                    n = 1
                    break
            else:
                break
        else:  # the input ended with room left
            if cur >= 0:
                append(cur)
            return out, trie, cur, n
        if cur < 0:
            return out, trie, cur, n
    for x in it:  # phase 2: the codebook is full (or K == 0); its entries stay usable
        code = get(cur * v0 + x)
        if code is not None:
            n += 1
            if n < m:
                cur = code
                continue
            append(code)
        elif x not in dis:
            append(cur)
            cur = x
            n = 1
            continue
        else:
            append(cur)
            append(x)
        cur = -1
        for x in it:
            if x in dis:
                append(x)
            else:
                cur = x
                n = 1
                break
        else:
            break
    if cur >= 0:
        append(cur)
    return out, trie, cur, n


def encode(ids: Sequence[int], config: LZWConfig) -> list[int]:
    """LZW-compress base ids with a fresh codebook: the codes (base ids and hyper ids ``V0 + k``)."""
    lst = check_ids(ids, config)
    if config.max_codebook_size == 0:
        return list(lst)
    return _encode(lst, config.initial_vocab_size, config.max_codebook_size, config.max_subtokens,
                   config.disabled_ids)[0]


def encode_with_codebook(ids: Sequence[int], config: LZWConfig) -> tuple[list[int], Codebook]:
    """The codes and the codebook the decoder ends with (the encoder's), ready to be fed more codes."""
    lst = check_ids(ids, config)
    codes, trie, cur, n = _encode(lst, config.initial_vocab_size, config.max_codebook_size, config.max_subtokens,
                                  config.disabled_ids)
    return codes, Codebook._from_trie(config, trie, cur)


# --------------------------------------------------------------------------------------------
# decoder


class Codebook:
    """The decoder's state, fed one code at a time; also what generation uses.

    It replays the encoder over the base ids the codes stand for, so after any valid codes for a
    base stream it holds exactly the entries the encoder made for that stream. A code may be a base
    id, an installed hyper id, or the pending one (:meth:`pending`).
    """

    __slots__ = ("config", "_v0", "_limit", "_m", "_dis", "_trie", "_entries", "_cur", "_last")

    def __init__(self, config: LZWConfig) -> None:
        if not isinstance(config, LZWConfig):
            raise RetokError(f"Codebook needs an LZWConfig, got {type(config).__name__}")
        self.config = config
        self._v0 = config.initial_vocab_size
        self._limit = config.max_codebook_size
        self._m = config.max_subtokens
        self._dis = config.disabled_ids
        self._trie: dict[int, int] = {}  # prefix_code * V0 + next_id -> code
        self._entries: list[tuple[int, ...]] = []
        self._cur = -1  # the code of the current phrase (the buffer); -1 when empty
        self._last: list[int] = []

    @classmethod
    def _from_trie(cls, config: LZWConfig, trie: dict[int, int], cur: int) -> Codebook:
        book = cls(config)
        v0 = book._v0
        entries = book._entries
        append = entries.append
        for key in trie:  # creation order == code order (v0, v0 + 1, ...); a prefix is older than its entry
            prefix = key // v0
            append((entries[prefix - v0] if prefix >= v0 else (prefix,)) + (key - prefix * v0,))
        book._trie = trie
        book._cur = cur
        return book

    # -- reading
    @property
    def entries(self) -> list[tuple[int, ...]]:
        """Entry ``k`` (hyper id ``V0 + k``) in creation order (a copy)."""
        return list(self._entries)

    @property
    def last_installed(self) -> list[int]:
        """Slots ``k`` (not ``V0 + k``) installed by the latest :meth:`feed` (or :meth:`extend`) call."""
        return list(self._last)

    @property
    def full(self) -> bool:
        return len(self._entries) >= self._limit

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Codebook({len(self._entries)}/{self._limit} entries, V0={self._v0}, M={self._m})"

    def subtokens(self, code: int) -> tuple[int, ...]:
        """The base ids of a code: ``(code,)`` for a base id, the entry for an installed hyper id."""
        code = _int(code, "a code")
        v0 = self._v0
        if 0 <= code < v0:
            return (code,)
        k = code - v0
        if 0 <= k < len(self._entries):
            return self._entries[k]
        if 0 <= k < self._limit:
            raise RetokError(f"hyper id {code} (slot {k}) is not installed: {len(self._entries)} of {self._limit} slots "
                             "are in use")
        raise RetokError(f"code {code} is outside 0..{v0 + self._limit - 1} (V0={v0} base ids, K={self._limit} slots)")

    def to_dict(self) -> dict[int, list[int]]:
        """``{hyper id: [base ids]}``, as the package's ``Codebook.to_dict()``."""
        v0 = self._v0
        return {v0 + k: list(e) for k, e in enumerate(self._entries)}

    def pending(self) -> tuple[int, ...] | None:
        """The entry the next code may name before it is installed (LZW's cScSc case), or None.

        If the next code is the next free hyper id ``V0 + len(self)``, it stands for
        ``buffer + [buffer[0]]``, and feeding it installs exactly that entry in that slot.
        """
        cur = self._cur
        if cur < 0 or len(self._entries) >= self._limit:
            return None
        v0 = self._v0
        buf = (cur,) if cur < v0 else self._entries[cur - v0]
        if len(buf) >= self._m or (cur * v0 + buf[0]) in self._trie:
            return None
        return buf + (buf[0],)

    def copy(self) -> Codebook:
        new = Codebook(self.config)
        new._trie = dict(self._trie)
        new._entries = list(self._entries)
        new._cur = self._cur
        new._last = list(self._last)
        return new

    # -- writing
    def feed(self, code: int) -> list[int]:
        """Decode one code, update the codebook, return the code's base ids."""
        self._last = []
        return self._feed(code)

    def extend(self, codes: Iterable[int]) -> list[int]:
        """Feed many codes; the base ids. ``last_installed`` then lists every slot the call installed."""
        self._last = []
        out: list[int] = []
        add = out.extend
        feed = self._feed
        for code in _as_list(codes, "codes"):
            add(feed(code))
        return out

    def _feed(self, code: int) -> list[int]:
        if type(code) is not int:
            code = _int(code, "a code")
        v0 = self._v0
        entries = self._entries
        if 0 <= code < v0:
            seq: tuple[int, ...] = (code,)
        else:
            k = code - v0
            if 0 <= k < len(entries):
                seq = entries[k]
            elif k == len(entries) and k < self._limit:
                seq = self.pending()
                if seq is None:
                    raise RetokError(f"hyper id {code} is the next free slot, but the decoder cannot read it here "
                                     "(it is only valid right after a phrase p whose p + [p[0]] is not an entry yet); "
                                     "the codes are not an LZW encoding under this config")
            elif 0 <= k < self._limit:
                raise RetokError(f"hyper id {code} (slot {k}) is not installed: only {len(entries)} of {self._limit} "
                                 f"slots are in use, and the one the decoder could read next is {v0 + len(entries)}; "
                                 "the codes are not an LZW encoding under this config")
            else:
                raise RetokError(f"code {code} is outside 0..{v0 + self._limit - 1} "
                                 f"(V0={v0} base ids, K={self._limit} hyper slots)")
        trie = self._trie
        m = self._m
        dis = self._dis
        cur = self._cur
        for x in seq:
            if x in dis:
                cur = -1
                continue
            if cur < 0:
                cur = x
                continue
            key = cur * v0 + x
            nxt = trie.get(key)
            if nxt is not None:
                if len(entries[nxt - v0]) == m:
                    cur = -1
                else:
                    cur = nxt
            else:
                n = len(entries)
                if n < self._limit:
                    trie[key] = v0 + n
                    entries.append(((cur,) if cur < v0 else entries[cur - v0]) + (x,))
                    self._last.append(n)
                cur = x
        self._cur = cur
        return list(seq)


def decode(codes: Sequence[int], config: LZWConfig) -> list[int]:
    """The base ids of LZW codes (any valid segmentation: hypertokens and base ids may mix).

    RetokError for a code outside ``[0, V0 + K)`` or a hyper id that is neither installed nor the
    pending (cScSc) one at its position.
    """
    return Codebook(config).extend(codes)


# --------------------------------------------------------------------------------------------
# batches


def batch_encode(seqs: Sequence[Sequence[int]], config: LZWConfig, *, padding: str | bool = "longest",
                 max_length: int | None = None, truncation: bool = False) -> tuple[list[list[int]], list[list[int]]]:
    """Encode each sequence with its own codebook: ``(codes, attention_mask)``.

    As the package's ``batch_encode``: ``padding`` "longest" (to the longest row), "max_length" (to
    ``max_length``; a longer row stays longer unless ``truncation``) or "do_not_pad" (``True`` and
    ``False`` mean "longest" and "do_not_pad"); padding is on the LEFT with ``pad_token_id``;
    ``truncation`` stops a row when it has ``max_length`` codes. The mask is 1 for real codes and 0
    for pads, from the lengths (a real code equal to the pad id, e.g. EOS, keeps mask 1).
    """
    if padding is True:
        padding = "longest"
    elif padding is False:
        padding = "do_not_pad"
    if padding not in _PADDING:
        raise RetokError(f"padding must be one of {', '.join(_PADDING)} (or True/False), got {padding!r}")
    if max_length is not None:
        max_length = _int(max_length, "max_length")
        if max_length < 1:
            raise RetokError(f"max_length must be at least 1, got {max_length}")
    if (truncation or padding == "max_length") and max_length is None:
        raise RetokError(f"{'truncation' if truncation else 'padding=max_length'} needs max_length")
    pad = config.pad_token_id
    if padding != "do_not_pad" and pad is None:
        raise RetokError(f"padding={padding!r} needs a pad id, but the config has pad_token_id=None; "
                         "set one (often the EOS id) or pass padding='do_not_pad'")
    rows: list[list[int]] = []
    for i, seq in enumerate(_as_list(seqs, "sequences")):
        lst = check_ids(seq, config, what=f"sequence {i}")
        if truncation:  # the first L codes are emitted while reading at most L*M + 1 ids: encode no more
            lst = lst[: max_length * config.max_subtokens + 1]
        row = _encode(lst, config.initial_vocab_size, config.max_codebook_size, config.max_subtokens,
                      config.disabled_ids)[0]
        rows.append(row[:max_length] if truncation else row)
    if padding == "do_not_pad":
        width = 0
    elif padding == "longest":
        width = max(map(len, rows), default=0)
    else:
        width = max_length
    codes, masks = [], []
    for row in rows:
        gap = max(width - len(row), 0)
        codes.append([pad] * gap + row)
        masks.append([0] * gap + [1] * len(row))
    return codes, masks


def batch_decode(codes_batch: Sequence[Sequence[int]], config: LZWConfig, *,
                 attention_mask: Sequence[Sequence[int]] | None = None) -> list[list[int]]:
    """Decode each row with its own codebook, dropping the left padding.

    With ``attention_mask`` the leading positions whose mask is 0 are dropped; without it, the
    leading codes equal to ``pad_token_id`` (so a row that really starts with the pad id needs
    the mask).
    """
    rows = _as_list(codes_batch, "codes")
    masks = None if attention_mask is None else _as_list(attention_mask, "attention_mask")
    if masks is not None and len(masks) != len(rows):
        raise RetokError(f"attention_mask has {len(masks)} rows but there are {len(rows)} rows of codes")
    pad = config.pad_token_id
    out = []
    for i, row in enumerate(rows):
        row = _as_list(row, f"row {i}")
        start = 0
        if masks is not None:
            mask = _as_list(masks[i], f"attention_mask row {i}")
            if len(mask) != len(row):
                raise RetokError(f"attention_mask row {i} has {len(mask)} entries but the row has {len(row)} codes")
            while start < len(row) and not mask[start]:
                start += 1
        elif pad is not None:
            while start < len(row) and row[start] == pad:
                start += 1
        out.append(decode(row[start:], config))
    return out


def compression_ratio(n_ids: int, n_codes: int) -> float:
    """Base ids per code (1.0 for nothing at all)."""
    n_ids, n_codes = _int(n_ids, "n_ids"), _int(n_codes, "n_codes")
    if n_ids < 0 or n_codes < 0:
        raise RetokError(f"counts must be >= 0, got n_ids={n_ids}, n_codes={n_codes}")
    if n_codes == 0:
        if n_ids:
            raise RetokError(f"{n_ids} ids cannot compress to 0 codes")
        return 1.0
    return n_ids / n_codes
