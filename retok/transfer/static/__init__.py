"""Static word vectors for tokenizer transfer: train, load, align, and bilingual dictionaries.

* :mod:`.vectors`: :class:`StaticVectors`, word vectors from fastText ``.bin`` or word2vec text,
  with fastText subword composition for word-start and continuation tokens.
* :mod:`.train`: :func:`train_fasttext`, fastText training cached by corpus and settings.
* :mod:`.dictionary`: bilingual word pairs from TSV files, dictd files and Debian's FreeDict.
* :mod:`.align`: :func:`align`, the orthogonal (Procrustes) map between two vector spaces.

fastText is imported only when a model is trained or a ``.bin`` is loaded.
"""

from .align import Alignment, align, pairs_in_vocab, procrustes
from .dictionary import freedict, load_dictionary, parse_dictd, read_pairs
from .train import train_fasttext
from .vectors import StaticVectors

__all__ = [
    "Alignment",
    "StaticVectors",
    "align",
    "freedict",
    "load_dictionary",
    "pairs_in_vocab",
    "parse_dictd",
    "procrustes",
    "read_pairs",
    "train_fasttext",
]
