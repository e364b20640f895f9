"""A million-entry vocabulary served by a nearest-neighbour index (``retok large-vocab``).

* :mod:`.config`: ``LargeVocabConfig`` (no torch; one CLI flag per field);
* :mod:`.build`: the corpus, vocabulary growth, rows in memory maps, the query-whitened MIPS index, checkpoints;
* :mod:`.decode`: ``LargeVocab``: candidate retrieval + exact re-scoring, generation with the KV cache;
* :mod:`.cli`: ``retok large-vocab build / generate`` and ``retok dynamic eval``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes

_EXPORTS = {"LargeVocabConfig": ".config", "build_large_vocab": ".build", "LargeVocab": ".decode"}

if TYPE_CHECKING:
    from .build import build_large_vocab
    from .config import LargeVocabConfig
    from .decode import LargeVocab

__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS)

__all__ = sorted(_EXPORTS)
