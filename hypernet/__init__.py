"""hypernet: learned embedding predictors for retok: the ZeTT hypernetwork, and zip2zip's hyper-encoders.

>>> import hypernet
>>> result = hypernet.train("path/to/model", ["train.txt"], "hn_dir")        # once per source model
>>> import retok
>>> retok.transplant("path/to/model", "new_tokenizer", "hypernet", hypernet="hn_dir").save_pretrained("out")

zip2zip (LZW hypertokens on a model's own vocabulary): :class:`Zip2ZipLM` (``hypernet.zip2zip``), training in
``hypernet.zip2zip_train``, generation in ``hypernet.generate``, scoring in ``hypernet.zip2zip_eval``.

``hypernet`` imports ``retok``, never the reverse: retok knows the ``hypernet`` initializer only as a
lazily imported registry entry. Importing this package is instant (names load on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS = {
    "Architecture": "hypernet.config",
    "TrainConfig": "hypernet.config",
    "Hypernet": "hypernet.model",
    "HypernetConfig": "hypernet.initializer",
    "TrainResult": "hypernet.training",
    "train": "hypernet.training",
    "EncoderArch": "hypernet.hyper_encoder",
    "HyperEncoder": "hypernet.hyper_encoder",
    "Zip2ZipLM": "hypernet.zip2zip",
    "Zip2ZipTrainConfig": "hypernet.zip2zip_config",
}

if TYPE_CHECKING:
    from .config import Architecture, TrainConfig
    from .hyper_encoder import EncoderArch, HyperEncoder
    from .initializer import HypernetConfig
    from .model import Hypernet
    from .training import TrainResult, train
    from .zip2zip import Zip2ZipLM
    from .zip2zip_config import Zip2ZipTrainConfig


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hypernet' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = ["Architecture", "EncoderArch", "HyperEncoder", "Hypernet", "HypernetConfig", "TrainConfig", "TrainResult", "Zip2ZipLM",
           "Zip2ZipTrainConfig", "train"]
