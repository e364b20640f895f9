"""Which tensors of a checkpoint are indexed by vocabulary id, found for any architecture.

No list of names: the model is built from its config on the ``meta`` device (no memory, no weights)
and asked for ``get_input_embeddings()`` / ``get_output_embeddings()``; their parameters' names are the
tensors to change (the input embedding, an untied head, a head bias). The names are then looked up in
the checkpoint, which may spell them with another prefix (a text model inside a multimodal one).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from retok.errors import RetokError


@dataclass(frozen=True)
class EmbeddingLayout:
    """The checkpoint names of the vocabulary-indexed tensors.

    input: the input embedding (V, d); output: the untied LM head (V, d), None when tied;
    output_bias: the head's bias (V,), None when it has none; tied_copy: see below.
    """

    input: str
    output: str | None
    output_bias: str | None
    #: a tied head that the checkpoint stores anyway (under its own name): it gets the new input rows too
    tied_copy: str | None = None

    @property
    def tied(self) -> bool:
        return self.output is None

    def names(self) -> list[str]:
        """The tensors read as the source's embeddings (a tied copy is only written)."""
        return [n for n in (self.input, self.output, self.output_bias) if n is not None]


def meta_model(config: Any) -> torch.nn.Module:
    """The causal LM of ``config`` built on the meta device: shapes and names, no storage."""
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return AutoModelForCausalLM.from_config(config)
    except ValueError as e:
        raise RetokError(f"transformers has no causal-LM class for this config ({type(config).__name__}): {str(e).splitlines()[0]}") from None


def in_checkpoint(name: str, names: set[str]) -> str | None:
    """``name`` as the checkpoint spells it: itself, or the one checkpoint name with the same tail.

    ``model.embed_tokens.weight`` may be ``model.language_model.embed_tokens.weight`` in a checkpoint of
    a multimodal wrapper, or ``embed_tokens.weight`` in one saved from the base model.
    """
    if name in names:
        return name
    parts = name.split(".")
    for cut in range(1, len(parts) - 1):
        tail = ".".join(parts[cut:])
        found = [n for n in names if n == tail or n.endswith("." + tail)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return None
    return None


def loaded_names(model: torch.nn.Module, checkpoint_names: set[str]) -> dict[str, str]:
    """``{model parameter name: checkpoint name}`` through transformers' own load-time renamings.

    transformers 5 renames some keys between checkpoint and model (GPT-NeoX saves its ``lm_head`` as
    ``embed_out``); asking its conversion mapping keeps retok free of per-architecture tables. Empty when
    this transformers has no such mapping.
    """
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming, apply_renamings
    except ImportError:  # an older or newer transformers without this API: the name matching below still works
        return {}
    renamings = [t for t in get_model_conversion_mapping(model) if isinstance(t, WeightRenaming)]
    if not renamings:
        return {}
    return {apply_renamings(n, renamings): n for n in checkpoint_names}


def embedding_layout(config: Any, checkpoint_names: set[str]) -> EmbeddingLayout:
    """Find the vocabulary-indexed tensors of a checkpoint with ``config`` among ``checkpoint_names``."""
    model = meta_model(config)
    names: dict[int, str] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), n)  # a tied head shares the embedding's tensor: the embedding's name comes first
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    if emb is None or getattr(emb, "weight", None) is None:
        raise RetokError(f"{type(model).__name__} has no input embedding matrix retok can read")
    tied = head is None or head.weight is emb.weight

    renamed = loaded_names(model, checkpoint_names)

    def find(param: torch.Tensor, what: str) -> str:
        name = names[id(param)]
        found = renamed.get(name) or in_checkpoint(name, checkpoint_names)
        if found is None:
            raise RetokError(
                f"the checkpoint has no tensor for the {what} ({type(model).__name__}.{name}); "
                "it may be saved by another library: load and save it once with transformers"
            )
        return found

    input_name = find(emb.weight, "input embeddings")
    output_name = None if tied else find(head.weight, "LM head")
    bias = getattr(head, "bias", None) if head is not None else None
    bias_name = None if bias is None else find(bias, "LM head bias")
    tied_copy = None
    if tied and head is not None:
        aliases = [n for n, p in model.named_parameters(remove_duplicate=False) if p is emb.weight and n != names[id(emb.weight)]]
        stored = [renamed.get(n) or (n if n in checkpoint_names else None) for n in aliases]
        tied_copy = next((n for n in stored if n is not None and n != input_name), None)
    return EmbeddingLayout(input_name, output_name, bias_name, tied_copy)


__all__ = ["EmbeddingLayout", "embedding_layout", "in_checkpoint", "meta_model"]
