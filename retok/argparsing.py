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
from typing import Any, NoReturn

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


class Switch(argparse.Action):
    """A yes/no option: ``--name`` turns it on, ``--no-name`` off (the one convention for every yes/no option).

    ``as_text=True`` stores ``"true"`` / ``"false"`` instead of a bool, for config fields whose CLI
    values are strings that the config coerces.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, help: str | None = None,  # noqa: A002
                 as_text: bool = False, **kwargs: Any) -> None:
        strings = [s for name in option_strings for s in (name, "--no-" + name.lstrip("-"))]
        self.as_text = as_text
        super().__init__(strings, dest, nargs=0, default=default, help=help, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        on = not (option_string or "").startswith("--no-")
        setattr(namespace, self.dest, ("true" if on else "false") if self.as_text else on)

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` shows every option's default and the allowed values of every choice."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.choices and not isinstance(action, argparse._SubParsersAction) and "one of:" not in text:  # noqa: SLF001
            text += f" (one of: {', '.join(map(str, action.choices))})"
        default = action.default
        if action.option_strings and "default" not in text and default not in (None, argparse.SUPPRESS) and not action.required:
            shown = ("on" if default else "off") if isinstance(default, bool) else default
            text += f" (default: {str(shown).replace('%', '%%')})"
        return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` (one line) instead of printing usage and exiting.

    Its help shows defaults and choices (:class:`HelpFormatter`), and every yes/no option is a
    :class:`Switch`: ``store_true`` flags get a ``--no-`` form, and a ``store_false`` flag ``--no-x``
    becomes the switch ``--x`` / ``--no-x``. Subcommands are Parsers too, so commands that other
    packages add get the same.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("action") == "store_true":
            kwargs.update(action=Switch, default=kwargs.get("default", False))
        elif kwargs.get("action") == "store_false" and len(args) == 1 and args[0].startswith("--no-"):
            args = ("--" + args[0][len("--no-"):],)
            kwargs.update(action=Switch, default=kwargs.get("default", True))
        return super().add_argument(*args, **kwargs)

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
    switches = {s for s, a in parser._option_string_actions.items() if isinstance(a, Switch)}  # noqa: SLF001
    previous = ""
    for arg in argv:
        if arg == "--":
            return
        if previous in switches and not arg.startswith("-"):
            on = previous.removeprefix("--no-").removeprefix("--")
            raise UsageError(f"{previous} is a yes/no switch and takes no value (got {arg!r}); write --{on} or --no-{on} "
                             f"(see `{parser.prog} --help`)")
        previous = arg
        if not arg.startswith("--"):
            continue
        name = arg.split("=", 1)[0]
        if name in switches and "=" in arg:
            raise UsageError(f"{name} is a yes/no switch and takes no value (got {arg!r}); write {name} or drop it "
                             f"(see `{parser.prog} --help`)")
        if name in known:
            continue
        extra = hint(name) if hint else ""
        guess = None if extra else closest(name, [k for k in known if k != "--help"])
        said = f" ({extra})" if extra else f" (did you mean {guess}?)" if guess else ""
        raise UsageError(f"unknown option {name} for `{parser.prog}`{said} (see `{parser.prog} --help`)")


def check_unknown_command(parser: argparse.ArgumentParser, commands: Sequence[str], argv: Sequence[str]) -> None:
    """Raise :class:`UsageError` if the first word of ``argv`` is not one of ``parser``'s ``commands``.

    Run before :func:`check_unknown_options`: in ``retok zip2zip trian --model x`` the mistake is the
    command, not ``--model`` (which ``train`` takes).
    """
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    if word is None or word in commands:
        return
    guess = closest(word, list(commands))
    hint = f" (did you mean {guess}?)" if guess else ""
    raise UsageError(f"unknown command {word!r} for `{parser.prog}`{hint}; commands: {', '.join(commands)}")


__all__ = ["HelpFormatter", "Parser", "Switch", "UsageError", "check_unknown_command", "check_unknown_options", "one_line", "option_strings"]
