"""What the command line knows about methods and configs without importing them: ``catalog.json``.

The ``retok`` command builds one flag per config field (``--prior-weight``, ``--lora-r``) and
lists the initializers in ``retok methods``. Reading those from the config classes means importing
torch and transformers (seconds) before a typo can even be reported; the catalog holds the same
description as JSON, so ``retok --help`` and every argument error answer at once.

The catalog is generated from the live classes (``python -m retok.catalog``) and a test checks
that it is current, so it cannot drift. A method registered at run time by another package is
not in it; the CLI then describes that one by importing it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from .options import RANGE_KEYS

PATH = Path(__file__).with_name("catalog.json")


def value_kind(annotation: Any) -> dict[str, Any]:
    """``{"kind": "int" | "float" | "bool" | "str", "optional": bool}`` of a field's annotation (Literal counts as str)."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), str)
    kind = {int: "int", float: "float", bool: "bool"}.get(base, "str")
    return {"kind": kind, "optional": optional} if optional else {"kind": kind}


def describe_config(cls: type) -> list[dict[str, Any]]:
    """One entry per dataclass field: name, default, help, kind, choices (Literal fields), declared range."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        entry: dict[str, Any] = {"name": f.name, "default": f.default, "help": f.metadata.get("help", ""), **value_kind(hints[f.name])}
        if typing.get_origin(hints[f.name]) is typing.Literal:
            entry["choices"] = list(typing.get_args(hints[f.name]))
        entry.update({k: f.metadata[k] for k in RANGE_KEYS if k in f.metadata})
        fields.append(entry)
    return fields


def describe_method(spec: Any) -> dict[str, Any]:
    """A registered initializer (:class:`retok.transfer.initializers.MethodSpec`) as the catalog holds it."""
    return {"pretty_name": spec.pretty_name, "paper": spec.paper, "summary": spec.summary, "config": spec.config_cls.__name__,
            "needs_donor": spec.needs_donor, "options": describe_config(spec.config_cls)}


def build() -> dict[str, Any]:
    """The catalog computed from the live registry and configs (imports torch and transformers)."""
    from .training.finetune import FinetuneConfig
    from .transfer.initializers import INITIALIZERS

    return {
        "methods": {name: describe_method(INITIALIZERS.get(name)) for name in INITIALIZERS.names()},
        "configs": {"finetune": {"config": "FinetuneConfig", "options": describe_config(FinetuneConfig)}},
    }


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    """The catalog shipped with the package."""
    return json.loads(PATH.read_text(encoding="utf-8"))


def method(name: str) -> dict[str, Any] | None:
    """The description of initializer ``name``; for one not in the catalog, from the registry (which imports it)."""
    known = load()["methods"].get(name)
    if known is not None:
        return known
    from .transfer.initializers import INITIALIZERS  # a method another package registered: describe it live

    return describe_method(INITIALIZERS.get(name)) if name in INITIALIZERS else None


def method_names() -> list[str]:
    return sorted(load()["methods"])


def write() -> Path:
    """Regenerate ``catalog.json`` from the live classes."""
    PATH.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return PATH


if __name__ == "__main__":
    print(f"wrote {write()}", file=sys.stderr)
