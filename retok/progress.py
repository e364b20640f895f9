"""When to draw progress bars: only when asked for and stderr is a terminal.

In a log file or a CI transcript a bar is noise (``\\r`` redraws glued into one endless line, or
blank lines from the tokenizers trainer), so every bar in retok asks :func:`bars_on` first; the
steps a long job reports as plain lines (``[2/5] ...``) stay.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


def bars_on(progress: bool = True) -> bool:
    """True when a progress bar should be drawn: ``progress`` is on and stderr is a terminal."""
    return bool(progress) and sys.stderr.isatty()


@contextmanager
def hf_progress_bars(enabled: bool) -> Iterator[None]:
    """Turn transformers' own progress bars on or off for the block, then restore them."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


__all__ = ["bars_on", "hf_progress_bars"]
