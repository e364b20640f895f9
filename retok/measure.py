"""Wall time and peak memory of a block of code.

>>> with measure() as m:
...     run_step()
>>> m.seconds, m.peak_rss_mb, m.peak_cuda_mb

What "peak memory" means here:

* ``peak_rss_mb`` is the peak *resident set size of the whole process* while the block ran,
  sampled by a daemon thread that reads ``/proc/self/statm`` about every 10 ms (plus one sample
  at entry and one at exit). On CPU this is the honest number we can get: PyTorch's CPU
  allocator keeps no peak counter, and ``ru_maxrss`` is the peak over the process's whole life,
  not over the block. It includes everything the process holds (the Python interpreter, loaded
  libraries, the model weights, tensors freed but not yet returned to the OS), so compare
  ``peak_delta_mb`` (peak minus the RSS at entry) between steps run in the same way. A spike
  shorter than the sampling period can be missed.
* ``peak_cuda_mb`` is ``torch.cuda.max_memory_allocated()`` over the block (peak tensor memory
  on the current CUDA device, not counting the caching allocator's reserve or the CUDA
  context), or ``None`` when CUDA is not in use.

Where ``/proc/self/statm`` does not exist (macOS, Windows) the RSS fields fall back to
``resource.getrusage`` (lifetime peak) or 0, and say nothing about the block.

For a whole command, :func:`run_measured` gives its wall time and its own peak RSS. It starts the
command from a tiny launcher rather than from this process: on Linux a child's ``ru_maxrss``
starts at its parent's RSS at fork (the kernel carries the old address space's peak across
``exec``), so a 5 GB benchmark process would report 5 GB for every command it runs.

All memory figures are in MiB (2**20 bytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

_MIB = 2**20
_STATM = "/proc/self/statm"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Measurement:
    """What :func:`measure` saw; the fields are filled when the ``with`` block exits.

    Attributes:
        seconds: wall-clock time of the block.
        start_rss_mb: process RSS (MiB) when the block started.
        peak_rss_mb: highest process RSS (MiB) sampled during the block.
        peak_delta_mb: ``peak_rss_mb - start_rss_mb``: what the block added at its peak.
        peak_cuda_mb: peak CUDA tensor memory (MiB) during the block; ``None`` without CUDA.
    """

    seconds: float = 0.0
    start_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_delta_mb: float = 0.0
    peak_cuda_mb: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """Return the fields as a plain dict (for JSON)."""
        return asdict(self)


def current_rss_mb() -> float:
    """Return the resident set size of this process in MiB (0.0 where it cannot be read)."""
    try:
        with open(_STATM, "rb") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * _PAGE_SIZE / _MIB
    except (OSError, IndexError, ValueError):
        pass
    try:  # no /proc: lifetime peak is the best available, better than nothing
        import resource
        import sys

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return maxrss / _MIB if sys.platform == "darwin" else maxrss / 1024
    except (ImportError, OSError):
        return 0.0


def _cuda_in_use() -> bool:
    # Only look at CUDA if something already initialised it: querying it otherwise would
    # create a CUDA context (hundreds of MiB, seconds) just to report "nothing".
    return torch.cuda.is_available() and torch.cuda.is_initialized()


@contextmanager
def measure(*, interval: float = 0.01) -> Iterator[Measurement]:
    """Measure wall time and peak memory of the ``with`` block.

    Args:
        interval: seconds between RSS samples taken by the background thread.

    Yields:
        A :class:`Measurement`, filled in when the block exits (also when it raises).
    """
    result = Measurement()
    start_rss = current_rss_mb()
    peak = [start_rss]  # a list so the sampler thread can update it in place
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            rss = current_rss_mb()
            if rss > peak[0]:
                peak[0] = rss

    if _cuda_in_use():
        torch.cuda.reset_peak_memory_stats()
    sampler = threading.Thread(target=sample, name="retok-measure-rss", daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        yield result
    finally:
        if _cuda_in_use():
            torch.cuda.synchronize()  # so queued kernels count towards the wall time
        result.seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], current_rss_mb())
        result.start_rss_mb = start_rss
        result.peak_rss_mb = peak[0]
        result.peak_delta_mb = peak[0] - start_rss
        result.peak_cuda_mb = torch.cuda.max_memory_allocated() / _MIB if _cuda_in_use() else None


# Run by a fresh ``python -S``: fork (a few MiB to copy), exec the command, reap it, write its rusage.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        sys.stderr.write(f"cannot run {sys.argv[2]}: {e}\\n")
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status), "peak_rss_kib": usage.ru_maxrss}, f)
"""


@dataclass(frozen=True)
class CommandRun:
    """What :func:`run_measured` saw: the exit code (negative: killed by that signal), wall seconds, peak RSS."""

    exit_code: int
    seconds: float
    peak_rss_mib: float


def run_measured(cmd: list[str], log: str | os.PathLike, *, env: dict[str, str] | None = None) -> CommandRun:
    """Run ``cmd`` (stdout and stderr to the file ``log``) and return its exit code, wall time and its own peak RSS.

    Linux only for the RSS (``ru_maxrss`` in KiB). The wall time includes the launcher's start
    (about 20 ms).
    """
    with tempfile.TemporaryDirectory(prefix="retok-measure-") as tmp:
        record = Path(tmp) / "rusage.json"
        start = time.perf_counter()
        with open(log, "w", encoding="utf-8") as sink:
            subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(record), *cmd], stdout=sink, stderr=subprocess.STDOUT, env=env, check=False)
        seconds = time.perf_counter() - start
        if not record.exists():  # the launcher itself failed: a bug here, not in the command
            raise RuntimeError(f"the measuring launcher failed; see {log}")
        usage = json.loads(record.read_text())
    return CommandRun(exit_code=usage["exit_code"], seconds=seconds, peak_rss_mib=usage["peak_rss_kib"] / 1024)
