"""Embedding transfer: give a model the rows of a new tokenizer.

* :mod:`.transplant`: ``transplant()`` and ``Transplanted.save_pretrained()`` (special ids, chat template, ``retok_config.json``);
* :mod:`.embeddings`: ``TokenEmbeddings``, the only code that reads or writes a model's embedding modules;
* :mod:`.initializers`: the registry of methods (mean, gaussian, fvt, compose, wechsel, focus, tokenadapt, omp, linear), one file each;
* :mod:`.static`: static word vectors (fastText, Procrustes alignment, bilingual dictionaries) for the embedding-space methods;
* :mod:`.donor`: a donor model's embeddings over the new tokenizer (``omp``, ``linear``);
* :mod:`.finetuned`: fine-tuned variants (the base model's delta carried over);
* :mod:`.row_predictors`: rows for tokens known only by their pieces, for dynamic merges and large vocabularies.
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(__name__, __path__, {})
