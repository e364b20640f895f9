"""Training text for distillation: the student's packed blocks, each with the teacher's tokens of the same bytes.

The student side is exactly :func:`retok.packing.pack` (paragraphs in file order, a document
separator before each, cut into blocks of ``seq_len`` tokens), so an ``lm`` and an ``alm`` run see the
same blocks. Every paragraph is tokenized whole by both tokenizers and aligned
(:func:`retok.chunk_alignment.align_spans`); a block then takes the teacher tokens that lie inside its
bytes, and keeps the chunks that lie wholly inside the block on both sides and are predicted there
(a chunk holding either side's first token has no log-probability and is dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from .chunk_alignment import ChunkKind, TokenSpans, align_spans, token_spans
from .errors import RetokError
from .eval import document_separator
from .packing import pack
from .vocab import CanonicalVocab


@dataclass(frozen=True)
class AlignedBlocks:
    """Student blocks ``(N, S)`` and the teacher's tokens of the same bytes ``(N, T)`` (right-padded), with shared chunks.

    ``student_chunks (N, S)`` / ``teacher_chunks (N, T)``: each token's chunk within its block (-1: none);
    ``n_chunks (N,)``. Indexing with a tensor of block numbers gives a training batch (a dict), the
    teacher side cut to the longest of those blocks.
    """

    student: torch.Tensor
    teacher: torch.Tensor
    teacher_lengths: torch.Tensor
    student_chunks: torch.Tensor
    teacher_chunks: torch.Tensor
    n_chunks: torch.Tensor
    n_bytes: int
    n_tokens: int
    n_teacher_tokens: int
    n_dropped: int

    def __len__(self) -> int:
        return len(self.student)

    def __getitem__(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        t = int(self.teacher_lengths[index].max()) if len(index) else 0
        return {
            "input_ids": self.student[index],
            "student_chunks": self.student_chunks[index],
            "teacher_ids": self.teacher[index, :t],
            "teacher_mask": (torch.arange(t) < self.teacher_lengths[index, None]).long(),
            "teacher_chunks": self.teacher_chunks[index, :t],
        }

    @property
    def blocks_without_chunks(self) -> int:
        return int((self.n_chunks == 0).sum())


@dataclass
class Stream:
    """One side's token stream over the whole text: ids, byte spans (global) and global chunk ids."""

    ids: list[int]
    starts: list[np.ndarray]
    ends: list[np.ndarray]
    chunks: list[np.ndarray]

    def add(self, sep: int, at: int, spans: TokenSpans, chunks: np.ndarray, chunk_offset: int) -> None:
        self.ids.append(sep)
        self.starts.append(np.array([at]))
        self.ends.append(np.array([at]))
        self.chunks.append(np.array([-1]))
        self.ids.extend(spans.ids)
        self.starts.append(spans.starts + at)
        self.ends.append(spans.ends + at)
        self.chunks.append(np.where(chunks >= 0, chunks + chunk_offset, -1))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.ids, dtype=np.int64), np.concatenate(self.starts), np.concatenate(self.ends), np.concatenate(self.chunks)


def pack_aligned(
    student: PreTrainedTokenizerBase,
    teacher: PreTrainedTokenizerBase,
    paragraphs: Sequence[str],
    *,
    seq_len: int,
    kind: ChunkKind = "space",
) -> AlignedBlocks:
    """Pack ``paragraphs`` for the student (as :func:`~retok.packing.pack`) and give every block the teacher's view.

    Raises:
        RetokError: either tokenizer cannot spell a paragraph back exactly (the paragraph is named).
    """
    packed = pack(student, paragraphs, seq_len=seq_len)  # the same blocks and the same checks as plain training
    s_vocab, t_vocab = CanonicalVocab.of(student), CanonicalVocab.of(teacher)
    s_sep, t_sep = document_separator(student), document_separator(teacher)
    s_ids = student(list(paragraphs), add_special_tokens=False, verbose=False)["input_ids"]
    t_ids = teacher(list(paragraphs), add_special_tokens=False, verbose=False)["input_ids"]
    s_stream, t_stream = Stream([], [], [], []), Stream([], [], [], [])
    at, chunk_offset = 0, 0
    for n, (text, s, t) in enumerate(zip(paragraphs, s_ids, t_ids)):
        data = text.encode("utf-8")
        try:
            s_spans = token_spans(s_vocab, s, data, what="student's tokenizer")
            t_spans = token_spans(t_vocab, t, data, what="teacher's tokenizer")
        except RetokError as err:
            raise RetokError(f"training paragraph {n + 1} ({text[:40]!r}...): {err}") from None
        pair = align_spans(t_spans, s_spans, data, kind)
        s_stream.add(s_sep, at, s_spans, pair.student_chunks, chunk_offset)
        t_stream.add(t_sep, at, t_spans, pair.teacher_chunks, chunk_offset)
        at += len(data) + 1
        chunk_offset += pair.n_chunks
    s_all, s_start, s_end, s_chunk = s_stream.arrays()
    t_all, t_start, t_end, t_chunk = t_stream.arrays()
    assert torch.equal(torch.from_numpy(s_all[: packed.blocks.numel()]), packed.blocks.flatten())
    s_total = np.bincount(s_chunk[s_chunk >= 0], minlength=chunk_offset)
    t_total = np.bincount(t_chunk[t_chunk >= 0], minlength=chunk_offset)

    n_blocks = len(packed.blocks)
    rows_t, rows_sc, rows_tc, counts = [], [], [], []
    for j in range(n_blocks):
        lo, hi = j * seq_len, (j + 1) * seq_len
        t0 = int(np.searchsorted(t_start, s_start[lo], side="left"))
        t1 = int(np.searchsorted(t_end, s_end[hi - 1], side="right"))
        sc, tc = block_chunks(s_chunk[lo:hi], t_chunk[t0:t1], s_total, t_total)
        rows_t.append(t_all[t0:t1])
        rows_sc.append(sc)
        rows_tc.append(tc)
        counts.append(int(sc.max()) + 1 if len(sc) else 0)
    width = max(len(r) for r in rows_t)
    teacher_ids = torch.full((n_blocks, width), t_sep, dtype=torch.long)
    teacher_chunks = torch.full((n_blocks, width), -1, dtype=torch.long)
    for j, (ids, tc) in enumerate(zip(rows_t, rows_tc)):
        teacher_ids[j, : len(ids)] = torch.from_numpy(ids)
        teacher_chunks[j, : len(tc)] = torch.from_numpy(tc)
    return AlignedBlocks(
        student=packed.blocks, teacher=teacher_ids, teacher_lengths=torch.tensor([len(r) for r in rows_t]),
        student_chunks=torch.from_numpy(np.stack(rows_sc)), teacher_chunks=teacher_chunks, n_chunks=torch.tensor(counts),
        n_bytes=packed.n_bytes, n_tokens=packed.n_tokens, n_teacher_tokens=sum(len(r) for r in rows_t), n_dropped=packed.n_dropped,
    )


def block_chunks(s: np.ndarray, t: np.ndarray, s_total: np.ndarray, t_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A block's chunk ids, renumbered 0..K-1: the global chunks wholly inside the block on both sides, not at position 0."""
    ids, s_counts = np.unique(s[s >= 0], return_counts=True)
    t_ids, t_counts = np.unique(t[t >= 0], return_counts=True)
    whole = ids[(s_counts == s_total[ids])]
    whole = np.intersect1d(whole, t_ids[t_counts == t_total[t_ids]])
    first = {int(s[0]), int(t[0]) if len(t) else -1}
    whole = whole[~np.isin(whole, list(first))]
    local = np.full(len(s_total) + 1, -1, dtype=np.int64)
    local[whole] = np.arange(len(whole))
    return local[s], local[t]


__all__ = ["AlignedBlocks", "pack_aligned"]
