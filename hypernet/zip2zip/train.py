"""Train a zip2zip model: LoRA on every linear layer plus both hyper-encoders, on LZW-compressed text.

The recipe is ``retok finetune``'s, reused piece by piece: the byte budget and packing
(:func:`retok.training.packing.pack`, windows of ``window`` base tokens), the data order
(:func:`retok.training.finetune.epoch_batches`), the peft config (:func:`retok.training.lora.lora_config_for`, no
embedding rows train) and the one loop (:func:`retok.training.trainer.train`: schedule, clipping,
evaluation cadence, atomic checkpoints with exact resume, accelerate/DDP). Each step LZW-encodes
its windows (a fresh codebook per window) and trains on next-code cross-entropy over
``V0 + K`` classes (:mod:`hypernet.zip2zip.data`). ``max_codebook_size=0`` is the control: the
same recipe on the plain ids, which is plain LoRA (a test checks it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from retok.atomic import check_output_dir
from retok.errors import RetokError

from .config import MAX_CODEBOOK_SIZE, Zip2ZipTrainConfig
from .model import is_encoder_parameter

@dataclass(frozen=True)
class Zip2ZipTrainResult:
    out: Path
    history: list[dict[str, Any]]
    steps: int
    seconds: float
    train_bytes: int
    base_tokens: int
    finished: bool


def lzw_config_for(tokenizer: Any, rows: int, config: Zip2ZipTrainConfig) -> Any:
    """The codebook settings for a model with ``rows`` embedding rows (V0 = rows, specials and added tokens disabled)."""
    from retok.adaptive.lzw import LZWConfig

    return LZWConfig.from_tokenizer(tokenizer, vocab_size=rows, max_codebook_size=config.max_codebook_size,
                                    max_subtokens=config.max_subtokens, protect_digits=config.protect_digits)


def wrap(model: torch.nn.Module, tokenizer: Any, config: Zip2ZipTrainConfig) -> Any:
    """A :class:`Zip2ZipLM` around ``model`` (plain or peft) with fresh encoders of the config's shape."""
    from retok.transfer.embeddings import embedding_weights

    from .hyper_encoder import EncoderArch
    from .model import Zip2ZipLM

    e_in = embedding_weights(model.get_base_model() if hasattr(model, "get_base_model") else model)[0]
    arch = EncoderArch(dim=e_in.shape[1], max_subtokens=config.max_subtokens, hidden=config.encoder_hidden,
                       layers=config.encoder_layers, heads=config.encoder_heads, residual=config.input_residual)
    return Zip2ZipLM(model, lzw_config_for(tokenizer, e_in.shape[0], config), arch,
                     output_arch=dataclasses.replace(arch, residual=config.output_residual), tie_encoders=config.tie_encoders)


def zip2zip_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-code cross-entropy of a collated batch (``model`` may be the DDP wrapper)."""
    return model(**batch).loss


def train(
    model: str | os.PathLike,
    train_text: str | os.PathLike | Sequence[str],
    out: str | os.PathLike,
    config: Zip2ZipTrainConfig = Zip2ZipTrainConfig(),
    *,
    eval_text: str | None = None,
    tokenizer: str | os.PathLike | None = None,
    overwrite: bool = False,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    stop_after: int | None = None,
) -> Zip2ZipTrainResult:
    """Train LoRA + hyper-encoders on ``train_text`` and save a zip2zip folder to ``out``.

    Args:
        model: the base causal LM (HF folder or hub id); its weights stay frozen, LoRA trains.
        train_text: a UTF-8 corpus file (one paragraph per line) or the paragraphs themselves.
        out: the zip2zip folder (:meth:`Zip2ZipLM.save_pretrained`); checkpoints go to ``<out>.partial``.
        eval_text: held-out text scored (compressed BPB) at the start, every ``eval_every`` steps and at the end.
        overwrite: replace ``out`` if it exists (and discard ``<out>.partial`` if it holds a run of other settings).
        fresh: discard ``<out>.partial`` (an interrupted run) and start over.
        stop_after: stop (as if interrupted) after this many steps; a rerun resumes. For tests.
    """
    from retok.training.checkpoints import restart_rule
    from retok.transfer.embeddings import check_tokenizer_fits
    from retok.training.finetune import epoch_batches, held_out_slice, training_accelerator, training_paragraphs, with_lora
    from retok.loading import load_model, load_tokenizer
    from retok.training.lora import lora_config_for
    from retok.training.packing import bytes_seen, pack, take_bytes
    from retok.training.trainer import TrainerConfig, train as train_loop

    from .data import compressed_batches
    from .eval import compressed_bits_per_byte

    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    train_text = training_paragraphs(train_text)
    if eval_text is not None:
        eval_text = held_out_slice(eval_text, config.eval_bytes)
    # under DDP a batch may leave a part unused (no pending entry in any window): let DDP skip those gradients
    accelerator = training_accelerator(dtype=config.dtype, seed=config.seed, batch_size=config.batch_size,
                                       find_unused_parameters=config.max_codebook_size > 0)
    world = accelerator.num_processes

    tok = load_tokenizer(tokenizer or model)
    base = load_model(model, dtype="float32")
    check_tokenizer_fits(base, tok, what="the tokenizer (--tokenizer)" if tokenizer else f"the tokenizer in --model {model}")
    packed = pack(tok, take_bytes(train_text, config.train_bytes), seq_len=config.window)
    steps_per_epoch = len(packed.blocks) // config.batch_size
    if steps_per_epoch == 0:
        raise RetokError(f"{len(packed.blocks)} windows of {config.window} tokens are fewer than one batch of {config.batch_size}; "
                         "use more text, a smaller --window or a smaller --batch-size")
    total = steps_per_epoch * config.epochs
    lora = lora_config_for(base, rows=[], r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                           target_modules=config.target_modules)
    net = wrap(with_lora(base, lora), tok, config)
    if config.max_codebook_size == 0:  # the control: no hypertoken ever occurs, so the encoders stay as they are
        for name, p in net.named_parameters():
            if is_encoder_parameter(name):
                p.requires_grad_(False)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    log(f"{len(packed.blocks)} windows x {config.window} base tokens from {packed.n_bytes} bytes; {total} steps; K={config.max_codebook_size}, "
        f"M={config.max_subtokens}; {n_params} trainable parameters; {world} process(es) on {accelerator.device}")

    def held_out_bpb(step: int) -> dict[str, Any]:
        score = compressed_bits_per_byte(net, tok, eval_text, window=config.window, progress=False)
        log(f"step {step}: held-out compressed BPB {score.bpb:.4f} ({score.compression_ratio:.3f} base tokens per code)")
        seen = bytes_seen(packed, step * config.batch_size * config.window)
        return {"train_bytes_seen": seen, "bpb": score.bpb, "tokens_per_byte": score.tokens_per_byte,
                "compression_ratio": score.compression_ratio}

    encoders = [p for n, p in net.named_parameters() if p.requires_grad and is_encoder_parameter(n)]
    lora_params = [p for n, p in net.named_parameters() if p.requires_grad and not is_encoder_parameter(n)]
    groups = [g for g in ({"params": lora_params, "lr": config.lr}, {"params": encoders, "lr": config.encoder_lr}) if g["params"]]
    work = out.parent / f"{out.name}.partial"
    run = train_loop(
        net, zip2zip_loss, compressed_batches(epoch_batches(packed.blocks, batch_size=config.batch_size, seed=config.seed), net.lzw),
        config=TrainerConfig(steps=total, warmup_steps=config.warmup_steps, max_grad_norm=config.max_grad_norm,
                             eval_every=config.eval_every, checkpoint_every=config.checkpoint_every),
        param_groups=groups, make_optimizer=partial(torch.optim.AdamW, weight_decay=config.weight_decay),
        evaluate=held_out_bpb if eval_text is not None else None,
        work=work, settings={**config.result_settings(), "model": str(model), "n_blocks": len(packed.blocks)},
        accelerator=accelerator, stop_after=stop_after, progress=progress, desc="zip2zip", restart=restart_rule(overwrite=overwrite, fresh=fresh),
        tokens_per_step=config.batch_size * config.window, log=log,
    )
    if run.finished and accelerator.is_main_process:
        import shutil

        summary = {"config": asdict(config), "steps": run.steps, "seconds": run.seconds, "train_bytes": packed.n_bytes,
                   "base_tokens": packed.n_tokens, "source": str(model)}
        net.save_pretrained(out, tok, name=str(model), overwrite=overwrite,
                            extra={"zip2zip_history.json": json.dumps(run.history, indent=2) + "\n",
                                   "zip2zip_training.json": json.dumps(summary, indent=2) + "\n"})
        shutil.rmtree(work, ignore_errors=True)
    accelerator.wait_for_everyone()
    return Zip2ZipTrainResult(out, run.history, run.steps, run.seconds, packed.n_bytes, packed.n_tokens, run.finished)


__all__ = ["MAX_CODEBOOK_SIZE", "Zip2ZipTrainConfig", "Zip2ZipTrainResult", "lzw_config_for", "train", "wrap", "zip2zip_loss"]
