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
    """The sequence's codebook and its encoded rows, grown as codes arrive: ``input (1, K, d)``, ``output (1, K, d)``."""

    def __init__(self, model: Zip2ZipLM) -> None:
        self.model = model
        self.codebook = Codebook(model.lzw)
        e_in = model.tables()[0]
        self.input = e_in.new_zeros(1, 0, model.arch.dim)
        self.output = e_in.new_zeros(1, 0, model.arch.dim)
        self.bias = e_in.new_zeros(1, 0)

    def feed(self, codes: list[int]) -> list[int]:
        """Decode ``codes`` into the codebook, embed the entries they install; returns their base ids."""
        base: list[int] = []
        new: list[tuple[int, ...]] = []
        for code in codes:
            base.extend(self.codebook.feed(code))
            new.extend(self.codebook.entries[k] for k in self.codebook.last_installed)
        if new:
            entries = pad_pieces(new).unsqueeze(0).to(self.input.device)  # (1, n, <=M)
            rows_in, rows_out = self.model.hyper_rows(entries)
            self.input = torch.cat([self.input, rows_in], dim=1)
            self.output = torch.cat([self.output, rows_out], dim=1)
            self.bias = torch.cat([self.bias, self.model.output_bias(entries).to(self.bias.dtype)], dim=1)
        return base

    def pending_logit(self, h: torch.Tensor) -> torch.Tensor | None:
        """The logit ``(1,)`` at hidden state ``h (d,)`` of the entry the next code could name before it is installed (the cScSc case)."""
        entry = self.codebook.pending()
        if entry is None:
            return None
        table = torch.tensor([[list(entry)]], dtype=torch.long, device=self.input.device)
        row = self.model.output_encoder(self.model.tables()[1], table)[0, 0]
        return ((h * row).sum() + self.model.output_bias(table)[0, 0]).view(1)


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
    out = model.hidden(model.embed(sequence, online.input), use_cache=use_cache)
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
        if use_cache:
            step = torch.tensor([[code]], dtype=torch.long, device=device)
            out = model.hidden(model.embed(step, online.input), cache=out.cache, use_cache=True)
        else:
            sequence = torch.cat([sequence, torch.tensor([[code]], dtype=torch.long, device=device)], dim=1)
            out = model.hidden(model.embed(sequence, online.input), use_cache=False)
    text = tokenizer.decode(base, skip_special_tokens=False)
    if on_text is not None and text.startswith(shown) and len(text) > len(shown):
        on_text(text[len(shown):])
    return Generation(text, codes, base, prefill, time.perf_counter() - began, len(prompt_codes), len(prompt_ids), lengths)


__all__ = ["Generation", "OnlineRows", "generate", "next_code"]
