"""LoRA for continued training: the peft ``LoraConfig`` for a model, and how peft names what it trains.

Compose, don't wrap: :func:`lora_config_for` returns a plain peft config, and the caller applies it
with ``peft.get_peft_model(model, config)``. ``finetune`` uses it after a tokenizer swap; zip2zip
training (LoRA on a wrapped causal LM) is meant to use it too. The embedding-module names and the
tie detection come from :mod:`retok.transfer.embeddings`, the only module that touches embedding modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from retok.transfer.embeddings import embedding_module_names, is_tied

if TYPE_CHECKING:
    from peft import LoraConfig


def lora_config_for(
    model: torch.nn.Module,
    *,
    rows: Sequence[int] | None,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: str | list[str] = "all-linear",
    task_type: str = "CAUSAL_LM",
) -> LoraConfig:
    """The peft ``LoraConfig``: LoRA on ``target_modules`` plus trainable embedding rows of ``model``.

    rows: which embedding rows train. ``None``: the whole input matrix and (if untied) the whole
    head (peft ``modules_to_save``); ``[]``: none; a list of ids: those rows of the input matrix
    and, if untied, of the head (peft ``trainable_token_indices``). A tied head stays tied.
    """
    from peft import LoraConfig

    names = embedding_module_names(model)
    tied = is_tied(model)
    embedding_modules = [names.input] if tied or names.output is None else [names.input, names.output]
    options: dict[str, Any] = {}
    if rows is None:
        options["modules_to_save"] = embedding_modules
        options["ensure_weight_tying"] = tied
    elif rows:
        # peft ties the trainable-token deltas of a tied head by itself (ensure_weight_tying is for modules_to_save)
        options["trainable_token_indices"] = {name: list(rows) for name in embedding_modules}
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type=task_type, **options)


def is_embedding_parameter(name: str) -> bool:
    """Whether a parameter of a peft model is (a delta of) a trainable embedding matrix."""
    return "trainable_tokens" in name or "modules_to_save" in name


def is_lora_parameter(name: str) -> bool:
    """Whether a parameter of a peft model is a LoRA adapter weight (``lora_A`` / ``lora_B`` / ...)."""
    return "lora_" in name


def lora_param_groups(model: torch.nn.Module, *, lr: float, embedding_lr: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups of a peft model: trainable embedding rows at ``embedding_lr``, the rest at ``lr``.

    Empty groups are left out (e.g. no embedding rows train).
    """
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trainable if is_embedding_parameter(n)], "lr": embedding_lr},
        {"params": [p for n, p in trainable if not is_embedding_parameter(n)], "lr": lr},
    ]
    return [g for g in groups if g["params"]]


def drop_lora_gradients(model: torch.nn.Module) -> None:
    """Discard the LoRA gradients of ``model`` in place, so the optimizer leaves those weights alone this step.

    For an embeddings-only stage. Dropping gradients (rather than toggling ``requires_grad``) keeps
    DDP's view of the parameters fixed.
    """
    for name, p in model.named_parameters():
        if is_lora_parameter(name):
            p.grad = None


__all__ = ["drop_lora_gradients", "is_embedding_parameter", "is_lora_parameter", "lora_config_for", "lora_param_groups"]
