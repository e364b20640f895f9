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
from collections.abc import Callable, Sequence
from typing import Any

from typing import TYPE_CHECKING

from retok._version import __version__
from retok.atomic import atomic_dir
from retok.errors import RetokError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from .sharded.budget import Budget
    from .sharded.output import CheckpointOutput

    from .donor import Donor
    from .initializers import InitConfig, InitReport
    from retok.vocab.canonical import VocabAlignment

# torch, transformers and the initializers are imported inside the functions that use them: importing this module
# is instant, so ``retok`` can bind ``retok.transplant`` to the function at package import (the submodule of the same
# name would otherwise shadow it) without making ``import retok`` or the CLI slow.

CONFIG_NAME = "retok_config.json"


@dataclass
class Transplanted:
    """A model with its new tokenizer, and how its embeddings were made.

    From a safetensors checkpoint (the default for a folder or a cached hub id) nothing but the
    vocabulary-indexed tensors was read: :meth:`save_pretrained` streams the other tensors from the
    source, and :attr:`model` loads the whole model only when asked for. From a loaded model (or with
    ``lazy=False``) the model is in memory, changed in place.
    """

    tokenizer: PreTrainedTokenizerBase
    config: InitConfig
    report: InitReport
    source_model: str
    notes: list[str] = field(default_factory=list)
    #: with ``base_model=``: ``{"base_model", "swapped_base", "delta_scale"}`` (see :func:`transplant`); else None
    finetuned_transfer: dict[str, Any] | None = None
    #: the new token that carries the row of the source model's document separator: the one to evaluate with
    separator: str | None = None
    #: the model in memory (the in-memory path, or once :attr:`model` was read)
    in_memory: PreTrainedModel | None = None
    #: the checkpoint path: the source checkpoint with its new tensors, written by :meth:`save_pretrained`
    checkpoint: CheckpointOutput | None = None
    #: the checkpoint path's estimate of peak memory and output size
    budget: Budget | None = None

    @property
    def model(self) -> PreTrainedModel:
        """The transplanted model object (on the checkpoint path this loads the whole source model once)."""
        if self.in_memory is None:
            assert self.checkpoint is not None
            self.in_memory = self.checkpoint.load_model()
        return self.in_memory

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
            "weights": "checkpoint" if self.checkpoint is not None and self.in_memory is None else "in-memory",
            **({"finetuned_transfer": self.finetuned_transfer} if self.finetuned_transfer is not None else {}),
            **({"separator": self.separator} if self.separator is not None else {}),
            **self.config.to_dict(),
            "report": self.report.to_dict(),
            "notes": self.notes,
            "new_token_ids": self.new_token_ids,
        }

    def save_pretrained(
        self, path: str | os.PathLike, *, overwrite: bool = False, max_shard_size: int | str | None = None, check_resources: bool = True
    ) -> Path:
        """Write model, tokenizer and ``retok_config.json`` to ``path`` atomically.

        ``max_shard_size`` (bytes or e.g. ``"5GB"``): shard the weights; by default a checkpoint keeps its
        source's shards. ``check_resources``: refuse (before writing) when the file system lacks room.
        """
        from retok.atomic import check_output_dir
        from retok.progress import bars_on, hf_progress_bars
        from .sharded.budget import check_disk
        from .sharded.writer import parse_size

        size = parse_size(max_shard_size)
        check_output_dir(path, overwrite=overwrite)
        streamed = self.checkpoint is not None and self.in_memory is None
        if streamed and check_resources and self.budget is not None:
            check_disk(self.budget, Path(path))
        with atomic_dir(path, overwrite=overwrite) as tmp, hf_progress_bars(bars_on()):
            if streamed:
                self.checkpoint.write(tmp, max_shard_size=size)
            else:
                self.model.save_pretrained(tmp, **({"max_shard_size": size} if size is not None else {}))
            self.write_metadata(tmp)
        return Path(path)

    def write_metadata(self, folder: Path) -> None:
        """The tokenizer (with its chat template) and ``retok_config.json``, into ``folder``."""
        self.tokenizer.save_pretrained(folder)
        (folder / CONFIG_NAME).write_text(json.dumps(self.retok_config(), indent=2) + "\n", encoding="utf-8")


def specials_summary(specials: dict[str, str], *, shown: int = 4) -> str:
    """One short line for :attr:`InitReport.specials`: counts by how they were matched, and the first few of each.

    ``{"<|begin_of_text|>": "<s> (bos_token role)", ...}`` -> ``"3 special tokens: 1 by role (...), 2 mean row (...)"``.
    The full list is in ``retok_config.json``.
    """
    groups: dict[str, list[str]] = {}
    for token, row in specials.items():
        how = "by role" if row.endswith(" role)") else "same string" if row.endswith("(same string)") else "mean row"
        groups.setdefault(how, []).append(token if how != "by role" else f"{token} <- {row}")
    parts = []
    for how, items in groups.items():
        more = f", ... {len(items) - shown} more" if len(items) > shown else ""
        parts.append(f"{len(items)} {how} ({', '.join(items[:shown])}{more})")
    return f"{len(specials)} special tokens: " + "; ".join(parts)


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


def special_id_updates(
    model: PreTrainedModel | Sequence[Any], alignment: VocabAlignment, notes: list[str] | None = None
) -> list[tuple[Any, str, Any]]:
    """The (config, field, new value) changes that point the model's special-token ids at the new tokenizer.

    ``model`` is a model (its config and generation config) or a list of config objects (a checkpoint read
    lazily, :mod:`retok.transfer.sharded`).

    Each id goes to the new token that carries its row. An id whose token has no counterpart goes to
    the new tokenizer's token of the same role when it has one, even if that token also fills another
    role (SmolLM2's pad token is its eos token): a note in ``notes`` says so. A pad id without a counterpart
    follows a new tokenizer that has no pad token: the new eos where the model's pad was its eos, else None.
    Computed before the model
    is touched, so a missing special token fails with nothing changed.
    """
    from .sharded.output import TOKEN_ID_FIELDS

    carriers: dict[int, list[int]] = {}
    for tgt, src in sorted(alignment.matches.items(), key=lambda kv: not alignment.kinds[kv[0]].startswith("special")):
        carriers.setdefault(src, []).append(tgt)

    def carrier(value: int, role: str) -> int:
        """Of the new tokens that carry the row of ``value``, the one that fills ``role`` (several specials may share a row)."""
        found = carriers[value]
        return next((t for t in found if alignment.target.roles.get(role) == t), found[0])

    def remap(value: int | list[int] | None, name: str) -> int | list[int] | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [remap(v, name) for v in value]
        if value in carriers:
            new = carrier(value, name.removesuffix("_id"))
            if name == "pad_token_id" and "pad_token" not in alignment.target.roles and notes is not None:
                note = f"pad_token_id: the new tokenizer has no pad token; pad_token_id is {new} ({alignment.target.strings[new]!r}, the token with the model's pad row)"
                if note not in notes:
                    notes.append(note)
            return new
        if value not in carriers:
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
            if name == "pad_token_id":  # GPT-2, StarCoder, Llama-3 base: no pad token; padding follows the new tokenizer
                eos = remap(source_eos, "eos_token_id") if value == source_eos and source_eos is not None else None
                note = (
                    "pad_token_id: the new tokenizer has no pad token; "
                    + (f"the model's pad {token!r} was its eos, so pad is the new eos (id {eos})" if eos is not None else "pad_token_id is now unset (None)")
                )
                if notes is not None and note not in notes:
                    notes.append(note)
                return eos
            raise RetokError(
                f"the new tokenizer has no counterpart for {token!r}, the model's {name}: add it, e.g. "
                f"new_tokenizer.add_special_tokens({{{role!r}: {token!r}}}), or train the tokenizer with "
                "`retok train-tokenizer --like <old tokenizer>` so it inherits the special tokens"
            )

    configs = [model.config] if not isinstance(model, (list, tuple)) else list(model)
    if not isinstance(model, (list, tuple)) and getattr(model, "generation_config", None) is not None:
        configs.append(model.generation_config)
    source_eos = alignment.source.roles.get("eos_token")
    if source_eos is None:
        eos_ids = [getattr(c, "eos_token_id", None) for c in configs]
        source_eos = next((e for e in eos_ids if isinstance(e, int)), None)
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
    used = list(dict.fromkeys(tok for tok in re.findall(r"<[^<>\s'\"]+>", template) if tok in old.get_vocab()))
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
    lazy: bool | None = None,
    check_resources: bool = True,
    allow_pickle: bool = False,
    say: Callable[[str], None] | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    max_shard_size: int | str | None = None,
    **options: Any,
) -> Transplanted:
    """Swap the tokenizer of ``model``. Mutates a loaded ``model`` in place (load a fresh copy to keep the original).

    A folder or cached hub id with safetensors weights takes the checkpoint path (``lazy``): only the
    vocabulary-indexed tensors are read (memory-mapped, in their dtype), and :meth:`Transplanted.save_pretrained`
    streams every other tensor from the source unchanged, so memory follows the embedding matrices, not the model.

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
        lazy: True: the checkpoint path (refused for a loaded model, a fine-tuned variant or pickle weights);
            False: load the whole model in memory; None (default): the checkpoint path whenever it applies.
            Both give bit-identical rows.
        check_resources: on the checkpoint path, refuse before any work when the estimated peak memory exceeds
            what is available (and, when saving, the output size what the disk has free).
        allow_pickle: load a folder that has only pickle ``.bin`` weights (in memory, through transformers). Off by
            default: unpickling a file can run code.
        say: called with one line of progress (the estimate of memory and disk); the CLI passes ``print``.
        out: also save the result there (atomically; ``overwrite`` to replace a folder, ``max_shard_size`` as in
            :meth:`Transplanted.save_pretrained`). On the checkpoint path the unchanged tensors are then copied
            while the new rows are computed, so the whole takes about as long as copying the checkpoint.
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
    if out is not None:
        from retok.atomic import check_output_dir
        from .sharded.writer import parse_size

        check_output_dir(out, overwrite=overwrite)
        parse_size(max_shard_size)
    folder = checkpoint_path(model, lazy=lazy, base_model=base_model, allow_pickle=allow_pickle)
    if folder is not None:
        return transplant_checkpoint(
            folder, new_tokenizer, config, old_tokenizer=old_tokenizer, donor=donor, check_resources=check_resources,
            say=say, source_name=os.fspath(model), out=out, overwrite=overwrite, max_shard_size=max_shard_size,
        )
    # the dtype it was saved in (a bfloat16 model stays bfloat16 on disk; the initializers work in float32 copies),
    # float32 for a fine-tuned variant, whose weight arithmetic (ft + scale * delta) needs it
    new_tokenizer = load_tokenizer(new_tokenizer)
    check_new_tokenizer(new_tokenizer)
    model = load_model(model, dtype="float32" if base_model is not None else "auto")
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
    notes += report_notes(result.report)
    for note in notes:
        if "not copied" in note:
            warnings.warn(note, stacklevel=2)
    done = Transplanted(
        new_tokenizer, config, result.report, source_name, notes, variant.record if variant else None, carried_separator(alignment),
        in_memory=model,
    )
    if out is not None:
        done.save_pretrained(out, overwrite=overwrite, max_shard_size=max_shard_size)
    return done


def checkpoint_path(model: Any, *, lazy: bool | None, base_model: Any = None, allow_pickle: bool = False) -> Path | None:
    """The checkpoint folder when :func:`transplant` takes the checkpoint path, else None (load in memory)."""
    from .sharded.files import pickle_refusal
    from .sharded.source import checkpoint_folder, has_pickle_only, has_safetensors

    if lazy is False:
        folder = checkpoint_folder(model)
        if folder is not None and has_pickle_only(folder) and not allow_pickle:
            raise RetokError(pickle_refusal(folder))
        return None
    if base_model is not None:
        if lazy:
            raise RetokError("a fine-tuned variant (base_model= / --base-model) is transplanted in memory; drop lazy=True (--lazy)")
        return None
    folder = checkpoint_folder(model)
    if folder is not None and has_pickle_only(folder):
        if not allow_pickle:
            raise RetokError(pickle_refusal(folder))
        folder = None
    if folder is not None and not has_safetensors(folder) and not lazy:
        folder = None  # not a checkpoint folder at all: the in-memory loader says what is wrong
    if folder is None and lazy:
        raise RetokError(
            f"lazy=True (--lazy) needs a safetensors checkpoint folder or a hub id in the local cache; got {model!r}"
            if isinstance(model, (str, os.PathLike)) else "lazy=True (--lazy) needs a checkpoint folder, not a loaded model; pass its folder"
        )
    return folder


def check_new_tokenizer(tokenizer: PreTrainedTokenizerBase) -> None:
    """Refuse a new tokenizer whose ids run far beyond its entries (every missing id would become an embedding row)."""
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1 if vocab else 0
    holes = size - len(vocab)
    if holes > max(1024, len(vocab)):
        far = sorted(vocab.items(), key=lambda kv: -kv[1])[:3]
        raise RetokError(
            f"the new tokenizer (--tokenizer) has {len(vocab)} entries but ids up to {size - 1}, so {holes} rows would hold no token "
            f"(highest: {', '.join(f'{t!r} = {i}' for t, i in far)}); renumber those added tokens in its tokenizer.json"
        )


def transplant_checkpoint(
    folder: Path,
    new_tokenizer: PreTrainedTokenizerBase | str | os.PathLike,
    config: InitConfig,
    *,
    old_tokenizer: PreTrainedTokenizerBase | str | os.PathLike | None = None,
    donor: Any = None,
    check_resources: bool = True,
    say: Callable[[str], None] | None = None,
    source_name: str | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    max_shard_size: int | str | None = None,
) -> Transplanted:
    """:func:`transplant` on the checkpoint path: read only the vocabulary-indexed tensors of ``folder``.

    With ``out`` the result is also saved there, the unchanged tensors copied while the new rows are computed.
    """
    from .donor import load_donor
    from .embeddings import check_tokenizer_fits
    from .initializers import init_embeddings
    from .initializers.base import source_statistics
    from .padding import find_padding, padded_rows
    from .sharded.budget import check_disk, check_memory, estimate
    from .sharded.output import CheckpointOutput, placeholders, set_vocab_size, write_configs, write_while_computing
    from .sharded.writer import parse_size
    from retok.progress import bars_on
    from .sharded.source import CheckpointSource
    from retok.loading import load_tokenizer, saved_tokenizer
    from retok.vocab.canonical import VocabAlignment

    source_ckpt = CheckpointSource.open(folder)
    new_tokenizer = load_tokenizer(new_tokenizer)
    check_new_tokenizer(new_tokenizer)
    own = saved_tokenizer(folder)
    if old_tokenizer is None:
        if own is None:
            raise RetokError(f"{folder} holds no tokenizer; pass the model's own tokenizer as old_tokenizer= (CLI: --old-tokenizer)")
        old_tokenizer = own
    else:
        old_tokenizer = load_tokenizer(old_tokenizer)
        if own is not None:
            check_tokenizer_fits(source_ckpt.rows, old_tokenizer, what="old_tokenizer (--old-tokenizer)", own=own)
    source_ckpt.check_fits(old_tokenizer)
    old_size = max(old_tokenizer.get_vocab().values()) + 1
    new_size = max(new_tokenizer.get_vocab().values()) + 1
    budget_rows = padded_rows(find_padding(source_ckpt.rows, old_size), new_size)
    budget = estimate(
        rows=source_ckpt.rows, dim=source_ckpt.dim, itemsize=source_ckpt.itemsize, matrices=1 if source_ckpt.layout.tied else 2,
        new_rows=budget_rows,
        total_bytes=source_ckpt.checkpoint.total_bytes, embedding_bytes=source_ckpt.embedding_bytes, streams=config.spec.streams,
    )
    if say is not None:
        say(f"checkpoint {folder}: {source_ckpt.checkpoint.total_bytes / 2**30:.2f} GiB in {len(source_ckpt.checkpoint.files)} file(s); "
            f"{budget.describe()}")
    if check_resources:
        check_memory(budget)
        if out is not None:
            check_disk(budget, Path(out))
    source = source_ckpt.embeddings(old_tokenizer)
    alignment = VocabAlignment.build(old_tokenizer, new_tokenizer)
    notes: list[str] = []
    configs = source_ckpt.configs()
    updates = special_id_updates(configs, alignment, notes)  # a missing special fails here, before any writing
    donor_view = None if donor is None else load_donor(donor, new_tokenizer)
    made: list[Transplanted] = []

    def compute() -> dict[str, Any]:
        source_statistics(source, alignment)  # the one pass over every row; its pages are let go at once
        source_ckpt.release()
        result = init_embeddings(source, new_tokenizer, config, alignment=alignment, donor=donor_view)
        source_ckpt.release()
        for cfg, name, value in updates:
            setattr(cfg, name, value)
        set_vocab_size(configs[0], result.embeddings.rows)
        extra = [n for n in [_carry_chat_template(old_tokenizer, new_tokenizer)] if n] + report_notes(result.report)
        for note in notes + extra:
            if "not copied" in note:
                warnings.warn(note, stacklevel=4)
        output = CheckpointOutput(source_ckpt, result.embeddings, configs)
        made.append(Transplanted(
            new_tokenizer, config, result.report, source_name or str(folder), notes + extra, None, carried_separator(alignment),
            checkpoint=output, budget=budget,
        ))
        return output.new_tensors()

    if out is None:
        compute()
        return made[0]
    planned = placeholders(source_ckpt, budget_rows)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        write_while_computing(tmp, source_ckpt, planned, compute, max_shard_size=parse_size(max_shard_size), progress=bars_on())
        write_configs(tmp, configs)
        made[0].write_metadata(tmp)
    return made[0]


def report_notes(report: InitReport) -> list[str]:
    """Notes on what the report's counts mean for the user: rows with no counterpart, padding kept."""
    notes = []
    if report.counts.get("special-mean"):
        notes.append(f"{report.counts['special-mean']} special token(s) had no counterpart and got the mean row")
    padding = report.details.get("padding")
    if padding:
        multiple = f" (a multiple of {padding['multiple']})" if padding["multiple"] else ""
        notes.append(
            f"the model's vocabulary is padded beyond its tokenizer: the new one is too, {padding['rows']} rows for "
            f"{padding['ids']} ids{multiple}; the padding rows are the source's"
        )
    return notes


__all__ = [
    "Transplanted", "carried_separator", "check_new_tokenizer", "checkpoint_path", "read_retok_config", "report_notes", "saved_separator", "special_id_updates",
    "specials_summary", "transplant", "transplant_checkpoint",
]
