"""TokenEmbeddings: a tokenizer with its input and output embedding matrices.

This is the only module that reads or writes a language model's embedding modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from retok.errors import RetokError


def is_tied(model: torch.nn.Module) -> bool:
    """Whether the LM head shares its weight with the input embeddings (or there is no separate head)."""
    out = model.get_output_embeddings()
    if out is None:
        return True
    return out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def embedding_weights(model: torch.nn.Module) -> tuple[torch.nn.Parameter, torch.nn.Parameter | None]:
    """The live ``(input, output)`` embedding weights of ``model``, ``(V, d)`` each; output is None when tied.

    Not copies (unlike :meth:`TokenEmbeddings.from_model`): for modules that read the frozen rows on
    every forward, e.g. the zip2zip hyper-encoders, which embed a merged token from its base rows.
    """
    emb = model.get_input_embeddings()
    if emb is None or not hasattr(emb, "weight"):
        raise RetokError(f"{type(model).__name__} has no input embedding matrix retok can read")
    return emb.weight, None if is_tied(model) else model.get_output_embeddings().weight


class EmbeddingModuleNames(NamedTuple):
    """Leaf names of a model's embedding modules, e.g. ``embed_tokens`` and ``lm_head`` for Llama."""

    input: str
    output: str | None  # None: the model has no separate output-embedding module


def embedding_module_names(model: torch.nn.Module) -> EmbeddingModuleNames:
    """The names under which ``model`` keeps its input embeddings and LM head.

    Found by identity with ``get_input_embeddings()`` / ``get_output_embeddings()``, so that models
    that call them ``wte`` or ``embed_out`` work too. Leaf names, because that is what peft's
    ``modules_to_save`` and ``trainable_token_indices`` match on.
    """
    names = {id(module): name for name, module in model.named_modules()}

    def leaf(module: torch.nn.Module | None) -> str | None:
        if module is None:
            return None
        if id(module) not in names:
            raise RetokError(f"{type(model).__name__}'s embedding module is not one of its submodules; retok cannot name it")
        return names[id(module)].rsplit(".", 1)[-1]

    return EmbeddingModuleNames(leaf(model.get_input_embeddings()), leaf(model.get_output_embeddings()))


def check_tokenizer_fits(
    model: PreTrainedModel | int, tokenizer: PreTrainedTokenizerBase, *, what: str, own: PreTrainedTokenizerBase | None = None
) -> None:
    """Raise RetokError unless ``tokenizer`` can drive ``model``: every id has an embedding row, and it is the model's own.

    ``model`` is a model or the number of embedding rows. ``what`` names the tokenizer in the message (e.g. ``"the tokenizer (--tokenizer)"``). ``own`` is
    the tokenizer saved with the model, when there is one: a tokenizer with other strings at the
    same ids belongs to another model even if it fits the matrix, and the message says which
    ids differ. Every command that pairs a model with a tokenizer calls this before any work.
    """
    if isinstance(model, int):  # the row count of a checkpoint read without loading it
        rows = model
    else:
        emb = model.get_input_embeddings()
        if emb is None or not hasattr(emb, "weight"):
            raise RetokError(f"{type(model).__name__} has no input embedding matrix retok can read")
        rows = emb.weight.shape[0]
    vocab = tokenizer.get_vocab()
    needed = max(vocab.values()) + 1 if vocab else 0
    if needed > rows:
        raise RetokError(
            f"{what} has ids up to {needed - 1} but the model's embedding matrix has only {rows} rows: "
            "this tokenizer does not belong to this model. Pass the tokenizer the model was trained with, "
            "or give the model this tokenizer first (`retok transplant`)"
        )
    if own is not None and own.get_vocab() != vocab:
        mine, theirs = {i: t for t, i in own.get_vocab().items()}, {i: t for t, i in vocab.items()}
        differ = [i for i in sorted(set(mine) | set(theirs)) if mine.get(i) != theirs.get(i)]
        examples = ", ".join(f"id {i}: {theirs.get(i)!r} vs {mine.get(i)!r}" for i in differ[:3])
        raise RetokError(
            f"{what} is not the model's own tokenizer: {len(vocab)} vs {len(own.get_vocab())} entries, "
            f"{len(differ)} ids differ ({examples}); pass the tokenizer saved with the model, or leave the flag out"
        )


@dataclass(frozen=True)
class TokenEmbeddings:
    """A tokenizer together with its embedding matrices.

    input:  E_in  (V, d), row ``i`` embeds token id ``i``
    output: E_out (V, d), the LM head rows, or ``None`` when the head is tied to ``input``
    output_bias: (V,) the LM head's bias (GPT-J, Phi), or ``None`` for a head without one

    The matrices keep the dtype they were read in (a bfloat16 checkpoint's rows stay bfloat16, half
    the memory); methods compute in float32 (:meth:`float` is the float32 view). ``V`` may exceed the
    tokenizer's size: a vocabulary padded to a multiple (Qwen, GPT-2-style 50,304) keeps its padding
    rows after the tokenizer's ids (:mod:`retok.transfer.padding`).
    """

    tokenizer: PreTrainedTokenizerBase
    input: torch.Tensor
    output: torch.Tensor | None = None
    output_bias: torch.Tensor | None = None
    #: statistics computed once per source (:func:`retok.transfer.initializers.base.source_statistics`)
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.input.ndim != 2:
            raise RetokError(f"input embeddings must be a (V, d) matrix; got shape {tuple(self.input.shape)}")
        if self.output is not None and self.output.shape != self.input.shape:
            raise RetokError(
                f"output embeddings {tuple(self.output.shape)} and input embeddings {tuple(self.input.shape)} differ in shape"
            )
        if self.output_bias is not None and tuple(self.output_bias.shape) != (self.input.shape[0],):
            raise RetokError(f"the LM head bias {tuple(self.output_bias.shape)} does not have one entry per row ({self.input.shape[0]})")

    @property
    def tied(self) -> bool:
        return self.output is None

    @property
    def dim(self) -> int:
        return self.input.shape[1]

    @property
    def rows(self) -> int:
        return self.input.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.input.dtype

    def float(self) -> TokenEmbeddings:
        """These embeddings in float32 (``self`` when they already are)."""
        if self.dtype == torch.float32:
            return self
        f = lambda t: None if t is None else t.float()  # noqa: E731
        return TokenEmbeddings(self.tokenizer, self.input.float(), f(self.output), f(self.output_bias), memo=self.memo)

    @classmethod
    def from_model(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> TokenEmbeddings:
        """Copy the embedding matrices of ``model`` (in its dtype), checking that ``tokenizer`` belongs to it."""
        emb = model.get_input_embeddings()
        if emb is None or not hasattr(emb, "weight"):
            raise RetokError(f"{type(model).__name__} has no input embedding matrix retok can read")
        check_tokenizer_fits(model, tokenizer, what="the old tokenizer (old_tokenizer= / --old-tokenizer)")
        head = model.get_output_embeddings()
        bias = getattr(head, "bias", None) if head is not None else None
        e_in = emb.weight.detach().clone()
        e_out = None if is_tied(model) else head.weight.detach().clone()
        return cls(tokenizer, e_in, e_out, None if bias is None else bias.detach().clone())

    def apply_to(self, model: PreTrainedModel) -> PreTrainedModel:
        """Write these matrices into ``model`` in place: resize, copy rows, keep tied heads tied.

        Sets ``config.vocab_size`` to the new row count. The special-token ids in the config are
        the caller's business (see :func:`retok.transfer.transplant.transplant`).
        """
        tied = is_tied(model)
        if tied != self.tied:
            raise RetokError(
                f"these embeddings are {'tied' if self.tied else 'untied'} but the model's LM head is "
                f"{'tied' if tied else 'untied'}; build them from a model with the same head layout"
            )
        head = model.get_output_embeddings()
        has_bias = head is not None and getattr(head, "bias", None) is not None
        if has_bias != (self.output_bias is not None):
            raise RetokError(
                f"the model's LM head {'has' if has_bias else 'has no'} bias but these embeddings "
                f"{'have none' if has_bias else 'have one'}; build them from a model with the same head"
            )
        rows, dim = self.input.shape
        if dim != model.get_input_embeddings().weight.shape[1]:
            raise RetokError(
                f"embedding width {dim} does not match the model's hidden size {model.get_input_embeddings().weight.shape[1]}"
            )
        # mean_resizing=False: every row is overwritten below, so HF's covariance-based init is wasted work.
        model.resize_token_embeddings(rows, mean_resizing=False)
        with torch.no_grad():
            weight = model.get_input_embeddings().weight
            weight.copy_(self.input.to(weight.dtype))
            if self.output is not None:
                out = model.get_output_embeddings().weight
                out.copy_(self.output.to(out.dtype))
            if self.output_bias is not None:
                bias = model.get_output_embeddings().bias
                bias.copy_(self.output_bias.to(bias.dtype))
        if tied:
            model.tie_weights()
        model.config.vocab_size = rows
        text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        text_config.vocab_size = rows
        return model
