"""Reading a fastText ``.bin`` model without the fastText library: settings, vocabulary, input matrix.

``fasttext.load_model`` reads the whole model into memory: the input matrix of ``nwords + bucket``
rows (800 MB for fastText's default 2M buckets at dim 100) and the output matrix, which embedding
work never uses. Here the input matrix is memory-mapped, so only the rows that are averaged
(the words' own rows and their n-gram buckets) are ever read, and the output matrix not at all.

The file layout (fastText 0.9, ``FastText::saveModel``; all little-endian):

* ``int32`` magic 793712314, ``int32`` version (11 or 12);
* the arguments: 12 ``int32`` (dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket,
  minn, maxn, lrUpdateRate), one ``float64`` (t);
* the dictionary: ``int32`` size, ``int32`` nwords, ``int32`` nlabels, ``int64`` ntokens,
  ``int64`` pruneidx_size, then per entry the UTF-8 word, a NUL, ``int64`` count, ``int8`` type
  (0 word, 1 label), then pruneidx_size ``(int32, int32)`` pairs;
* ``uint8`` quantized input flag, then the input matrix: ``int64`` rows, ``int64`` cols and
  rows x cols ``float32``; the output matrix follows (not read).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retok.errors import RetokError

MAGIC = 793712314
VERSIONS = (11, 12)
_ARGS = struct.Struct("<12id")
_DICT_HEADER = struct.Struct("<iiiqq")
_ENTRY_TAIL = 9  # int64 count + int8 type after each word's NUL
_MATRIX_HEADER = struct.Struct("<qq")
_SUPERVISED = 3  # fastText's model_name::sup
WINDOW_BYTES = 1 << 25  # 32 MiB of the input matrix mapped at a time by FastTextBin.read_rows


@dataclass(frozen=True, eq=False)
class FastTextBin:
    """What embedding work needs from a fastText model.

    ``words``: the dictionary's words in fastText's order (``</s>`` included), so a word's id is
    its position; ``input``: the (nwords + bucket, dim) float32 input matrix, memory-mapped
    read-only, which starts at byte ``offset`` of the file; bucket ``b`` of the n-gram hashes is
    row ``nwords + b``.
    """

    path: Path
    dim: int
    minn: int
    maxn: int
    bucket: int
    words: list[str]
    input: np.ndarray
    offset: int

    @property
    def n_words(self) -> int:
        return len(self.words)

    def read_rows(self, ids: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """The input rows ``ids`` (M,) int64, sorted ascending, window by window of the file.

        Yields (a, b, rows) with rows (b - a, dim) float32 = ``input[ids[a:b]]``, a copy, for
        consecutive ranges covering all of ``ids``. Each ``WINDOW_BYTES`` window of the matrix is
        mapped only while its rows are copied, so the pages of at most one window count in the
        process's resident memory (reading through :attr:`input` keeps every page it touched:
        1.6 GB for two default-size models).
        """
        row_bytes = 4 * self.dim
        per_window = max(1, WINDOW_BYTES // row_bytes)
        total = int(self.input.shape[0])
        with open(self.path, "rb") as f:
            for first in range(0, total, per_window):
                a, b = np.searchsorted(ids, [first, first + per_window])
                if a == b:
                    continue
                start = self.offset + first * row_bytes
                aligned = start - start % mmap.ALLOCATIONGRANULARITY
                length = start + min(per_window, total - first) * row_bytes - aligned
                with mmap.mmap(f.fileno(), length, offset=aligned, access=mmap.ACCESS_READ) as window:
                    view = np.frombuffer(window, dtype="<f4", count=(length - (start - aligned)) // 4, offset=start - aligned)
                    rows = view.reshape(-1, self.dim)[ids[a:b] - first]  # fancy indexing copies
                    del view  # the mapping closes only once no array points into it
                yield int(a), int(b), rows


def _bad(path: Path, why: str) -> RetokError:
    return RetokError(f"could not read fastText model {str(path)!r} ({why}); is it a .bin written by fastText?")


def read_fasttext_bin(path: str | os.PathLike) -> FastTextBin:
    """Parse ``path``'s header and dictionary and memory-map its input matrix; RetokError for anything else.

    Quantized models (``.ftz``, or a ``.bin`` saved after ``quantize``) are refused: their input
    matrix is product-quantized, not float32 rows.
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            raise _bad(path, "the file is empty") from None
    with buf:
        if len(buf) < 8 + _ARGS.size + _DICT_HEADER.size:
            raise _bad(path, f"{len(buf)} bytes is too short for a header")
        magic, version = struct.unpack_from("<ii", buf, 0)
        if magic != MAGIC:
            raise _bad(path, "no fastText magic number at the start")
        if version not in VERSIONS:
            raise _bad(path, f"file format version {version}, this reader knows {list(VERSIONS)}")
        args = _ARGS.unpack_from(buf, 8)
        dim, model, bucket, minn, maxn = args[0], args[7], args[8], args[9], args[10]
        if version == 11 and model == _SUPERVISED:  # fastText: old supervised models have no character n-grams
            maxn = 0
        pos = 8 + _ARGS.size
        size, nwords, _nlabels, _ntokens, prune = _DICT_HEADER.unpack_from(buf, pos)
        pos += _DICT_HEADER.size
        if not 0 <= nwords <= size:
            raise _bad(path, f"the dictionary says {nwords} words among {size} entries")
        words: list[str] = []
        find = buf.find
        for _ in range(size):
            end = find(b"\0", pos)
            if end < 0:
                raise _bad(path, "the dictionary is cut off")
            raw = buf[pos:end]
            if len(words) < nwords:  # words come first, then labels
                words.append(raw.decode("utf-8", errors="replace"))
            pos = end + 1 + _ENTRY_TAIL
        if prune > 0:
            pos += 8 * prune
        if pos + 1 + _MATRIX_HEADER.size > len(buf):
            raise _bad(path, "the file ends before the input matrix")
        if buf[pos]:
            raise RetokError(f"{str(path)!r} is a quantized fastText model (.ftz); retok needs the full .bin model")
        rows, cols = _MATRIX_HEADER.unpack_from(buf, pos + 1)
        offset = pos + 1 + _MATRIX_HEADER.size
    if cols != dim or rows != nwords + bucket or offset + 4 * rows * cols > path.stat().st_size:
        raise _bad(path, f"the input matrix is {rows} x {cols}, expected {nwords} words + {bucket} buckets x {dim}")
    matrix = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(rows, cols))
    return FastTextBin(path, dim, minn, maxn, bucket, words, matrix, offset)


__all__ = ["FastTextBin", "read_fasttext_bin"]
