"""StaticVectors: word vectors from a fastText model or a word2vec text file, with token composition.

Conventions:

* Every matrix is float32; a vocabulary of V words in dimension d is a (V, d) matrix whose row
  ``i`` belongs to ``words[i]``. fastText vocabularies are most frequent first; fastText's
  end-of-line word ``</s>`` is not a word and is left out.
* A fastText ``.bin`` model also embeds strings outside its vocabulary: the average of the
  input rows of the string's character n-grams (lengths ``minn..maxn`` of the string with the
  begin/end markers ``<`` and ``>``, hashed into buckets as fastText's ``get_subword_id`` does,
  see :func:`ngram_hashes`), plus the word's own input row when it is a vocabulary word. That is
  exactly ``get_word_vector`` for a whole word; :meth:`StaticVectors.token_vectors` applies
  the same rule to word pieces, with only the markers that the piece really has.
* An optional orthogonal rotation R (d, d) is applied to every vector returned (``x @ R``);
  :meth:`StaticVectors.rotated` composes one in, the stored vectors are never changed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retok.atomic import atomic_write_text
from retok.errors import RetokError
from .fasttext_bin import FastTextBin, read_fasttext_bin

BOW, EOW = "<", ">"  # fastText's begin- and end-of-word markers
_FASTTEXT_EOS = "</s>"
_TEXT_SUFFIXES = (".vec", ".txt")
_ORTHOGONAL_TOL = 1e-3
# fastText's Dictionary::hash is 32-bit FNV-1a with these constants.
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)


class StaticVectors:
    """Static word vectors: a vocabulary, a (V, d) float32 matrix, optionally a fastText subword model and a rotation.

    Build one with :meth:`load` (a file) or :meth:`from_matrix` (arrays); the constructor is internal.
    """

    def __init__(self, words: list[str], matrix: np.ndarray, *, model: FastTextBin | None = None,
                 rotation: np.ndarray | None = None) -> None:
        self.words: list[str] = words
        self.dim: int = int(matrix.shape[1])
        self._matrix = matrix
        self._row = {w: i for i, w in enumerate(words)}
        self._model = model
        self._rotation = rotation
        self._rotated_matrix: np.ndarray | None = None
        self._minn, self._maxn = (model.minn, model.maxn) if model is not None else (0, 0)
        self._bucket = model.bucket if model is not None else 0
        self._word_id = {w: i for i, w in enumerate(model.words)} if model is not None else {}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def load(cls, path: str | os.PathLike) -> StaticVectors:
        """Read ``.bin`` (a fastText model, with subwords) or ``.vec`` / ``.txt`` (word2vec text format).

        The text format is one ``word v1 ... vd`` line per word, values separated by single
        spaces, with an optional first line ``V d``.
        """
        path = Path(path)
        if not path.is_file():
            raise RetokError(f"vector file {str(path)!r} does not exist or is not a file; check the path")
        if path.suffix == ".bin":
            return cls._load_fasttext(path)
        if path.suffix in _TEXT_SUFFIXES:
            return cls._load_text(path)
        raise RetokError(
            f"unknown vector file type {path.suffix!r} for {str(path)!r}; pass a fastText model (.bin) "
            "or word2vec text vectors (.vec or .txt)"
        )

    @classmethod
    def from_matrix(cls, words: Sequence[str], matrix: Any) -> StaticVectors:
        """Vectors from a word list and a (V, d) matrix (copied as float32); no subwords, no rotation."""
        words = list(words)
        try:
            m = np.array(matrix, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise RetokError(f"vector matrix must be a (V, d) array of numbers; could not convert it: {e}") from None
        if m.ndim != 2 or m.shape[1] == 0:
            raise RetokError(f"vector matrix must be 2-D (V, d) with d >= 1; got shape {m.shape}")
        if m.shape[0] != len(words):
            raise RetokError(f"got {len(words)} words but {m.shape[0]} matrix rows; pass one row per word")
        if not np.isfinite(m).all():
            raise RetokError("vector matrix contains NaN or infinite values; clean or drop those rows first")
        _check_unique(words, where="the word list")
        return cls(words, m)

    @classmethod
    def _load_fasttext(cls, path: Path) -> StaticVectors:
        model = read_fasttext_bin(path)  # the input matrix memory-mapped: only the rows averaged below are read
        words = [w for w in model.words if w != _FASTTEXT_EOS]
        if not words:
            raise RetokError(f"fastText model {str(path)!r} has an empty vocabulary; train it on more text")
        vectors = cls([], np.zeros((0, model.dim), dtype=np.float32), model=model)
        # get_word_vector of a vocabulary word: the average of its own row and the n-grams of "<word>".
        marked = [BOW + w + EOW for w in words]
        ones = np.ones(len(words), dtype=bool)
        ngram_ids, ngram_counts = vectors._subword_rows(marked, bow=ones, eow=ones)
        word_ids = np.fromiter((vectors._word_id[w] for w in words), dtype=np.int64, count=len(words))
        matrix, _ = vectors._compose(*_prepend(word_ids, ngram_ids, ngram_counts))
        return cls(words, matrix, model=model)

    @classmethod
    def _load_text(cls, path: Path) -> StaticVectors:
        words: list[str] = []
        rows: list[np.ndarray] = []
        first_line: dict[str, int] = {}
        declared: int | None = None
        dim: int | None = None
        with open(path, encoding="utf-8", errors="strict") as f:
            try:
                for line_no, line in enumerate(f, start=1):
                    parts = line.rstrip("\r\n").rstrip(" ").split(" ")
                    if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                        declared, dim = int(parts[0]), int(parts[1])
                        continue
                    if parts == [""]:
                        continue
                    dim = dim if dim is not None else len(parts) - 1
                    if len(parts) != dim + 1 or dim < 1:
                        raise RetokError(
                            f"{path}:{line_no}: expected a word and {dim} numbers separated by single spaces, "
                            f"got {len(parts)} fields; fix the line or the 'V d' header"
                        )
                    word = parts[0]
                    if word in first_line:
                        raise RetokError(f"{path}:{line_no}: word {word!r} already appeared on line {first_line[word]}; keep one vector per word")
                    try:
                        rows.append(np.asarray(parts[1:], dtype=np.float32))
                    except ValueError:
                        raise RetokError(f"{path}:{line_no}: the values of {word!r} are not all numbers") from None
                    first_line[word] = line_no
                    words.append(word)
            except UnicodeDecodeError as e:
                raise RetokError(f"{str(path)!r} is not valid UTF-8 ({e.reason} at byte {e.start} of a line); convert it to UTF-8") from None
        if not words:
            raise RetokError(f"vector file {str(path)!r} holds no vectors; pass a word2vec text file with one 'word v1 ... vd' line per word")
        if declared is not None and declared != len(words):
            raise RetokError(f"{path}: the header says {declared} vectors but the file has {len(words)}; fix the header or drop it (it is optional)")
        matrix = np.stack(rows)
        if not np.isfinite(matrix).all():
            raise RetokError(f"{path}: some vectors contain NaN or infinite values; clean or drop those lines")
        return cls(words, matrix)

    # ------------------------------------------------------------------ basic queries

    @property
    def has_subwords(self) -> bool:
        """True for a fastText model trained with character n-grams (maxn > 0)."""
        return self._model is not None and self._maxn > 0

    @property
    def rotation(self) -> np.ndarray | None:
        """The (d, d) rotation applied to every returned vector, or None."""
        return self._rotation

    def __contains__(self, word: object) -> bool:
        return word in self._row

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        kind = "fastText with subwords" if self.has_subwords else "word vectors"
        return f"StaticVectors({len(self.words)} words, dim={self.dim}, {kind}{', rotated' if self._rotation is not None else ''})"

    def word_matrix(self) -> np.ndarray:
        """(V, d) float32, row ``i`` for ``words[i]``; rotated if a rotation is set. Do not modify it."""
        if self._rotation is None:
            return self._matrix
        if self._rotated_matrix is None:
            self._rotated_matrix = self._matrix @ self._rotation
        return self._rotated_matrix

    def word_vector(self, word: str) -> np.ndarray | None:
        """(d,) float32: the vector of a vocabulary word, else its fastText subword composition.

        None when the word is not in the vocabulary and nothing composes it (no subword model,
        or no n-gram fits the word). A composed vector equals fastText's ``get_word_vector``.
        """
        row = self._row.get(word)
        if row is not None:
            return self.word_matrix()[row].copy()
        if not self.has_subwords:
            return None
        ids, counts = self._subword_rows([BOW + word + EOW], bow=np.ones(1, dtype=bool), eow=np.ones(1, dtype=bool))
        vectors, found = self._compose(ids, counts)
        return vectors[0] if found[0] else None

    def token_vectors(self, texts: Sequence[str], word_start: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for subword tokens, aware of the word boundary.

        ``texts[i]`` is the token's surface string without any tokenizer space marker;
        ``word_start[i]`` says whether it begins a word. With subwords, a word-start token
        ``"haus"`` is the average of the input rows of the n-grams of ``"<haus"`` (no end
        marker) and, when ``"haus"`` is a vocabulary word, its own input row; a continuation
        token ``"haus"`` averages the n-grams of ``"haus"`` alone (no marker at either end).
        Without subwords, a word-start token that is a vocabulary word gets its word vector and
        every other token gets none.

        Returns vectors (N, d) float32 (rotated if a rotation is set; zero rows where nothing
        composes) and found (N,) bool.
        """
        if len(texts) != len(word_start):
            raise RetokError(f"token_vectors got {len(texts)} texts but {len(word_start)} word_start flags; pass one flag per text")
        if not self.has_subwords:
            rows = np.array([self._row.get(t, -1) if start else -1 for t, start in zip(texts, word_start)], dtype=np.int64)
            found = rows >= 0
            vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
            vectors[found] = self.word_matrix()[rows[found]]
            return vectors, found
        starts = [bool(s) for s in word_start]
        marked = [BOW + text if start else text for text, start in zip(texts, starts)]
        ngram_ids, ngram_counts = self._subword_rows(marked, bow=np.array(starts, dtype=bool), eow=np.zeros(len(texts), dtype=bool))
        # A word-start vocabulary word's own row comes first, then its n-grams (fastText's order).
        word_ids = np.array([self._word_id[t] if s and t in self._row else -1 for t, s in zip(texts, starts)], dtype=np.int64)
        return self._compose(*_prepend(word_ids, ngram_ids, ngram_counts))

    def rotated(self, rotation: Any) -> StaticVectors:
        """A view of these vectors with the orthogonal ``rotation`` (d, d) composed in (``x @ rotation``).

        The words, matrix and subword model are shared, not copied.
        """
        r = np.asarray(rotation, dtype=np.float32)
        if r.shape != (self.dim, self.dim):
            raise RetokError(f"rotation must have shape ({self.dim}, {self.dim}) to match the vectors; got {r.shape}")
        error = float(np.abs(r.T.astype(np.float64) @ r - np.eye(self.dim)).max())
        if not error <= _ORTHOGONAL_TOL:
            raise RetokError(
                f"rotation is not orthogonal (max |R^T R - I| = {error:.2g} > {_ORTHOGONAL_TOL}); "
                "pass the rotation from retok.transfer.static.align() or procrustes()"
            )
        combined = r if self._rotation is None else (self._rotation @ r).astype(np.float32)
        return StaticVectors(self.words, self._matrix, model=self._model, rotation=combined)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the (rotated) word vectors in word2vec text format (``V d`` header), atomically.

        Values are written with 9 significant digits, which round-trips float32 exactly.
        """
        path = Path(path)
        if path.suffix not in _TEXT_SUFFIXES:
            raise RetokError(f"save() writes word2vec text; give the file a .vec or .txt name, not {path.name!r}")
        if path.exists() and not overwrite:
            raise RetokError(f"{str(path)!r} already exists; pass overwrite=True to replace it, or choose another name")
        bad = next((w for w in self.words if not w or w != "".join(w.split())), None)
        if bad is not None:
            raise RetokError(f"word {bad!r} is empty or contains whitespace, which the word2vec text format cannot hold")
        lines = [f"{len(self.words)} {self.dim}"]
        lines += [w + " " + " ".join(f"{v:.9g}" for v in row) for w, row in zip(self.words, self.word_matrix().tolist())]
        return atomic_write_text(path, "\n".join(lines) + "\n")

    # ------------------------------------------------------------------ fastText composition

    def _subword_rows(self, marked: Sequence[str], *, bow: np.ndarray, eow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input-matrix rows of the character n-grams of each string, as ``get_subword_id`` numbers them.

        marked: N strings, each with the markers it has; bow, eow (N,) bool say which start with
        ``<`` / end with ``>``. Returns ids (M,) int64 (see :func:`ngram_hashes` for the order)
        and counts (N,) int64.
        """
        hashes, counts = ngram_hashes(marked, minn=self._minn, maxn=self._maxn, bow=bow, eow=eow)
        if not self._bucket:  # no n-gram buckets: nothing composes
            return np.zeros(0, dtype=np.int64), np.zeros(len(marked), dtype=np.int64)
        # fastText numbers the buckets after the words: nwords + hash % bucket.
        return self._model.n_words + (hashes % np.uint32(self._bucket)).astype(np.int64), counts

    def _compose(self, ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Average input rows: ids (M,) int64, the first ``counts[0]`` for string 0 and so on.

        Returns (N, d) float32 (rotated) and found (N,) bool (``counts > 0``). The rows are read
        in file order (:meth:`FastTextBin.read_rows`), each added with its weight 1 / count into its
        string's float64 sum, so only one window of the memory-mapped matrix is resident at a time.
        """
        owner = torch.from_numpy(np.repeat(np.arange(len(counts)), counts))
        weight = torch.from_numpy(np.repeat(1.0 / np.maximum(counts, 1), counts))
        order = np.argsort(ids)
        sums = torch.zeros(len(counts), self.dim, dtype=torch.float64)
        for a, b, rows in self._model.read_rows(ids[order]):
            picked = torch.from_numpy(order[a:b])
            sums.index_add_(0, owner[picked], torch.from_numpy(rows).double() * weight[picked, None])
        vectors = sums.numpy().astype(np.float32)
        if self._rotation is not None:
            vectors = vectors @ self._rotation
        return vectors, counts > 0


def _prepend(first: np.ndarray, ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put ``first[i]`` before string i's ids where it is >= 0: first (N,), ids (M,), counts (N,) -> (ids', counts')."""
    has = first >= 0
    total = counts + has
    offsets = np.cumsum(total) - total
    out = np.empty(int(total.sum()), dtype=np.int64)
    out[offsets[has]] = first[has]
    owner = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(ids)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[offsets[owner] + has[owner] + within] = ids
    return out, total


def ngram_hashes(
    marked: Sequence[str], *, minn: int, maxn: int, bow: np.ndarray, eow: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """fastText's 32-bit hashes of the character n-grams (lengths minn..maxn) of each string, vectorized.

    marked: N strings, each with the markers it has; bow, eow (N,) bool say which start with
    ``<`` / end with ``>`` (a marker alone is never an n-gram: fastText's rule for ``minn == 1``).
    Returns hashes (M,) uint32, string 0's n-grams first, each string's by start character and then
    by length (fastText's order), and counts (N,) int64 n-grams per string.

    The hash is fastText's ``Dictionary::hash``: FNV-1a over the UTF-8 bytes, except that each
    byte is XORed in as ``uint32(int8(byte))``, so a byte >= 0x80 is sign-extended to
    ``0xFFFFFF00 | byte``. Characters are Unicode code points, as fastText counts them (a UTF-8
    continuation byte never starts an n-gram). Every start character is hashed at once, one
    character length at a time, instead of one n-gram at a time in Python.
    """
    encoded = [s.encode("utf-8") for s in marked]
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    byte_counts = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    signed_bytes = data.astype(np.int8).astype(np.uint32)  # fastText's uint32_t(int8_t(c))
    char_bytes = np.flatnonzero((data & 0xC0) != 0x80)  # byte offset of every character
    # A character ends where the next one starts; the last one of a string ends where the next string starts.
    char_ends = np.append(char_bytes[1:], len(data))
    byte_starts = np.cumsum(byte_counts) - byte_counts
    char_counts = np.searchsorted(char_bytes, byte_starts + byte_counts) - np.searchsorted(char_bytes, byte_starts)
    first_chars = np.cumsum(char_counts) - char_counts  # each string's first character
    owner = np.repeat(np.arange(len(marked)), char_counts)
    position = np.arange(len(char_bytes)) - np.repeat(first_chars, char_counts)
    remaining = char_counts[owner] - position  # characters from this one to the end of its string
    shortest = np.full(len(char_bytes), max(minn, 1), dtype=np.int64)
    if max(minn, 1) == 1:
        lone_marker = (np.asarray(bow, dtype=bool)[owner] & (position == 0)) | (np.asarray(eow, dtype=bool)[owner] & (remaining == 1))
        shortest[lone_marker] = 2
    longest = np.minimum(maxn, remaining)
    per_start = np.maximum(longest - shortest + 1, 0)
    slots = np.cumsum(per_start) - per_start  # where each start character's first n-gram goes
    hashes = np.empty(int(per_start.sum()), dtype=np.uint32)

    active = np.flatnonzero(longest >= 1)  # start characters that still have a longer n-gram to hash
    h = np.full(len(active), _FNV_OFFSET, dtype=np.uint32)
    for n in range(1, max(maxn, 0) + 1):
        keep = longest[active] >= n
        active, h = active[keep], h[keep]
        last = active + n - 1  # the n-th character of each n-gram
        for b in range(4):  # a UTF-8 character has 1 to 4 bytes
            at = char_bytes[last] + b
            more = at < char_ends[last]
            if not more.any():
                break
            # uint32 arithmetic wraps modulo 2**32, as fastText's does in C++.
            h[more] = (h[more] ^ signed_bytes[at[more]]) * _FNV_PRIME
        done = shortest[active] <= n
        hashes[slots[active[done]] + n - shortest[active[done]]] = h[done]
    ngrams_before = np.concatenate([[0], np.cumsum(per_start)])  # n-grams of all start characters before each one
    return hashes, ngrams_before[first_chars + char_counts] - ngrams_before[first_chars]


def _check_unique(words: Sequence[str], *, where: str) -> None:
    seen: set[str] = set()
    for i, w in enumerate(words):
        if w in seen:
            raise RetokError(f"word {w!r} appears twice in {where} (again at position {i}); keep one vector per word")
        seen.add(w)


__all__ = ["BOW", "EOW", "StaticVectors", "ngram_hashes"]
