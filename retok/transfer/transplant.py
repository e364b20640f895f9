"""``transplant``: give a pretrained causal LM a new tokenizer, and save the result.

The flow: read the model's embeddings (:class:`TokenEmbeddings`), align the two vocabularies
(:class:`VocabAlignment`), let an initializer build the new matrices (:func:`init_embeddings`),
write them into the model, remap the special-token ids in its config, and keep the chat
template. :meth:`Transplanted.save_pretrained` writes a folder that plain ``transformers`` loads,
plus ``retok_config.json`` saying how it was made.

Fine-tuned variants (ZeTT, Minixhofer et al. 2024, "Zero-Shot Tokenizer Transfer", ``apply_to_ft.py``):
with ``base_model=``, the model is a fine-tuned variant of a base model with the same vocabulary.
The initializer reads the *base* model's embeddings, because embedding predictors (learned ones,
the FVT decomposition of a model the predictor was fitted to) are made for the base; the result is
written into the fine-tuned model, whose other weights stay. With ``swapped_base=`` (the base after
its own tokenizer swap and continued training, e.g. a ``retok finetune`` output), the fine-tuned
model also gets the base's training delta: every non-embedding weight becomes
``ft + delta_scale * (swapped_base - base)`` and the embeddings are the swapped base's.
"""

from __future__ import annotations

import json
import os
import platform
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from retok._version import __version__
from retok.atomic import atomic_dir
from retok.errors import RetokError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from .donor import Donor
    from .initializers import InitConfig, InitReport
    from retok.vocab.canonical import VocabAlignment

# torch, transformers and the initializers are imported inside the functions that use them: importing this module
# is instant, so ``retok`` can bind ``retok.transplant`` to the function at package import (the submodule of the same
# name would otherwise shadow it) without making ``import retok`` or the CLI slow.

CONFIG_NAME = "retok_config.json"
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "sep_token_id")


@dataclass
class Transplanted:
    """A model with its new tokenizer, and how its embeddings were made."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    config: InitConfig
    report: InitReport
    source_model: str
    notes: list[str] = field(default_factory=list)
    #: with ``base_model=``: ``{"base_model", "swapped_base", "delta_scale"}`` (see :func:`transplant`); else None
    finetuned_transfer: dict[str, Any] | None = None
    #: the new token that carries the row of the source model's document separator: the one to evaluate with
    separator: str | None = None

    @property
    def new_token_ids(self) -> list[int]:
        """Target ids whose rows were estimated rather than copied: what continued training should focus on."""
        return self.report.new_token_ids

    def retok_config(self) -> dict[str, Any]:
        return {
            "format": 1,
            "retok_version": __version__,
            "transformers_version": _version_of("transformers"),
            "torch_version": _version_of("torch"),
            "python_version": platform.python_version(),
            "source_model": self.source_model,
            **({"finetuned_transfer": self.finetuned_transfer} if self.finetuned_transfer is not None else {}),
            **({"separator": self.separator} if self.separator is not None else {}),
            **self.config.to_dict(),
            "report": self.report.to_dict(),
            "notes": self.notes,
            "new_token_ids": self.new_token_ids,
        }

    def save_pretrained(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write model, tokenizer and ``retok_config.json`` to ``path`` atomically."""
        from retok.progress import bars_on, hf_progress_bars

        with atomic_dir(path, overwrite=overwrite) as tmp, hf_progress_bars(bars_on()):
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            (tmp / CONFIG_NAME).write_text(json.dumps(self.retok_config(), indent=2) + "\n", encoding="utf-8")
        return Path(path)


def read_retok_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``retok_config.json`` of a saved transplant, or None for a folder that is not one."""
    file = Path(path) / CONFIG_NAME
    if not file.exists():
        return None
    return json.loads(file.read_text(encoding="utf-8"))


def saved_separator(path: str | os.PathLike) -> str | None:
    """The evaluation separator a saved transplant recorded (:attr:`Transplanted.separator`), or None."""
    config = read_retok_config(path) if Path(path).is_dir() else None
    return None if config is None else config.get("separator")


def carried_separator(alignment: VocabAlignment) -> str | None:
    """The new token whose row is the source tokenizer's document separator (:func:`retok.eval.document_separator`).

    Evaluating with it starts every window from the row the source model was evaluated with: for
    Gemma given SmolLM2's tokenizer that is ``<|im_start|>`` (Gemma's ``<bos>`` row, by the bos role),
    not ``<|endoftext|>`` (SmolLM2's unk, which gets Gemma's ``<unk>`` row).
    """
    from retok.eval import document_separator

    try:
        source_id = document_separator(alignment.source.tokenizer)
    except RetokError:
        return None
    target_id = alignment.carrier(source_id)
    return None if target_id is None else alignment.target.strings[target_id]


def _version_of(package: str) -> str:
    import importlib

    return importlib.import_module(package).__version__


def special_id_updates(model: PreTrainedModel, alignment: VocabAlignment, notes: list[str] | None = None) -> list[tuple[Any, str, Any]]:
    """The (config, field, new value) changes that point the model's special-token ids at the new tokenizer.

    Each id goes to the new token that carries its row. An id whose token has no counterpart goes to
    the new tokenizer's token of the same role when it has one, even if that token also fills another
    role (SmolLM2's pad token is its eos token): a note in ``notes`` says so. Computed before the model
    is touched, so a missing special token fails with nothing changed.
    """
    inverse: dict[int, int] = {}
    for tgt, src in sorted(alignment.matches.items(), key=lambda kv: not alignment.kinds[kv[0]].startswith("special")):
        inverse.setdefault(src, tgt)

    def remap(value: int | list[int] | None, name: str) -> int | list[int] | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [remap(v, name) for v in value]
        if value not in inverse:
            token = alignment.source.strings[value] if value < len(alignment.source) else None
            role = name.removesuffix("_id")
            shared = alignment.target.roles.get(role)
            if shared is not None:
                others = [r for r, i in alignment.target.roles.items() if i == shared and r != role]
                note = (
                    f"{name}: the model's {token!r} has no counterpart; the new tokenizer's {role} is "
                    f"{alignment.target.strings[shared]!r}{' (also its ' + ', '.join(others) + ')' if others else ''}, id {shared}"
                )
                if notes is not None and note not in notes:
                    notes.append(note)
                return shared
            raise RetokError(
                f"the new tokenizer has no counterpart for {token!r}, the model's {name}: add it, e.g. "
                f"new_tokenizer.add_special_tokens({{{role!r}: {token!r}}}), or train the tokenizer with "
                "`retok train-tokenizer --like <old tokenizer>` so it inherits the special tokens"
            )
        return inverse[value]

    configs = [model.config]
    if getattr(model, "generation_config", None) is not None:
        configs.append(model.generation_config)
    updates = []
    for cfg in configs:
        for name in TOKEN_ID_FIELDS:
            if getattr(cfg, name, None) is not None:
                updates.append((cfg, name, remap(getattr(cfg, name), name)))
    return updates


def _carry_chat_template(old: PreTrainedTokenizerBase, new: PreTrainedTokenizerBase) -> str | None:
    """Give ``new`` the old chat template if it has none and knows every control token the template uses."""
    if getattr(new, "chat_template", None) or not getattr(old, "chat_template", None):
        return None
    template = old.chat_template if isinstance(old.chat_template, str) else None
    if template is None:
        return "the old chat template is not a single string; set new_tokenizer.chat_template yourself"
    vocab = new.get_vocab()
    used = [tok for tok in re.findall(r"<[^<>\s'\"]+>", template) if tok in old.get_vocab()]
    missing = [tok for tok in used if tok not in vocab]
    if missing:
        return f"chat template not copied: the new tokenizer lacks {', '.join(missing)}"
    new.chat_template = template
    return "chat template copied from the old tokenizer"


def transplant(
    model: PreTrainedModel | str | os.PathLike,
    new_tokenizer: PreTrainedTokenizerBase | str | os.PathLike,
    method: str | InitConfig = "fvt",
    *,
    old_tokenizer: PreTrainedTokenizerBase | str | os.PathLike | None = None,
    base_model: PreTrainedModel | str | os.PathLike | None = None,
    swapped_base: PreTrainedModel | str | os.PathLike | None = None,
    delta_scale: float | None = None,
    donor: PreTrainedModel | str | os.PathLike | Donor | None = None,
    **options: Any,
) -> Transplanted:
    """Swap the tokenizer of ``model``. Mutates ``model`` in place (load a fresh copy to keep the original).

    Args:
        model: a causal LM, or a folder / hub id to load one from (in the dtype it was saved in, so the result is saved
            in it too; float32 with ``base_model``).
        new_tokenizer: the tokenizer to transplant, or a folder / hub id.
        method: an initializer name (``retok.methods()``) or a config object such as ``FVTConfig()``.
        old_tokenizer: the tokenizer the model was trained with; defaults to the one in the model's folder.
        base_model: ``model`` is a fine-tuned variant of this model (object, folder or hub id) with the same
            vocabulary: the initializer reads the base's embeddings (predictors are fitted to the base) and the
            result goes into ``model``, whose other weights are kept (ZeTT's ``apply_to_ft.py``). The base's
            tokenizer is the one saved in its folder (for an object without one: ``model``'s).
        swapped_base: with ``base_model``, the base after its own swap to ``new_tokenizer`` and possibly continued
            training (a ``retok transplant`` or ``retok finetune`` folder): the embeddings are taken from it, and
            every other weight becomes ``ft + delta_scale * (swapped_base - base)``.
        delta_scale: λ of that sum, finite and >= 0 (default 0.5 with ``swapped_base``; 0 keeps ``model``'s weights).
        donor: for a donor method (``omp``, ``linear``): a model (object, folder or hub id) whose tokenizer is
            ``new_tokenizer``; its embeddings are a second view of every new token (:mod:`retok.transfer.donor`).
        **options: the method's options (e.g. ``seed=1``).

    Returns:
        Transplanted: the model (new embeddings, config ids remapped), the new tokenizer, the config and a report.

    Raises:
        RetokError: unknown method or option, a tokenizer that does not fit the model, a new tokenizer
            without a counterpart for a special token the model's config uses, or a base / swapped base
            whose vocabulary, embedding shape or parameters do not match.
    """
    from .embeddings import TokenEmbeddings, check_tokenizer_fits
    from .finetuned import FinetunedVariant, check_finetuned_options
    from .donor import load_donor
    from .initializers import init_embeddings
    from .initializers.base import check_donor_use, resolve_config
    from retok.loading import load_model, load_tokenizer, model_name, saved_tokenizer
    from retok.vocab.canonical import VocabAlignment

    config = resolve_config(method, options)  # check the method before any slow loading
    check_donor_use(config.spec, donor is not None)
    scale = check_finetuned_options(base_model, swapped_base, delta_scale)
    # the dtype it was saved in (a bfloat16 model stays bfloat16 on disk; the initializers work in float32 copies),
    # float32 for a fine-tuned variant, whose weight arithmetic (ft + scale * delta) needs it
    model = load_model(model, dtype="float32" if base_model is not None else "auto")
    new_tokenizer = load_tokenizer(new_tokenizer)
    if old_tokenizer is None:
        where = model_name(model)
        if not Path(where).is_dir():
            raise RetokError(
                f"cannot find the model's own tokenizer (model path {where!r} is not a local folder); pass old_tokenizer= "
                "(CLI: --old-tokenizer)"
            )
        old_tokenizer = where
    else:
        old_tokenizer = load_tokenizer(old_tokenizer)
        own = saved_tokenizer(model_name(model))
        if own is not None:  # a wrong --old-tokenizer that happens to fit the matrix would pass silently otherwise
            check_tokenizer_fits(model, old_tokenizer, what="old_tokenizer (--old-tokenizer)", own=own)
    old_tokenizer = load_tokenizer(old_tokenizer)  # a no-op for a tokenizer already loaded
    notes: list[str] = []
    variant = None
    if base_model is not None:
        variant = FinetunedVariant.load(model, old_tokenizer, new_tokenizer, base_model, swapped_base, scale)
        notes += variant.notes
    source_model, source_tokenizer = (variant.base, variant.base_tokenizer) if variant else (model, old_tokenizer)
    source = TokenEmbeddings.from_model(source_model, source_tokenizer)
    alignment = VocabAlignment.build(source_tokenizer, new_tokenizer)
    updates = special_id_updates(model, alignment, notes)
    donor_view = None if donor is None else load_donor(donor, new_tokenizer)
    result = init_embeddings(source, new_tokenizer, config, alignment=alignment, donor=donor_view)
    embeddings = variant.embeddings(result.embeddings) if variant else result.embeddings
    source_name = model_name(model)
    embeddings.apply_to(model)
    if variant:
        variant.add_delta()
    for cfg, name, value in updates:
        setattr(cfg, name, value)
    notes += [n for n in [_carry_chat_template(old_tokenizer, new_tokenizer)] if n]
    if result.report.counts.get("special-mean"):
        notes.append(f"{result.report.counts['special-mean']} special token(s) had no counterpart and got the mean row")
    for note in notes:
        if "not copied" in note:
            warnings.warn(note, stacklevel=2)
    return Transplanted(
        model, new_tokenizer, config, result.report, source_name, notes, variant.record if variant else None, carried_separator(alignment)
    )


__all__ = ["Transplanted", "carried_separator", "read_retok_config", "saved_separator", "special_id_updates", "transplant"]
