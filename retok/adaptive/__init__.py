"""Adaptive vocabularies: tokens made while the model runs, on top of a fixed base vocabulary.

* :mod:`.lzw`: zip2zip's LZW codec (pure Python): hypertokens from base-token streams, the fault-tolerant decoder;
* :mod:`.dynamic`: batch-level dynamic tokenization (merges per batch, merged-context rows, continuation BPB);
* :mod:`.large_vocab`: a million-entry vocabulary: build (growth, rows, index), decode (retrieval + exact re-scoring), CLI.

The learned parts (zip2zip's hyper-encoders, the hypernetwork as a row predictor) live in ``hypernet``.
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(__name__, __path__, {})
