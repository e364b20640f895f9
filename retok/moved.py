"""Module paths from before the layout by capability, kept working until retok 0.3.

retok 0.1 kept every module side by side in ``retok/`` (and ``hypernet/``); they now live in subpackages
named after what they do. An old path still imports, and gives the *same* module object as the new one
(so ``monkeypatch`` through either name reaches the code), with a ``DeprecationWarning`` that names the
new path:

>>> import retok.lzw             # DeprecationWarning: retok.lzw moved to retok.adaptive.lzw ...
>>> import retok.adaptive.lzw    # the same module

``RETOK_MOVED`` is the table for ``retok``; ``hypernet`` installs its own (``hypernet.moved``). The README's
"Moved modules" section is generated from both tables and a test checks that it is current. Three old
modules became packages of the same name (``retok.vocab``, ``retok.assets``, ``hypernet.zip2zip``); those
packages re-export the old module's public names, so they need no entry here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType

#: old dotted path -> new dotted path; an old package maps its submodules too (``retok.initializers.fvt``)
RETOK_MOVED: dict[str, str] = {
    # tokenizers, canonical keys and vocabularies
    "retok.pieces": "retok.vocab.pieces",
    "retok.tokenizer_pipeline": "retok.vocab.pipeline",
    "retok.tokenizer_training": "retok.vocab.train",
    "retok.supertokens": "retok.vocab.supertokens",
    "retok.vocab_growth": "retok.vocab.growth",
    # the real assets
    "retok.lohelp": "retok.assets.libreoffice",
    "retok.manpages": "retok.assets.man_text",
    "retok.sentence_encoder": "retok.assets.sentence_encoder",
    # embedding transfer
    "retok.transplant": "retok.transfer.transplant",
    "retok.embeddings": "retok.transfer.embeddings",
    "retok.donor": "retok.transfer.donor",
    "retok.finetuned": "retok.transfer.finetuned",
    "retok.row_predictors": "retok.transfer.row_predictors",
    "retok.initializers": "retok.transfer.initializers",
    "retok.static": "retok.transfer.static",
    # continued training and distillation
    "retok.trainer": "retok.training.trainer",
    "retok.lora": "retok.training.lora",
    "retok.finetune": "retok.training.finetune",
    "retok.checkpoints": "retok.training.checkpoints",
    "retok.packing": "retok.training.packing",
    "retok.alm": "retok.training.distill.losses",
    "retok.alm_data": "retok.training.distill.blocks",
    "retok.chunk_alignment": "retok.training.distill.chunks",
    "retok.distill": "retok.training.distill.objective",
    # adaptive vocabularies
    "retok.lzw": "retok.adaptive.lzw",
    "retok.dynamic": "retok.adaptive.dynamic",
    "retok.large_vocab": "retok.adaptive.large_vocab.build",
    "retok.large_vocab_config": "retok.adaptive.large_vocab.config",
    "retok.large_vocab_decode": "retok.adaptive.large_vocab.decode",
    "retok.large_vocab_cli": "retok.adaptive.large_vocab.cli",
}

REMOVED_IN = "0.3"


def new_path(name: str, table: Mapping[str, str]) -> str | None:
    """Where old module ``name`` lives now, or None if ``table`` does not know it."""
    if name in table:
        return table[name]
    package, _, _ = name.rpartition(".")
    while package:
        if package in table:
            return table[package] + name[len(package):]
        package, _, _ = package.rpartition(".")
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module at its new path (the same object)."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        # stacklevel 2 is the importing module: the warnings machinery skips importlib's own frames
        warnings.warn(f"{self.old} moved to {self.new}; the old path works until retok {REMOVED_IN}", DeprecationWarning, stacklevel=2)


class MovedFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder that answers only for old module paths."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = new_path(fullname, self.table)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(fullname, new))


def install(table: Mapping[str, str]) -> None:
    """Make the old paths in ``table`` importable (idempotent).

    An old path whose last part is already a non-module attribute of its parent (``retok.transplant``, the
    function) is bound to its new module at once and silently: importing it later must not replace that
    attribute with the module.
    """
    finder = next((f for f in sys.meta_path if isinstance(f, MovedFinder)), None)
    if finder is None:
        finder = MovedFinder()
        sys.meta_path.insert(0, finder)  # before the path finder, which would load a second copy of an old package's files
    finder.table.update(table)
    for old, new in table.items():
        parent, _, child = old.rpartition(".")
        attribute = getattr(sys.modules.get(parent), child, None)
        if attribute is not None and not isinstance(attribute, ModuleType) and new in sys.modules:
            sys.modules.setdefault(old, sys.modules[new])


__all__ = ["REMOVED_IN", "RETOK_MOVED", "MovedFinder", "install", "new_path"]
