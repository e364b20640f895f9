"""``gaussian``: copy matching tokens; every new token is drawn from N(mean_d, std_d) of the source embeddings.

The lexical-copy + random baseline used by WECHSEL and FOCUS (Minixhofer et al., 2022,
https://aclanthology.org/2022.naacl-main.293), with a seeded local generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, gaussian_rows, register_initializer


@dataclass(frozen=True, kw_only=True)
class GaussianConfig(InitConfig):
    pass


@register_initializer("gaussian", config=GaussianConfig, pretty_name="Gaussian", paper="https://aclanthology.org/2022.naacl-main.293", streams=True)
def gaussian(source: TokenEmbeddings, alignment: VocabAlignment, config: GaussianConfig) -> NewRows:
    """Copy matches; new rows ~ N(mean_d, std_d) of the source rows, per dimension, seeded."""
    rows_in, rows_out = gaussian_rows(source, alignment, len(alignment.new), seed=config.seed)
    return NewRows(rows_in, rows_out, ["gaussian"] * len(alignment.new))
