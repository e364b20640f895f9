"""Training text for continued training: a byte budget, tokenized once, packed into equal blocks.

Every model in a comparison sees the *same text*: paragraphs are taken in file order until the
byte budget would be exceeded, whatever the tokenizer. A tokenizer that needs fewer tokens for
that text simply yields fewer blocks (fewer optimizer steps) — the point of tokenizer transfer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import torch
from transformers import PreTrainedTokenizerBase

from retok.errors import RetokError
from retok.eval import document_separator


#: a training document: a paragraph, or a conversation (``[{"role": ..., "content": ...}, ...]``)
Conversation = Sequence[Mapping[str, str]]
Document = Union[str, Conversation]


def document_bytes(doc: Document) -> int:
    """The UTF-8 size of a document's text: a paragraph's, or the sum of a conversation's message contents."""
    if isinstance(doc, str):
        return len(doc.encode("utf-8"))
    return sum(len(m["content"].encode("utf-8")) for m in doc)


def rendered(tokenizer: PreTrainedTokenizerBase, doc: Document) -> str:
    """A paragraph as it is; a conversation through the tokenizer's chat template (special tokens as text)."""
    if isinstance(doc, str):
        return doc
    if not getattr(tokenizer, "chat_template", None):
        raise RetokError("the training text holds conversations but the tokenizer has no chat template; give it one or train on plain text")
    return tokenizer.apply_chat_template(list(doc), tokenize=False)


def take_bytes(paragraphs: Sequence[Document], max_bytes: int | None) -> list[Document]:
    """The leading documents whose ``"\\n"``-joined UTF-8 size stays within ``max_bytes`` (None: all)."""
    if max_bytes is None:
        return list(paragraphs)
    out, size = [], 0
    for p in paragraphs:
        cost = document_bytes(p) + (1 if out else 0)
        if size + cost > max_bytes:
            break
        out.append(p)
        size += cost
    return out


@dataclass(frozen=True)
class PackedText:
    """blocks (N, seq_len) of token ids; ``n_bytes`` of text they came from; ``n_tokens`` kept in blocks."""

    blocks: torch.Tensor
    n_bytes: int
    n_tokens: int
    n_dropped: int


def pack(tokenizer: PreTrainedTokenizerBase, paragraphs: Sequence[Document], *, seq_len: int) -> PackedText:
    """Tokenize documents (no special tokens beyond a chat template's), join them with the document separator, cut into blocks.

    The tail that does not fill a whole block is dropped (``n_dropped`` tokens).
    """
    if not paragraphs:
        raise RetokError("no training text: the byte budget or the corpus is empty; pass a larger budget or a fuller file")
    if seq_len < 2:
        raise RetokError(f"seq_len must be at least 2; got {seq_len}")
    sep = document_separator(tokenizer)
    stream: list[int] = []
    for ids in tokenizer([rendered(tokenizer, p) for p in paragraphs], add_special_tokens=False, verbose=False)["input_ids"]:
        stream.append(sep)
        stream.extend(ids)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise RetokError(f"the training text gives {len(stream)} tokens, fewer than one block of seq_len={seq_len}; use more text or a shorter seq_len")
    blocks = torch.tensor(stream[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)
    n_bytes = sum(document_bytes(p) for p in paragraphs) + len(paragraphs) - 1
    return PackedText(blocks, n_bytes, n_blocks * seq_len, len(stream) - n_blocks * seq_len)


def bytes_seen(packed: PackedText, tokens: int) -> int:
    """The bytes of text that ``tokens`` trained tokens of ``packed`` stand for (its bytes per packed token, the dropped tail included).

    What a run reports as trained: ``steps x batch_size x seq_len`` tokens, not every packed block,
    since the blocks that do not fill a last batch are left out of each epoch.
    """
    return round(tokens * packed.n_bytes / (packed.n_tokens + packed.n_dropped))



