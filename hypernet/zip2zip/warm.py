"""The warm start of the hyper-encoders: self-distillation against the frozen base model on the same bytes.

Before any LoRA step, the encoders (and the length bias) train alone with the LM frozen, so that the
model reading hypertokens predicts what it predicts reading the same text as base tokens. The
teacher is the model itself on the window's base ids; the student is the same model on the
window's codes. Both have read the same bytes at student position ``t`` (it reads code ``t``,
whose last base token sits at base position ``end[t]``), so the targets are byte-aligned:

* the teacher's next-token distribution ``p = softmax(teacher_logits[end[t]])`` over base ids;
* the mass of a hypertoken ``e = x[a..a+L-1]`` (``a = end[t] + 1``) is the teacher's probability of
  its whole base string, ``P(e) = prod_i p(x_i | x_<i)``: a hypertoken's log-probability is the sum
  of its base tokens' log-probabilities.

The target over the student's ``V0 + K'`` classes splits the teacher's mass along the *chain* of
codebook entries that the text continues with (prefixes of the continuation the decoder can name
at ``t``; LZW's codebook is prefix-closed, so there are up to ``M - 1`` of them, the longest one
being the next code): entry ``e_k`` gets ``P(e_k) - P(e_{k+1})`` (the text continues with ``e_k``
and not with the longer entry), the longest ``P(e_last)``, the first base token ``p(x_a) - P(e_1)``
and every other base token ``p(v)``. It sums to 1, and the loss is its cross-entropy with the
student's log-softmax, averaged over positions. No gradient reaches the LM (its weights are frozen),
only the encoders, through the student's input rows and output rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional as F

from retok.adaptive.lzw import LZWConfig
from retok.training.trainer import Replicated, global_mean

from .data import CompressedWindow, collate, compress_window

WARM_KEYS = ("base_ids", "span_end", "chain_class", "chain_end", "n_positions", "labels", "n_targets")  # not the student's inputs


def chain_targets(window: CompressedWindow, ids: Sequence[int], config: LZWConfig) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Where each position's bytes end in base ids, and the chain of entries the text continues with.

    Returns ``span_end`` (T: the base position of the last token read at ``t``; -1 where the
    position predicts nothing), ``chain_class`` and ``chain_end`` (T x (M-1): the class ``V0 + slot``
    of the entry of length ``L = 2..M`` starting at ``span_end + 1`` if the decoder can name it at
    ``t``, and the base position of its last token; -1 when there is none).
    """
    v0, m = config.initial_vocab_size, config.max_subtokens
    slot_of = {entry: k for k, entry in enumerate(window.entries)}
    lengths = [1 if code < v0 else len(window.entries[code - v0]) for code in window.inputs]
    span_end, chain_class, chain_end = [], [], []
    end = -1
    for t, (size, label) in enumerate(zip(lengths, window.labels)):
        end += size
        classes, ends = [-1] * (m - 1), [-1] * (m - 1)
        if label >= 0:
            start = end + 1
            for length in range(2, m + 1):
                last = start + length - 1
                if last >= len(ids):
                    break
                slot = slot_of.get(tuple(ids[start : last + 1]))
                if slot is None:
                    break  # prefix-closed: no longer entry exists either
                if window.available[slot] <= t or (slot == label - v0 and window.pending[t] is not None):  # installed, or the pending label
                    classes[length - 2], ends[length - 2] = v0 + slot, last
        span_end.append(end if label >= 0 else -1)
        chain_class.append(classes)
        chain_end.append(ends)
    return span_end, chain_class, chain_end


def warm_batches(blocks_at: Callable[[int], torch.Tensor], config: LZWConfig, *,
                 legacy_mask: bool = False) -> Callable[[int], dict[str, torch.Tensor]]:
    """Step -> the collated compressed batch of ``blocks_at(step) (B, W)`` plus the distillation tensors; pure in the step.

    Adds ``base_ids (B, W)``, ``span_end (B, T)``, ``chain_class``/``chain_end (B, T, M-1)`` (see :func:`chain_targets`)
    and ``n_positions``, the whole batch's number of scored positions (:class:`~retok.training.trainer.Replicated`).
    """

    def batch_at(step: int) -> dict[str, torch.Tensor]:
        blocks = blocks_at(step)
        windows, extra = [], []
        for row in blocks:
            ids = row.tolist()
            window = compress_window(ids, config)
            windows.append(window)
            extra.append(chain_targets(window, ids, config))
        batch = collate(windows, config.max_subtokens, legacy_mask=legacy_mask)
        length, width = batch["codes"].shape[1], config.max_subtokens - 1
        span_end = torch.full((len(windows), length), -1, dtype=torch.long)
        chain_class = torch.full((len(windows), length, width), -1, dtype=torch.long)
        chain_end = torch.full((len(windows), length, width), -1, dtype=torch.long)
        for b, (ends, classes, last) in enumerate(extra):
            span_end[b, : len(ends)] = torch.tensor(ends, dtype=torch.long)
            chain_class[b, : len(classes)] = torch.tensor(classes, dtype=torch.long)
            chain_end[b, : len(last)] = torch.tensor(last, dtype=torch.long)
        return {**batch, "base_ids": blocks.long(), "span_end": span_end, "chain_class": chain_class, "chain_end": chain_end,
                "n_positions": Replicated((span_end >= 0).sum())}

    return batch_at


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, base_ids: torch.Tensor, span_end: torch.Tensor,
                      chain_class: torch.Tensor, chain_end: torch.Tensor) -> torch.Tensor:
    """The warm-start loss (module docstring), a pure tensor function.

    Args:
        student_logits: ``(B, T, V0 + K')`` the student's logits on the codes.
        teacher_logits: ``(B, N, V0)`` the frozen model's logits on the base ids.
        base_ids: ``(B, N)`` the windows' base ids.
        span_end: ``(B, T)`` base position of the last token read at each student position, -1: no target.
        chain_class, chain_end: ``(B, T, M-1)`` the chain's classes and last base positions, -1: none.

    Returns:
        the mean cross-entropy of the student against the byte-aligned targets, a scalar.
    """
    v0 = teacher_logits.shape[-1]
    valid = span_end >= 0  # (B, T)
    if not bool(valid.any()):
        return student_logits.sum() * 0.0
    teacher_logits, student_logits = teacher_logits.float(), student_logits.float()
    # log-softmaxes are never materialised whole: log s_c = z_c - logsumexp(z), and sum_v p_v log s_v = sum_v p_v z_v - logsumexp(z)
    teacher_norm = torch.logsumexp(teacher_logits, dim=-1)  # (B, N)
    token_lp = teacher_logits[:, :-1].gather(-1, base_ids[:, 1:].unsqueeze(-1)).squeeze(-1) - teacher_norm[:, :-1]  # (B, N-1)
    cum = F.pad(token_lp.cumsum(-1), (1, 0))  # (B, N): cum[i] = sum_{1 <= j <= i} log p(x_j | x_<j)
    end = span_end.clamp(min=0)
    p_next = torch.softmax(teacher_logits.gather(1, end.unsqueeze(-1).expand(-1, -1, v0)), dim=-1)  # (B, T, V0)
    student_norm = torch.logsumexp(student_logits, dim=-1)  # (B, T)
    loss = student_norm - torch.einsum("btv,btv->bt", p_next, student_logits[..., :v0])  # the base tokens at the teacher's masses
    has = chain_class >= 0  # (B, T, M-1)
    if bool(has.any()):
        log_mass = cum.gather(1, chain_end.clamp(min=0).flatten(1)).view_as(chain_end) - cum.gather(1, end).unsqueeze(-1)
        mass = torch.where(has, log_mass.exp(), 0.0)  # (B, T, M-1): P(e_L), 0 where no entry
        # masses fall with length, so the next longer entry's mass is the largest among the longer ones (0 past the last)
        suffix = torch.flip(torch.cummax(torch.flip(mass, [-1]), -1).values, [-1])  # (B, T, M-1): max_{j >= k} P(e_j)
        nxt = F.pad(suffix[..., 1:], (0, 1))
        share = (mass - nxt).clamp(min=0)  # e_k's own mass
        entry_lp = (student_logits.gather(-1, chain_class.clamp(min=0)) - student_norm.unsqueeze(-1)).masked_fill(~has, 0.0)
        first_mass = mass.max(-1).values  # P(e_1), the shortest entry's (masses fall with length)
        first = base_ids.gather(1, (end + 1).clamp(max=base_ids.shape[1] - 1))  # (B, T): the first base token of the continuation
        first_lp = student_logits.gather(-1, first.unsqueeze(-1)).squeeze(-1) - student_norm
        loss = loss + first_mass * first_lp - (share * entry_lp).sum(-1)
    return loss[valid].mean()


def warm_loss(model: torch.nn.Module, batch: dict[str, Any], *, world: int = 1) -> torch.Tensor:
    """The warm-start loss of a :class:`~hypernet.zip2zip.Zip2ZipLM` (``model`` may be the DDP wrapper) on a :func:`warm_batches` batch.

    The teacher is the same network on the base ids with no hypertoken: its LoRA is still exactly zero in
    the warm start, which comes before any LoRA step. (peft's ``disable_adapter`` is not used: leaving it
    marks the adapters trainable again, and they would gather gradients the LoRA stage then adds to.)
    """
    net = getattr(model, "module", model)
    base_ids = batch["base_ids"]
    with torch.no_grad():
        teacher = net(codes=base_ids).logits
    student = model(**{k: v for k, v in batch.items() if k not in WARM_KEYS}).logits
    loss = distillation_loss(student, teacher, base_ids, batch["span_end"], batch["chain_class"], batch["chain_end"])
    if world == 1:
        return loss
    return global_mean(loss * (batch["span_end"] >= 0).sum(), batch["n_positions"], world)  # the global batch's mean under DDP


__all__ = ["WARM_KEYS", "chain_targets", "distillation_loss", "warm_batches", "warm_loss"]
