"""Generation with hypertokens: a KV cache and an online codebook fed one code at a time.

The prompt is LZW-encoded and its codes replayed into a :class:`retok.adaptive.lzw.Codebook` (the decoder
rebuilds the encoder's codebook from the codes alone). Each step scores ``V0`` base ids, every
installed slot and the one pending (cScSc) slot, picks a code, feeds *that one code* to the
codebook and embeds only the entries it installed (0 or 1, rarely 2): hypertoken rows cost
O(new entries) per step. The codebook is never re-fed a prefix, so ``use_cache=False`` (which
recomputes the whole sequence each step, for checking) cannot corrupt it, unlike the reference
runtime. A full codebook stops growing and generation goes on with the entries it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from retok.adaptive.lzw import Codebook, encode
from retok.errors import RetokError
from retok.eval import document_separator
from retok.vocab.pieces import pad_pieces

from .model import Zip2ZipLM


@dataclass(frozen=True)
class Generation:
    """What :func:`generate` made: the text, its codes and base ids, and timings (prefill and decode, seconds)."""

    text: str
    codes: list[int]
    base_ids: list[int]
    prefill_seconds: float
    decode_seconds: float
    prompt_codes: int
    prompt_base_tokens: int
    code_lengths: list[int]  # base tokens per generated code

    @property
    def n_hyper(self) -> int:
        """Generated codes that are hypertokens (stand for more than one base token)."""
        return sum(1 for n in self.code_lengths if n > 1)

    @property
    def compression_ratio(self) -> float:
        return len(self.base_ids) / max(len(self.codes), 1)


class OnlineRows:
    """The sequence's codebook and its encoded rows, grown as codes arrive: ``input (1, K, d)``, ``output (1, K, d)``.

    Each :meth:`feed` makes at most one call per encoder: the output encoder on the entries the codes
    installed and on the entry the next code could name before it is installed (the cScSc case,
    :meth:`pending_logit`), whose row is kept for when it is installed; the input encoder only when an
    input row is asked for (:meth:`rows_for`), so a step that emits a base token, which no input row
    reads, costs no input-encoder call.
    """

    def __init__(self, model: Zip2ZipLM) -> None:
        self.model = model
        self.codebook = Codebook(model.lzw)
        e_in = model.tables()[0]
        self.input = e_in.new_zeros(1, 0, model.arch.dim)
        self.output = e_in.new_zeros(1, 0, model.arch.dim)
        self.bias = e_in.new_zeros(1, 0)
        self.pending: tuple[tuple[int, ...], torch.Tensor, torch.Tensor] | None = None  # (entry, output row (d,), bias ())
        self.unread: list[tuple[int, ...]] = []  # installed entries whose input rows are not made yet
        self.encoder_calls = 0

    def rows_for(self, codes: list[int] | None = None) -> torch.Tensor:
        """The input rows ``(1, K, d)`` complete up to what ``codes`` read (None: every installed entry)."""
        v0 = self.model.base_vocab_size
        if self.unread and (codes is None or max(codes, default=-1) >= v0 + self.input.shape[1]):
            entries = pad_pieces(self.unread).unsqueeze(0).to(self.input.device)  # (1, n, <=M)
            self.input = torch.cat([self.input, self.model.input_encoder(self.model.tables()[0], entries)], dim=1)
            self.unread = []
            self.encoder_calls += 1
        return self.input

    def feed(self, codes: list[int]) -> list[int]:
        """Decode ``codes`` into the codebook, embed the entries they install; returns their base ids."""
        base: list[int] = []
        new: list[tuple[int, ...]] = []
        for code in codes:
            base.extend(self.codebook.feed(code))
            new.extend(self.codebook.entries[k] for k in self.codebook.last_installed)
        upcoming = self.codebook.pending()
        known = self.pending if self.pending is not None and self.pending[0] in new else None  # its output row is already made
        fresh_out = [e for e in new if known is None or e != known[0]] + ([upcoming] if upcoming is not None else [])
        device = self.input.device
        self.unread.extend(new)
        made: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        if known is not None:
            made[known[0]] = (known[1], known[2])
        if fresh_out:
            table = pad_pieces(fresh_out).unsqueeze(0).to(device)  # (1, n', <=M)
            rows, bias = self.model.output_encoder(self.model.tables()[1], table)[0], self.model.output_bias(table)[0]
            made.update((e, (rows[i], bias[i])) for i, e in enumerate(fresh_out))
            self.encoder_calls += 1
        if new:
            self.output = torch.cat([self.output, torch.stack([made[e][0] for e in new]).unsqueeze(0)], dim=1)
            self.bias = torch.cat([self.bias, torch.stack([made[e][1] for e in new]).unsqueeze(0).to(self.bias.dtype)], dim=1)
        self.pending = (upcoming, *made[upcoming]) if upcoming is not None else None
        return base

    def pending_logit(self, h: torch.Tensor) -> torch.Tensor | None:
        """The logit ``(1,)`` at hidden state ``h (d,)`` of the entry the next code could name before it is installed (the cScSc case)."""
        if self.pending is None:
            return None
        _, row, bias = self.pending
        return ((h * row).sum() + bias).view(1)


def next_code(logits: torch.Tensor, *, temperature: float, generator: torch.Generator | None) -> int:
    """Greedy (``temperature == 0``) or sampled code from ``logits (C,)``."""
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def generate(model: Zip2ZipLM, tokenizer: Any, prompt: str, *, max_new_tokens: int = 256, temperature: float = 0.0,
             seed: int = 0, use_cache: bool = True, stop_at_eos: bool = True, separator: str | int | None = None,
             on_text: Callable[[str], None] | None = None) -> Generation:
    """Continue ``prompt`` until ``max_new_tokens`` base tokens (a hypertoken may overshoot by M - 1) or EOS.

    ``on_text`` receives the decoded text as it grows (streaming). ``use_cache=False`` recomputes
    the whole sequence every step (slow; same codes as with the cache under greedy decoding).
    """
    if max_new_tokens < 1:
        raise RetokError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    model.eval()
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    prompt_ids = [document_separator(tokenizer, separator)] + tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
    prompt_codes = encode(prompt_ids, model.lzw)
    online = OnlineRows(model)
    began = time.perf_counter()
    online.feed(prompt_codes)
    sequence = torch.tensor([prompt_codes], dtype=torch.long, device=device)
    # base-token positions (model.positions == "base"): each code at its last base token's index
    spans = [len(online.codebook.subtokens(c)) for c in prompt_codes]
    placed = model.positions == "base"
    positions = torch.tensor([spans], device=device).cumsum(1) - 1
    at = lambda p: {"position_ids": p} if placed else {}  # noqa: E731
    out = model.hidden(model.embed(sequence, online.rows_for(prompt_codes)), use_cache=use_cache, **at(positions))
    prefill = time.perf_counter() - began
    generator = torch.Generator().manual_seed(seed) if temperature > 0 else None
    codes: list[int] = []
    lengths: list[int] = []
    base: list[int] = []
    shown = ""
    began = time.perf_counter()
    while len(base) < max_new_tokens:
        h = out.last_hidden_state[:, -1:]  # (1, 1, d)
        logits = model.logits(h, online.output, None, bias=online.bias)[0, -1]  # (V0 + K_installed,)
        pending = online.pending_logit(h[0, -1])
        if pending is not None:
            logits = torch.cat([logits, pending.to(logits.dtype)])
        code = next_code(logits, temperature=temperature, generator=generator)
        decoded = online.feed([code])
        codes.append(code)
        lengths.append(len(decoded))
        base.extend(decoded)
        if on_text is not None:
            text = tokenizer.decode(base, skip_special_tokens=False)
            if text.startswith(shown) and len(text) > len(shown):
                on_text(text[len(shown):])
                shown = text
        if stop_at_eos and eos is not None and eos in decoded:
            break
        positions = torch.cat([positions, positions[:, -1:] + len(decoded)], dim=1)
        if use_cache:
            step = torch.tensor([[code]], dtype=torch.long, device=device)
            out = model.hidden(model.embed(step, online.rows_for([code])), cache=out.cache, use_cache=True, **at(positions[:, -1:]))
        else:
            sequence = torch.cat([sequence, torch.tensor([[code]], dtype=torch.long, device=device)], dim=1)
            out = model.hidden(model.embed(sequence, online.rows_for()), use_cache=False, **at(positions))
    text = tokenizer.decode(base, skip_special_tokens=False)
    if on_text is not None and text.startswith(shown) and len(text) > len(shown):
        on_text(text[len(shown):])
    return Generation(text, codes, base, prefill, time.perf_counter() - began, len(prompt_codes), len(prompt_ids), lengths)


__all__ = ["Generation", "OnlineRows", "generate", "next_code"]
