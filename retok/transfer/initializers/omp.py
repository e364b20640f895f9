"""``omp``: each new token is a sparse combination of shared tokens, found in the donor's space (Orthogonal Matching Pursuit).

Goddard & Fernandes Neto 2025, "Training-Free Tokenizer Transplantation via Orthogonal Matching
Pursuit", https://arxiv.org/abs/2506.06607 (mergekit's ``tokensurgeon`` default). For each new
token t:

1. target = the donor's own row of t; dictionary = the donor rows of the S shared tokens (no
   normalisation or centring: high-norm atoms are favoured, as in the paper and the tool);
2. k greedy steps: take the atom with the largest |<residual, atom>|, then least squares of the
   target on all atoms taken so far; the residual is what that fit leaves;
3. the base row of t = the same coefficients on the *base model's* rows of those shared tokens.

Input embeddings and an untied LM head are each coded against their own donor matrix (the donor's
input rows when its head is tied); a tied base stays tied. The search (:func:`batch_omp`) is
where the time goes: the exact greedy step needs the residual's correlation with all S atoms, a
(batch, S) product per step, k of them (tokensurgeon's algorithm, ``refresh=1``). By default the
full correlations are computed every ``refresh=8`` steps and only a shortlist of the 64 best
atoms is updated in between, 8x fewer passes over the dictionary. On Gemma-3-270m given SmolLM2's
tokenizer (512 new tokens, 46,145 shared atoms, k=64, 2 CPU cores; ``recipes/omp_search.py``) the
median relative residual was 0.317 against 0.305 for the exact search, at 7.4 s against 43.0 s (a
shortlist of 128: 0.314, 8.5 s); ``recipes/donor_benchmark.py`` compares the two transplants' BPB.

Then the estimate is blended with retok's subword prior (:mod:`.donor_view`; ``prior_weight=0``
is the paper's method).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from retok.transfer.donor import Donor
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import InitConfig, NewRows, register_initializer
from .combine import mix_rows
from .donor_view import DonorPriorOptions, donor_view, finish_rows

DEPENDENT = 1e-6  # an atom whose part orthogonal to the atoms taken is below this share of its norm adds nothing


@dataclass(frozen=True, kw_only=True)
class OMPConfig(DonorPriorOptions, InitConfig):
    k: int = field(default=64, metadata={"help": "shared tokens (atoms) per new token", "min": 1})
    refresh: int = field(default=8, metadata={"help": "steps between full searches over the dictionary (1 = exact OMP, k full passes: slower)", "min": 1})
    shortlist: int = field(default=64, metadata={"help": "atoms whose correlations are kept up to date between full searches", "min": 1})
    batch: int = field(default=256, metadata={"help": "new tokens coded at once (memory: about batch x (shared tokens + shortlist x hidden) floats)", "min": 1})


def batch_omp(targets: torch.Tensor, atoms: torch.Tensor, k: int, *, shortlist: int = 64, refresh: int = 8, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy OMP of every target over the dictionary.

    targets (N, D), atoms (S, D) -> ids (N, k') int64 into ``atoms`` (-1: a step that added nothing),
    coefficients (N, k') float32 with ``targets ~ sum_j coef[:, j] * atoms[ids[:, j]]``; k' = min(k, S, D).

    Each step takes the atom of largest |<residual, atom>| and orthogonalises it against the atoms
    taken so far (Gram-Schmidt, twice for stability); the residual is the target minus its
    projection on them. The correlations with all S atoms cost one (batch, S) product, so every
    ``refresh`` steps they are computed in full and the ``shortlist`` atoms of largest |correlation|
    are kept; in between only the shortlist's correlations are updated (exactly: c -= (A_L q)(q . r)).
    ``refresh=1`` is exact OMP (the full search at every step, tokensurgeon's algorithm); larger values
    miss an atom only when the best one left the shortlist since the last full pass. The
    coefficients are the least squares of the target on the chosen atoms, read off the QR factors the
    Gram-Schmidt steps built (one triangular solve, no refit on the atoms).
    """
    targets, atoms = targets.float(), atoms.float()
    n, dim = targets.shape
    k = min(k, atoms.shape[0], dim)
    m = min(shortlist, atoms.shape[0])
    out_ids, out_coef = torch.full((n, k), -1, dtype=torch.long), torch.zeros(n, k)
    for start in range(0, n, batch):
        t = targets[start : start + batch]
        b = len(t)
        rows = torch.arange(b)
        residual, basis = t.clone(), torch.zeros(b, k, dim)
        tried, ids = torch.zeros(b, k, dtype=torch.long), torch.full((b, k), -1, dtype=torch.long)
        r_factor, projected = torch.zeros(b, k, k, dtype=torch.float64), torch.zeros(b, k, dtype=torch.float64)
        for j in range(k):
            if j % refresh == 0:
                full = residual @ atoms.T
                if j:
                    full.scatter_(1, tried[:, :j], 0.0)
                short = full.abs().topk(m, dim=1).indices  # (b, M)
                correlation = full.gather(1, short)
                del full
                short_atoms = atoms[short]  # (b, M, D)
                taken = (short[:, :, None] == tried[:, None, :j]).any(2) if j else torch.zeros(b, m, dtype=torch.bool)
            local = torch.where(taken, -1.0, correlation.abs()).argmax(1)
            taken[rows, local] = True
            pick = short[rows, local]
            atom = atoms[pick]
            done = basis[:, :j]
            h1 = torch.einsum("bjd,bd->bj", done, atom)
            v = atom - torch.einsum("bj,bjd->bd", h1, done)
            h2 = torch.einsum("bjd,bd->bj", done, v)
            v = v - torch.einsum("bj,bjd->bd", h2, done)
            norm = v.norm(dim=1)
            ok = norm > DEPENDENT * atom.norm(dim=1)
            q = torch.where(ok[:, None], v / norm.clamp(min=1e-30)[:, None], 0.0)
            basis[:, j], tried[:, j] = q, pick
            ids[:, j] = torch.where(ok, pick, -1)
            # atom = Q[:, :j] (h1 + h2) + norm q: column j of the QR factor R of the chosen atoms
            r_factor[:, :j, j] = torch.where(ok[:, None], h1 + h2, 0.0).double()
            r_factor[:, j, j] = torch.where(ok, norm, 1.0).double()  # a dependent atom: R_jj = 1, y_j = 0 -> coefficient 0
            step = (residual * q).sum(1)
            projected[:, j] = step.double()
            residual = residual - step[:, None] * q
            correlation = correlation - torch.bmm(short_atoms, q[..., None])[..., 0] * step[:, None]
        # t's projection on the chosen atoms is Q y = A R^-1 y: the least squares coefficients, without a refit
        coef = torch.linalg.solve_triangular(r_factor, projected[..., None], upper=True)[..., 0]
        out_ids[start : start + b], out_coef[start : start + b] = ids, coef.masked_fill(ids < 0, 0.0).float()
    return out_ids, out_coef


def relative_residual(targets: torch.Tensor, atoms: torch.Tensor, ids: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """||t - sum_j coef_j atoms[ids_j]|| / ||t|| per target: targets (N, D), atoms (S, D), ids/coef (N, k) -> (N,)."""
    fit = mix_rows(atoms.float(), ids, coef)
    return (targets.float() - fit).norm(dim=1) / targets.float().norm(dim=1).clamp(min=1e-30)


@register_initializer("omp", config=OMPConfig, pretty_name="Orthogonal Matching Pursuit (donor)", paper="https://arxiv.org/abs/2506.06607", needs_donor=True)
def omp(source: TokenEmbeddings, alignment: VocabAlignment, config: OMPConfig, donor: Donor) -> NewRows:
    """Copy matches; new rows = the donor row's k-sparse OMP code over the shared tokens, applied to the base's rows of those tokens."""
    view = donor_view(source, alignment, donor)
    details = {"k": config.k, "refresh": config.refresh, "shortlist": config.shortlist}
    tables = []
    for name, targets, atoms, base in (("input", view.new_in, view.atoms_in, view.base_in), ("output", view.new_out, view.atoms_out, view.base_out)):
        if targets is None:
            tables.append(None)
            continue
        ids, coef = batch_omp(targets, atoms, config.k, shortlist=config.shortlist, refresh=config.refresh, batch=config.batch)
        if len(targets):
            details[f"{name}_median_relative_residual"] = round(float(relative_residual(targets, atoms, ids, coef).median()), 4)
        tables.append(mix_rows(base, ids, coef))
    return finish_rows(source, alignment, view, (tables[0], tables[1]), config, label="omp", details=details)
