"""Training text for distillation: the student's packed blocks, each with the teacher's tokens of the same bytes.

The student side is exactly :func:`retok.training.packing.pack` (documents in file order, a document
separator before each, cut into blocks of ``seq_len`` tokens), so an ``lm`` and an ``alm`` run see the
same blocks. Every document (a paragraph, or a conversation rendered by each side's chat template)
is tokenized whole by both tokenizers and aligned
(:func:`retok.training.distill.chunks.align_spans`); a block then takes the teacher tokens that lie inside its
bytes, and keeps the chunks that lie wholly inside the block on both sides and are predicted there
(a chunk holding either side's first token has no log-probability and is dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from retok.errors import RetokError
from retok.eval import document_separator
from retok.training.packing import Document
from retok.vocab.canonical import CanonicalVocab
from .chunks import AlignedPair, ChunkKind, TokenSpans, align_conversation, align_spans, token_spans


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
    documents: Sequence[Document],
    *,
    seq_len: int,
    kind: ChunkKind = "space",
) -> AlignedBlocks:
    """Pack ``documents`` for the student (as :func:`~retok.training.packing.pack`) and give every block the teacher's view.

    A document is a paragraph (plain text) or a conversation (a list of ``{"role", "content"}``
    messages: each side renders it with its own chat template and the message contents align).

    Raises:
        RetokError: either tokenizer cannot spell a document back exactly (the document is named),
            or the documents give fewer tokens than one block.
    """
    if not documents:
        raise RetokError("no training text: the byte budget or the corpus is empty; pass a larger budget or a fuller file")
    s_vocab, t_vocab = CanonicalVocab.of(student), CanonicalVocab.of(teacher)
    s_sep, t_sep = document_separator(student), document_separator(teacher)
    s_stream, t_stream = Stream([], [], [], []), Stream([], [], [], [])
    at, chunk_offset = 0, 0
    for n, doc in enumerate(documents):
        try:
            pair = align_document(doc, t_vocab, s_vocab, kind)
        except RetokError as err:
            raise RetokError(f"training document {n + 1} ({preview(doc)!r}...): {err}") from None
        s_stream.add(s_sep, at, pair.student, pair.student_chunks, chunk_offset)
        t_stream.add(t_sep, at, pair.teacher, pair.teacher_chunks, chunk_offset)
        at += len(pair.data) + 1
        chunk_offset += pair.n_chunks
    s_all, s_start, s_end, s_chunk = s_stream.arrays()
    t_all, t_start, t_end, t_chunk = t_stream.arrays()
    n_blocks = len(s_all) // seq_len
    if n_blocks == 0:
        raise RetokError(f"the training text gives {len(s_all)} tokens, fewer than one block of seq_len={seq_len}; use more text or a shorter seq_len")
    s_total = np.bincount(s_chunk[s_chunk >= 0], minlength=chunk_offset)
    t_total = np.bincount(t_chunk[t_chunk >= 0], minlength=chunk_offset)

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
        student=torch.from_numpy(s_all[: n_blocks * seq_len]).view(n_blocks, seq_len), teacher=teacher_ids,
        teacher_lengths=torch.tensor([len(r) for r in rows_t]), student_chunks=torch.from_numpy(np.stack(rows_sc)),
        teacher_chunks=teacher_chunks, n_chunks=torch.tensor(counts), n_bytes=at - 1, n_tokens=n_blocks * seq_len,
        n_teacher_tokens=sum(len(r) for r in rows_t), n_dropped=len(s_all) - n_blocks * seq_len,
    )


def align_document(doc: Document, teacher: CanonicalVocab, student: CanonicalVocab, kind: ChunkKind) -> AlignedPair:
    """Both tokenizations of one document and their shared chunks (a paragraph: no special tokens; a conversation: each side's template)."""
    if not isinstance(doc, str):
        return align_conversation(doc, teacher, student, kind)
    data = doc.encode("utf-8")
    t = token_spans(teacher, teacher.tokenizer(doc, add_special_tokens=False)["input_ids"], data, what="teacher's tokenizer")
    s = token_spans(student, student.tokenizer(doc, add_special_tokens=False)["input_ids"], data, what="student's tokenizer")
    return align_spans(t, s, data, kind)


def preview(doc: Document) -> str:
    return (doc if isinstance(doc, str) else " ".join(m.get("content", "") for m in doc))[:40]


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
