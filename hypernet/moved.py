"""Module paths of ``hypernet`` from before the layout by capability, kept working until retok 0.3 (see :mod:`retok.moved`).

The ZeTT hypernetwork moved into ``hypernet.zett``, zip2zip's files into ``hypernet.zip2zip`` (names without
the ``zip2zip_`` prefix). ``hypernet.zip2zip`` itself was a module and is now the package, which re-exports it.
"""

from __future__ import annotations

#: old dotted path -> new dotted path
HYPERNET_MOVED: dict[str, str] = {
    "hypernet.config": "hypernet.zett.config",
    "hypernet.model": "hypernet.zett.model",
    "hypernet.sampling": "hypernet.zett.sampling",
    "hypernet.data": "hypernet.zett.data",
    "hypernet.training": "hypernet.zett.training",
    "hypernet.initializer": "hypernet.zett.initializer",
    "hypernet.predictor": "hypernet.zett.predictor",
    "hypernet.cli": "hypernet.zett.cli",
    "hypernet.hyper_encoder": "hypernet.zip2zip.hyper_encoder",
    "hypernet.zip2zip_cli": "hypernet.zip2zip.cli",
    "hypernet.zip2zip_config": "hypernet.zip2zip.config",
    "hypernet.zip2zip_data": "hypernet.zip2zip.data",
    "hypernet.zip2zip_eval": "hypernet.zip2zip.eval",
    "hypernet.zip2zip_train": "hypernet.zip2zip.train",
    "hypernet.generate": "hypernet.zip2zip.generate",
}

__all__ = ["HYPERNET_MOVED"]
