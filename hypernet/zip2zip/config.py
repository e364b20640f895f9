"""How a zip2zip model is trained: the config dataclass, importable without torch (the CLI builds its flags from it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from retok.errors import RetokError
from retok.options import Checked, option

#: the output layer scores V0 + K classes at every position; past this the logits alone outgrow a CPU's memory
MAX_CODEBOOK_SIZE = 65536


@dataclass(frozen=True, kw_only=True)
class Zip2ZipTrainConfig(Checked):
    """How to train a zip2zip model. The budget is ``train_bytes`` of text, cut into windows of ``window`` base tokens."""

    max_codebook_size: int = option(2048, "hypertoken slots per sequence (K); 0: the control, plain LoRA on the same windows",
                                    min=0, max=MAX_CODEBOOK_SIZE)
    max_subtokens: int = option(4, "base tokens per hypertoken at most (M)", min=2, max=16)
    protect_digits: bool = option(False, "never merge digit tokens (zip2zip++ found this helps arithmetic)")
    window: int = option(1024, "base tokens per training window (each is LZW-encoded with a fresh codebook)", min=2)
    train_bytes: int | None = option(524288, "bytes of training text (paragraphs in file order); None: all", min=1)
    batch_size: int = option(2, "windows per optimizer step, over all processes", min=1)
    epochs: int = option(1, "passes over the training text", min=1)
    warm_steps: int = option(24, "steps of the warm start before LoRA: the hyper-encoders alone, the LM frozen, distilled from the model "
                                 "reading the same windows as base tokens (hypernet.zip2zip.warm); 0: none", min=0)
    warm_only: bool = option(False, "stop after the warm start and save that model (trained encoders, no LoRA): zero-shot zip2zip")
    warm_lr: float = option(1e-4, "peak learning rate of the hyper-encoders in the warm start (3e-4 diverged on SmolLM2: the frozen "
                                  "model amplifies the encoders' first Adam steps)", above=0.0, max=1.0)
    lora_r: int = option(8, "LoRA rank", min=1)
    lora_alpha: int = option(16, "LoRA alpha", above=0)
    lora_dropout: float = option(0.0, "dropout on the LoRA input", min=0.0, below=1.0)
    target_modules: str = option("all-linear", "peft target_modules for LoRA")
    lr: float = option(3e-4, "peak learning rate of the LoRA weights", above=0.0, max=1.0)
    encoder_lr: float = option(3e-4, "peak learning rate of the hyper-encoders", above=0.0, max=1.0)
    encoder_hidden: int = option(256, "width of each hyper-encoder", min=8)
    encoder_layers: int = option(2, "transformer layers of each hyper-encoder", min=0)
    encoder_heads: int = option(4, "attention heads of each hyper-encoder", min=1)
    tie_encoders: bool = option(False, "one encoder for input and output rows (off: one each)")
    input_residual: Literal["first", "last", "mean"] = option(
        "last", "the row an untrained input encoder returns: the entry's last token (measured best), first token, or their mean")
    output_residual: Literal["first", "last", "mean"] = option(
        "first", "the row an untrained output encoder returns: the entry's first token (the token it starts with), last, or mean")
    positions: Literal["codes", "base"] = option(
        "base", "positions the LM sees: each code at its last base token's index (zip2zip++'s base-token positions; best in the "
                "benchmark's ablation), or one per code (zip2zip)")
    mask: Literal["online", "legacy"] = option(
        "online", "training mask of the codebook's slots: as the online decoder installs them (what generation sees), or zip2zip's "
                  "legacy 'slot k from position k' (it shows some slots before the decoder has them)")
    warmup_steps: int = option(5, "steps of linear warmup", min=0)
    weight_decay: float = option(0.0, "AdamW weight decay", min=0.0, max=1.0)
    max_grad_norm: float = option(1.0, "clip the gradient norm to this (0: no clipping)", min=0.0)
    eval_every: int = option(25, "evaluate held-out compressed BPB every N steps (0: only at start and end)", min=0)
    eval_bytes: int = option(16384, "held-out bytes scored at each evaluation", min=1)
    checkpoint_every: int = option(20, "write a resumable checkpoint every N steps (0: none)", min=0)
    seed: int = option(0, "seed of the data order, LoRA and encoder init", min=0)
    dtype: Literal["float32", "bfloat16"] = option("float32", "bfloat16 on GPUs")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.warm_only and not (self.warm_steps and self.max_codebook_size):
            raise RetokError("warm_only trains the hyper-encoders alone: it needs warm_steps > 0 and max_codebook_size > 0 "
                             f"(got warm_steps={self.warm_steps}, max_codebook_size={self.max_codebook_size})")

    def result_settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("eval_every", "checkpoint_every")}


__all__ = ["MAX_CODEBOOK_SIZE", "Zip2ZipTrainConfig"]
