"""A safetensors checkpoint as the source of a transplant: its config and only its embedding tensors.

:func:`checkpoint_folder` says whether a model reference can take this path (a local folder with
safetensors weights, or a hub id whose files are already in the local Hugging Face cache).
:class:`CheckpointSource` reads the config, finds the vocabulary-indexed tensors (:mod:`.layout`) and
gives them as :class:`retok.transfer.embeddings.TokenEmbeddings` backed by memory-mapped files, in
the checkpoint's own dtype: an 8B checkpoint's 16 GB are never read, its two 1 GB matrices are paged
in as a method touches them, and :meth:`CheckpointSource.release` lets those pages go again.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retok.errors import RetokError
from .files import INDEX_NAME, Checkpoint, MappedTensor, has_pickle_weights
from .layout import EmbeddingLayout, embedding_layout


def has_safetensors(folder: Path) -> bool:
    return (folder / INDEX_NAME).is_file() or any(folder.glob("*.safetensors"))


def has_pickle_only(folder: Path) -> bool:
    return not has_safetensors(folder) and has_pickle_weights(folder)


def checkpoint_folder(ref: Any) -> Path | None:
    """The local folder holding ``ref``'s checkpoint, or None when it is not a folder / cached hub id.

    A hub id is looked up in the local Hugging Face cache only (offline); it is None when not there, and
    the in-memory loader then says why it cannot be loaded.
    """
    if not isinstance(ref, (str, os.PathLike)):
        return None
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    name = os.fspath(ref)
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached (huggingface_hub raises several error types)
        return None
    return folder if (folder / "config.json").is_file() else None


@dataclass
class CheckpointSource:
    """A checkpoint folder opened for a transplant: config, generation config, layout; tensors read on demand."""

    folder: Path
    checkpoint: Checkpoint
    config: Any
    generation_config: Any | None
    layout: EmbeddingLayout
    mapped: list[MappedTensor] = field(default_factory=list)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> CheckpointSource:
        from transformers import AutoConfig, GenerationConfig

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise RetokError(f"cannot load the causal language model from {str(folder)!r}: the folder has no config.json")
        checkpoint = Checkpoint(folder)  # refuses pickle-only weights, missing or truncated shards
        try:
            config = AutoConfig.from_pretrained(folder)
        except Exception as e:  # transformers raises ValueError / KeyError / OSError for unknown or broken configs
            raise RetokError(f"cannot read {folder / 'config.json'}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        generation = None
        if (folder / "generation_config.json").is_file():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                generation = GenerationConfig.from_pretrained(folder)
        layout = embedding_layout(config, set(checkpoint.entries))
        return cls(folder, checkpoint, config, generation, layout)

    @property
    def rows(self) -> int:
        return self.checkpoint.entries[self.layout.input].shape[0]

    @property
    def dim(self) -> int:
        return self.checkpoint.entries[self.layout.input].shape[1]

    @property
    def embedding_bytes(self) -> int:
        return sum(self.checkpoint.entries[n].nbytes for n in self.layout.names())

    @property
    def itemsize(self) -> int:
        return self.checkpoint.entries[self.layout.input].torch_dtype.itemsize

    def embeddings(self, tokenizer: Any) -> Any:
        """The vocabulary-indexed tensors as TokenEmbeddings, memory-mapped, in the checkpoint's dtype."""
        from retok.transfer.embeddings import TokenEmbeddings

        self.check_fits(tokenizer)
        tensors = {}
        for name in self.layout.names():
            mapped = self.checkpoint.mapped(name)
            self.mapped.append(mapped)
            tensors[name] = mapped.tensor
        out = None if self.layout.output is None else tensors[self.layout.output]
        bias = None if self.layout.output_bias is None else tensors[self.layout.output_bias]
        return TokenEmbeddings(tokenizer, tensors[self.layout.input], out, bias)

    def check_fits(self, tokenizer: Any) -> None:
        vocab = tokenizer.get_vocab()
        needed = max(vocab.values()) + 1 if vocab else 0
        if needed > self.rows:
            raise RetokError(
                f"the old tokenizer has ids up to {needed - 1} but the checkpoint's embedding matrix has only {self.rows} rows: "
                "this tokenizer does not belong to this model; pass the tokenizer the model was trained with"
            )

    def release(self) -> None:
        """Drop the pages of the embedding tensors read so far (they are read again if touched)."""
        for mapped in self.mapped:
            mapped.release()

    def configs(self) -> list[Any]:
        """Copies of the config and generation config, to be changed for the output."""
        return [copy.deepcopy(self.config)] + ([copy.deepcopy(self.generation_config)] if self.generation_config is not None else [])


__all__ = ["CheckpointSource", "checkpoint_folder", "has_pickle_only", "has_safetensors"]
