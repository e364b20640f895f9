"""Greedy zip2zip generation for several prompts at once: one forward pass per step for every row.

Each row keeps its own online codebook and rows (:class:`~hypernet.zip2zip.generate.OnlineRows`); the
prompts are left-padded (pads masked, positions counted from each row's first real code, or from its
base tokens under ``positions="base"``), the rows' input and output tables are padded to the largest
codebook of the batch and the slots a row does not have are ``-inf``. A row that has finished (EOS or
its budget) keeps stepping with a masked pad until every row is done; its codebook is left alone.
Under greedy decoding each row makes the codes :func:`~hypernet.zip2zip.generate.generate` makes for
it alone (tested).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from retok.adaptive.lzw import encode
from retok.errors import RetokError
from retok.eval import document_separator

from .generate import Generation, OnlineRows
from .model import Zip2ZipLM


def padded(tables: Sequence[torch.Tensor], width: int) -> torch.Tensor:
    """Rows ``(1, K_b, d)`` per sequence -> ``(B, width, d)``, zeros past each row's ``K_b``."""
    out = tables[0].new_zeros(len(tables), width, tables[0].shape[-1])
    for b, t in enumerate(tables):
        out[b, : t.shape[1]] = t[0]
    return out


@torch.inference_mode()
def generate_batch(model: Zip2ZipLM, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int = 256,
                   stop_at_eos: bool = True, separator: str | int | None = None) -> list[Generation]:
    """Greedy continuations of ``prompts``, each until ``max_new_tokens`` base tokens or EOS (see the module docstring).

    Timings in each :class:`Generation` are the batch's (prefill and decode of all rows together).
    """
    if isinstance(prompts, str) or not prompts:
        raise RetokError("generate_batch takes a non-empty list of prompts (for one prompt, use generate)")
    if max_new_tokens < 1:
        raise RetokError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    model.eval()
    device = next(model.parameters()).device
    eos, v0, sep = tokenizer.eos_token_id, model.base_vocab_size, document_separator(tokenizer, separator)
    prompt_ids = [[sep] + tokenizer(p, add_special_tokens=False, verbose=False)["input_ids"] for p in prompts]
    prompt_codes = [encode(ids, model.lzw) for ids in prompt_ids]
    rows = [OnlineRows(model) for _ in prompts]
    batch, length = len(prompts), max(len(c) for c in prompt_codes)
    began = time.perf_counter()
    codes = torch.zeros(batch, length, dtype=torch.long, device=device)
    mask = torch.zeros(batch, length, dtype=torch.long, device=device)
    spans = torch.zeros(batch, length, dtype=torch.long, device=device)
    for b, (row, c) in enumerate(zip(rows, prompt_codes)):
        row.feed(c)
        codes[b, length - len(c):] = torch.tensor(c, device=device)
        mask[b, length - len(c):] = 1
        spans[b, length - len(c):] = torch.tensor([len(row.codebook.subtokens(x)) for x in c], device=device)
    per_code = spans if model.positions == "base" else mask
    positions = (per_code.cumsum(1) - 1).clamp(min=0)
    tables = [r.rows_for(c) for r, c in zip(rows, prompt_codes)]
    out = model.hidden(model.embed(codes, padded(tables, max(t.shape[1] for t in tables))), attention_mask=mask,
                       position_ids=positions, use_cache=True)
    prefill = time.perf_counter() - began
    last = positions[:, -1]
    made: list[list[int]] = [[] for _ in prompts]
    lengths: list[list[int]] = [[] for _ in prompts]
    base: list[list[int]] = [[] for _ in prompts]
    done = [False] * batch
    head = model.core.get_output_embeddings()
    began = time.perf_counter()
    while not all(done):
        h = out.last_hidden_state[:, -1]  # (B, d)
        width = max(r.output.shape[1] for r in rows)
        out_rows = padded([r.output for r in rows], width)  # (B, K', d)
        bias = torch.zeros(batch, width, dtype=h.dtype, device=device)
        slots = torch.arange(width, device=device)
        for b, r in enumerate(rows):
            bias[b, : r.bias.shape[1]] = r.bias[0]
        hyper = torch.einsum("bd,bkd->bk", h, out_rows.to(h.dtype)) + bias
        counts = torch.tensor([r.output.shape[1] for r in rows], device=device)
        hyper = hyper.masked_fill(slots.unsqueeze(0) >= counts.unsqueeze(1), float("-inf"))
        pending = torch.full((batch, 1), float("-inf"), dtype=h.dtype, device=device)
        for b, r in enumerate(rows):
            score = r.pending_logit(h[b])
            if score is not None:
                pending[b, 0] = score.to(h.dtype)
        best = torch.cat([head(h), hyper, pending], dim=-1).argmax(-1).tolist()  # (B,)
        step = []
        for b, r in enumerate(rows):
            if done[b]:
                step.append(0)
                continue
            pick = best[b]
            code = pick if pick < v0 + width else v0 + len(r.codebook)  # the last column: the pending entry's id
            decoded = r.feed([code])
            made[b].append(code)
            lengths[b].append(len(decoded))
            base[b].extend(decoded)
            last[b] += len(decoded) if model.positions == "base" else 1
            done[b] = len(base[b]) >= max_new_tokens or (stop_at_eos and eos is not None and eos in decoded)
            step.append(code)
        if all(done):
            break
        mask = torch.cat([mask, torch.tensor([[0 if d else 1] for d in done], device=device)], dim=1)
        tables = [r.rows_for([c]) for r, c in zip(rows, step)]
        step_codes = torch.tensor([[c] for c in step], device=device)
        out = model.hidden(model.embed(step_codes, padded(tables, max(t.shape[1] for t in tables))), attention_mask=mask,
                           position_ids=last.view(-1, 1).clone(), cache=out.cache, use_cache=True)
    seconds = time.perf_counter() - began
    return [Generation(tokenizer.decode(base[b], skip_special_tokens=False), made[b], base[b], prefill, seconds,
                       len(prompt_codes[b]), len(prompt_ids[b]), lengths[b]) for b in range(batch)]


__all__ = ["generate_batch"]
