"""The transplanted checkpoint before it is written: new vocabulary-indexed tensors, every other tensor the source's.

:meth:`CheckpointOutput.write` streams it into a folder (the caller makes the folder atomic): the
new tensors in the checkpoint's dtype, the others copied byte for byte, sharded like the source or
by ``max_shard_size``, then ``config.json`` and ``generation_config.json`` with the new vocabulary
size and special-token ids. :meth:`CheckpointOutput.load_model` builds the same model in memory,
for a caller that wants the object (it loads the whole source).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retok.progress import bars_on
from .source import CheckpointSource
from .writer import OutputTensor, plan_shards, write_shards

#: the config fields that hold token ids, remapped by a transplant
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "sep_token_id")


def set_vocab_size(config: Any, rows: int) -> None:
    """``vocab_size`` of the config and, for a composite config, of its text config."""
    if hasattr(config, "vocab_size"):
        config.vocab_size = rows
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if text is not config and hasattr(text, "vocab_size"):
        text.vocab_size = rows


@dataclass
class CheckpointOutput:
    """A checkpoint ``source`` with its vocabulary-indexed tensors replaced by ``embeddings``; ``configs`` changed copies."""

    source: CheckpointSource
    embeddings: Any  # TokenEmbeddings for the new tokenizer (padding included)
    configs: list[Any]

    def new_tensors(self) -> dict[str, Any]:
        layout, e = self.source.layout, self.embeddings
        new = {layout.input: e.input}
        if layout.tied_copy is not None:
            new[layout.tied_copy] = e.input
        if layout.output is not None:
            new[layout.output] = e.output
        if layout.output_bias is not None:
            new[layout.output_bias] = e.output_bias
        stored = {n: self.source.checkpoint.entries[n].torch_dtype for n in new}
        return {n: t.to(stored[n]) for n, t in new.items()}

    def tensors(self) -> list[OutputTensor]:
        new = self.new_tensors()
        return [OutputTensor.new(n, new[n]) if n in new else OutputTensor.copied(e) for n, e in self.source.checkpoint.entries.items()]

    @property
    def new_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.new_tensors().values())

    def write(self, folder: Path, *, max_shard_size: int | None = None, progress: bool = True) -> list[str]:
        """Write the weights and configs into ``folder``; returns the weight file names."""
        from tqdm.auto import tqdm

        tensors = self.tensors()
        shards = plan_shards(tensors, self.source.checkpoint, max_shard_size)
        total = sum(t.nbytes for t in tensors)
        with tqdm(total=total, unit="B", unit_scale=True, desc="writing weights", disable=not bars_on(progress)) as bar:
            names = write_shards(folder, shards, index=self.source.checkpoint.sharded and max_shard_size is None, progress=bar)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for config in self.configs:
                config.save_pretrained(folder)
        return names

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


__all__ = ["CheckpointOutput", "set_vocab_size"]
