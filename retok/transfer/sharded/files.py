"""A safetensors checkpoint read without loading it: which tensor lies where, and one tensor at a time.

A checkpoint is one ``model.safetensors`` or shards listed in ``model.safetensors.index.json``. Only
the headers are parsed up front (a few KB per shard); a tensor is then read alone, either copied
into memory (:meth:`Checkpoint.read`) or memory-mapped (:meth:`Checkpoint.mapped`, so that only
the rows a method touches are paged in). Unchanged tensors are never decoded at all: the writer
copies their bytes (:mod:`.writer`).

Refused with one line each (exit 2 from the CLI): a folder with only pickle ``.bin`` weights, an index
that names a missing shard or a tensor its shard lacks, a truncated or damaged shard.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from retok.errors import RetokError
from retok.integrity import check_json, check_safetensors

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
PICKLE_NAMES = ("pytorch_model.bin", "pytorch_model.bin.index.json")

#: safetensors dtype codes -> torch dtypes
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    **({"F8_E4M3": torch.float8_e4m3fn} if hasattr(torch, "float8_e4m3fn") else {}),
    **({"F8_E5M2": torch.float8_e5m2} if hasattr(torch, "float8_e5m2") else {}),
}
CODES = {dtype: code for code, dtype in DTYPES.items()}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes lie: ``file[start:end]``, ``dtype`` a safetensors code, ``shape`` its shape."""

    name: str
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def torch_dtype(self) -> torch.dtype:
        if self.dtype not in DTYPES:
            raise RetokError(f"tensor {self.name!r} in {self.file.name} has dtype {self.dtype}, which retok cannot read")
        return DTYPES[self.dtype]


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header of a safetensors file and the offset where its data starts."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder, in order; RetokError for none / pickle only / a missing shard."""
    index = folder / INDEX_NAME
    if index.is_file():
        data = check_json(index, fix="copy the checkpoint again")
        names = sorted(set((data.get("weight_map") or {}).values()))
        if not names:
            raise RetokError(f"{index} has no weight_map; copy the checkpoint again")
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise RetokError(
                f"{folder} is incomplete: its index names {len(missing)} shard(s) that are not there ({', '.join(missing[:3])}); "
                "download or copy the missing shards"
            )
        return [folder / n for n in names]
    if (folder / SINGLE_NAME).is_file():
        return [folder / SINGLE_NAME]
    others = sorted(folder.glob("*.safetensors"))
    if len(others) == 1:
        return others
    if has_pickle_weights(folder):
        raise RetokError(pickle_refusal(folder))
    raise RetokError(f"{folder} has no model.safetensors (or index); pass a folder saved by save_pretrained")


def has_pickle_weights(folder: Path) -> bool:
    """Whether ``folder`` holds pickle ``.bin`` weights (``pytorch_model.bin``, its index or its shards)."""
    return any((folder / n).exists() for n in PICKLE_NAMES) or any(folder.glob("pytorch_model*.bin"))


def pickle_refusal(folder: Path) -> str:
    """The one-line refusal of a folder whose only weights are pickle ``.bin`` files."""
    return (
        f"{folder} has only pickle (.bin) weights, which retok does not unpickle unless asked (loading a pickle can run code): "
        "pass --allow-pickle (allow_pickle=True) if you trust the file, or convert it once with "
        "`AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir)` in a trusted environment"
    )


class Checkpoint:
    """The tensors of a safetensors checkpoint folder, by name, in file order; headers only until read."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.files = weight_files(self.folder)
        self.entries: dict[str, TensorEntry] = {}
        self.metadata: dict[Path, dict[str, str]] = {}
        for path in self.files:
            check_safetensors(path, fix="download or copy the shard again")
            header, base = read_header(path)
            self.metadata[path] = header.pop("__metadata__", None) or {}
            for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
                start, end = info["data_offsets"]
                self.entries[name] = TensorEntry(name, path, info["dtype"], tuple(info["shape"]), base + start, base + end)
        index = self.folder / INDEX_NAME
        if index.is_file():
            listed = check_json(index, fix="copy the checkpoint again")["weight_map"]
            absent = [n for n, f in listed.items() if n not in self.entries or self.entries[n].file.name != Path(f).name]
            if absent:
                raise RetokError(
                    f"{index} lists {len(absent)} tensor(s) that their shard does not hold (e.g. {absent[0]!r}); copy the checkpoint again"
                )
        self.sharded = index.is_file()

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    @property
    def total_bytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def read(self, name: str) -> torch.Tensor:
        """One tensor, copied into memory in its stored dtype."""
        entry = self.entries[name]
        with entry.file.open("rb") as f:
            f.seek(entry.start)
            data = bytearray(entry.nbytes)
            f.readinto(data)
        return frombytes(data, entry)

    def mapped(self, name: str) -> MappedTensor:
        """One tensor memory-mapped copy-on-write: pages are read when touched, and can be let go."""
        return MappedTensor(self.entries[name])


def frombytes(buffer: Any, entry: TensorEntry, offset: int = 0) -> torch.Tensor:
    if entry.nbytes == 0:
        return torch.empty(entry.shape, dtype=entry.torch_dtype)
    flat = torch.frombuffer(buffer, dtype=entry.torch_dtype, count=entry.nbytes // entry.torch_dtype.itemsize, offset=offset)
    return flat.view(entry.shape)


class MappedTensor:
    """A tensor backed by a private mapping of its bytes in the file; :meth:`release` drops the pages read so far."""

    def __init__(self, entry: TensorEntry) -> None:
        self.entry = entry
        page = mmap.ALLOCATIONGRANULARITY
        self.skip = entry.start % page
        with entry.file.open("rb") as f:
            self.map = mmap.mmap(f.fileno(), entry.nbytes + self.skip, access=mmap.ACCESS_COPY, offset=entry.start - self.skip)
        self.tensor = frombytes(self.map, entry, self.skip)

    def release(self) -> None:
        """Let the kernel drop the pages read so far (they are read again if touched): resident memory falls back."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self.map.madvise(mmap.MADV_DONTNEED)


__all__ = ["CODES", "Checkpoint", "DTYPES", "INDEX_NAME", "MappedTensor", "has_pickle_weights", "pickle_refusal", "SINGLE_NAME", "TensorEntry", "read_header", "weight_files"]
