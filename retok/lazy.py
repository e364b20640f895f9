"""Package attributes that load on first use (PEP 562), so that importing a package stays instant.

A package's ``__init__.py`` names what it offers and where each name lives; nothing is imported until
an attribute is read:

>>> __getattr__, __dir__ = lazy_attributes(__name__, __path__, {"CanonicalVocab": ".canonical"})

``exports`` maps a public name to the module that defines it (relative to the package, or absolute);
every submodule of the package is an attribute too (``retok.vocab.pieces`` after ``import retok``).
``moved`` maps old submodule names (``retok.lzw``) to their new dotted paths: reading one imports it
through :mod:`retok.moved`, which says where it lives now.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(
    package: str,
    path: Iterable[str],
    exports: Mapping[str, str],
    *,
    moved: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``(__getattr__, __dir__)`` pair for package ``package`` whose ``__path__`` is ``path``."""
    submodules = frozenset(m.name for m in pkgutil.iter_modules(list(path)) if not m.name.startswith("_"))
    old_names = frozenset(moved)

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
        elif name in submodules or name in old_names:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if name not in old_names:
            setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports, *submodules})

    return __getattr__, __dir__


__all__ = ["lazy_attributes"]
