"""retok: tokenizer transfer for pretrained language models.

>>> import retok
>>> t = retok.transplant("path/to/model", "path/to/new_tokenizer", method="fvt")
>>> t.save_pretrained("out")

Importing ``retok`` is instant: the public names below, and the submodules (``retok.data``,
``retok.finetune``, ``retok.assets``, ...), are loaded on first use (PEP 562), so the command
line starts without importing torch and transformers.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import RetokError
from .transplant import Transplanted, read_retok_config, transplant  # light; binds the function over the submodule

#: public name -> the module that defines it
_EXPORTS = {
    "TokenEmbeddings": "retok.embeddings",
    "EvalResult": "retok.eval",
    "bits_per_byte": "retok.eval",
    "INITIALIZERS": "retok.initializers",
    "InitConfig": "retok.initializers",
    "InitReport": "retok.initializers",
    "InitResult": "retok.initializers",
    "MethodSpec": "retok.initializers",
    "init_embeddings": "retok.initializers",
    "make_config": "retok.initializers",
    "register_initializer": "retok.initializers",
    "FVTConfig": "retok.initializers.fvt",
    "GaussianConfig": "retok.initializers.gaussian",
    "MeanConfig": "retok.initializers.mean",
    "save_tokenizer": "retok.tokenizer_training",
    "train_tokenizer": "retok.tokenizer_training",
    "CanonicalVocab": "retok.vocab",
    "VocabAlignment": "retok.vocab",
    "make_predictor": "retok.row_predictors",
    "RowCache": "retok.row_predictors",
    "continuation_bits_per_byte": "retok.dynamic",
    "merge_texts": "retok.dynamic",
    "LargeVocabConfig": "retok.large_vocab_config",
    "build_large_vocab": "retok.large_vocab",
    "LargeVocab": "retok.large_vocab_decode",
    "align_texts": "retok.chunk_alignment",
    "align_conversation": "retok.chunk_alignment",
    "pack_aligned": "retok.alm_data",
    "alm_loss": "retok.alm",
    "Donor": "retok.donor",
    "load_donor": "retok.donor",
}
#: submodules reachable as attributes after ``import retok`` (``retok.data.held_out_text``): every public module
_SUBMODULES = frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each name loads on first use
    from .embeddings import TokenEmbeddings
    from .eval import EvalResult, bits_per_byte
    from .initializers import INITIALIZERS, InitConfig, InitReport, InitResult, MethodSpec, init_embeddings, make_config, register_initializer
    from .initializers.fvt import FVTConfig
    from .initializers.gaussian import GaussianConfig
    from .initializers.mean import MeanConfig
    from .tokenizer_training import save_tokenizer, train_tokenizer
    from .vocab import CanonicalVocab, VocabAlignment
    from .row_predictors import RowCache, make_predictor
    from .dynamic import continuation_bits_per_byte, merge_texts
    from .large_vocab_config import LargeVocabConfig
    from .large_vocab import build_large_vocab
    from .large_vocab_decode import LargeVocab
    from .chunk_alignment import align_conversation, align_texts
    from .alm_data import pack_aligned
    from .alm import alm_loss
    from .donor import Donor, load_donor


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"retok.{name}")
    else:
        raise AttributeError(f"module 'retok' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


def methods() -> list[MethodSpec]:
    """Every registered initializer that can be loaded here, sorted by name.

    An optional method whose dependencies are missing is left out; ``INITIALIZERS.get(name)``
    says what to install.
    """
    from .initializers import INITIALIZERS

    specs = []
    for name in INITIALIZERS.names():
        try:
            specs.append(INITIALIZERS.get(name))
        except RetokError:
            continue
    return specs


__all__ = [
    "__version__",
    "CanonicalVocab",
    "Donor",
    "EvalResult",
    "FVTConfig",
    "GaussianConfig",
    "INITIALIZERS",
    "InitConfig",
    "InitReport",
    "InitResult",
    "LargeVocab",
    "LargeVocabConfig",
    "MeanConfig",
    "MethodSpec",
    "RetokError",
    "RowCache",
    "TokenEmbeddings",
    "Transplanted",
    "VocabAlignment",
    "align_conversation",
    "align_texts",
    "alm_loss",
    "bits_per_byte",
    "build_large_vocab",
    "continuation_bits_per_byte",
    "init_embeddings",
    "load_donor",
    "make_config",
    "make_predictor",
    "merge_texts",
    "methods",
    "pack_aligned",
    "read_retok_config",
    "register_initializer",
    "save_tokenizer",
    "train_tokenizer",
    "transplant",
]
