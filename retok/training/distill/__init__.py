"""Distillation from the original model across tokenizers (ALM: approximate likelihood matching).

* :mod:`.chunks`: byte-span alignment of two tokenizations, the chunks both sides end on;
* :mod:`.blocks`: the student's packed blocks, each with the teacher's tokens of the same bytes;
* :mod:`.losses`: the ALM loss as pure tensor functions (log-probs per chunk, divergences, balancing);
* :mod:`.objective`: the teacher that shares the student's frozen weights and the ``lm`` / ``alm`` / ``lm+alm`` loss.
"""

from __future__ import annotations

from retok.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(__name__, __path__, {})
