"""``compose``: FVT with a learned composition. The source vocabulary teaches how pieces combine into a token.

retok's own baseline. Every merge ``a + b -> t`` of the source BPE tokenizer is a free training
example of "two pieces make one token" in the model's own space. A ridge regression from the
features ``[mean(pieces), first piece, last piece]`` (3d) to the token's row (d) is fitted on
all of them (closed form, a few seconds), then applied to each new token's pieces under the old
tokenizer and blended with the plain FVT mean:

    e = (1 - fvt_weight) * W [mean, first, last, 1] + fvt_weight * mean

The blend matters: the regression is fitted on two-piece merges, while new tokens often have
three or more pieces, and the plain mean keeps the estimate close to where FVT is known to be
safe. On the LibreOffice dev slice (training paragraphs, not the held-out text) the learned
composition alone scored about as well as FVT and the 0.65 blend clearly better (see the
benchmark in ``recipes/init_benchmark.py``). Untied heads: a second regression on the output rows.
Sources without BPE merges (Unigram, WordPiece) are refused with a clear error.

The regression lives in :mod:`.subword` (it is also the default subword prior of wechsel, focus
and tokenadapt): the fit is accumulated in blocks of merges and cached per source matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer
from .subword import compose_rows


@dataclass(frozen=True, kw_only=True)
class ComposeConfig(InitConfig):
    ridge: float = field(default=10.0, metadata={"help": "L2 penalty of the composition regression", "min": 0.0})
    fvt_weight: float = field(default=0.65, metadata={"help": "weight of the plain FVT mean in the final blend (1 = FVT)", "min": 0.0, "max": 1.0})


@register_initializer("compose", config=ComposeConfig, pretty_name="FVT + learned composition", paper="retok")
def compose(source: TokenEmbeddings, alignment: VocabAlignment, config: ComposeConfig) -> NewRows:
    """Copy matches; new rows = blend of the FVT mean and a ridge map [mean, first, last] -> row learned from the source merges."""
    return compose_rows(source, alignment, ridge=config.ridge, fvt_weight=config.fvt_weight)
