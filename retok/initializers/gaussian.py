"""``gaussian``: copy matching tokens; every new token is drawn from N(mean_d, std_d) of the source embeddings.

The lexical-copy + random baseline used by WECHSEL and FOCUS (Minixhofer et al., 2022,
https://aclanthology.org/2022.naacl-main.293), with a seeded local generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..embeddings import TokenEmbeddings
from ..vocab import VocabAlignment
from .base import InitConfig, NewRows, register_initializer, source_statistics


@dataclass(frozen=True, kw_only=True)
class GaussianConfig(InitConfig):
    pass


@register_initializer("gaussian", config=GaussianConfig, pretty_name="Gaussian", paper="https://aclanthology.org/2022.naacl-main.293")
def gaussian(source: TokenEmbeddings, alignment: VocabAlignment, config: GaussianConfig) -> NewRows:
    """Copy matches; new rows ~ N(mean_d, std_d) of the source rows, per dimension, seeded."""
    rows_in, rows_out = gaussian_rows(source, alignment, len(alignment.new), seed=config.seed)
    return NewRows(rows_in, rows_out, ["gaussian"] * len(alignment.new))


def gaussian_rows(source: TokenEmbeddings, alignment: VocabAlignment, n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n rows ~ N(mean_d, std_d) of the regular source rows -> input (n, d), output (n, d) or None."""
    generator = torch.Generator().manual_seed(seed)
    mean_in, std_in, mean_out, std_out = source_statistics(source, alignment)
    rows_in = mean_in + std_in * torch.randn(n, source.dim, generator=generator)
    rows_out = None
    if mean_out is not None:
        rows_out = mean_out + std_out * torch.randn(n, source.dim, generator=generator)
    return rows_in, rows_out
