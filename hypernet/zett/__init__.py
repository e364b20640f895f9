"""The ZeTT hypernetwork: embeddings for any tokenizer from its tokens' pieces, trained once per source model.

* :mod:`.config`: ``Architecture`` (saved with the weights) and ``TrainConfig`` (no torch);
* :mod:`.model`: ``Hypernet``: FVT mean + a zero-initialized correction from a transformer over the pieces;
* :mod:`.sampling`: ZeTT's training tokenizers (noisy Unigram vocabularies);
* :mod:`.data`: the batches of both training stages, pure in (seed, step);
* :mod:`.training`: ``train()``: both stages in ``retok.training.trainer``, the losses, saving;
* :mod:`.initializer`: the ``hypernet`` initializer (retok registers it lazily by name);
* :mod:`.predictor`: the hypernetwork as a ``retok.transfer.row_predictors`` predictor;
* :mod:`.cli`: ``retok train-hypernet``.
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(__name__, __path__, {})
