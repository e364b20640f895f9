"""Self-distillation after a tokenizer swap: the original model (own tokenizer) teaches the transplanted one.

Three pieces, used by :func:`retok.training.finetune.finetune` for ``objective="alm"`` / ``"lm+alm"``:

- :func:`shared_teacher` loads the teacher and makes it *share* every weight it has in common with
  the student (bit-equal tensors: after a transplant that is the whole body; only the embeddings
  differ). LoRA leaves those base weights frozen, so the teacher stays the original model while the
  student trains, and the run holds one body in memory, not two.
- :func:`distill_loss` returns the training loss ``loss_fn(model, batch)`` for the one training loop
  (:mod:`retok.training.trainer`): next-token loss, ALM (:mod:`retok.training.distill.losses`) on the aligned chunks of
  :class:`~retok.training.distill.blocks.AlignedBlocks` batches, optionally hidden-state alignment at chunk ends.
  Without a fixed ``alm_weight`` the terms are balanced by their gradient magnitude at the last
  hidden state, so no weight needs tuning (``hidden_weight`` then scales the hidden term's balanced weight).
- :func:`evaluate_alm` scores the ALM loss on held-out blocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from retok.errors import RetokError
from retok.training.trainer import Replicated
from .blocks import AlignedBlocks
from .losses import DEFAULT_TEMPERATURE, chunk_divergences, chunk_ends, chunk_logprobs, gradient_balance, hidden_alignment_sums, token_logprobs

OBJECTIVES = ("lm", "alm", "lm+alm")
SCHEDULES = ("constant", "decay")
TEACHER_BODIES = ("frozen", "adapted")


@dataclass(frozen=True, kw_only=True)
class DistillSettings:
    """Which loss terms train and how they are weighed (``alm_weight=None``: balanced by gradient magnitude)."""

    objective: str = "lm+alm"
    temperature: float = DEFAULT_TEMPERATURE
    divergence: str = "binary_ce"
    alm_weight: float | None = None
    hidden_weight: float = 0.0
    schedule: str = "constant"  # "decay": the distillation terms fade linearly to 0 over the run
    teacher_body: str = "frozen"  # "adapted": the teacher runs on the student's LoRA-adapted body (its embeddings and head stay its own)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise RetokError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if self.schedule not in SCHEDULES:
            raise RetokError(f"unknown ALM schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.teacher_body not in TEACHER_BODIES:
            raise RetokError(f"unknown teacher body {self.teacher_body!r}; choose one of {', '.join(TEACHER_BODIES)}")

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.objective.split("+"))


def shared_teacher(student: torch.nn.Module, teacher: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """Make ``teacher`` use ``student``'s parameter tensors wherever they are equal (same name, shape and values).

    Call before wrapping the student with LoRA (peft keeps the base tensors it wraps). Returns the
    frozen teacher (eval mode) and the number of shared parameters. Sharing only bit-equal
    tensors keeps a teacher that is *another* model correct: it simply shares nothing.
    """
    own = dict(student.named_parameters(remove_duplicate=False))
    shared = 0
    for name, p in list(teacher.named_parameters(remove_duplicate=False)):
        q = own.get(name)
        if q is None or q.shape != p.shape or q.dtype != p.dtype or q.device != p.device or not torch.equal(p, q):
            continue
        module_name, _, leaf = name.rpartition(".")
        module = teacher.get_submodule(module_name) if module_name else teacher
        module._parameters[leaf] = q  # the same tensor object: no copy
        shared += q.numel()
    teacher.requires_grad_(False)
    return teacher.eval(), shared


def check_hidden_sizes(student: torch.nn.Module, teacher: torch.nn.Module) -> None:
    """RetokError when hidden-state alignment is asked for a pair whose last hidden states differ in size."""
    s, t = student.get_output_embeddings().weight.shape[-1], teacher.get_output_embeddings().weight.shape[-1]
    if s != t:
        raise RetokError(f"hidden-state alignment needs teacher and student of the same hidden size; the teacher has {t}, the student {s}; "
                         "set hidden_weight=0")


@contextlib.contextmanager
def head_input(model: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Capture the input of ``model``'s output head (the last hidden state ``(B, T, d)``) during a forward pass."""
    seen: list[torch.Tensor] = []
    head = getattr(model, "module", model).get_output_embeddings()
    handle = head.register_forward_hook(lambda _module, inputs, _output: seen.append(inputs[0]))
    try:
        yield seen
    finally:
        handle.remove()


def distill_loss(teacher: torch.nn.Module | None, settings: DistillSettings) -> Callable[[torch.nn.Module, dict[str, torch.Tensor]], Any]:
    """``loss_fn(model, batch) -> (loss, {term: value})`` for :func:`retok.training.trainer.train` on AlignedBlocks batches.

    With ``schedule="decay"`` the batch carries ``"progress"`` (a :class:`~retok.training.trainer.Replicated`
    fraction of the run done, see :func:`with_progress`) and the distillation terms are scaled by ``1 - progress``.
    """
    terms = settings.terms
    if "alm" in terms and teacher is None:
        raise RetokError(f"objective {settings.objective!r} needs a teacher model")

    def loss_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ids = batch["input_ids"]
        with head_input(model) as hidden:
            logits = model(input_ids=ids).logits
        values: dict[str, torch.Tensor] = {}
        student_lp = token_logprobs(logits, ids)
        if "lm" in terms:
            values["lm"] = -student_lp[:, 1:].mean()
        if "alm" in terms:
            values.update(alm_terms(teacher, batch, student_lp, hidden[-1], settings, student=model))
        fade = 1.0 - float(batch["progress"].value) if settings.schedule == "decay" and "progress" in batch else 1.0
        names = list(values)
        if settings.alm_weight is None and len(names) > 1:
            weights = dict(zip(names, gradient_balance([values[n] for n in names], hidden[-1])))
        else:
            weights = {"lm": 1.0, "alm": 1.0 if settings.alm_weight is None else settings.alm_weight, "hidden": 1.0}
        weights["alm"] = fade * weights.get("alm", 1.0)
        weights["hidden"] = fade * settings.hidden_weight * weights.get("hidden", 1.0)
        total = sum(weights[n] * values[n] for n in names)
        return total, {name: v.detach() for name, v in values.items()}

    return loss_fn


def with_progress(batch_at: Callable[[int], dict[str, Any]], total: int) -> Callable[[int], dict[str, Any]]:
    """``batch_at`` whose batches also carry ``"progress"``: ``step / total``, the same on every process."""

    def at(step: int) -> dict[str, Any]:
        return {**batch_at(step), "progress": Replicated(torch.tensor(step / total))}

    return at


def teacher_forward(teacher: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, *,
                    student: torch.nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's logits ``(B, T, V)`` and last hidden state ``(B, T, d)``, without gradient.

    With ``student``, the teacher's embeddings and head sit around the *student's* body, LoRA
    included (``teacher_body="adapted"``): the old tokenization read by the body as it adapts.
    """
    with torch.no_grad():
        if student is None:
            with head_input(teacher) as hidden:
                logits = teacher(input_ids=ids, attention_mask=mask).logits
            return logits, hidden[-1]
        body = getattr(student, "module", student).get_decoder()
        last = body(inputs_embeds=teacher.get_input_embeddings()(ids), attention_mask=mask).last_hidden_state
        return teacher.get_output_embeddings()(last), last


def alm_terms(teacher: torch.nn.Module, batch: dict[str, torch.Tensor], student_lp: torch.Tensor, student_hidden: torch.Tensor,
              settings: DistillSettings, *, student: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The ALM loss (and the hidden-state term when asked) of one batch, from the student's token log-probs ``(B, S)``.

    ``student`` is needed for ``teacher_body="adapted"``.
    """
    s_chunks, t_chunks = batch["student_chunks"], batch["teacher_chunks"]
    n = int(s_chunks.max()) + 1 if s_chunks.numel() else 0
    adapted = student if settings.teacher_body == "adapted" else None
    t_logits, t_last = teacher_forward(teacher, batch["teacher_ids"], batch["teacher_mask"], student=adapted)
    with torch.no_grad():
        teacher_lp = chunk_logprobs(token_logprobs(t_logits, batch["teacher_ids"]), t_chunks, n)
    student_chunk_lp = chunk_logprobs(student_lp, s_chunks, n)
    present = chunk_present(s_chunks, n) & chunk_present(t_chunks, n)
    divergences = chunk_divergences(teacher_lp, student_chunk_lp, temperature=settings.temperature, divergence=settings.divergence)
    out = {"alm": batch_mean((divergences * present).sum(), present.sum())}
    if settings.hidden_weight:
        distance, scale = hidden_alignment_sums(t_last, student_hidden, chunk_ends(t_chunks, n), chunk_ends(s_chunks, n), present)
        out["hidden"] = batch_mean(distance, scale)
    return out


def batch_mean(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``total / count`` over the *global* batch: under DDP the count is summed over the processes.

    DDP averages the processes' gradients, so each returns ``world * total / global count``; the
    update (and the logged mean) then equals the single-process one.
    """
    count = count.detach().float()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        count = count.clone()
        torch.distributed.all_reduce(count)
        return total * torch.distributed.get_world_size() / count.clamp(min=1e-8)
    return total / count.clamp(min=1e-8)


def chunk_present(chunks: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, K)`` bool: which chunks have a token in each row of ``chunks (B, T)``."""
    out = torch.zeros(chunks.shape[0], n + 1, dtype=torch.bool, device=chunks.device)
    return out.scatter(1, torch.where(chunks >= 0, chunks, n), True)[:, :n]


@torch.no_grad()
def evaluate_alm(student: torch.nn.Module, teacher: torch.nn.Module, blocks: AlignedBlocks, settings: DistillSettings = DistillSettings(),
                 *, batch_size: int = 4) -> float:
    """The mean ALM loss of ``student`` against ``teacher`` over ``blocks`` (weighted by chunk count)."""
    total, chunks = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[torch.arange(start, min(start + batch_size, len(blocks)))]
        ids = batch["input_ids"]
        student_lp = token_logprobs(student(input_ids=ids).logits, ids)
        count = int(blocks.n_chunks[start : start + batch_size].sum())
        if count:
            total += float(alm_terms(teacher, batch, student_lp, student_lp, DistillSettings(
                objective="alm", temperature=settings.temperature, divergence=settings.divergence))["alm"]) * count
            chunks += count
    if not chunks:
        raise RetokError("no alignable chunk in the held-out text; use a longer text")
    return total / chunks


__all__ = ["DistillSettings", "OBJECTIVES", "SCHEDULES", "TEACHER_BODIES", "teacher_forward", "with_progress", "alm_terms", "check_hidden_sizes", "distill_loss", "evaluate_alm", "head_input", "shared_teacher"]
