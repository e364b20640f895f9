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

All memory figures are in MiB (2**20 bytes).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

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
