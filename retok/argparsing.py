"""``argparse`` with one-line errors: every usage mistake is ``retok: error: ...`` with a did-you-mean, exit 2.

Plain argparse prints a usage block of 4-16 lines, offers no suggestion for ``--sed``, and for
``--modle X`` only complains that ``--model`` is required. Here:

* :class:`Parser` turns argparse's own messages (invalid choice, missing argument, bad value) into
  one :class:`UsageError` line that names the flag and what is allowed;
* :func:`check_unknown_options` runs before parsing and names the first option the command does
  not know, with the closest valid one (``unknown option --sed (did you mean --seed?)``), so a
  typo is reported as a typo and not as a missing required flag.

Every command, including the ones added later, gets this by being a subparser of :class:`Parser`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._registry import closest
from .errors import RetokError


class UsageError(RetokError):
    """A mistake on the command line (unknown option, missing or invalid value)."""


_CHOICE = re.compile(r"argument (?P<arg>[^:]+): invalid choice: '(?P<value>.*)' \(choose from (?P<choices>.*)\)$")
_REQUIRED = re.compile(r"the following arguments are required: (?P<args>.*)$")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<args>.*)$")


def _choices(text: str) -> list[str]:
    return [c.strip().strip("'\"") for c in text.split(",")]


def one_line(message: str, prog: str) -> str:
    """argparse's error message for ``prog`` as one line that says what to do."""
    if m := _CHOICE.match(message):
        arg, value, choices = m["arg"], m["value"], _choices(m["choices"])
        guess = closest(value, choices)
        hint = f" (did you mean {guess}?)" if guess else ""
        if arg in ("command", "{" + ",".join(choices) + "}"):
            return f"unknown command {value!r}{hint}; commands: {', '.join(choices)}"
        return f"invalid value {value!r} for {arg}{hint}; choose one of {', '.join(choices)}"
    if m := _REQUIRED.match(message):
        if m["args"] == "command":
            return f"`{prog}` needs a command (see `{prog} --help`)"
        return f"`{prog}` needs {m['args'].replace(', ', ' and ')} (see `{prog} --help`)"
    if m := _UNRECOGNIZED.match(message):
        return f"`{prog}` does not take {m['args']} (see `{prog} --help`)"
    return f"{message} (see `{prog} --help`)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line(message, self.prog))


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` a parser accepts (argparse keeps them only in a private table)."""
    return sorted(s for s in parser._option_string_actions if s.startswith("--"))  # noqa: SLF001


def check_unknown_options(parser: argparse.ArgumentParser, argv: Sequence[str], *, hint: Callable[[str], str] | None = None) -> None:
    """Raise :class:`UsageError` for the first ``--option`` in ``argv`` that ``parser`` does not accept.

    The message suggests the closest accepted option (``--help`` is never suggested), or what
    ``hint(option)`` says (e.g. "an option of the fvt method"). Stops at a bare ``--`` (what
    follows is not options). Values that start with ``--`` are not told apart from options, as in
    argparse itself.
    """
    known = option_strings(parser)
    for arg in argv:
        if arg == "--":
            return
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        if name in known:
            continue
        extra = hint(name) if hint else ""
        guess = None if extra else closest(name, [k for k in known if k != "--help"])
        said = f" ({extra})" if extra else f" (did you mean {guess}?)" if guess else ""
        raise UsageError(f"unknown option {name} for `{parser.prog}`{said} (see `{parser.prog} --help`)")


__all__ = ["Parser", "UsageError", "check_unknown_options", "one_line", "option_strings"]
