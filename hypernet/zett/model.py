"""The ZeTT hypernetwork: a token's source pieces -> its embedding rows, as FVT plus a learned correction.

Minixhofer, Ponti and Vulić, *Zero-Shot Tokenizer Transfer*, NeurIPS 2024 (arXiv 2405.07883),
re-implemented from the description in ``shared/research/anchors_zett_tokenkit.md``. For a token
written as its pieces ``p_1..p_n`` under the source tokenizer (:mod:`retok.vocab.pieces`):

    x_i   = (E[p_i] - mu) / sigma                         frozen per-dimension affine of the source rows
    h     = Transformer(W_in x_1..x_L + pos)              pre-LN, L = min(n, max_pieces)
    row   = mean(E[p_1..p_n]) + sigma * Head(pool(h))     Head starts at exactly zero (:meth:`Hypernet.correction`)

So an untrained hypernetwork *is* FVT (the residual design of tokenkit's hypernetwork v2): training
can only move away from the estimate that is known to be safe, and a bad run degrades to FVT
rather than to noise. Untied LM heads: every piece carries its input and output row (2d), and a
second head predicts the output row. The source matrices are not part of the module; they are
passed in, so a saved hypernetwork holds only its own (small) weights.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from retok.transfer.initializers.combine import pool_pieces
from retok.vocab.pieces import PAD

from hypernet import io
from .config import Architecture


BUCKETS = (1, 2, 4)  # tokens are encoded in groups by piece count: at most 1, 2, 4, then max_pieces


class Block(nn.Module):
    """Pre-LN transformer layer: x + Attn(LN x), then x + MLP(LN x); pads are masked as keys."""

    def __init__(self, hidden: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, ffn_mult * hidden), nn.GELU(), nn.Linear(ffn_mult * hidden, hidden))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x (N, L, h), keep (N, L) bool -> (N, L, h)."""
        n, length, hidden = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        mask = keep[:, None, None, :]  # (N, 1, 1, L): every query sees the valid pieces
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(attended.transpose(1, 2).reshape(n, length, hidden))
        return x + self.mlp(self.norm2(x))


class Hypernet(nn.Module):
    """Predicts embedding rows for tokens given as source pieces. See the module docstring for the maths.

    Buffers ``mean_in``/``std_in`` (and ``mean_out``/``std_out`` when untied) are the frozen
    rescaler, fitted on the source's regular rows; ``source`` describes the source model
    (name, fingerprint of its embeddings) and ``training`` how the weights were made.
    """

    def __init__(self, arch: Architecture, *, mean_in: torch.Tensor, std_in: torch.Tensor,
                 mean_out: torch.Tensor | None = None, std_out: torch.Tensor | None = None) -> None:
        super().__init__()
        if arch.untied != (mean_out is not None):
            raise ValueError("an untied architecture needs the output rescaler (mean_out, std_out), a tied one none")
        self.arch = arch
        self.source: dict[str, Any] = {}
        self.training_info: dict[str, Any] = {}
        self.register_buffer("mean_in", mean_in.float().clone())
        self.register_buffer("std_in", std_in.float().clamp(min=1e-6).clone())
        if arch.untied:
            self.register_buffer("mean_out", mean_out.float().clone())
            self.register_buffer("std_out", std_out.float().clamp(min=1e-6).clone())
        width = arch.dim * (2 if arch.untied else 1)
        self.project = nn.Linear(width, arch.hidden)
        self.position = nn.Parameter(torch.zeros(arch.max_pieces, arch.hidden))
        self.blocks = nn.ModuleList(Block(arch.hidden, arch.heads, arch.ffn_mult) for _ in range(arch.layers))
        self.norm = nn.LayerNorm(arch.hidden)
        self.head_in = nn.Linear(arch.hidden, arch.dim)
        self.head_out = nn.Linear(arch.hidden, arch.dim) if arch.untied else None
        nn.init.normal_(self.position, std=0.02)
        for head in (self.head_in, self.head_out):
            if head is not None:  # the correction starts at exactly zero: an untrained hypernet equals FVT
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    def forward(self, table_in: torch.Tensor, table_out: torch.Tensor | None, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows for tokens given as pieces: FVT's mean of the pieces plus :meth:`correction`.

        Args:
            table_in: E_in (V, d) of the source; table_out: E_out (V, d), or None for a tied head.
            pieces: (N, L') int64 source ids, -1 padded; every row has at least one piece.

        Returns:
            input rows (N, d) and output rows (N, d) or None, in float32.
        """
        delta_in, delta_out = self.correction(table_in, table_out, pieces)
        rows_in = pool_pieces(table_in, pieces).float() + delta_in  # FVT's own mean: untrained, this *is* FVT
        rows_out = None if delta_out is None else pool_pieces(table_out, pieces).float() + delta_out
        return rows_in, rows_out

    def correction(self, table_in: torch.Tensor, table_out: torch.Tensor | None, pieces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The learned part alone, ``sigma * Head(pool(h))``: pieces (N, L') -> (N, d) [, (N, d)]; exactly zero untrained."""
        keep_all = pieces != PAD
        safe = pieces.clamp(min=0)
        tables = [table_in] + ([table_out] if self.arch.untied else [])
        pooled = torch.zeros(len(pieces), self.arch.hidden, device=pieces.device)
        seen = keep_all.sum(1).clamp(max=self.arch.max_pieces)
        low = 0
        for high in BUCKETS + (self.arch.max_pieces,):  # short tokens are not padded to the longest one's length
            if high <= low:
                continue
            rows = ((seen > low) & (seen <= high)).nonzero().squeeze(1)
            if rows.numel():
                pooled = pooled.index_copy(0, rows, self.encode(tables, safe[rows, :high], keep_all[rows, :high]))
            low = high
        delta_in = self.std_in * self.head_in(pooled)
        delta_out = self.std_out * self.head_out(pooled) if self.arch.untied else None
        return delta_in, delta_out

    def encode(self, tables: list[torch.Tensor], pieces: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """The pooled transformer state of each token: pieces (n, L) >= 0, keep (n, L) bool -> (n, hidden)."""
        scaled = [(tables[0][pieces].float() - self.mean_in) / self.std_in]
        if self.arch.untied:
            scaled.append((tables[1][pieces].float() - self.mean_out) / self.std_out)
        x = self.project(torch.cat(scaled, dim=-1)) + self.position[: pieces.shape[1]]
        for block in self.blocks:
            x = block(x, keep)
        x = self.norm(x)
        return (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)

    @torch.inference_mode()
    def predict(self, table_in: torch.Tensor, table_out: torch.Tensor | None, pieces: torch.Tensor, *, chunk: int = 4096,
                base: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`forward` without gradients, the correction in chunks of ``chunk`` tokens: memory stays bounded for any vocabulary.

        pieces (N, L') -> input rows (N, d) [, output rows (N, d)] float32, on the CPU. ``base`` are the
        FVT rows of these pieces if the caller has them already (they are computed otherwise).
        """
        if base is None:
            base = (pool_pieces(table_in, pieces).float(), None if table_out is None else pool_pieces(table_out, pieces).float())
        rows_in = base[0].float().cpu().clone()
        rows_out = None if base[1] is None or not self.arch.untied else base[1].float().cpu().clone()
        device = self.mean_in.device
        was_training = self.training
        self.eval()
        try:
            for start in range(0, len(pieces), chunk):
                block = pieces[start : start + chunk]
                block = block[:, : max(1, int((block != PAD).sum(1).max()))].to(device)  # drop all-pad columns
                delta_in, delta_out = self.correction(table_in, table_out, block)
                rows_in[start : start + chunk] += delta_in.cpu()
                if rows_out is not None:
                    rows_out[start : start + chunk] += delta_out.cpu()
        finally:
            self.train(was_training)
        return rows_in, rows_out

    def check_source(self, table_in: torch.Tensor, table_out: torch.Tensor | None, *, where: str = "") -> None:
        """Raise RetokError unless these are the embeddings this hypernetwork was trained for."""
        io.check_fingerprint(self.source, table_in, table_out, where=where)

    def save_pretrained(self, path: str | Path, *, overwrite: bool = False, extra: dict[str, str] | None = None) -> Path:
        """Write ``hypernet.safetensors`` + ``hypernet_config.json`` (architecture, source identity, training) atomically."""
        config = {"architecture": self.arch.to_dict(), "source": self.source, "training": self.training_info}
        return io.write_folder(path, self.state_dict(), config, overwrite=overwrite, extra=extra)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> Hypernet:
        """Load a folder written by :meth:`save_pretrained` (or ``retok train-hypernet``)."""
        state, config = io.read_folder(path)
        arch = Architecture(**config["architecture"])
        net = cls(arch, mean_in=state["mean_in"], std_in=state["std_in"], mean_out=state.get("mean_out"), std_out=state.get("std_out"))
        net.load_state_dict(state)
        net.source, net.training_info = dict(config["source"]), dict(config.get("training", {}))
        return net


@lru_cache(maxsize=2)
def _load(path: str, mtime: float) -> Hypernet:
    return Hypernet.from_pretrained(path)


def load_hypernet(path: str | Path) -> Hypernet:
    """The hypernetwork in ``path`` (cached while the folder is unchanged)."""
    path = Path(path)
    config = path / "hypernet_config.json"
    return _load(str(path), config.stat().st_mtime if config.exists() else 0.0)


__all__ = ["load_hypernet", "BUCKETS", "Block", "Hypernet"]
