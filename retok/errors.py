"""The one exception type for bad user input.

Every message says what was wrong, what is allowed, and how to fix it. The CLI turns a
:class:`RetokError` into a one-line message and exit code 2 (no traceback).
"""

from __future__ import annotations


class RetokError(ValueError):
    """Bad input from the user: a wrong path, a mismatched tokenizer, an unknown option, ..."""
