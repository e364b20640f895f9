"""Supertokens: byte-level BPE merges that cross word boundaries (SuperBPE-style, as used by TokenAdapt).

A supertoken is a vocabulary entry that spans several words (``" können Sie"``,
``" - Zellen"``), so that frequent phrases cost one token instead of several. The curriculum
follows SuperBPE (Liu et al., 2025, "SuperBPE: Space Travel for Language Models"), the
supertoken variant of TokenAdapt (Sharthak et al., 2025):

1. **Stage 1.** Ordinary BPE with the source's word pre-tokenizer, up to a transition size
   (``retok.vocab.train`` does this part).
2. **Stage 2.** The training text is cut into *phrases* instead of words (:data:`PHRASE_PATTERN`),
   each phrase is encoded with the stage-1 merges, and BPE goes on from there
   (:func:`learn_merges`): a pair may be merged only if the result spans at most ``max_words``
   words (:func:`count_words`), holds no line break, involves no special token and is a string
   not yet in the vocabulary.

The result is one ``tokenizers`` BPE model (stage-1 merges, then stage-2 merges, in rank order)
behind the phrase pre-tokenizer (:func:`phrase_pre_tokenizer`). Stage 2 starts from exactly what
the encoder produces with the stage-1 merges on a phrase, and every stage-2 merge makes a new
string that no earlier merge uses, so applying the merges by rank at encoding time reproduces
the training segmentation. Byte-level pieces cover every byte, so ``decode(encode(text)) ==
text`` for any text.

Phrases, written as the onig regular expression :data:`PHRASE_PATTERN`: a phrase is a chain of
GPT-2 word pieces (a contraction ``'s``, a letter run, a digit run or a punctuation run, each with
at most one leading space) that ends after the first punctuation run holding a sentence mark
``. ! ? ; :``. Any other whitespace (two spaces, a tab, a line break) stands alone, as in GPT-2.
So a supertoken never crosses a line break, a double space or the end of a sentence
(``"Zellen. Die"`` stays two phrases), but it may hold commas, hyphens, brackets and quotes
(``" Format - Zellen"``).
"""

from __future__ import annotations

import copy
import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Sequence

from tokenizers import Tokenizer
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from retok.errors import RetokError
from retok.progress import bars_on
from .canonical import unicode_to_byte

__all__ = [
    "DEFAULT_MAX_WORDS",
    "DEFAULT_SUPERTOKEN_FRACTION",
    "PHRASE_PATTERN",
    "count_words",
    "learn_merges",
    "learn_supertokens",
    "multi_word_tokens",
    "phrase_pre_tokenizer",
]

DEFAULT_MAX_WORDS = 4
DEFAULT_SUPERTOKEN_FRACTION = 0.1

_PIECE = r"'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+"
_INNER_PUNCT = r" ?[^\s\p{L}\p{N}.!?;:]+"
_PUNCT = r" ?[^\s\p{L}\p{N}]+"
PHRASE_PATTERN = rf"(?:{_PIECE}|{_INNER_PUNCT})+(?:{_PUNCT})?|{_PUNCT}|\s+(?!\S)|\s+"

_WHITESPACE_BYTES = frozenset(b" \t\n\r\x0b\x0c")
_LINE_BREAK_BYTES = frozenset(b"\n\r")
# Source pre-tokenizer parts that stage 2 keeps (Digits) or replaces by the phrase split (Split).
_SUPPORTED_PARTS = ("ByteLevel", "Split", "Digits")


def phrase_pre_tokenizer(pre_tokenizer: dict | None) -> dict:
    """The stage-2 pre-tokenizer (``tokenizers`` JSON) for a byte-level source pre-tokenizer.

    ``ByteLevel`` (its own GPT-2 regex) or a ``Sequence`` of ``Split`` / ``Digits`` /
    ``ByteLevel`` parts (Llama-3, Qwen2) becomes ``Sequence[Split(PHRASE_PATTERN, isolated),
    *Digits parts, ByteLevel(use_regex=False)]``: the source's word split is replaced by the
    phrase split, digit splitting is kept. A source whose word pattern differs from GPT-2's
    (Llama-3 cuts numbers into 3 digits) can get slightly different pieces inside a phrase than
    stage 1 did; stage 2 learns from what the encoder produces, so this never breaks a round trip.
    """
    pre_tokenizer = pre_tokenizer or {}
    parts = pre_tokenizer.get("pretokenizers") if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer]
    parts = [p for p in parts or [] if p]
    types = [p.get("type") for p in parts]
    unsupported = sorted({t for t in types if t not in _SUPPORTED_PARTS})
    byte_level = [p for p in parts if p.get("type") == "ByteLevel"]
    if unsupported or len(byte_level) != 1:
        raise RetokError(
            "supertokens need a byte-level source pre-tokenizer: ByteLevel alone (GPT-2, SmolLM2) or a Sequence of "
            f"Split/Digits parts and one ByteLevel (Llama-3, Qwen2); this source has {types or 'none'}"
        )
    if byte_level[0].get("add_prefix_space"):
        raise RetokError(
            "supertokens need a ByteLevel pre-tokenizer with add_prefix_space=False (GPT-2, Llama-3, Qwen2, SmolLM2): "
            "with a prefix space on every phrase the text would not round-trip"
        )
    split = {"type": "Split", "pattern": {"Regex": PHRASE_PATTERN}, "behavior": "Isolated", "invert": False}
    digits = [copy.deepcopy(p) for p in parts if p.get("type") == "Digits"]
    last = {**copy.deepcopy(byte_level[0]), "use_regex": False}
    return {"type": "Sequence", "pretokenizers": [split, *digits, last]}


def count_words(token: str) -> int:
    """The words a byte-level token touches: its maximal runs of non-whitespace bytes.

    A word fragment counts as a word: ``"ĠSie"`` -> 1, ``"enĠSieĠdie"`` -> 3, ``"ĠĠ"`` -> 0.
    """
    to_byte = unicode_to_byte()
    words, inside = 0, False
    for char in token:
        space = to_byte.get(char) in _WHITESPACE_BYTES
        words += not space and not inside
        inside = not space
    return words


def multi_word_tokens(tokenizer: Tokenizer | PreTrainedTokenizerBase) -> list[str]:
    """The entries of a byte-level tokenizer that span two or more words, as text, in id order."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    vocab = sorted(backend.get_vocab(with_added_tokens=False).items(), key=lambda kv: kv[1])
    to_byte = unicode_to_byte()
    out = []
    for token, _ in vocab:
        if all(c in to_byte for c in token) and count_words(token) >= 2:
            out.append(bytes(to_byte[c] for c in token).decode("utf-8", errors="replace"))
    return out


def learn_supertokens(
    stage1: Tokenizer,
    texts: Sequence[str],
    *,
    vocab_size: int,
    n_frozen: int,
    max_words: int = DEFAULT_MAX_WORDS,
    min_frequency: int = 1,
    progress: bool = True,
) -> Tokenizer:
    """Continue training the byte-level BPE ``stage1`` across word boundaries, up to ``vocab_size`` entries.

    Args:
        stage1: a trained byte-level BPE backend (normalizer, pre-tokenizer, decoder, added
            tokens); it is not changed.
        texts: the training texts (the same ones stage 1 saw).
        vocab_size: entries of the result; fewer when no allowed pair is seen ``min_frequency``
            times any more.
        n_frozen: ids ``0..n_frozen-1`` (the special tokens) never take part in a merge.
        max_words: the most words (:func:`count_words`) one entry may span.
        min_frequency: a pair must be seen this often to be merged.
        progress: show a progress bar over the merges.

    Returns:
        A new backend: ``stage1``'s vocabulary and merges followed by the stage-2 ones (new ids
        ``len(stage1 vocab)..``), behind :func:`phrase_pre_tokenizer`.
    """
    doc = json.loads(stage1.to_str())
    if doc["model"].get("type") != "BPE":
        raise RetokError(f"supertokens extend a BPE model, got a {doc['model'].get('type')} model")
    doc["pre_tokenizer"] = phrase_pre_tokenizer(doc.get("pre_tokenizer"))
    phrases = _phrases(Tokenizer.from_str(json.dumps(doc)), texts)
    vocab: dict[str, int] = doc["model"]["vocab"]
    tokens = [""] * len(vocab)
    for token, token_id in vocab.items():
        tokens[token_id] = token
    merges = learn_merges(
        list(phrases), list(phrases.values()), tokens,
        n_new=vocab_size - len(tokens), max_words=max_words, min_frequency=min_frequency,
        n_frozen=n_frozen, progress=progress,
    )
    for a, b in merges:
        vocab[tokens[a] + tokens[b]] = len(vocab)
        doc["model"]["merges"].append([tokens[a], tokens[b]])
        tokens.append(tokens[a] + tokens[b])
    return Tokenizer.from_str(json.dumps(doc))


def _phrases(tokenizer: Tokenizer, texts: Sequence[str]) -> Counter[tuple[int, ...]]:
    """Each distinct phrase of ``texts`` as the token ids ``tokenizer`` gives it, with its count, in first-seen order."""
    counts: Counter[tuple[int, ...]] = Counter()
    for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        groups: dict[int, list[int]] = defaultdict(list)
        for token_id, word in zip(encoding.ids, encoding.word_ids):
            if word is not None:
                groups[word].append(token_id)
        counts.update(tuple(ids) for ids in groups.values() if len(ids) > 1)
    return counts


def learn_merges(
    sequences: Sequence[Sequence[int]],
    weights: Sequence[int],
    tokens: Sequence[str],
    *,
    n_new: int,
    max_words: int,
    min_frequency: int = 1,
    n_frozen: int = 0,
    progress: bool = False,
) -> list[tuple[int, int]]:
    """Learn up to ``n_new`` BPE merges on token-id ``sequences`` seen ``weights`` times each; pure.

    ``tokens[i]`` is the byte-level string of id ``i``. The most frequent allowed pair is merged
    first (ties: the smaller ids), all its occurrences left to right, as the ``tokenizers`` BPE
    encoder applies merges by rank. Merge ``k`` makes id ``len(tokens) + k``. A pair is allowed
    when neither id is below ``n_frozen``, neither string holds a line break, the merged string
    spans at most ``max_words`` words (:func:`count_words`) and is not already a token. Training
    stops early when the best allowed pair is seen fewer than ``min_frequency`` times.
    """
    strings = list(tokens)
    known = set(strings)
    to_byte = unicode_to_byte()
    words = [count_words(s) for s in strings]
    edges = [_edges(s, to_byte) for s in strings]  # (starts with whitespace, ends with whitespace, has line break)

    banned: set[tuple[int, int]] = set()  # pairs whose merged string another split made first

    def allowed(a: int, b: int) -> bool:
        if (a, b) in banned or a < n_frozen or b < n_frozen or edges[a][2] or edges[b][2]:
            return False
        joined = words[a] > 0 and words[b] > 0 and not edges[a][1] and not edges[b][0]
        return words[a] + words[b] - joined <= max_words

    # The sequences, flattened into one doubly linked list; -1 ends a sequence.
    tok: list[int] = []
    weight: list[int] = []
    for seq, w in zip(sequences, weights):
        tok.extend(seq)
        weight.extend([w] * len(seq))
    nxt = list(range(1, len(tok) + 1))
    prv = list(range(-1, len(tok) - 1))
    start = 0
    for seq in sequences:
        if seq:
            prv[start] = -1
            nxt[start + len(seq) - 1] = -1
            start += len(seq)

    counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for i, a in enumerate(tok):
        j = nxt[i]
        if j >= 0 and allowed(a, tok[j]):
            counts[a, tok[j]] += weight[i]
            where[a, tok[j]].add(i)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    def add(pair: tuple[int, int], i: int, w: int) -> None:
        if allowed(*pair):
            counts[pair] += w
            where[pair].add(i)
            touched.add(pair)

    def remove(pair: tuple[int, int], i: int, w: int) -> None:
        if pair in where:
            counts[pair] -= w
            where[pair].discard(i)

    merges: list[tuple[int, int]] = []
    bar = tqdm(total=n_new, desc="supertokens", unit="merge", disable=not bars_on(progress))
    while len(merges) < n_new and heap:
        neg, pair = heapq.heappop(heap)
        current = counts.get(pair, 0)
        if current != -neg:  # a stale entry: requeue the pair with its current count
            if current > 0:
                heapq.heappush(heap, (-current, pair))
            continue
        if current < min_frequency:
            break
        a, b = pair
        positions = sorted(where.pop(pair))
        del counts[pair]
        if strings[a] + strings[b] in known:
            banned.add(pair)
            continue
        new = len(strings)
        strings.append(strings[a] + strings[b])
        known.add(strings[new])
        words.append(count_words(strings[new]))
        edges.append((edges[a][0], edges[b][1], False))
        merges.append(pair)
        bar.update()
        touched: set[tuple[int, int]] = set()
        for i in positions:
            j = nxt[i]
            if tok[i] != a or j < 0 or tok[j] != b:  # consumed by an overlapping occurrence (a == b)
                continue
            w, p, q = weight[i], prv[i], nxt[j]
            if p >= 0:
                remove((tok[p], a), p, w)
            if q >= 0:
                remove((b, tok[q]), j, w)
            tok[i], tok[j], nxt[i] = new, -1, q
            if q >= 0:
                prv[q] = i
                add((new, tok[q]), i, w)
            if p >= 0:
                add((tok[p], new), p, w)
        for t in touched:
            heapq.heappush(heap, (-counts[t], t))
    bar.close()
    return merges


def _edges(token: str, to_byte: dict[str, int]) -> tuple[bool, bool, bool]:
    """Whether ``token`` starts with whitespace, ends with whitespace, holds a line break."""
    raw = [to_byte.get(c) for c in token]
    return (
        bool(raw) and raw[0] in _WHITESPACE_BYTES,
        bool(raw) and raw[-1] in _WHITESPACE_BYTES,
        any(x in _LINE_BREAK_BYTES for x in raw),
    )
