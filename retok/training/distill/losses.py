"""Approximate Likelihood Matching (ALM): the student gives each aligned chunk of text the teacher's likelihood.

Teacher and student read the same bytes, each through its own tokenizer; :mod:`retok.training.distill.chunks`
finds the chunks both tokenizations spell with whole tokens. A chunk's log-likelihood is the sum of
its tokens' log-probabilities. The two are compared by a *binarized* f-divergence: a chunk's
tempered probability ``p = exp(logp / temperature)`` is read as a Bernoulli (the chunk, or not the
chunk), and the divergence between the teacher's and the student's Bernoulli is averaged over the
chunks (Minixhofer et al., 2025, "Cross-Tokenizer Distillation via Approximate Likelihood
Matching"; temperature 100 as in the paper).

The default ``binary_ce`` is the binary cross-entropy minus the teacher's binary entropy (the
forward binary KL): the same gradient for the student, and exactly zero when student = teacher.

All functions here are pure tensor functions; :mod:`retok.training.distill.objective` wires them into training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from retok._registry import Registry

DEFAULT_TEMPERATURE = 100.0
EPS = 1e-8

Divergence = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DIVERGENCES: Registry[Divergence] = Registry("divergence")


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``log p(ids[:, i] | ids[:, :i])`` for every position: ``(B, T)`` from ``logits (B, T, V)`` and ``ids (B, T)``.

    Position 0 has no prediction and gets 0.
    """
    lp = -F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="none").view(ids.shape[0], -1)
    return F.pad(lp, (1, 0))


def chunk_logprobs(token_lp: torch.Tensor, chunks: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """Sum the token log-probs of each chunk: ``(B, K)`` from ``token_lp (B, T)`` and ``chunks (B, T)`` (chunk index, -1: none)."""
    inside = chunks >= 0
    out = token_lp.new_zeros(token_lp.shape[0], n_chunks + 1)
    # chunk -1 is parked in the extra last column and dropped
    return out.scatter_add(1, torch.where(inside, chunks, n_chunks), token_lp * inside)[:, :n_chunks]


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``, accurate near 0 and far below it."""
    x = x.clamp(max=-EPS)
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def binary_ce(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """Forward binary KL of tempered chunk log-probs ``(…)``: binary cross-entropy minus the teacher's binary entropy."""
    p = teacher.exp()
    return p * (teacher - student) + (1 - p) * (log1mexp(teacher) - log1mexp(student))


def reverse_binary_kl(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """Reverse binary KL ``KL(student || teacher)`` of tempered chunk log-probs."""
    return binary_ce(student, teacher)


def absolute(teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """``|log p_teacher - log p_student|`` of the tempered chunk log-probs (no binarization)."""
    return (teacher - student).abs()


DIVERGENCES.add("binary_ce", binary_ce)
DIVERGENCES.add("reverse_binary_kl", reverse_binary_kl)
DIVERGENCES.add("abs", absolute)


def chunk_divergences(teacher_lp: torch.Tensor, student_lp: torch.Tensor, *, temperature: float = DEFAULT_TEMPERATURE,
                      divergence: str = "binary_ce") -> torch.Tensor:
    """The divergence of every chunk ``(B, K)`` from chunk log-probs ``(B, K)``; the teacher side is a constant (detached)."""
    fn = DIVERGENCES.get(divergence)
    return fn(teacher_lp.detach().float() / temperature, student_lp.float() / temperature)


def alm_loss(
    teacher_lp: torch.Tensor,
    student_lp: torch.Tensor,
    mask: torch.Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    divergence: str = "binary_ce",
) -> torch.Tensor:
    """Mean divergence over the chunks in ``mask``: a scalar from chunk log-probs ``(B, K)`` and ``mask (B, K)`` bool.

    The teacher side is treated as a constant (detached). No chunk in ``mask``: 0 (with a gradient path).
    """
    values = chunk_divergences(teacher_lp, student_lp, temperature=temperature, divergence=divergence)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def chunk_ends(chunks: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """The position of each chunk's last token: ``(B, K)`` long from ``chunks (B, T)``; 0 for a chunk with no token."""
    positions = torch.arange(chunks.shape[1], device=chunks.device).expand_as(chunks)
    out = torch.zeros(chunks.shape[0], n_chunks + 1, dtype=torch.long, device=chunks.device)
    return out.scatter_reduce(1, torch.where(chunks >= 0, chunks, n_chunks), positions, reduce="amax")[:, :n_chunks]


def hidden_alignment_sums(teacher_hidden: torch.Tensor, student_hidden: torch.Tensor, teacher_ends: torch.Tensor,
                          student_ends: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The squared distance of the last hidden states at chunk ends, summed, and the teacher's summed square (a constant).

    ``*_hidden (B, T*, d)``, ``*_ends (B, K)`` positions, ``mask (B, K)``. The teacher side is constant.
    """
    t = teacher_hidden.detach().float().gather(1, teacher_ends.unsqueeze(-1).expand(-1, -1, teacher_hidden.shape[-1]))
    s = student_hidden.float().gather(1, student_ends.unsqueeze(-1).expand(-1, -1, student_hidden.shape[-1]))
    m = mask.unsqueeze(-1)
    return (((s - t) ** 2) * m).sum(), ((t * t) * m).sum()


def hidden_alignment_loss(teacher_hidden: torch.Tensor, student_hidden: torch.Tensor, teacher_ends: torch.Tensor,
                          student_ends: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared distance of the last hidden states at chunk ends, relative to the teacher's square (see :func:`hidden_alignment_sums`)."""
    distance, scale = hidden_alignment_sums(teacher_hidden, student_hidden, teacher_ends, student_ends, mask)
    return distance / scale.clamp(min=EPS)


def gradient_balance(terms: Sequence[torch.Tensor], probe: torch.Tensor) -> torch.Tensor:
    """Weights ``(n,)`` that give every loss term the same gradient magnitude at ``probe``, keeping the total.

    ``w_i = mean_j(g_j) / g_i`` with ``g_i = ||d term_i / d probe||`` (tokenkit's
    "approx_gradmag_preserve_mag": the probe is the last hidden state, so this costs one backward
    through the output head per term). A term without gradient gets weight 1. Detached.
    """
    norms = []
    for term in terms:
        (grad,) = torch.autograd.grad(term, probe, retain_graph=True, allow_unused=True)
        norms.append(grad.float().square().sum() if grad is not None else probe.new_zeros((), dtype=torch.float32))
    g = torch.stack(norms).detach()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # the probe is split over the processes: the whole batch's norm, so every process (and a single one) weighs alike
        torch.distributed.all_reduce(g)
    g = g.sqrt()
    positive = g > 0
    if not positive.any():
        return torch.ones_like(g)
    mean = g[positive].mean()
    return torch.where(positive, mean / g.clamp(min=EPS), torch.ones_like(g))


__all__ = ["DEFAULT_TEMPERATURE", "DIVERGENCES", "alm_loss", "chunk_divergences", "chunk_ends", "chunk_logprobs", "gradient_balance",
           "hidden_alignment_loss", "hidden_alignment_sums",
           "log1mexp", "token_logprobs"]
