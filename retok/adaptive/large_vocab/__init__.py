"""A million-entry vocabulary served by a nearest-neighbour index (``retok large-vocab``).

* :mod:`.config`: ``LargeVocabConfig`` (no torch; one CLI flag per field);
* :mod:`.build`: the corpus, vocabulary growth, rows in memory maps, the query-whitened MIPS index, checkpoints;
* :mod:`.decode`: ``LargeVocab``: candidate retrieval + exact re-scoring, generation with the KV cache;
* :mod:`.score`: ``score_text``: held-out bits per byte under the large vocabulary (exact softmax over every entry);
* :mod:`.cli`: ``retok large-vocab build / generate / score`` and ``retok dynamic eval``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retok.lazy import lazy_attributes

_EXPORTS = {"LargeVocabConfig": ".config", "build_large_vocab": ".build", "LargeVocab": ".decode", "LargeVocabScore": ".score",
            "score_text": ".score"}

if TYPE_CHECKING:
    from .build import build_large_vocab
    from .config import LargeVocabConfig
    from .decode import LargeVocab
    from .score import LargeVocabScore, score_text

__getattr__, __dir__ = lazy_attributes(__name__, __path__, _EXPORTS)

__all__ = sorted(_EXPORTS)
