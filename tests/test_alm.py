"""The ALM loss as pure tensor functions: chunk sums, the binarized divergences, a hand-checked example, gradient balance."""

from __future__ import annotations

import math

import pytest
import torch

from retok import RetokError
from retok.training.distill.losses import DIVERGENCES, alm_loss, chunk_ends, chunk_logprobs, gradient_balance, hidden_alignment_loss, log1mexp, token_logprobs


def uniform_logits(sizes: list[int], vocab: int = 4) -> torch.Tensor:
    """Logits ``(1, T, vocab)`` whose position t spreads its mass evenly over the first ``sizes[t]`` ids."""
    logits = torch.full((1, len(sizes), vocab), -1e9)
    for t, n in enumerate(sizes):
        logits[0, t, :n] = 0.0
    return logits


def test_two_chunk_example_matches_the_hand_computed_binary_kl():
    # teacher: tokens [a, a, a]; p(token 1) = 1/2 (uniform over 2), p(token 2) = 1/4 (uniform over 4)
    ids = torch.zeros(1, 3, dtype=torch.long)
    teacher_lp = token_logprobs(uniform_logits([2, 4, 1]), ids)
    student_lp = token_logprobs(uniform_logits([4, 4, 1]), ids)
    assert teacher_lp[0].tolist() == pytest.approx([0.0, math.log(1 / 2), math.log(1 / 4)])
    chunks = torch.tensor([[-1, 0, 1]])  # token 0 has no prediction: in no chunk
    t, s = chunk_logprobs(teacher_lp, chunks, 2), chunk_logprobs(student_lp, chunks, 2)
    loss = alm_loss(t, s, torch.ones(1, 2, dtype=torch.bool), temperature=1.0)

    def binary_kl(p: float, q: float) -> float:
        return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))

    # chunk 0: teacher 1/2 vs student 1/4; chunk 1: 1/4 vs 1/4
    assert loss.item() == pytest.approx((binary_kl(0.5, 0.25) + 0.0) / 2, rel=1e-5)


def test_chunk_sums_leave_out_tokens_in_no_chunk():
    lp = torch.tensor([[0.0, -1.0, -2.0, -4.0], [0.0, -8.0, -16.0, -32.0]])
    chunks = torch.tensor([[-1, 0, 0, 1], [-1, -1, 0, 0]])
    assert chunk_logprobs(lp, chunks, 2).tolist() == [[-3.0, -4.0], [-48.0, 0.0]]
    assert chunk_ends(chunks, 2).tolist() == [[2, 3], [3, 0]]


@pytest.mark.parametrize("name", DIVERGENCES.names())
def test_every_divergence_is_zero_at_a_match_and_positive_elsewhere(name):
    teacher = torch.tensor([-0.01, -0.3, -2.0])
    fn = DIVERGENCES.get(name)
    assert fn(teacher, teacher).abs().max().item() < 1e-6
    assert (fn(teacher, teacher - 0.1) > 0).all()


def test_masked_chunks_do_not_count_and_no_chunk_gives_zero():
    t, s = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.0, -9.0]])
    assert alm_loss(t, s, torch.tensor([[True, False]])).item() == 0.0
    assert alm_loss(t, s, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0


def test_the_teacher_side_gets_no_gradient():
    t = torch.tensor([[-1.0]], requires_grad=True)
    s = torch.tensor([[-2.0]], requires_grad=True)
    alm_loss(t, s, torch.ones(1, 1, dtype=torch.bool)).backward()
    assert t.grad is None and s.grad is not None


def test_log1mexp_is_accurate_near_zero_and_far_below():
    x = torch.tensor([-1e-6, -0.5, -5.0, -50.0], dtype=torch.float64)
    assert torch.allclose(log1mexp(x), torch.log(1 - torch.exp(x)), rtol=1e-6)


def test_unknown_divergence_names_the_choices():
    with pytest.raises(RetokError, match="binary_ce"):
        alm_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool), divergence="binary_kl_typo")


def test_gradient_balance_equalizes_the_terms_gradient_norms_and_keeps_their_sum():
    probe = torch.tensor([1.0, 2.0], requires_grad=True)
    big, small = 100 * (probe**2).sum(), (probe[0] * 3)
    w = gradient_balance([big, small], probe)
    g_big = torch.autograd.grad(w[0] * big, probe, retain_graph=True)[0].norm()
    g_small = torch.autograd.grad(w[1] * small, probe)[0].norm()
    assert g_big.item() == pytest.approx(g_small.item(), rel=1e-5)
    raw = math.hypot(200, 400) + 3
    assert (g_big + g_small).item() == pytest.approx(raw, rel=1e-5)


def test_hidden_alignment_is_zero_for_equal_states_and_relative_to_the_teacher_scale():
    h = torch.randn(1, 4, 3)
    ends = torch.tensor([[1, 3]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert hidden_alignment_loss(h, h, ends, ends, mask).item() == 0.0
    assert hidden_alignment_loss(h, 2 * h, ends, ends, mask).item() == pytest.approx(1.0, rel=1e-5)
