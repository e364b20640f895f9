"""Config dataclasses: declared options with ranges, built from keyword options (Python) or strings (CLI), with clear errors.

A field is declared with :func:`option` (default, help, and the range it must lie in); the range
is checked in one place, :func:`check_ranges`, which :class:`Checked` configs run on construction.
So the CLI, the Python API and every future config refuse ``batch_size=0`` or ``prior_weight=7``
the same way, before any work starts. :func:`argument_type` gives argparse the same checks for
flags that are not config fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

from ._registry import did_you_mean
from .errors import RetokError

T = TypeVar("T")

RANGE_KEYS = ("min", "max", "above", "below")  # min/max inclusive, above/below exclusive


def option(default: Any, help: str, *, min: float | None = None, max: float | None = None,  # noqa: A002
           above: float | None = None, below: float | None = None) -> Any:
    """A dataclass field with its help text and the range its value must lie in (``None`` values are not checked)."""
    bounds = {k: v for k, v in (("min", min), ("max", max), ("above", above), ("below", below)) if v is not None}
    return dataclasses.field(default=default, metadata={"help": help, **bounds})


def range_text(metadata: typing.Mapping[str, Any]) -> str:
    """``">= 1"``, ``"in [0, 1]"``, ``"> 0 and <= 1"``: the declared range in words ("" when there is none)."""
    lo = f">= {metadata['min']}" if "min" in metadata else f"> {metadata['above']}" if "above" in metadata else ""
    hi = f"<= {metadata['max']}" if "max" in metadata else f"< {metadata['below']}" if "below" in metadata else ""
    if "min" in metadata and "max" in metadata:
        return f"in [{metadata['min']}, {metadata['max']}]"
    return " and ".join(p for p in (lo, hi) if p)


def out_of_range(value: Any, metadata: typing.Mapping[str, Any]) -> bool:
    """True when a number lies outside the range declared in ``metadata``."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (
        ("min" in metadata and value < metadata["min"])
        or ("max" in metadata and value > metadata["max"])
        or ("above" in metadata and value <= metadata["above"])
        or ("below" in metadata and value >= metadata["below"])
        or value != value  # NaN
    )


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_ranges(config: Any) -> None:
    """Raise RetokError for the first field of ``config`` outside its declared range (message names the field and the flag)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if out_of_range(value, f.metadata):
            raise RetokError(
                f"{type(config).__name__}.{f.name} ({flag(f.name)}) must be {range_text(f.metadata)}; got {value!r}"
            )


class Checked:
    """Mixin for config dataclasses: field ranges are checked when the config is built."""

    def __post_init__(self) -> None:
        check_ranges(self)


def check_text_option(text: str, field: typing.Mapping[str, Any], owner: str) -> None:
    """Raise RetokError if a CLI string cannot become the described field or lies outside its range.

    ``field`` is a field description of :mod:`retok.catalog` (name, kind, optional, range); the
    messages are those of :func:`config_from_options` and :func:`check_ranges`, so a command can
    refuse a bad value before importing the module that defines the config.
    """
    name, kind = field["name"], field.get("kind", "str")
    if field.get("optional") and text.lower() in ("none", "null"):
        return
    if kind in ("int", "float"):
        try:
            value = int(text) if kind == "int" else float(text)
        except ValueError:
            raise RetokError(f"{owner}.{name} must be {'an integer' if kind == 'int' else 'a number'}; got {text!r}") from None
        if out_of_range(value, field):
            raise RetokError(f"{owner}.{name} ({flag(name)}) must be {range_text(field)}; got {value!r}")


def argument_type(kind: type, **bounds: float) -> typing.Callable[[str], Any]:
    """An argparse ``type=`` that parses ``kind`` and checks the range (``min=0``, ``above=0``, ...).

    argparse puts the flag in front: ``argument --max-bytes: must be >= 0; got -5``.
    """

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}; got {text!r}") from None
        if out_of_range(value, bounds):
            raise argparse.ArgumentTypeError(f"must be {range_text(bounds)}; got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def _coerce(value: Any, annotation: Any, name: str, cls: type) -> Any:
    """Convert a CLI string to the field's type; leave other values alone."""
    if not isinstance(value, str):
        return value
    if typing.get_origin(annotation) is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise RetokError(f"{cls.__name__}.{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    candidates = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    if type(None) in candidates and value.lower() in ("none", "null"):
        return None
    for typ in candidates:
        if typ is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise RetokError(f"{cls.__name__}.{name} must be true or false; got {value!r}")
        if typ in (int, float):
            try:
                return typ(value)
            except ValueError:
                raise RetokError(f"{cls.__name__}.{name} must be {'an integer' if typ is int else 'a number'}; got {value!r}") from None
    return value


def config_from_options(cls: type[T], options: dict[str, Any]) -> T:
    """``cls(**options)`` with unknown keys refused (did-you-mean) and CLI strings converted."""
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in options:
        if key not in valid:
            raise RetokError(f"{cls.__name__} got unknown option {key!r}.{did_you_mean(key, valid)} Valid: {', '.join(valid)}")
    return cls(**{k: _coerce(v, hints[k], k, cls) for k, v in options.items()})
