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

WARM_DONE = "warm.pt"  # in <out>.partial: the encoders after the warm start, so a resumed run skips it
WARM_FOLDER = "warm"  # in the output: the encoders after the warm start alone (load onto the base model: the zero-shot model)

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
                     output_arch=dataclasses.replace(arch, residual=config.output_residual), tie_encoders=config.tie_encoders,
                     positions=config.positions)


def zip2zip_loss(model: torch.nn.Module, batch: dict[str, Any], *, world: int = 1) -> torch.Tensor:
    """Mean next-code cross-entropy of a collated batch (``model`` may be the DDP wrapper).

    On ``world > 1`` processes the mean is the global batch's (its ``n_targets``), so DDP trains as one process.
    """
    from retok.training.trainer import global_mean

    count = batch.get("n_targets")
    out = model(**{k: v for k, v in batch.items() if k != "n_targets"})
    if world == 1 or count is None:
        return out.loss  # HF's mean, bit for bit: K = 0 is plain LoRA
    return global_mean(out.loss * out.n_targets, count, world)


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
    from retok.training.checkpoints import load_state, restart_rule, save_state
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
    work = out.parent / f"{out.name}.partial"
    settings = {**config.result_settings(), "model": str(model), "n_blocks": len(packed.blocks)}
    restart = restart_rule(overwrite=overwrite, fresh=fresh)
    history: list[dict[str, Any]] = []
    seconds = 0.0

    def stage(name: str, steps: int, loss_fn: Any, batch_at: Any, groups: list[dict[str, Any]], warmup: int, budget: int | None) -> bool:
        nonlocal seconds
        run = train_loop(
            net, loss_fn, batch_at,
            config=TrainerConfig(steps=steps, warmup_steps=min(warmup, steps - 1), max_grad_norm=config.max_grad_norm,
                                 eval_every=config.eval_every, checkpoint_every=config.checkpoint_every),
            param_groups=groups, make_optimizer=partial(torch.optim.AdamW, weight_decay=config.weight_decay),
            evaluate=held_out_bpb if eval_text is not None else None, work=work / name, settings={**settings, "stage": name},
            accelerator=accelerator, stop_after=budget, progress=progress, desc=f"zip2zip {name}", restart=restart,
            tokens_per_step=config.batch_size * config.window, log=log,
        )
        history.extend({"stage": name, **row} for row in run.history)
        seconds += run.seconds
        return run.finished

    legacy = config.mask == "legacy"
    warm = config.warm_steps if config.max_codebook_size else 0  # the control has no hypertoken to warm up
    if warm:
        from .warm import warm_batches, warm_loss

        done_path = work / WARM_DONE
        if done_path.exists():
            state = load_state(done_path)
            with torch.no_grad():
                for n, p in net.named_parameters():
                    if n in state["encoders"]:
                        p.copy_(state["encoders"][n])
            history.extend(state["history"])
            seconds += state["seconds"]
            log(f"warm start already done ({done_path})")
        else:
            log(f"warm start: {warm} steps, the hyper-encoders alone distilled from the frozen model on the same windows as base tokens")
            for p in lora_params:
                p.requires_grad_(False)
            finished = stage("warm", warm, partial(warm_loss, world=world), warm_batches(epoch_batches(packed.blocks, batch_size=config.batch_size, seed=config.seed + 1),
                                                                   net.lzw, legacy_mask=legacy), [{"params": encoders, "lr": config.warm_lr}], config.warmup_steps, stop_after)
            for p in lora_params:
                p.requires_grad_(True)
            if not finished:
                return Zip2ZipTrainResult(out, history, stop_after or 0, seconds, packed.n_bytes, packed.n_tokens, False)
            if accelerator.is_main_process:
                save_state(done_path, {"encoders": {n: p.detach().cpu().clone() for n, p in net.named_parameters() if is_encoder_parameter(n)},
                                       "saved": {k: v.cpu().clone() for k, v in net.encoder_state().items()},
                                       "history": history, "seconds": seconds})
            accelerator.wait_for_everyone()
    groups = [g for g in ({"params": lora_params, "lr": config.lr}, {"params": encoders, "lr": config.encoder_lr}) if g["params"]]
    budget = None if stop_after is None else stop_after - warm
    if budget is not None and budget <= 0 and not config.warm_only:  # stopped at the end of the warm start: a rerun goes on with LoRA
        log(f"stopped after step {stop_after}; rerun the same command to resume")
        return Zip2ZipTrainResult(out, history, stop_after or 0, seconds, packed.n_bytes, packed.n_tokens, False)
    finished = config.warm_only or stage("lora", total, partial(zip2zip_loss, world=world), compressed_batches(epoch_batches(packed.blocks, batch_size=config.batch_size, seed=config.seed),
                                                                    net.lzw, legacy_mask=legacy), groups, config.warmup_steps, budget)
    steps = len([h for h in history if "loss" in h])
    if finished and accelerator.is_main_process:
        import shutil

        summary = {"config": asdict(config), "steps": steps, "seconds": seconds, "train_bytes": packed.n_bytes,
                   "base_tokens": packed.n_tokens, "source": str(model)}
        after_warm = {WARM_FOLDER: load_state(work / WARM_DONE)["saved"]} if warm and not config.warm_only else None
        net.save_pretrained(out, tok, name=str(model), overwrite=overwrite, encoders=after_warm,
                            extra={"zip2zip_history.json": json.dumps(history, indent=2) + "\n",
                                   "zip2zip_training.json": json.dumps(summary, indent=2) + "\n"})
        shutil.rmtree(work, ignore_errors=True)
    accelerator.wait_for_everyone()
    return Zip2ZipTrainResult(out, history, steps, seconds, packed.n_bytes, packed.n_tokens, finished)


__all__ = ["MAX_CODEBOOK_SIZE", "WARM_FOLDER", "Zip2ZipTrainConfig", "Zip2ZipTrainResult", "lzw_config_for", "train", "wrap", "zip2zip_loss"]
