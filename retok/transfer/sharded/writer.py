"""Writing a safetensors checkpoint tensor by tensor: changed tensors from memory, the rest copied byte for byte.

The output is laid out first (:func:`plan_shards`: which tensor goes in which shard, every header known
before a byte is written, new tensors by shape and dtype alone), then written by position
(:class:`ShardFiles`): the unchanged tensors can be copied while the new ones are still being computed.
A tensor that did not change is copied from the source file with ``copy_file_range`` (no decoding, no
page in this process's memory), so the written bytes are the source's bytes and the time is the copy's.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from retok.errors import RetokError
from .files import CODES, INDEX_NAME, SINGLE_NAME, Checkpoint, TensorEntry

COPY_CHUNK = 64 * 2**20


@dataclass(frozen=True)
class OutputTensor:
    """One tensor of the output: the source's bytes (``source``) or a new tensor (``data``)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    source: TensorEntry | None = None
    data: torch.Tensor | None = None

    @property
    def nbytes(self) -> int:
        if self.source is not None:
            return self.source.nbytes
        assert self.data is not None
        return self.data.numel() * self.data.element_size()

    @classmethod
    def copied(cls, entry: TensorEntry) -> OutputTensor:
        return cls(entry.name, entry.dtype, entry.shape, source=entry)

    @classmethod
    def new(cls, name: str, data: torch.Tensor) -> OutputTensor:
        if data.dtype not in CODES:
            raise RetokError(f"cannot write tensor {name!r} of dtype {data.dtype} to safetensors")
        return cls(name, CODES[data.dtype], tuple(data.shape), data=data if data.is_meta else data.contiguous())


def parse_size(text: str | int | None) -> int | None:
    """``"5GB"`` -> 5_000_000_000, ``"500MiB"`` -> 524_288_000, an int as it is, None for None."""
    if text is None or isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise RetokError(f"cannot read the size {text!r}; write e.g. 5GB, 500MB or 2GiB")
    number, unit, binary = match.groups()
    power = "KMGT".find(unit.upper()) + 1 if unit else 0
    size = int(float(number) * (1024 if binary else 1000) ** power)
    if size <= 0:
        raise RetokError(f"the size {text!r} must be positive")
    return size


def plan_shards(tensors: list[OutputTensor], source: Checkpoint, max_shard_size: int | None) -> list[tuple[str, list[OutputTensor]]]:
    """Group the output tensors into named shards.

    Without ``max_shard_size`` the shards follow the source's, names included: each tensor goes to the
    shard its source tensor was in (new tensors replace a source tensor of the same name). With it,
    tensors are packed in order into shards of at most that many bytes (a larger tensor gets a shard of
    its own), named as transformers names them.
    """
    if max_shard_size is None:
        by_file: dict[Path, list[OutputTensor]] = {path: [] for path in source.files}
        for t in tensors:
            home = source.entries[t.name].file if t.name in source.entries else source.files[-1]
            by_file[home].append(t)
        return [(path.name, group) for path, group in by_file.items() if group]
    shards = pack_shards(tensors, max_shard_size)
    return list(zip(shard_names(len(shards)), shards))


def pack_shards(tensors: list[OutputTensor], max_bytes: int) -> list[list[OutputTensor]]:
    """``tensors`` in order, in groups of at most ``max_bytes`` (a larger tensor gets a group of its own)."""
    shards: list[list[OutputTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def shard_names(count: int) -> list[str]:
    """transformers' names: ``model.safetensors`` for one shard, ``model-00001-of-00003.safetensors`` for several."""
    if count == 1:
        return [SINGLE_NAME]
    return [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def header_bytes(tensors: list[OutputTensor]) -> bytes:
    """The 8-byte length and the JSON header of a shard, padded with spaces to 8 bytes as safetensors writes it."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


class ShardFiles:
    """The output shards of a plan, written in place: headers first, then every tensor at its offset, in any order.

    Writing by position lets the unchanged tensors be copied (:meth:`copy_unchanged`, e.g. in a thread)
    while the new ones are still being computed, and written last (:meth:`write_new`). A new tensor is
    planned with a placeholder of its shape and dtype (``OutputTensor.new(name, torch.empty(..., device="meta"))``).
    """

    def __init__(self, folder: Path, shards: list[tuple[str, list[OutputTensor]]], *, index: bool) -> None:
        self.folder, self.shards, self.index = folder, shards, index
        self.where: dict[str, tuple[Path, int, OutputTensor]] = {}
        for name, tensors in shards:
            offset = len(header_bytes(tensors))
            for t in tensors:
                self.where[t.name] = (folder / name, offset, t)
                offset += t.nbytes

    def create(self) -> None:
        """Each shard file at its full size, its header written."""
        for name, tensors in self.shards:
            header = header_bytes(tensors)
            with open(self.folder / name, "wb") as f:
                f.write(header)
                f.truncate(len(header) + sum(t.nbytes for t in tensors))

    def copy_unchanged(self, progress: object | None = None, stop: threading.Event | None = None) -> None:
        """Copy every tensor that comes from the source, byte for byte (kernel-side where the OS can)."""
        for path, offset, t in self.where.values():
            if t.source is None:
                continue
            with t.source.file.open("rb") as src, open(path, "r+b") as out:
                copy_range(t.source, src.fileno(), out.fileno(), offset, progress, stop)

    def write_new(self, data: dict[str, torch.Tensor], progress: object | None = None) -> None:
        """Write the new tensors (their dtype and shape must be the planned ones) at their offsets."""
        for name, tensor in data.items():
            path, offset, planned = self.where[name]
            if CODES.get(tensor.dtype) != planned.dtype or tuple(tensor.shape) != planned.shape:
                raise RuntimeError(f"{name}: planned {planned.dtype} {planned.shape}, got {tensor.dtype} {tuple(tensor.shape)}")
            view = memoryview(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
            with open(path, "r+b") as out:
                written = 0
                while written < len(view):
                    written += os.pwrite(out.fileno(), view[written : written + COPY_CHUNK], offset + written)
            if progress is not None:
                progress.update(len(view))  # type: ignore[attr-defined]

    def write_index(self) -> None:
        if self.index or len(self.shards) > 1:
            total = sum(t.nbytes for _, tensors in self.shards for t in tensors)
            weight_map = {t.name: name for name, tensors in self.shards for t in tensors}
            document = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
            (self.folder / INDEX_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.shards]


def copy_range(src: TensorEntry, src_fd: int, out_fd: int, out_offset: int, progress: object | None = None,
               stop: threading.Event | None = None) -> None:
    """Copy ``src``'s bytes to ``out_fd`` at ``out_offset`` (``copy_file_range`` where the OS has it)."""
    offset, left, at = src.start, src.nbytes, out_offset
    while left:
        if stop is not None and stop.is_set():
            return
        step = min(left, COPY_CHUNK)
        try:
            done = os.copy_file_range(src_fd, out_fd, step, offset, at)
        except (AttributeError, OSError):
            done = os.pwrite(out_fd, os.pread(src_fd, step, offset), at)
        if done <= 0:
            raise RetokError(f"{src.file} ended early while copying {src.name!r}; copy the checkpoint again")
        offset += done
        at += done
        left -= done
        if progress is not None:
            progress.update(done)  # type: ignore[attr-defined]


__all__ = ["OutputTensor", "ShardFiles", "copy_range", "header_bytes", "pack_shards", "parse_size", "plan_shards", "shard_names"]
