"""A small name -> object registry with "did you mean" errors and lazy entries.

Strings are looked up once, at the edge (CLI, ``transplant(method="fvt")``); inside the library
the objects themselves are passed around.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from .errors import RetokError

T = TypeVar("T")


def closest(name: str, valid: Sequence[str]) -> str | None:
    """The valid name closest to ``name`` (difflib ratio >= 0.5), or None."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return close[0] if close else None


def did_you_mean(name: str, valid: list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest valid name, or an empty string."""
    close = closest(name, valid)
    return f" Did you mean {close!r}?" if close else ""


class Registry(Generic[T]):
    """Maps lowercase names to objects; ``register_lazy`` defers an import until first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._install: dict[str, str] = {}
        self._importing: set[str] = set()  # lazy names whose module is being imported (and may register them)

    def add(self, name: str, obj: T) -> T:
        if name in self._lazy and name not in self._importing and self._lazy_module(name) in sys.modules:
            del self._lazy[name]  # its own module, imported directly (by a name it exports) before any lookup
        if name in self._entries or (name in self._lazy and name not in self._importing):
            raise ValueError(f"{self.kind} {name!r} is already registered; pick another name")
        if name != name.lower():
            raise ValueError(f"{self.kind} names are lowercase; got {name!r}")
        self._entries[name] = obj
        return obj

    def register_lazy(self, name: str, target: str, *, install: str = "") -> None:
        """Register ``name`` as ``"module:attr"``; the module is imported (and registers itself) on first ``get``.

        ``install`` says how to get the module's dependencies (e.g. ``pip install 'retok[index]'``);
        it is part of the error when the import fails. The entry stays registered after a failed
        import, so the name keeps being listed and keeps giving the same error.
        """
        if name in self._entries or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered; pick another name")
        self._lazy[name] = target
        self._install[name] = install

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._lazy:
            self._import(name)
        if name not in self._entries:
            valid = self.names()
            raise RetokError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, valid)} Available: {', '.join(valid)}"
            )
        return self._entries[name]

    def _lazy_module(self, name: str) -> str:
        return self._lazy[name].partition(":")[0]

    def _import(self, name: str) -> None:
        module = self._lazy_module(name)
        self._importing.add(name)
        try:
            importlib.import_module(module)
        except ImportError as e:
            how = self._install.get(name) or "install the missing package"
            raise RetokError(f"{self.kind} {name!r} cannot be loaded: {e}; {how}") from None
        finally:
            self._importing.discard(name)
        # imported: the module registered the name (or did not, a broken entry that `get` reports as unknown)
        del self._lazy[name]

    def loaded(self, name: str) -> T | None:
        """The entry of ``name`` if it is registered and imported, else None (never imports a lazy entry)."""
        return self._entries.get(name)

    def names(self) -> list[str]:
        return sorted({*self._entries, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            return self.add(name, obj)

        return wrap
