"""zip2zip: a causal LM reading and writing LZW hypertokens, each embedded by a hyper-encoder.

* :mod:`.model`: ``Zip2ZipLM`` (embedding over V0 + K, the dynamic output layer, the loss; save / load);
* :mod:`.hyper_encoder`: ``HyperEncoder``: an LZW entry's base rows -> one row;
* :mod:`.config`: the training config (no torch; one CLI flag per field);
* :mod:`.data`: base-token windows -> LZW codes -> batch tensors;
* :mod:`.train`: ``train()``: LoRA + encoders in ``retok.training.trainer``, the K=0 control, export;
* :mod:`.eval`: compressed-mode bits per byte and the codec's statistics;
* :mod:`.generate`: generation with the KV cache and an online codebook, streamed;
* :mod:`.cli`: ``retok zip2zip train / eval / generate / stats``.

``hypernet.zip2zip`` was one module before 0.2 (today's :mod:`.model`); its public names are still
importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes

_EXPORTS = {name: ".model" for name in ("CONFIG", "ENCODERS", "IGNORE", "Zip2ZipLM", "Zip2ZipOutput", "is_encoder_parameter", "read_config")}

if TYPE_CHECKING:
    from .model import CONFIG, ENCODERS, IGNORE, Zip2ZipLM, Zip2ZipOutput, is_encoder_parameter, read_config

__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS)

__all__ = sorted(_EXPORTS)
