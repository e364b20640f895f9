"""Continued training after a tokenizer swap: LoRA on every linear layer plus trainable embeddings.

Why a plain loop over ``accelerate`` and not the HF ``Trainer``: the budget is counted in *bytes*
of text (so that models with different tokenizers see the same text), the schedule has two stages
(embeddings only, then embeddings + LoRA), and resuming must reproduce the uninterrupted run
exactly. All three are a few lines in an explicit loop and awkward to bend a ``Trainer`` into.
The loop runs unchanged on one CPU, one GPU, or under ``accelerate launch`` (DDP; each process
takes an equal slice of every global batch, so the update equals the single-process one).

Which rows are new comes from the transplant's ``retok_config.json`` (``new_token_ids``); only those
rows train (peft ``trainable_token_indices``; a tied head stays tied). For a folder that is not a
transplant, every embedding row trains and the run says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from .atomic import atomic_write_text, check_output_dir
from .errors import RetokError
from .eval import bits_per_byte
from .loading import load_model, load_tokenizer
from .packing import PackedText, pack, take_bytes
from .transplant import CONFIG_NAME, read_retok_config

STATE_FILE = "state.pt"


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """How to continue training. The budget is ``train_bytes`` of text, seen ``epochs`` times."""

    train_bytes: int | None = field(default=524288, metadata={"help": "bytes of training text (paragraphs in file order); None: all"})
    seq_len: int = field(default=256, metadata={"help": "tokens per packed training sequence"})
    batch_size: int = field(default=4, metadata={"help": "sequences per optimizer step, over all processes"})
    epochs: int = 1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules for LoRA"})
    embeddings: Literal["new", "all", "none"] = field(default="new", metadata={"help": "which embedding rows train: the transplant's new rows, all rows, or none"})
    embedding_stage_steps: int = field(default=0, metadata={"help": "stage 1: train only the embeddings for this many steps, then embeddings + LoRA"})
    lr: float = field(default=3e-4, metadata={"help": "peak learning rate of the LoRA weights"})
    embedding_lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the embedding rows"})
    warmup_steps: int = 5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = field(default=20, metadata={"help": "evaluate held-out BPB every N steps (0: only at start and end)"})
    eval_bytes: int = field(default=16384, metadata={"help": "held-out bytes scored at each evaluation"})
    checkpoint_every: int = field(default=20, metadata={"help": "write a resumable checkpoint every N steps"})
    seed: int = 0
    dtype: Literal["float32", "bfloat16"] = field(default="float32", metadata={"help": "bfloat16 on GPUs"})

    def fingerprint(self, extra: dict[str, Any]) -> str:
        """A hash of everything that changes the result; a checkpoint only resumes a run with the same one."""
        keep = {k: v for k, v in asdict(self).items() if k not in ("eval_every", "checkpoint_every")}
        return hashlib.sha256(json.dumps({**keep, **extra}, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FinetuneResult:
    out: Path
    history: list[dict[str, Any]]
    packed_tokens: int
    train_bytes: int
    steps: int
    seconds: float
    notes: list[str]


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup to 1, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def trainable_rows(model_dir: str | os.PathLike | None, embeddings: str, vocab_size: int) -> tuple[list[int] | None, list[str]]:
    """Which embedding rows train (None = the whole matrix), and notes to show the user."""
    if embeddings == "none":
        return [], []
    if embeddings == "all":
        return None, []
    config = read_retok_config(model_dir) if model_dir is not None and Path(model_dir).is_dir() else None
    if config is None:
        return None, [f"{model_dir} has no {CONFIG_NAME} (not a retok transplant): training all embedding rows"]
    rows = [i for i in config.get("new_token_ids", []) if i < vocab_size]
    return rows, [f"training the {len(rows)} new embedding rows recorded in {CONFIG_NAME}"]


def build_peft_model(model: torch.nn.Module, config: FinetuneConfig, rows: list[int] | None) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters and trainable embedding rows (peft). Mutates ``model``."""
    from peft import LoraConfig, get_peft_model

    tied = model.get_output_embeddings() is None or (
        model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    )
    kwargs: dict[str, Any] = {}
    if rows is None:  # the whole matrix
        kwargs["modules_to_save"] = ["embed_tokens"] if tied else ["embed_tokens", "lm_head"]
        kwargs["ensure_weight_tying"] = tied
    elif rows:
        # peft ties the trainable-token deltas of a tied head by itself (ensure_weight_tying is for modules_to_save)
        kwargs["trainable_token_indices"] = {"embed_tokens": rows} if tied else {"embed_tokens": rows, "lm_head": rows}
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=config.target_modules, task_type="CAUSAL_LM", **kwargs,
    )
    return get_peft_model(model, lora)


def _is_embedding_param(name: str) -> bool:
    return "trainable_tokens" in name or "modules_to_save" in name


def _drop_lora_grads(model: torch.nn.Module) -> None:
    """Stage 1 (embeddings only): discard the LoRA gradients so AdamW leaves those weights alone.

    Dropping gradients (rather than toggling ``requires_grad``) keeps DDP's view of the parameters fixed.
    """
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.grad = None


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if "lora_" in n or _is_embedding_param(n)}


def _save_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, history: list, fingerprint: str) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"step": step, "fingerprint": fingerprint, "params": _trainable_state(model), "optimizer": optimizer.state_dict(), "history": history},
        tmp,
    )
    os.replace(tmp, path)


def finetune(
    model: str | os.PathLike,
    train: str | os.PathLike | Sequence[str],
    out: str | os.PathLike,
    config: FinetuneConfig = FinetuneConfig(),
    *,
    eval_text: str | None = None,
    tokenizer: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    stop_after: int | None = None,
) -> FinetuneResult:
    """Continue training ``model`` on ``train`` text and write a merged plain HF folder to ``out``.

    Args:
        model: a saved (transplanted) model folder.
        train: a UTF-8 corpus file (one paragraph per line) or the paragraphs themselves.
        out: output folder: the merged model + ``retok_config.json`` + ``finetune_history.json``.
        config: the recipe (budget, LoRA, stages, schedule, evaluation, checkpoints).
        eval_text: held-out text scored (BPB) at the start, every ``eval_every`` steps, and at the end.
        tokenizer: the model's tokenizer, default the one in ``model``.
        overwrite: replace ``out`` if it exists.
        stop_after: stop (as if interrupted) after this many steps; a rerun resumes. For tests.

    Checkpoints go to ``<out>.partial/`` every ``checkpoint_every`` steps; rerunning the same call
    resumes from the last one (the final state equals that of an uninterrupted run).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from .data import paragraphs as split_lines
    from .textio import read_text

    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    if isinstance(train, (str, os.PathLike)):
        train = split_lines(read_text(train, what="training text").splitlines())
    if eval_text is not None:
        if not eval_text.strip():
            raise RetokError("eval text is empty; pass a file with held-out text or leave it out")
        eval_text = "\n".join(take_bytes(eval_text.split("\n"), config.eval_bytes)) or eval_text[: config.eval_bytes]
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="bf16" if config.dtype == "bfloat16" else "no")
    set_seed(config.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.batch_size % world:
        raise RetokError(f"batch_size={config.batch_size} must be divisible by the number of processes ({world})")
    tok = load_tokenizer(tokenizer or model)
    base = load_model(model, dtype="float32")
    rows, notes = trainable_rows(model, config.embeddings, base.get_input_embeddings().weight.shape[0])
    texts = take_bytes(train, config.train_bytes)
    packed: PackedText = pack(tok, texts, seq_len=config.seq_len)
    steps_per_epoch = len(packed.blocks) // config.batch_size
    if steps_per_epoch == 0:
        raise RetokError(f"{len(packed.blocks)} packed sequences are fewer than one batch of {config.batch_size}; use more text or a smaller batch")
    total = steps_per_epoch * config.epochs
    fingerprint = config.fingerprint({"model": str(model), "n_blocks": len(packed.blocks), "world": world})
    work = out.parent / f"{out.name}.partial"
    state_path = work / STATE_FILE
    peft_model = build_peft_model(base, config, rows)
    trainable = [p for n, p in peft_model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in peft_model.named_parameters() if p.requires_grad and _is_embedding_param(n)], "base_lr": config.embedding_lr},
        {"params": [p for n, p in peft_model.named_parameters() if p.requires_grad and not _is_embedding_param(n)], "base_lr": config.lr},
    ]
    groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.AdamW([{**g, "lr": g["base_lr"]} for g in groups], weight_decay=config.weight_decay)
    start, history = 0, []
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["fingerprint"] != fingerprint:
            raise RetokError(
                f"{state_path} was made with other settings (model, text budget, recipe or process count); "
                f"rerun with the same settings to resume, or delete {work} to start over"
            )
        missing = set(_trainable_state(peft_model)) - set(state["params"])
        if missing:
            raise RetokError(f"checkpoint {state_path} lacks {len(missing)} trainable tensors; delete {work} to start over")
        with torch.no_grad():
            for n, p in peft_model.named_parameters():
                if n in state["params"]:
                    p.copy_(state["params"][n])
        optimizer.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
        log(f"resuming from step {start} of {total} ({state_path})")
    elif accelerator.is_main_process:
        work.mkdir(parents=True, exist_ok=True)
    for note in notes:
        log(note)
    ddp_model, optimizer = accelerator.prepare(peft_model, optimizer)
    n_params = sum(p.numel() for p in trainable)
    log(
        f"{len(packed.blocks)} sequences x {config.seq_len} tokens from {packed.n_bytes} bytes; {total} steps; "
        f"{n_params} trainable parameters; {world} process(es) on {accelerator.device}"
    )

    def evaluate(step: int) -> None:
        if eval_text is None:
            return
        if accelerator.is_main_process:
            net = accelerator.unwrap_model(ddp_model)
            net.eval()
            score = bits_per_byte(net, tok, eval_text, progress=False)
            net.train()
            history.append({"step": step, "train_bytes_seen": round(packed.n_bytes * config.epochs * step / total), "bpb": score.bpb, "tokens_per_byte": score.tokens_per_byte})
            log(f"step {step}: held-out BPB {score.bpb:.4f}")
        accelerator.wait_for_everyone()

    if start == 0:
        evaluate(0)
    micro = config.batch_size // world
    ddp_model.train()
    began = time.perf_counter()
    bar = tqdm(range(start, total), initial=start, total=total, desc="finetune", disable=not (progress and accelerator.is_main_process))
    tokens_done = 0
    for step in bar:
        epoch, index = divmod(step, steps_per_epoch)
        order = torch.randperm(len(packed.blocks), generator=torch.Generator().manual_seed(config.seed + epoch))
        batch_ids = order[index * config.batch_size : (index + 1) * config.batch_size][rank * micro : (rank + 1) * micro]
        batch = packed.blocks[batch_ids].to(accelerator.device)
        factor = lr_factor(step, total, config.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        loss = ddp_model(input_ids=batch, labels=batch).loss
        accelerator.backward(loss)
        if step < config.embedding_stage_steps:
            _drop_lora_grads(accelerator.unwrap_model(ddp_model))
        if config.max_grad_norm:
            accelerator.clip_grad_norm_([p for p in trainable if p.grad is not None], config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = accelerator.reduce(loss.detach(), reduction="mean").item()
        tokens_done += config.batch_size * config.seq_len
        history.append({"step": step + 1, "loss": loss_value})
        bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tokens_done / (time.perf_counter() - began):.0f}")
        done = step + 1
        if config.eval_every and done % config.eval_every == 0 and done < total:
            evaluate(done)
        if (config.checkpoint_every and done % config.checkpoint_every == 0) or (stop_after is not None and done >= stop_after):
            if accelerator.is_main_process:
                _save_state(state_path, accelerator.unwrap_model(ddp_model), optimizer, done, history, fingerprint)
            accelerator.wait_for_everyone()
        if stop_after is not None and done >= stop_after and done < total:
            log(f"stopped after step {done}; rerun the same command to resume")
            return FinetuneResult(out, history, packed.n_tokens, packed.n_bytes, done, time.perf_counter() - began, notes)
    bar.close()
    evaluate(total)
    seconds = time.perf_counter() - began
    if accelerator.is_main_process:
        _export(accelerator.unwrap_model(ddp_model), tok, model, out, work, config, history, notes, packed, total, seconds, overwrite)
    accelerator.wait_for_everyone()
    return FinetuneResult(out, history, packed.n_tokens, packed.n_bytes, total, seconds, notes)


def _export(peft_model: Any, tok: Any, model_dir: Any, out: Path, work: Path, config: FinetuneConfig, history: list, notes: list[str],
            packed: PackedText, steps: int, seconds: float, overwrite: bool) -> None:
    """Merge the adapters into the weights and write a plain HF folder (atomically) to ``out``."""
    merged = peft_model.merge_and_unload()
    target = work / "merged"
    if target.exists():
        shutil.rmtree(target)
    merged.save_pretrained(target)
    tok.save_pretrained(target)
    retok_config = read_retok_config(model_dir) or {}
    retok_config["finetune"] = {
        "config": asdict(config), "steps": steps, "train_bytes": packed.n_bytes, "train_tokens": packed.n_tokens,
        "seconds": seconds, "notes": notes, "source": str(model_dir),
    }
    atomic_write_text(target / CONFIG_NAME, json.dumps(retok_config, indent=2) + "\n")
    atomic_write_text(target / "finetune_history.json", json.dumps(history, indent=2) + "\n")
    if out.exists() and overwrite:
        shutil.rmtree(out)
    os.replace(target, out)
    shutil.rmtree(work, ignore_errors=True)


def history_curve(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(training bytes seen, held-out BPB) points of a run's history."""
    return [(h["train_bytes_seen"], h["bpb"]) for h in history if "bpb" in h]


__all__ = ["FinetuneConfig", "FinetuneResult", "build_peft_model", "finetune", "history_curve", "lr_factor", "trainable_rows"]
