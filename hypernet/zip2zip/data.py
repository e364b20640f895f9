"""Compressed training and scoring windows: base-token windows -> LZW codes -> the tensors :class:`~hypernet.zip2zip.Zip2ZipLM` takes.

A window of base ids is LZW-encoded with a fresh codebook (:func:`retok.adaptive.lzw.encode`). Position
``t`` reads code ``t`` and predicts code ``t + 1``. Replaying the online decoder
(:class:`retok.adaptive.lzw.Codebook`) over the inputs gives, for every slot, the position from which it
may be scored (``available``: the decoder installed it when it read that position's code) and,
for every position, the one entry the decoder could read next before installing it (``pending``,
the LZW cScSc case). So the training targets never use a codebook row the decoder would not have
at generation time, and every code of a window can still be scored.
"""

from __future__ import annotations

import bisect

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from retok.adaptive.lzw import Codebook, LZWConfig, encode
from retok.training.trainer import Replicated
from retok.vocab.pieces import pad_pieces

from .model import IGNORE


@dataclass(frozen=True)
class CompressedWindow:
    """One window: ``inputs``/``labels`` (T codes each), the decoder's codebook ``entries``, ``available`` (per slot) and ``pending`` (per position)."""

    inputs: list[int]
    labels: list[int]
    entries: list[tuple[int, ...]]
    available: list[int]
    pending: list[tuple[int, ...] | None]

    @property
    def length(self) -> int:
        """Positions of the window (inputs and labels have this length)."""
        return len(self.inputs)


def compress_window(ids: Sequence[int], config: LZWConfig, *, prefix: int | None = None) -> CompressedWindow:
    """Encode ``ids`` and lay it out for next-code prediction.

    ``prefix`` None (training): inputs ``codes``, labels ``codes[1:] + [-100]`` (the first code is
    context only and the last position predicts nothing, exactly as HF's causal-LM loss lays out a
    block). ``prefix`` a separator id (scoring): inputs
    ``[prefix] + codes[:-1]``, labels ``codes``, so every code, and so every byte, is scored once.
    """
    codes = encode(ids, config)
    if prefix is None:
        inputs, labels = codes, codes[1:] + [IGNORE]  # as HF's causal LM: every position runs, the last predicts nothing
    else:
        inputs, labels = [prefix] + codes[:-1], codes
    decoder = Codebook(config)
    available: list[int] = []
    pending: list[tuple[int, ...] | None] = []
    for t, code in enumerate(inputs):
        decoder.feed(code)
        available.extend(t for _ in decoder.last_installed)
        pending.append(decoder.pending())
    v0 = config.initial_vocab_size
    for t, label in enumerate(labels):  # the layout's promise; a failure here is a bug in the codec
        slot = label - v0
        if slot >= 0 and not (slot < len(available) and available[slot] <= t) and not (pending[t] is not None and slot == installed_by(available, t)):
            raise AssertionError(f"code {label} at position {t + 1} is neither installed nor pending")
    return CompressedWindow(inputs, labels, decoder.entries, available, pending)


def installed_by(available: Sequence[int], t: int) -> int:
    """How many slots are installed by position ``t`` (``available`` is non-decreasing): the next free slot's index there."""
    return bisect.bisect_right(available, t)


def collate(windows: Sequence[CompressedWindow], max_subtokens: int, *, legacy_mask: bool = False) -> dict[str, torch.Tensor]:
    """Right-pad windows into the batch :meth:`Zip2ZipLM.forward` takes.

    ``legacy_mask``: slot ``k`` scorable from position ``k`` on, or from where the decoder installs
    it if that is earlier (zip2zip's legacy training mask, which shows some slots before the decoder has
    them); default: from where the online decoder installs it, as generation and scoring see it.

    ``codes``/``labels`` ``(B, T)`` (pads: code 0, label -100), ``entries (B, K', M)`` (-1 pads),
    ``available (B, K')`` (unused slots: T, never scorable), ``pending (B, T, M)``, ``pending_slot
    (B, T)`` (-1: none), and ``attention_mask (B, T)`` only when some window is shorter (it comes
    from the lengths, never from ``code == pad``).
    """
    length = max(w.length for w in windows)
    slots = 0
    for w in windows:
        slots = max(slots, len(w.entries))
        for t, p in enumerate(w.pending):
            if p is not None:
                slots = max(slots, installed_by(w.available, t) + 1)
    batch = len(windows)
    codes = torch.zeros(batch, length, dtype=torch.long)
    labels = torch.full((batch, length), IGNORE, dtype=torch.long)
    mask = torch.zeros(batch, length, dtype=torch.long)
    entries = torch.full((batch, slots, max_subtokens), -1, dtype=torch.long)
    available = torch.full((batch, slots), length, dtype=torch.long)
    pending = torch.full((batch, length, max_subtokens), -1, dtype=torch.long)
    pending_slot = torch.full((batch, length), -1, dtype=torch.long)
    for b, w in enumerate(windows):
        n = w.length
        codes[b, :n] = torch.tensor(w.inputs, dtype=torch.long)
        labels[b, :n] = torch.tensor(w.labels, dtype=torch.long)
        mask[b, :n] = 1
        if w.entries:
            table = pad_pieces(w.entries)
            entries[b, : len(w.entries), : table.shape[1]] = table
            installed = torch.tensor(w.available, dtype=torch.long)
            available[b, : len(w.available)] = installed.clamp(max=torch.arange(len(w.available))) if legacy_mask else installed
        for t, p in enumerate(w.pending):
            if p is not None:
                pending[b, t, : len(p)] = torch.tensor(p, dtype=torch.long)
                pending_slot[b, t] = installed_by(w.available, t)
    out = {"codes": codes, "labels": labels, "entries": entries, "available": available, "pending": pending, "pending_slot": pending_slot}
    if not bool(mask.all()):
        out["attention_mask"] = mask
    return out


def compressed_batches(blocks_at: Callable[[int], torch.Tensor], config: LZWConfig, *,
                       legacy_mask: bool = False) -> Callable[[int], dict[str, Any]]:
    """Step -> the collated compressed batch of the base-token windows ``blocks_at(step) (B, W)``; pure in the step.

    ``n_targets`` (:class:`~retok.training.trainer.Replicated`) counts the targets of the whole batch.
    """

    def batch_at(step: int) -> dict[str, Any]:
        batch: dict[str, Any] = collate([compress_window(row.tolist(), config) for row in blocks_at(step)], config.max_subtokens,
                                        legacy_mask=legacy_mask)
        batch["n_targets"] = Replicated((batch["labels"] != IGNORE).sum())  # the global batch's, for an exact mean under DDP
        return batch

    return batch_at


__all__ = ["CompressedWindow", "collate", "compress_window", "compressed_batches", "installed_by"]
