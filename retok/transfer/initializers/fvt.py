"""``fvt``: Fast Vocabulary Transfer. A new token is the mean of its pieces under the old tokenizer.

Gee et al., 2022, https://aclanthology.org/2022.emnlp-industry.41. The decomposition works on the
token's canonical bytes (see :mod:`retok.vocab`), so word-start markers, partial UTF-8 tokens and
byte tokens decompose exactly, whatever the two tokenizer families are. The estimate itself is
:func:`.subword.fvt_rows`, which the embedding-space methods also use as their subword prior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer
from .subword import fvt_rows


@dataclass(frozen=True, kw_only=True)
class FVTConfig(InitConfig):
    output_pooling: Literal["mean", "first", "last"] = field(
        default="mean",
        metadata={"help": "how an untied LM head combines the pieces' output rows ('first' predicts the first piece)"},
    )


@register_initializer("fvt", config=FVTConfig, pretty_name="FVT", paper="https://aclanthology.org/2022.emnlp-industry.41", streams=True)
def fvt(source: TokenEmbeddings, alignment: VocabAlignment, config: FVTConfig) -> NewRows:
    """Copy matches; new rows = mean of the source rows of the token's pieces under the old tokenizer."""
    return fvt_rows(source, alignment, config.output_pooling)
