"""zip2zip: an HF causal LM that reads and writes LZW hypertokens (Geng et al., arXiv 2506.01084).

Re-implemented from ``shared/research/anchors_zip2zip.md``. A sequence is written in *codes*
(:mod:`retok.adaptive.lzw`): base ids ``0..V0-1`` and hyper ids ``V0 + k`` naming entry ``k`` of the
sequence's own codebook. The wrapper:

- **input**: a base id reads its embedding row; a hyper id reads the input encoder's row for its
  entry (:class:`~hypernet.zip2zip.hyper_encoder.HyperEncoder` over the model's input rows);
- **output**: ``logits = [h @ E_out^T | h @ hyper_out^T]`` over ``V0 + K`` classes, where
  ``hyper_out`` comes from the output encoder over the LM-head rows. A slot is scorable only from
  the position where the online decoder has installed it (``available``; every other slot is
  ``-inf``: unfilled slots and slots of the future alike). The one id the decoder can read before it
  is installed, the LZW "cScSc" entry (:meth:`retok.adaptive.lzw.Codebook.pending`), is scored from its own
  row at the positions where it is legal, so every code of a text can be scored;
- **loss**: next-code cross-entropy over all ``V0 + K`` classes, EOS included, pads excluded by
  ``labels == -100`` (never by ``id == pad``, since pad may be EOS).

With ``max_codebook_size = 0`` there are no hyper ids, the encoders are never called and the
forward is the plain causal LM's, to the last bit (a test checks it): the control arm.

Saved form (:meth:`Zip2ZipLM.save_pretrained`): the merged model + tokenizer as a plain HF folder,
plus ``zip2zip_encoders.safetensors`` and ``zip2zip_config.json`` (the LZW settings, the encoder
architecture, the fingerprint of the base embeddings the encoders were trained on).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from retok import __version__ as retok_version
from retok.adaptive.lzw import LZWConfig
from retok.atomic import atomic_dir
from retok.errors import RetokError
from retok.integrity import check_safetensors
from retok.transfer.embeddings import embedding_weights
from retok.vocab.pieces import PAD

from hypernet import io
from hypernet.io import check_fingerprint, source_identity
from .hyper_encoder import EncoderArch, HyperEncoder

FORMAT = 1
CONFIG = "zip2zip_config.json"
ENCODERS = "zip2zip_encoders.safetensors"
IGNORE = -100
POSITIONS = ("codes", "base")  # one position per code, or the base-token index of each code's last base token


@dataclass
class Zip2ZipOutput:
    """``logits (B, T, V0 + K')`` (K' = slots used in the batch); ``loss`` = mean NLL over targets, ``nll`` their sum (float64)."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    nll: float | None = None
    n_targets: int = 0


class Zip2ZipLM(nn.Module):
    """A causal LM (plain or peft-wrapped) with hyper-encoders and the dynamic output layer."""

    def __init__(self, model: nn.Module, lzw: LZWConfig, arch: EncoderArch, *, output_arch: EncoderArch | None = None,
                 tie_encoders: bool = False, positions: str = "codes") -> None:
        """``arch``: the input encoder (and the output encoder unless ``output_arch`` is given); ``tie_encoders``: one for both.

        ``positions``: ``"codes"``, one position per code (zip2zip's HF runtime), or ``"base"``, each code at the base-token
        index of its last base token (zip2zip++'s base-token positions; an all-base sequence is ``0..T-1`` either way).
        """
        super().__init__()
        self.model = model
        core = self.core
        rows = embedding_weights(core)[0].shape[0]
        if lzw.initial_vocab_size != rows:
            raise RetokError(
                f"the codebook's base vocabulary is {lzw.initial_vocab_size} ids but the model has {rows} embedding rows; "
                "build the LZW settings from the model (LZWConfig.from_tokenizer(tokenizer, vocab_size=rows))"
            )
        if getattr(core.config.get_text_config(), "final_logit_softcapping", None):
            raise RetokError(f"{type(core).__name__} caps its logits (final_logit_softcapping); zip2zip does not support that yet")
        if arch.dim != embedding_weights(core)[0].shape[1]:
            raise RetokError(f"encoder width {arch.dim} does not match the model's hidden size {embedding_weights(core)[0].shape[1]}")
        if positions not in POSITIONS:
            raise RetokError(f"positions must be one of {', '.join(POSITIONS)}; got {positions!r}")
        self.lzw, self.arch, self.tie_encoders, self.positions = lzw, arch, tie_encoders, positions
        self.output_arch = arch if tie_encoders or output_arch is None else output_arch
        if (self.output_arch.dim, self.output_arch.max_subtokens) != (arch.dim, arch.max_subtokens):
            raise RetokError("the input and output encoders must share the width and max_subtokens")
        self.input_encoder = HyperEncoder(arch)
        self.output_encoder = self.input_encoder if tie_encoders else HyperEncoder(self.output_arch)
        # a learned logit offset per entry length (index = number of base tokens), zero at the start
        self.length_bias = nn.Parameter(torch.zeros(arch.max_subtokens + 1))

    # ------------------------------------------------------------------ pieces

    @property
    def core(self) -> nn.Module:
        """The HF causal LM itself (under a peft wrapper, the model peft wraps)."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    @property
    def base_vocab_size(self) -> int:
        return self.lzw.initial_vocab_size

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen base rows ``(E_in, E_out)``, ``(V0, d)`` each (the same tensor for a tied head)."""
        e_in, e_out = embedding_weights(self.core)
        return e_in, e_in if e_out is None else e_out

    def hyper_rows(self, entries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``entries (B, K', M)`` -> input rows and output rows, ``(B, K', d)`` each (zero for empty slots)."""
        e_in, e_out = self.tables()
        return self.input_encoder(e_in, entries), self.output_encoder(e_out, entries)

    def output_bias(self, entries: torch.Tensor) -> torch.Tensor:
        """``entries (..., M)`` -> the learned logit offset of each entry by its length, ``(...)`` (0 at the start)."""
        return self.length_bias[(entries != PAD).sum(-1)]

    def embed(self, codes: torch.Tensor, in_rows: torch.Tensor) -> torch.Tensor:
        """``codes (B, T)`` and the sequences' input rows ``in_rows (B, K', d)`` -> ``inputs_embeds (B, T, d)``."""
        e_in = self.tables()[0]
        v0 = self.base_vocab_size
        embeds = F.embedding(codes.clamp(max=v0 - 1), e_in)
        if in_rows.shape[1] == 0:
            return embeds
        slot = (codes - v0).clamp(min=0, max=in_rows.shape[1] - 1)
        hyper = torch.gather(in_rows, 1, slot.unsqueeze(-1).expand(-1, -1, in_rows.shape[-1]))
        return torch.where((codes >= v0).unsqueeze(-1), hyper.to(embeds.dtype), embeds)

    def position_ids(self, codes: torch.Tensor, entries: torch.Tensor) -> torch.Tensor | None:
        """``codes (B, T)`` and the codebook ``entries (B, K', M)`` -> ``position_ids (B, T)`` under base-token positions, else None."""
        if self.positions == "codes":
            return None
        v0 = self.base_vocab_size
        spans = torch.ones_like(codes)
        if entries.shape[1]:
            lengths = (entries != PAD).sum(-1)  # (B, K')
            slot = (codes - v0).clamp(min=0, max=entries.shape[1] - 1)
            spans = torch.where(codes >= v0, lengths.gather(1, slot), spans)
        return spans.cumsum(1) - 1

    def hidden(self, embeds: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
        """Run the transformer body on ``embeds (B, T, d)``; returns the HF output (``last_hidden_state``, ``cache``)."""
        if attention_mask is None and kwargs.get("position_ids") is not None and kwargs.get("cache") is None:
            # Without a mask and a cache, HF reads a jump in position_ids as the start of another packed sequence and
            # masks attention across it; base-token positions jump at every hypertoken, so say "one sequence" explicitly.
            attention_mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        # the body of the causal LM (Llama: .model); under peft the LoRA layers live inside it
        return self.core.base_model(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)

    def logits(self, h: torch.Tensor, out_rows: torch.Tensor, available: torch.Tensor | None,
               pending_rows: torch.Tensor | None = None, pending_slot: torch.Tensor | None = None,
               positions: torch.Tensor | None = None, bias: torch.Tensor | None = None,
               pending_bias: torch.Tensor | None = None) -> torch.Tensor:
        """The dynamic output layer.

        Args:
            h: hidden states ``(B, T, d)``.
            out_rows: output rows of the sequences' slots ``(B, K', d)``.
            available: ``(B, K')`` long: the first position at which each slot may be scored (an
                unused slot: any value > T). None: every slot is scorable.
            pending_rows: ``(B, T, d)``: the row of the entry the decoder could read next without
                having installed it (the cScSc case), with ``pending_slot (B, T)`` its slot or -1.
            positions: ``(T,)`` the positions of ``h``'s steps (default ``0..T-1``; generation
                passes the step it is at).
            bias: ``(B, K')`` logit offsets of the slots (:meth:`output_bias`), ``pending_bias (B, T)``
                those of the pending entries.

        Returns:
            ``(B, T, V0 + K')`` float logits; slots not scorable at a position are ``-inf``.
        """
        head = self.core.get_output_embeddings()
        base = head(h)
        if out_rows.shape[1] == 0:
            return base
        hyper = torch.einsum("btd,bkd->btk", h, out_rows.to(h.dtype))
        if bias is not None:
            hyper = hyper + bias.unsqueeze(1).to(hyper.dtype)
        if available is not None:
            if positions is None:
                positions = torch.arange(h.shape[1], device=h.device)
            visible = positions.view(1, -1, 1) >= available.unsqueeze(1)  # (B, T, K')
            hyper = hyper.masked_fill(~visible, float("-inf"))
        if pending_rows is not None and pending_slot is not None:
            has = pending_slot >= 0  # (B, T)
            if has.any():
                score = (h * pending_rows.to(h.dtype)).sum(-1)  # (B, T)
                if pending_bias is not None:
                    score = score + pending_bias.to(score.dtype)
                slot = pending_slot.clamp(min=0).unsqueeze(-1)
                current = torch.gather(hyper, 2, slot).squeeze(-1)
                hyper = hyper.scatter(2, slot, torch.where(has, score, current).unsqueeze(-1))
        return torch.cat([base, hyper], dim=-1)

    # ------------------------------------------------------------------ training / scoring

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                entries: torch.Tensor | None = None, available: torch.Tensor | None = None,
                pending: torch.Tensor | None = None, pending_slot: torch.Tensor | None = None) -> Zip2ZipOutput:
        """Score a batch of compressed sequences (see :mod:`hypernet.zip2zip.data` for the tensors).

        ``codes (B, T)`` inputs, ``labels (B, T)`` the code each position predicts (-100: none),
        ``entries (B, K', M)`` each sequence's final codebook, ``available (B, K')``,
        ``pending (B, T, M)`` and ``pending_slot (B, T)``.
        """
        batch = codes.shape[0]
        if entries is None:
            entries = codes.new_full((batch, 0, self.lzw.max_subtokens), -1)
        if entries.shape[1]:
            in_rows, out_rows = self.hyper_rows(entries)
        else:
            in_rows = out_rows = self.tables()[0].new_zeros(batch, 0, self.arch.dim)
        positions = self.position_ids(codes, entries)
        extra = {} if positions is None else {"position_ids": positions}
        h = self.hidden(self.embed(codes, in_rows), attention_mask, **extra).last_hidden_state
        pending_rows = pending_bias = None
        if pending is not None and pending_slot is not None and bool((pending_slot >= 0).any()):
            pending_rows, pending_bias = self.output_encoder(self.tables()[1], pending), self.output_bias(pending)
        logits = self.logits(h, out_rows, available, pending_rows, pending_slot, bias=self.output_bias(entries),
                             pending_bias=pending_bias)
        if labels is None:
            return Zip2ZipOutput(logits)
        flat, targets = logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1)
        n = int((targets != IGNORE).sum())
        # the mean as HF's causal-LM loss computes it, so that K = 0 trains exactly like plain LoRA
        loss = F.cross_entropy(flat, targets, ignore_index=IGNORE, reduction="mean") if n else flat.sum() * 0.0
        with torch.no_grad():
            total = F.cross_entropy(flat, targets, ignore_index=IGNORE, reduction="sum").double()
        return Zip2ZipOutput(logits, loss, float(total), n)

    # ------------------------------------------------------------------ save / load

    def config_dict(self, name: str) -> dict[str, Any]:
        e_in, e_out = embedding_weights(self.core)
        return {"format": FORMAT, "retok_version": retok_version, "lzw": self.lzw.to_dict(), "encoder": self.arch.to_dict(),
                "output_encoder": self.output_arch.to_dict(), "tie_encoders": self.tie_encoders, "positions": self.positions,
                "base": source_identity(name, e_in, e_out)}

    def encoder_state(self) -> dict[str, torch.Tensor]:
        state = {"length_bias": self.length_bias.detach()}
        state.update({f"input_encoder.{k}": v for k, v in self.input_encoder.state_dict().items()})
        if not self.tie_encoders:
            state.update({f"output_encoder.{k}": v for k, v in self.output_encoder.state_dict().items()})
        return state

    def save_encoders(self, folder: Path, name: str = "", state: dict[str, torch.Tensor] | None = None) -> None:
        """Write ``zip2zip_config.json`` and the encoders (``state``: these instead of the current ones) into ``folder``.

        Such a folder without model weights loads onto its base model: ``Zip2ZipLM.from_pretrained(folder, model=base)``.
        """
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in (state or self.encoder_state()).items()}, str(folder / ENCODERS))
        (folder / CONFIG).write_text(json.dumps(self.config_dict(name), indent=2) + "\n", encoding="utf-8")

    def save_pretrained(self, path: str | os.PathLike, tokenizer: Any, *, name: str = "", overwrite: bool = False,
                        extra: dict[str, str] | None = None, encoders: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
        """Write the model (LoRA merged in), its tokenizer, the encoders and ``zip2zip_config.json``, atomically.

        ``extra``: text files to add; ``encoders``: subfolders holding other encoder states (:meth:`save_encoders`).
        """
        from retok.progress import bars_on, hf_progress_bars

        model = self.model.merge_and_unload() if hasattr(self.model, "merge_and_unload") else self.model
        self.model = model
        with atomic_dir(path, overwrite=overwrite) as tmp:
            with hf_progress_bars(bars_on()):
                model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            self.save_encoders(tmp, name)
            for sub, state in (encoders or {}).items():
                self.save_encoders(tmp / sub, name, state)
            for file, text in (extra or {}).items():
                (tmp / file).write_text(text, encoding="utf-8")
        return Path(path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, model: str | os.PathLike | nn.Module | None = None,
                        dtype: str = "float32") -> Zip2ZipLM:
        """Load a folder written by :meth:`save_pretrained` (``model``: use these weights instead, which must share the base embeddings)."""
        from safetensors.torch import load_file

        from retok.loading import load_model

        config = read_config(path)
        check_safetensors(Path(path) / ENCODERS, fix="train the zip2zip model again (retok zip2zip train) or restore the folder")
        net = load_model(model if model is not None else path, dtype=dtype)
        e_in, e_out = embedding_weights(net)
        check_fingerprint(config["base"], e_in, e_out, where=f"in {str(path)!r}")
        wrapper = cls(net, LZWConfig.from_dict(config["lzw"]), EncoderArch(**config["encoder"]),
                      output_arch=EncoderArch(**config["output_encoder"]), tie_encoders=config["tie_encoders"],
                      positions=config.get("positions", "codes"))
        state = load_file(str(Path(path) / ENCODERS))
        with torch.no_grad():
            wrapper.length_bias.copy_(state["length_bias"])
        wrapper.input_encoder.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("input_encoder.")})
        if not wrapper.tie_encoders:
            wrapper.output_encoder.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("output_encoder.")})
        return wrapper.eval()


def is_encoder_parameter(name: str) -> bool:
    """Whether a :class:`Zip2ZipLM` parameter belongs to the hypertoken side (encoders, length bias), not the LM or its LoRA."""
    return name.startswith(("input_encoder.", "output_encoder.", "length_bias"))


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The ``zip2zip_config.json`` of a saved zip2zip folder, with a clear error for anything else."""
    return io.read_config(path, CONFIG, ENCODERS, what="zip2zip model", make="retok zip2zip train --model ... --train ... --out DIR",
                          version=FORMAT)


__all__ = ["CONFIG", "ENCODERS", "IGNORE", "POSITIONS", "Zip2ZipLM", "Zip2ZipOutput", "is_encoder_parameter", "read_config"]
