"""Fine-tuned variants: transfer a model fine-tuned from a base the way ZeTT's ``apply_to_ft.py`` does.

Minixhofer et al., 2024, *Zero-Shot Tokenizer Transfer*. The fine-tuned model has the base's
vocabulary. The initializer reads the **base** model's embeddings, because embedding predictors
(a learned predictor, the FVT decomposition) are made for the base; the result goes into the
fine-tuned model, whose other weights and chat template stay. With a *swapped base* (the base
after its own swap to the new tokenizer and continued training, e.g. a ``retok finetune`` output)
the embeddings are the swapped base's, and every non-embedding weight becomes
``ft + delta_scale * (swapped_base - base)``.

:class:`FinetunedVariant` loads and checks the base (and swapped base) against the fine-tuned
model before anything is changed; :func:`retok.transfer.transplant.transplant` uses it for ``base_model=``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from retok.errors import RetokError
from retok.loading import load_model, model_name, saved_tokenizer
from .embeddings import TokenEmbeddings, embedding_module_names, is_tied

DEFAULT_DELTA_SCALE = 0.5  # ZeTT's README default for adding the base model's post-swap training delta


def check_finetuned_options(base_model: Any, swapped_base: Any, delta_scale: Any) -> float | None:
    """The delta scale to use (None without ``swapped_base``), or RetokError for a combination that makes no sense.

    Loads nothing, so a wrong combination fails at once.
    """
    if delta_scale is not None and swapped_base is None:
        raise RetokError(
            "--delta-scale (delta_scale=) needs --swapped-base DIR (swapped_base=): the base model after the tokenizer "
            "swap (and continued training), whose weight change is scaled and added to the fine-tuned model; pass it, "
            "or leave --delta-scale out"
        )
    if swapped_base is not None and base_model is None:
        raise RetokError(
            "--swapped-base (swapped_base=) needs --base-model (base_model=): the model that --model was fine-tuned "
            "from, against which the swapped base's weight change is measured; pass it, or leave --swapped-base out"
        )
    if swapped_base is None:
        return None
    if delta_scale is None:
        return DEFAULT_DELTA_SCALE
    if isinstance(delta_scale, bool) or not isinstance(delta_scale, (int, float)) or not math.isfinite(delta_scale) or delta_scale < 0:
        raise RetokError(
            f"--delta-scale (delta_scale=) must be a finite number >= 0 (0 keeps the fine-tuned weights, 1 adds the "
            f"swapped base's whole change; default {DEFAULT_DELTA_SCALE}); got {delta_scale!r}"
        )
    return float(delta_scale)


def reference_name(ref: Any, loaded: PreTrainedModel) -> str:
    """How ``retok_config.json`` names a model given as a folder / hub id (as given) or as an object."""
    return os.fspath(ref) if isinstance(ref, (str, os.PathLike)) else model_name(loaded)


def vocab_difference(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase) -> str:
    """``"N vs M entries, K ids differ (id 5: 'x' vs 'y', ...)"``: how two vocabularies differ, for a message."""
    va, vb = a.get_vocab(), b.get_vocab()
    ia, ib = {i: t for t, i in va.items()}, {i: t for t, i in vb.items()}
    differ = [i for i in sorted(set(ia) | set(ib)) if ia.get(i) != ib.get(i)]
    examples = ", ".join(f"id {i}: {ia.get(i)!r} vs {ib.get(i)!r}" for i in differ[:3])
    return f"{len(va)} vs {len(vb)} entries, {len(differ)} ids differ ({examples})"


def non_embedding_parameters(model: PreTrainedModel) -> dict[str, Any]:
    """``{name: parameter}`` of everything but the input embeddings and the LM head (by module name, so names match across models)."""
    leaves = {name for name in embedding_module_names(model) if name is not None}
    return {name: p for name, p in model.named_parameters() if name.rpartition(".")[0].rpartition(".")[2] not in leaves}


def check_same_parameters(params: dict[str, Any], other: dict[str, Any], *, what: str, fix: str) -> None:
    """RetokError naming the first parameter that ``other`` lacks, adds, or holds in another shape."""

    def shape(p: Any) -> str:
        return "missing" if p is None else f"shape {tuple(p.shape)}"

    for name in [*params, *(n for n in other if n not in params)]:
        mine, theirs = params.get(name), other.get(name)
        if mine is None or theirs is None or mine.shape != theirs.shape:
            raise RetokError(f"parameter {name!r} differs between the fine-tuned model ({shape(mine)}) and {what} ({shape(theirs)}): {fix}")


def check_same_layout(model: PreTrainedModel, other: PreTrainedModel, *, what: str, fix: str, rows: bool = True) -> None:
    """RetokError unless ``other`` has the fine-tuned model's embedding shape (or only its width) and head layout."""
    mine, theirs = tuple(model.get_input_embeddings().weight.shape), tuple(other.get_input_embeddings().weight.shape)
    if (mine if rows else mine[1:]) != (theirs if rows else theirs[1:]):
        raise RetokError(f"the fine-tuned model's input embeddings are {mine} but {what}'s are {theirs}: {fix}")
    if is_tied(model) != is_tied(other):
        layout = {True: "tied to the input embeddings", False: "untied"}
        raise RetokError(f"the fine-tuned model's LM head is {layout[is_tied(model)]} but {what}'s is {layout[is_tied(other)]}: {fix}")


def add_scaled_delta(params: dict[str, Any], base: dict[str, Any], swapped: dict[str, Any], scale: float) -> None:
    """In place: ``params[n] += scale * (swapped[n] - base[n])`` for every name, computed in float32."""
    if scale == 0:  # exactly the fine-tuned weights, not ft + 0 * delta (which turns -0.0 into 0.0 and inf into nan)
        return
    with torch.no_grad():
        for name, p in params.items():
            delta = swapped[name].detach().to(p.device, torch.float32) - base[name].detach().to(p.device, torch.float32)
            p.copy_((p.detach().float() + scale * delta).to(p.dtype))


@dataclass
class FinetunedVariant:
    """A fine-tuned model's base (and swapped base), loaded and checked against it. See the module docstring."""

    base: PreTrainedModel
    base_tokenizer: PreTrainedTokenizerBase
    record: dict[str, Any]  # for retok_config.json: base_model, swapped_base, delta_scale
    notes: list[str] = field(default_factory=list)
    swapped: TokenEmbeddings | None = None
    swapped_name: str = ""
    scale: float = 0.0
    deltas: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None = None  # (fine-tuned, base, swapped) parameters

    @classmethod
    def load(cls, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, new_tokenizer: PreTrainedTokenizerBase,
             base_model: Any, swapped_base: Any, scale: float | None) -> FinetunedVariant:
        """Load ``base_model`` (and ``swapped_base``) and check them against the fine-tuned ``model`` (its ``tokenizer``)."""
        base = load_model(base_model)
        base_name = reference_name(base_model, base)
        base_fix = "--base-model (base_model=) must be the model that --model was fine-tuned from; pass that one, or leave --base-model out"
        notes = []
        base_tokenizer = saved_tokenizer(model_name(base))
        if base_tokenizer is None:
            base_tokenizer = tokenizer
            notes.append(f"the base model {base_name!r} has no saved tokenizer; its vocabulary was taken to be the fine-tuned model's")
        elif base_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise RetokError(
                f"the fine-tuned model's tokenizer and the base model {base_name!r}'s have different vocabularies "
                f"({vocab_difference(tokenizer, base_tokenizer)}): {base_fix}"
            )
        check_same_layout(model, base, what=f"the base model {base_name!r}", fix=base_fix)
        params, base_params = non_embedding_parameters(model), non_embedding_parameters(base)
        check_same_parameters(params, base_params, what=f"the base model {base_name!r}", fix=base_fix)
        record = {"base_model": base_name, "swapped_base": None, "delta_scale": None}
        variant = cls(base, base_tokenizer, record, notes)
        if swapped_base is None:
            notes.append(f"embeddings initialized from the base model {base_name!r}; the fine-tuned model's other weights kept")
            return variant
        swapped = load_model(swapped_base)
        swapped_name = reference_name(swapped_base, swapped)
        fix = (f"--swapped-base (swapped_base=) must be the base model {base_name!r} after its swap to this --tokenizer "
               "(a `retok transplant` or `retok finetune` output); pass that one, or the tokenizer it was transplanted with")
        swapped_tokenizer = saved_tokenizer(model_name(swapped))
        if swapped_tokenizer is not None and swapped_tokenizer.get_vocab() != new_tokenizer.get_vocab():
            raise RetokError(
                f"the swapped base {swapped_name!r} and the new tokenizer have different vocabularies "
                f"({vocab_difference(swapped_tokenizer, new_tokenizer)}): {fix}"
            )
        check_same_layout(model, swapped, what=f"the swapped base {swapped_name!r}", fix=fix, rows=False)
        rows = swapped.get_input_embeddings().weight.shape[0]
        if rows != len(new_tokenizer):
            raise RetokError(f"the swapped base {swapped_name!r} has {rows} embedding rows but the new tokenizer has "
                             f"{len(new_tokenizer)} entries: {fix}")
        swapped_params = non_embedding_parameters(swapped)
        check_same_parameters(params, swapped_params, what=f"the swapped base {swapped_name!r}", fix=fix)
        record.update(swapped_base=swapped_name, delta_scale=scale)
        notes.append(f"embeddings taken from the swapped base {swapped_name!r}; the other weights are the fine-tuned model's "
                     f"+ {scale:g} x (swapped base - base model {base_name!r})")
        variant.swapped = TokenEmbeddings.from_model(swapped, swapped_tokenizer or new_tokenizer)
        variant.swapped_name, variant.scale = swapped_name, float(scale)
        variant.deltas = (params, base_params, swapped_params)
        return variant

    def embeddings(self, initialized: TokenEmbeddings) -> TokenEmbeddings:
        """The embeddings to write: the swapped base's when there is one, else the initializer's."""
        if self.swapped is None:
            return initialized
        if self.swapped.input.shape[0] != initialized.input.shape[0]:
            raise RetokError(
                f"the swapped base {self.swapped_name!r} has {self.swapped.input.shape[0]} embedding rows but the "
                f"initializer made {initialized.input.shape[0]} for the new tokenizer; pass the base transplanted with this --tokenizer"
            )
        return self.swapped

    def add_delta(self) -> None:
        """In place, on the fine-tuned model: every non-embedding weight += scale x (swapped base - base)."""
        if self.deltas is not None:
            add_scaled_delta(*self.deltas, self.scale)


__all__ = ["DEFAULT_DELTA_SCALE", "FinetunedVariant", "add_scaled_delta", "check_finetuned_options", "non_embedding_parameters"]
