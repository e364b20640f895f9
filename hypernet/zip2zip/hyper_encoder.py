"""zip2zip hyper-encoders: an LZW codebook entry (at most M base ids) -> one embedding row.

For an entry ``p_1..p_n`` (n <= M) of a frozen base table ``E`` (the model's input rows for the
input encoder, its LM-head rows for the output encoder):

    x_i = W_in E[p_i] + pos_i                      learnable positions (so [a, b] and [b, a] differ)
    h   = Blocks(x)                                pre-LN transformer layers; pads are masked as keys
    row = E[p_r] + W_out LN(mean_{i <= n} h_i)     masked mean: pads take no part

``W_out`` (weight and bias) starts at exactly zero, so an untrained encoder returns the residual
row ``E[p_r]`` bit for bit: the entry's first token (zip2zip's choice, the default of the output
encoder: a hypertoken starts as the token it begins with), its last token (the default of the
input encoder in :mod:`hypernet.zip2zip.train`: the model then reads the position as the token
that precedes the next prediction, which measured clearly better, see the benchmark notes) or the
mean. zip2zip++ learned the hard way that a zero-initialised *projection* does nothing when the
encoder has none (its width equal to the model's); here the projection always exists, whatever the
width, and a test checks the identity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from retok.errors import RetokError
from retok.options import Checked, option
from retok.vocab.pieces import PAD

from hypernet.zett.model import Block


@dataclass(frozen=True, kw_only=True)
class EncoderArch(Checked):
    """One hyper-encoder: a small pre-LN transformer over an entry's base rows."""

    dim: int = option(576, "width of the base model's embeddings (set from the model)", min=1)
    max_subtokens: int = option(4, "base tokens per entry at most (the codebook's M)", min=2)
    hidden: int = option(256, "width of the encoder (base rows are projected down to it)", min=8)
    layers: int = option(2, "transformer layers", min=0)
    heads: int = option(4, "attention heads (hidden must be divisible by it)", min=1)
    ffn_mult: int = option(2, "MLP width as a multiple of hidden", min=1)
    residual: Literal["first", "last", "mean"] = option("first", "the base row an untrained encoder returns: the entry's first token, last token, or their mean")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden % self.heads:
            raise RetokError(f"encoder hidden={self.hidden} must be divisible by heads={self.heads}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HyperEncoder(nn.Module):
    """Embeds codebook entries from a base weight table; starts as "an entry is its first token"."""

    def __init__(self, arch: EncoderArch) -> None:
        super().__init__()
        self.arch = arch
        self.project = nn.Linear(arch.dim, arch.hidden)
        self.position = nn.Parameter(torch.randn(arch.max_subtokens, arch.hidden) * 0.02)
        self.blocks = nn.ModuleList(Block(arch.hidden, arch.heads, arch.ffn_mult) for _ in range(arch.layers))
        self.norm = nn.LayerNorm(arch.hidden)
        self.out = nn.Linear(arch.hidden, arch.dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, table: torch.Tensor, entries: torch.Tensor) -> torch.Tensor:
        """``table (V, d)``, ``entries (..., M)`` long with ``-1`` pads -> rows ``(..., d)``.

        An all-pad entry (an unused slot) gives a zero row. Entries longer than ``max_subtokens``
        are refused.
        """
        shape = entries.shape
        if shape[-1] > self.arch.max_subtokens:
            raise RetokError(f"entries of {shape[-1]} base tokens, but this encoder takes at most {self.arch.max_subtokens}")
        flat = entries.reshape(-1, shape[-1])  # (N, M)
        keep = flat != PAD  # (N, M)
        used = keep.any(dim=1)  # (N,)
        rows = torch.zeros(flat.shape[0], table.shape[1], dtype=table.dtype, device=table.device)
        if used.any():
            rows[used] = self.encode(table, flat[used], keep[used])
        return rows.view(*shape[:-1], table.shape[1])

    def encode(self, table: torch.Tensor, entries: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Non-empty ``entries (N, M)`` with their ``keep (N, M)`` mask (a valid prefix per row) -> ``(N, d)``."""
        base = table[entries.clamp(min=0)]  # (N, M, d); pad positions read row 0 and are masked below
        x = self.project(base.to(self.project.weight.dtype)) + self.position[: entries.shape[1]]
        for block in self.blocks:
            x = block(x, keep)
        weights = keep.to(x.dtype).unsqueeze(-1)  # (N, M, 1)
        pooled = (x * weights).sum(dim=1) / weights.sum(dim=1)  # (N, hidden)
        return self.residual(base, weights) + self.out(self.norm(pooled)).to(base.dtype)

    def residual(self, base: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The row an untrained encoder returns: ``base (N, M, d)`` rows of the entries, ``weights (N, M, 1)`` 1 on valid ids."""
        if self.arch.residual == "first":
            return base[:, 0]
        if self.arch.residual == "last":
            last = weights.squeeze(-1).sum(dim=1).long() - 1  # (N,)
            return base[torch.arange(base.shape[0]), last]
        return (base * weights.to(base.dtype)).sum(dim=1) / weights.sum(dim=1).to(base.dtype)


__all__ = ["EncoderArch", "HyperEncoder"]
