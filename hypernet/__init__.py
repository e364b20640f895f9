"""hypernet: learned embedding predictors for retok: the ZeTT hypernetwork, and zip2zip's hyper-encoders.

>>> import hypernet
>>> result = hypernet.train("path/to/model", ["train.txt"], "hn_dir")        # once per source model
>>> import retok
>>> retok.transplant("path/to/model", "new_tokenizer", "hypernet", hypernet="hn_dir").save_pretrained("out")

Two subpackages: ``hypernet.zett`` (the ZeTT hypernetwork: model, tokenizer sampling, training, the
``hypernet`` initializer and row predictor) and ``hypernet.zip2zip`` (LZW hypertokens on a model's own
vocabulary: :class:`Zip2ZipLM` in ``hypernet.zip2zip.model``, training in ``.train``, generation in
``.generate``, scoring in ``.eval``). ``hypernet.io`` is the saved-folder format both share.

``hypernet`` imports ``retok``, never the reverse: retok knows the ``hypernet`` initializer only as a
lazily imported registry entry. Importing this package is instant (names load on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes
from retok.moved import install

from .moved import HYPERNET_MOVED

install(HYPERNET_MOVED)  # old module paths (hypernet.zip2zip_train, ...) keep working until retok 0.3

#: public name -> the module that defines it
_EXPORTS = {
    "Architecture": "hypernet.zett.config",
    "TrainConfig": "hypernet.zett.config",
    "Hypernet": "hypernet.zett.model",
    "HypernetConfig": "hypernet.zett.initializer",
    "TrainResult": "hypernet.zett.training",
    "train": "hypernet.zett.training",
    "EncoderArch": "hypernet.zip2zip.hyper_encoder",
    "HyperEncoder": "hypernet.zip2zip.hyper_encoder",
    "Zip2ZipLM": "hypernet.zip2zip.model",
    "Zip2ZipTrainConfig": "hypernet.zip2zip.config",
}

if TYPE_CHECKING:
    from .zett.config import Architecture, TrainConfig
    from .zip2zip.hyper_encoder import EncoderArch, HyperEncoder
    from .zett.initializer import HypernetConfig
    from .zett.model import Hypernet
    from .zett.training import TrainResult, train
    from .zip2zip.model import Zip2ZipLM
    from .zip2zip.config import Zip2ZipTrainConfig


__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS, moved=(old.removeprefix("hypernet.") for old in HYPERNET_MOVED))


__all__ = ["Architecture", "EncoderArch", "HyperEncoder", "Hypernet", "HypernetConfig", "TrainConfig", "TrainResult", "Zip2ZipLM",
           "Zip2ZipTrainConfig", "train"]
