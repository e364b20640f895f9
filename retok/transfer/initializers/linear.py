"""``linear``: one linear map from the donor's space to the base model's, fitted on the shared tokens.

The cheap global baseline of the donor methods. On the S shared tokens (donor rows X (S, d'),
base rows Y (S, d)) fit either

* ``ridge``: Y ~ [X, 1] W with an L2 penalty ``ridge`` on W (the bias is not penalised), or
* ``procrustes``: Y - mean(Y) ~ s (X - mean(X)) W with W semi-orthogonal (d' x d, orthogonal
  Procrustes through the SVD of X_c^T Y_c) and the least-squares scale s: a rotation, so the
  donor's geometry is kept as it is,

then map every new token's donor row across. Works across hidden sizes (d' != d). The input table
and an untied head are each fitted on their own rows. The estimate is blended with retok's subword
prior (:mod:`.donor_view`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from retok.transfer.donor import Donor
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer
from .donor_view import DonorPriorOptions, donor_view, finish_rows


@dataclass(frozen=True, kw_only=True)
class LinearConfig(DonorPriorOptions, InitConfig):
    fit: Literal["ridge", "procrustes"] = field(default="ridge", metadata={"help": "the map: ridge least squares, or orthogonal Procrustes with a scale"})
    ridge: float = field(default=1.0, metadata={"help": "L2 penalty of the ridge map (fit=ridge)", "min": 0.0})


def fit_ridge_map(x: torch.Tensor, y: torch.Tensor, penalty: float) -> torch.Tensor:
    """argmin_W ||[x, 1] W - y||^2 + penalty ||W[:-1]||^2: x (S, d'), y (S, d) -> W (d' + 1, d) float64."""
    z = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    reg = penalty * torch.eye(z.shape[1], dtype=torch.float64)
    reg[-1, -1] = 0.0
    return torch.linalg.solve(z.T @ z + reg, z.T @ y.double())


def fit_procrustes(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The scaled orthogonal map y - mu_y ~ (x - mu_x) M: x (S, d'), y (S, d) -> mu_x (d',), mu_y (d,), M (d', d) float64.

    M = s U V^T where U S V^T = svd(x_c^T y_c) and s = trace(S) / ||x_c||^2.
    """
    x, y = x.double(), y.double()
    mu_x, mu_y = x.mean(0), y.mean(0)
    xc, yc = x - mu_x, y - mu_y
    u, sigma, vt = torch.linalg.svd(xc.T @ yc, full_matrices=False)
    scale = sigma.sum() / xc.pow(2).sum().clamp(min=1e-30)
    return mu_x, mu_y, scale * (u @ vt)


def map_rows(x: torch.Tensor, y: torch.Tensor, queries: torch.Tensor, config: LinearConfig) -> torch.Tensor:
    """Fit the configured map on (x (S, d'), y (S, d)) and apply it to queries (N, d') -> (N, d) in y's dtype."""
    if config.fit == "ridge":
        w = fit_ridge_map(x, y, config.ridge)
        return (queries.double() @ w[:-1] + w[-1]).to(y.dtype)
    mu_x, mu_y, m = fit_procrustes(x, y)
    return ((queries.double() - mu_x) @ m + mu_y).to(y.dtype)


@register_initializer("linear", config=LinearConfig, pretty_name="Linear map from the donor (shared tokens)", paper="retok", needs_donor=True)
def linear(source: TokenEmbeddings, alignment: VocabAlignment, config: LinearConfig, donor: Donor) -> NewRows:
    """Copy matches; new rows = the donor rows mapped by one linear map (ridge or Procrustes) fitted on the shared tokens."""
    view = donor_view(source, alignment, donor)
    rows_in = map_rows(view.atoms_in, view.base_in, view.new_in, config)
    rows_out = None if view.new_out is None else map_rows(view.atoms_out, view.base_out, view.new_out, config)
    return finish_rows(source, alignment, view, (rows_in, rows_out), config, label=f"linear-{config.fit}", details={"fit": config.fit})
