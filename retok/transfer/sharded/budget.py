"""Memory and disk a transplant of a checkpoint needs, estimated before any work, checked against what is free.

Memory follows the embedding matrices, not the model: the source's vocabulary-indexed tensors in their
dtype (paged in from the file), the new rows in that dtype, and the method's float32 work. A method that
does not stream (:attr:`retok.transfer.initializers.base.MethodSpec.streams`) also holds a float32 copy
of the source matrices. Disk is the output checkpoint: every unchanged tensor plus the new ones.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from retok.errors import RetokError

BASELINE = 600 * 2**20  # python, torch, transformers and tokenizers themselves
DISK_MARGIN = 64 * 2**20  # config, tokenizer and index files


@dataclass(frozen=True)
class Budget:
    """Estimated peak resident memory and output size, in bytes."""

    memory: int
    disk: int

    def describe(self) -> str:
        return f"estimated peak memory {gib(self.memory)}, output size {gib(self.disk)}"


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def estimate(
    *, rows: int, dim: int, itemsize: int, matrices: int, new_rows: int, total_bytes: int, embedding_bytes: int, streams: bool
) -> Budget:
    """The budget of transplanting ``matrices`` (1 tied, 2 untied) ``(rows, dim)`` tables onto ``new_rows`` rows.

    ``total_bytes`` is the source checkpoint's tensor bytes, ``embedding_bytes`` the part that is replaced.
    """
    source = rows * dim * itemsize * matrices
    new = new_rows * dim * itemsize * matrices
    work = new_rows * dim * 4 * matrices  # the method's float32 rows for the new tokens (at most every row)
    copy = 0 if streams or itemsize == 4 else rows * dim * 4 * matrices
    return Budget(BASELINE + source + new + work + copy, total_bytes - embedding_bytes + new + DISK_MARGIN)


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def free_disk(path: Path) -> int:
    """Free bytes on the file system that will hold ``path`` (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_memory(budget: Budget, *, flag: str = "--no-check-resources") -> None:
    free = available_memory()
    if free is not None and budget.memory > free:
        raise RetokError(
            f"not enough memory: this transplant needs about {gib(budget.memory)} but {gib(free)} is available; "
            f"free some memory, or pass {flag} to go on anyway"
        )


def check_disk(budget: Budget, out: Path, *, flag: str = "--no-check-resources") -> None:
    free = free_disk(out)
    if budget.disk > free:
        raise RetokError(
            f"not enough disk space for {out}: the output needs about {gib(budget.disk)} but {gib(free)} is free there; "
            f"choose another --out, free space, or pass {flag} to go on anyway"
        )


__all__ = ["Budget", "available_memory", "check_disk", "check_memory", "estimate", "free_disk", "gib"]
