"""The transplanted checkpoint before it is written: new vocabulary-indexed tensors, every other tensor the source's.

:meth:`CheckpointOutput.write` streams it into a folder (the caller makes the folder atomic): the
new tensors in the checkpoint's dtype, the others copied byte for byte, sharded like the source or
by ``max_shard_size``, then ``config.json`` and ``generation_config.json`` with the new vocabulary
size and special-token ids. :meth:`CheckpointOutput.load_model` builds the same model in memory,
for a caller that wants the object (it loads the whole source).
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from retok.progress import bars_on
from .source import CheckpointSource
from .writer import OutputTensor, ShardFiles, plan_shards

#: the config fields that hold token ids, remapped by a transplant
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "sep_token_id")


def set_vocab_size(config: Any, rows: int) -> None:
    """``vocab_size`` of the config and, for a composite config, of its text config."""
    if hasattr(config, "vocab_size"):
        config.vocab_size = rows
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if text is not config and hasattr(text, "vocab_size"):
        text.vocab_size = rows


def new_tensor_names(source: CheckpointSource) -> dict[str, str]:
    """``{checkpoint name: which TokenEmbeddings field it takes}`` for the tensors a transplant replaces."""
    layout = source.layout
    names = {layout.input: "input"}
    if layout.tied_copy is not None:
        names[layout.tied_copy] = "input"
    if layout.output is not None:
        names[layout.output] = "output"
    if layout.output_bias is not None:
        names[layout.output_bias] = "output_bias"
    return names


def placeholders(source: CheckpointSource, rows: int) -> dict[str, torch.Tensor]:
    """Storage-free tensors of the shape and dtype each replaced tensor will have for ``rows`` rows (to plan shards)."""
    out = {}
    for name in new_tensor_names(source):
        entry = source.checkpoint.entries[name]
        out[name] = torch.empty((rows, *entry.shape[1:]), dtype=entry.torch_dtype, device="meta")
    return out


def output_tensors(source: CheckpointSource, new: dict[str, torch.Tensor]) -> list[OutputTensor]:
    """The output's tensors in the source's order: ``new`` where given, else the source's bytes."""
    return [OutputTensor.new(n, new[n]) if n in new else OutputTensor.copied(e) for n, e in source.checkpoint.entries.items()]


def plan_output(folder: Path, source: CheckpointSource, new: dict[str, torch.Tensor], max_shard_size: int | None) -> ShardFiles:
    """The shard files of the output in ``folder`` (sharded like the source, or by ``max_shard_size``)."""
    shards = plan_shards(output_tensors(source, new), source.checkpoint, max_shard_size)
    return ShardFiles(folder, shards, index=source.checkpoint.sharded and max_shard_size is None)


def write_while_computing(
    folder: Path, source: CheckpointSource, planned: dict[str, torch.Tensor], compute: Callable[[], dict[str, torch.Tensor]],
    *, max_shard_size: int | None = None, progress: bool = True,
) -> list[str]:
    """Write the output weights into ``folder`` while ``compute()`` makes the new tensors.

    The shards are laid out from ``planned`` (:func:`placeholders`), the unchanged tensors are copied in a
    thread (``copy_file_range`` runs in the kernel, outside the GIL) while ``compute`` runs here, and the
    new tensors are written when both are done: the wall time is about the longer of the two, not their
    sum. An exception on either side stops the other; the caller's atomic folder then removes the files.
    """
    from tqdm.auto import tqdm

    files = plan_output(folder, source, planned, max_shard_size)
    total = sum(t.nbytes for _, tensors in files.shards for t in tensors)
    files.create()
    stop = threading.Event()
    failure: list[BaseException] = []
    with tqdm(total=total, unit="B", unit_scale=True, desc="writing weights", disable=not bars_on(progress)) as bar:

        def copy() -> None:
            try:
                files.copy_unchanged(bar, stop)
            except BaseException as e:  # re-raised in the main thread
                failure.append(e)

        copier = threading.Thread(target=copy, name="retok-copy", daemon=True)
        copier.start()
        try:
            new = compute()
        finally:
            if sys.exc_info()[0] is not None:
                stop.set()
            copier.join()
        if failure:
            raise failure[0]
        files.write_new(new, bar)
    files.write_index()
    return files.names


def write_configs(folder: Path, configs: list[Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for config in configs:
            config.save_pretrained(folder)


@dataclass
class CheckpointOutput:
    """A checkpoint ``source`` with its vocabulary-indexed tensors replaced by ``embeddings``; ``configs`` changed copies."""

    source: CheckpointSource
    embeddings: Any  # TokenEmbeddings for the new tokenizer (padding included)
    configs: list[Any]

    def new_tensors(self) -> dict[str, torch.Tensor]:
        """The replaced tensors, in the checkpoint's dtypes."""
        names = new_tensor_names(self.source)
        return {n: getattr(self.embeddings, field).to(self.source.checkpoint.entries[n].torch_dtype) for n, field in names.items()}

    def write(self, folder: Path, *, max_shard_size: int | None = None, progress: bool = True) -> list[str]:
        """Write the weights and configs into ``folder``; returns the weight file names."""
        from tqdm.auto import tqdm

        new = self.new_tensors()
        files = plan_output(folder, self.source, new, max_shard_size)
        total = sum(t.nbytes for _, tensors in files.shards for t in tensors)
        with tqdm(total=total, unit="B", unit_scale=True, desc="writing weights", disable=not bars_on(progress)) as bar:
            files.create()
            files.copy_unchanged(bar)
            files.write_new(new, bar)
            files.write_index()
        write_configs(folder, self.configs)
        return files.names

    def load_model(self) -> Any:
        """The transplanted model in memory: the source loaded whole, then these tensors and ids written into it."""
        from retok.loading import load_model

        model = load_model(str(self.source.folder), dtype="auto")
        self.embeddings.apply_to(model)
        model_configs = [model.config] + ([model.generation_config] if getattr(model, "generation_config", None) is not None else [])
        for ours, theirs in zip(self.configs, model_configs):
            for name in TOKEN_ID_FIELDS:
                if hasattr(ours, name):
                    setattr(theirs, name, getattr(ours, name))
        return model


__all__ = ["CheckpointOutput", "TOKEN_ID_FIELDS", "new_tensor_names", "output_tensors", "placeholders", "plan_output", "set_vocab_size", "write_configs", "write_while_computing"]
