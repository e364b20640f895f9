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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from ..embeddings import TokenEmbeddings
from ..errors import RetokError
from ..vocab import VocabAlignment
from .base import NewRows, InitConfig, register_initializer
from .fvt import decompose, fvt_rows
from .combine import padded_pieces


@dataclass(frozen=True, kw_only=True)
class ComposeConfig(InitConfig):
    ridge: float = field(default=10.0, metadata={"help": "L2 penalty of the composition regression"})
    fvt_weight: float = field(default=0.65, metadata={"help": "weight of the plain FVT mean in the final blend (1 = FVT)"})


def merge_triples(tokenizer, rows: int) -> torch.Tensor:
    """(M, 3) int64 ids ``[a, b, a+b]`` for every merge of a BPE tokenizer whose three strings are in the vocabulary."""
    model = json.loads(tokenizer.backend_tokenizer.to_str()).get("model", {})
    if model.get("type") != "BPE" or not model.get("merges"):
        raise RetokError(
            f"compose learns from the source tokenizer's BPE merges, but it is a {model.get('type', 'unknown')} model "
            "without merges; use fvt or tokenadapt for this source"
        )
    vocab = model["vocab"]
    triples = []
    for merge in model["merges"]:
        a, b = merge if isinstance(merge, list) else merge.split(" ", 1)
        ids = (vocab.get(a), vocab.get(b), vocab.get(a + b))
        if None not in ids and max(ids) < rows:
            triples.append(ids)
    if not triples:
        raise RetokError("the source tokenizer's merges name no tokens of its vocabulary; cannot learn a composition")
    return torch.tensor(triples, dtype=torch.long)


def piece_features(table: torch.Tensor, pieces: torch.Tensor) -> torch.Tensor:
    """[mean, first, last] of each row's pieces: table (V, d), pieces (N, L) with -1 padding -> (N, 3d).

    Every row must have at least one piece. The mean is an index_add over the valid entries, so
    no (N, L, d) tensor is built.
    """
    valid = pieces >= 0
    count = valid.sum(1)
    rows = valid.nonzero()[:, 0]
    mean = torch.zeros(len(pieces), table.shape[1], dtype=table.dtype).index_add_(0, rows, table[pieces[valid]])
    mean /= count.clamp(min=1)[:, None].to(table.dtype)
    last = pieces.gather(1, (count - 1).clamp(min=0)[:, None]).squeeze(1)
    return torch.cat([mean, table[pieces[:, 0].clamp(min=0)], table[last.clamp(min=0)]], dim=1)


def fit_ridge(features: torch.Tensor, targets: torch.Tensor, penalty: float) -> torch.Tensor:
    """argmin_W ||[X, 1] W - Y||^2 + penalty ||W||^2: X (M, f), Y (M, d) -> W (f + 1, d).

    The normal equations are formed in float32 (the expensive product) and solved in float64.
    """
    x = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], 1).float()
    gram = (x.T @ x).double() + penalty * torch.eye(x.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, (x.T @ targets.float()).double()).to(features.dtype)


def composed_rows(table: torch.Tensor, triples: torch.Tensor, pieces: torch.Tensor, penalty: float) -> torch.Tensor:
    """Fit the composition on ``triples`` (M, 3) of ``table`` (V, d) and apply it to ``pieces`` (N, L) -> (N, d)."""
    train = piece_features(table, triples[:, :2])
    weights = fit_ridge(train, table[triples[:, 2]], penalty)
    x = piece_features(table, pieces)
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1) @ weights


@register_initializer("compose", config=ComposeConfig, pretty_name="FVT + learned composition", paper="retok")
def compose(source: TokenEmbeddings, alignment: VocabAlignment, config: ComposeConfig) -> NewRows:
    """Copy matches; new rows = blend of the FVT mean and a ridge map [mean, first, last] -> row learned from the source merges."""
    return compose_rows(source, alignment, ridge=config.ridge, fvt_weight=config.fvt_weight)


def compose_rows(source: TokenEmbeddings, alignment: VocabAlignment, *, ridge: float = 10.0, fvt_weight: float = 0.65) -> NewRows:
    """The ``compose`` estimate for every id in ``alignment.new`` (also a subword prior for the other methods)."""
    if not 0.0 <= fvt_weight <= 1.0:
        raise RetokError(f"fvt_weight must be in [0, 1]; got {fvt_weight}")
    decompositions = decompose(alignment)
    prior = fvt_rows(source, alignment, decompositions=decompositions)
    has = torch.tensor([bool(d) for d in decompositions])
    if not has.any():
        return prior
    triples = merge_triples(alignment.source.tokenizer, source.input.shape[0])
    pieces = padded_pieces([d for d in decompositions if d])
    w = fvt_weight
    rows_in = prior.input.clone()
    rows_in[has] = (1 - w) * composed_rows(source.input, triples, pieces, ridge) + w * prior.input[has]
    rows_out = None
    if source.output is not None:
        rows_out = prior.output.clone()
        rows_out[has] = (1 - w) * composed_rows(source.output, triples, pieces, ridge) + w * prior.output[has]
    provenance = ["compose" if h else p for h, p in zip(has.tolist(), prior.provenance)]
    return NewRows(rows_in, rows_out, provenance, {"training_merges": len(triples)})
