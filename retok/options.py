"""Building config dataclasses from keyword options (Python) or strings (CLI), with clear errors."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from ._registry import did_you_mean
from .errors import RetokError

T = TypeVar("T")


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
