"""Continued training after a tokenizer swap: LoRA on every linear layer plus trainable embeddings.

Why retok's own loop (:mod:`retok.training.trainer`, over ``accelerate``) and not the HF ``Trainer``: the
budget is counted in *bytes* of text (so that models with different tokenizers see the same text),
the schedule has two stages (embeddings only, then embeddings + LoRA), and resuming must reproduce
the uninterrupted run exactly. All three are a few lines in an explicit loop and awkward to bend a
``Trainer`` into. This module prepares the data, the peft model (:func:`retok.training.lora.lora_config_for`)
and the evaluation, hands them to the loop, and merges and exports the result. It runs unchanged
on one CPU, one GPU, or under ``accelerate launch`` (DDP; each process takes an equal slice of
every global batch, so the update equals the single-process one), also with the model sharded over
the processes (FSDP2, ``recipes/accelerate_fsdp.yaml``): the trained tensors are then gathered onto
the main process, which merges them into a fresh copy of the model on the CPU and saves that.

Which rows are new comes from the transplant's ``retok_config.json`` (``new_token_ids``); only those
rows train (peft ``trainable_token_indices``; a tied head stays tied). For a folder that is not a
transplant, every embedding row trains and the run says so.

The objective (:data:`OBJECTIVE_CHOICES`): next-token loss (``lm``), self-distillation from the
original model through the original tokenizer (``alm``, :mod:`retok.training.distill.objective`), or both. ``auto``
takes :data:`AUTO_OBJECTIVE` (``lm``: what the payoff benchmark measured best after a swap); ``lm+alm`` and ``alm``
distil from the transplant's source model (``retok_config.json`` ``source_model``) or ``teacher=``.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch

from retok.atomic import atomic_write_text, check_output_dir, publish
from retok.errors import RetokError
from retok.eval import bits_per_byte
from retok.loading import load_model, load_tokenizer
from retok.options import Checked, option
from retok.progress import bars_on, hf_progress_bars
from retok.transfer.embeddings import check_tokenizer_fits
from retok.transfer.transplant import CONFIG_NAME, read_retok_config
from .distill.blocks import AlignedBlocks, pack_aligned
from .distill.objective import DistillSettings, check_hidden_sizes, distill_loss, shared_teacher, with_progress
from .lora import drop_lora_gradients, lora_config_for, lora_param_groups
from .packing import Document, PackedText, bytes_seen, pack, take_bytes
from .checkpoints import restart_rule
from .trainer import TrainerConfig, full_state_dict, is_sharded, lr_factor, train as train_loop


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(Checked):
    """How to continue training. The budget is ``train_bytes`` of text, seen ``epochs`` times."""

    train_bytes: int | None = option(524288, "bytes of training text (paragraphs in file order); None: all", min=1)
    seq_len: int = option(256, "tokens per packed training sequence", min=2)
    batch_size: int = option(4, "sequences per optimizer step, over all processes", min=1)
    epochs: int = option(1, "passes over the training text", min=1)
    lora_r: int = option(8, "LoRA rank", min=1)
    lora_alpha: int = option(16, "LoRA alpha (the update is scaled by alpha / r)", above=0)
    lora_dropout: float = option(0.0, "dropout on the LoRA input", min=0.0, below=1.0)
    target_modules: str = option("all-linear", "peft target_modules for LoRA")
    embeddings: Literal["new", "all", "none"] = option("new", "which embedding rows train: the transplant's new rows, all rows, or none")
    embedding_stage_steps: int = option(0, "stage 1: train only the embeddings for this many steps, then embeddings + LoRA", min=0)
    lr: float = option(3e-4, "peak learning rate of the LoRA weights", above=0.0, max=1.0)
    embedding_lr: float = option(1e-3, "peak learning rate of the embedding rows", above=0.0, max=1.0)
    warmup_steps: int = option(5, "steps of linear warmup", min=0)
    weight_decay: float = option(0.0, "AdamW weight decay", min=0.0, max=1.0)
    max_grad_norm: float = option(1.0, "clip the gradient norm to this (0: no clipping)", min=0.0)
    eval_every: int = option(20, "evaluate held-out BPB every N steps (0: only at start and end)", min=0)
    eval_bytes: int = option(16384, "held-out bytes scored at each evaluation", min=1)
    checkpoint_every: int = option(20, "write a resumable checkpoint every N steps (0: none, so an interrupted run starts over)", min=0)
    seed: int = option(0, "seed of the data order and of every random draw", min=0)
    dtype: Literal["float32", "bfloat16"] = option("float32", "bfloat16 on GPUs")
    objective: Literal["auto", "lm", "alm", "lm+alm"] = option(
        "auto", "next-token loss (lm), distillation from the original model (alm), or both; auto: lm, the objective the payoff "
        "benchmark (recipes/payoff.py, README) measured best after a swap")
    alm_chunks: Literal["space", "unconstrained"] = option("space", "ALM chunks: words with their leading space, or the minimal chunks both tokenizations end on")
    alm_divergence: Literal["binary_ce", "reverse_binary_kl", "abs"] = option("binary_ce", "how ALM compares teacher and student chunk likelihoods")
    alm_temperature: float = option(100.0, "ALM temperature: chunk log-probs are divided by it before binarizing", above=0.0)
    alm_weight: float | None = option(None, "weight of the alm term against lm; None: balanced by gradient magnitude every step", min=0.0)
    hidden_weight: float = option(0.0, "weight of hidden-state alignment at chunk ends (0: off; needs equal hidden sizes)", min=0.0)
    alm_schedule: Literal["constant", "decay"] = option("constant", "the distillation terms' weight: constant, or fading linearly to 0 over the run")
    alm_teacher: Literal["frozen", "adapted"] = option(
        "frozen", "the teacher's body: the original, or the student's own as LoRA adapts it (needs a teacher sharing the whole body)")

    def result_settings(self) -> dict[str, Any]:
        """The fields that change the result (the cadences do not); a checkpoint only resumes a run with the same ones."""
        return {k: v for k, v in asdict(self).items() if k not in ("eval_every", "checkpoint_every")}


@dataclass(frozen=True)
class FinetuneResult:
    """What a run did. ``packed_tokens`` / ``train_bytes``: the text packed into sequences; ``trained_tokens`` /
    ``trained_bytes``: what the optimizer saw (steps x batch_size x seq_len; the sequences that do not fill a
    last batch are left out of every epoch)."""

    out: Path
    history: list[dict[str, Any]]
    packed_tokens: int
    train_bytes: int
    steps: int
    seconds: float
    notes: list[str]
    objective: str = "lm"
    trained_tokens: int = 0
    trained_bytes: int = 0


def reachable(ref: str | os.PathLike) -> bool:
    """Whether a model can be loaded from ``ref`` here: a folder with config.json, or a hub id in the local HF cache."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return (path / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(os.fspath(ref), "config.json"), str)
    except Exception:
        return False


#: what ``objective="auto"`` trains: the objective the payoff benchmark (``recipes/payoff.py``, README) measured best
#: after a swap (see the README's payoff table for the arms and what each measured).
AUTO_OBJECTIVE = "lm"


def choose_objective(model_dir: str | os.PathLike, objective: str, teacher: str | os.PathLike | None,
                     *, sharded: bool = False) -> tuple[str, str | None, list[str]]:
    """The objective to train (``auto`` resolved), its teacher (None for ``lm``), and a note on the choice.

    ``sharded`` (FSDP): distillation is not available (the teacher shares the student's frozen weights, which FSDP
    replaces with shards, so every process would keep a whole unsharded teacher), so ``auto`` takes ``lm`` and
    ``alm`` / ``lm+alm`` are refused.
    """
    if objective == "lm":
        return "lm", None, []
    if objective == "auto" and AUTO_OBJECTIVE == "lm":
        return "lm", None, ["objective lm (auto): plain next-token loss measured best after a swap (recipes/payoff.py); "
                            "--objective lm+alm distils from the source model"]
    if sharded:
        if objective == "auto":
            return "lm", None, ["objective lm: distillation (alm) does not run with the model sharded (FSDP); training on next-token loss"]
        raise RetokError(f"objective {objective} does not run with the model sharded (FSDP): the teacher shares the student's weights, "
                         "and every process would keep a whole copy of it; use --objective lm, or DDP (accelerate launch --multi_gpu)")
    config = read_retok_config(model_dir) if Path(model_dir).is_dir() else None
    source = os.fspath(teacher) if teacher is not None else (config or {}).get("source_model") or None
    if objective == "auto" and teacher is None:
        if source is None:
            return "lm", None, [f"objective lm: {model_dir} records no source model to distil from (pass teacher= for alm)"]
        if not reachable(source):
            return "lm", None, [f"objective lm: the source model {source!r} recorded in {CONFIG_NAME} cannot be loaded here (pass teacher= for alm)"]
    objective = AUTO_OBJECTIVE if objective == "auto" else objective
    if source is None:
        raise RetokError(f"objective {objective} needs a teacher: {model_dir} records no source model; pass --teacher (a model folder or hub id)")
    if not reachable(source):
        raise RetokError(f"objective {objective}: the teacher {source!r} cannot be loaded (no folder with config.json, not in the HF cache); "
                         "pass --teacher with a model folder")
    return objective, source, [f"objective {objective}: teacher {source}"]


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


def epoch_batches(blocks: Any, *, batch_size: int, seed: int) -> Callable[[int], Any]:
    """Step -> global batch ``(batch_size, seq_len)`` of ``blocks (N, seq_len)`` (or of anything indexed by a tensor of rows, e.g. AlignedBlocks).

    Each epoch visits the blocks in a fresh order (a permutation seeded by ``seed + epoch``); the
    last ``N % batch_size`` blocks of an epoch are left out. A pure function of the step, so a
    resumed run sees the same batches.
    """
    steps_per_epoch = len(blocks) // batch_size

    def batch_at(step: int) -> torch.Tensor:
        epoch, index = divmod(step, steps_per_epoch)
        order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(seed + epoch))
        return blocks[order[index * batch_size : (index + 1) * batch_size]]

    return batch_at


def held_out_slice(text: str, max_bytes: int) -> str:
    """The leading lines of held-out ``text`` within ``max_bytes`` (scored during training); RetokError if it is empty."""
    if not text.strip():
        raise RetokError("eval text is empty; pass a file with held-out text or leave it out")
    return "\n".join(take_bytes(text.split("\n"), max_bytes)) or text[:max_bytes]


def causal_lm_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy of an HF causal LM on ``batch (B, T)`` of token ids (labels = inputs)."""
    return model(input_ids=batch, labels=batch).loss


def training_paragraphs(train: str | os.PathLike | Sequence[str]) -> list[str]:
    """The training paragraphs: the non-empty lines of a UTF-8 file, or the given paragraphs as they are."""
    from retok.data import paragraphs as split_lines
    from retok.textio import read_text

    if isinstance(train, (str, os.PathLike)):
        return split_lines(read_text(train, what="training text (--train)").splitlines())
    return list(train)


def training_documents(train: str | os.PathLike | Sequence[Document]) -> list[Document]:
    """Training documents: a ``.jsonl`` file of ``{"messages": [{"role", "content"}, ...]}`` conversations, else :func:`training_paragraphs`."""
    if isinstance(train, (str, os.PathLike)) and os.fspath(train).endswith(".jsonl"):
        from retok.textio import read_text

        return [conversation_of(line, n) for n, line in enumerate(read_text(train, what="training conversations (--train)").splitlines(), 1)
                if line.strip()]
    if isinstance(train, (str, os.PathLike)):
        return list(training_paragraphs(train))
    return list(train)


def conversation_of(line: str, n: int) -> list[dict[str, str]]:
    """One ``.jsonl`` line as a list of messages; RetokError naming the line when it is not one."""
    try:
        messages = json.loads(line)["messages"]
        if not messages or not all(isinstance(m["role"], str) and isinstance(m["content"], str) for m in messages):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise RetokError(f'line {n} of the training conversations is not {{"messages": [{{"role": ..., "content": ...}}, ...]}}; fix or remove it') from None
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def training_accelerator(*, dtype: str, seed: int, batch_size: int, find_unused_parameters: bool = False) -> Any:
    """The ``accelerate.Accelerator`` of a training run (CPU unless a GPU is there), with the global seed set after it.

    Seeds before any model is built (LoRA's and other initial weights draw from it) and checks that
    ``batch_size`` splits evenly over the processes.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else []
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="bf16" if dtype == "bfloat16" else "no",
                              kwargs_handlers=handlers)
    set_seed(seed)
    if batch_size % accelerator.num_processes:
        raise RetokError(f"batch_size={batch_size} must be divisible by the number of processes ({accelerator.num_processes})")
    return accelerator


def with_lora(model: torch.nn.Module, lora: Any) -> Any:
    """``peft.get_peft_model(model, lora)``, without the deprecation warning peft 0.21 triggers in transformers 5 (not the user's to fix)."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lora)


def finetune(
    model: str | os.PathLike,
    train: str | os.PathLike | Sequence[Document],
    out: str | os.PathLike,
    config: FinetuneConfig = FinetuneConfig(),
    *,
    eval_text: str | None = None,
    tokenizer: str | os.PathLike | None = None,
    teacher: str | os.PathLike | None = None,
    overwrite: bool = False,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    stop_after: int | None = None,
) -> FinetuneResult:
    """Continue training ``model`` on ``train`` text and write a merged plain HF folder to ``out``.

    Args:
        model: a saved (transplanted) model folder.
        train: a UTF-8 corpus file (one paragraph per line; ``.jsonl``: one ``{"messages": [...]}``
            conversation per line, rendered with each side's chat template) or the documents themselves.
        out: output folder: the merged model + ``retok_config.json`` + ``finetune_history.json``.
        config: the recipe (budget, LoRA, stages, schedule, evaluation, checkpoints).
        eval_text: held-out text scored (BPB) at the start, every ``eval_every`` steps, and at the end.
        tokenizer: the model's tokenizer, default the one in ``model``.
        teacher: the teacher of ``alm`` / ``lm+alm`` (a model folder with its tokenizer), default the
            transplant's source model.
        overwrite: replace ``out`` if it exists (and discard ``<out>.partial`` if it holds a run of other settings).
        fresh: discard ``<out>.partial`` (an interrupted run) and start over.
        stop_after: stop (as if interrupted) after this many steps; a rerun resumes. For tests.

    Checkpoints go to ``<out>.partial/`` every ``checkpoint_every`` steps; rerunning the same call
    resumes from the last one (the final state equals that of an uninterrupted run).
    """
    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    train = training_documents(train)
    if eval_text is not None:
        eval_text = held_out_slice(eval_text, config.eval_bytes)
    accelerator = training_accelerator(dtype=config.dtype, seed=config.seed, batch_size=config.batch_size)
    world = accelerator.num_processes

    objective, teacher_ref, objective_notes = choose_objective(model, config.objective, teacher, sharded=is_sharded(accelerator))
    tok = load_tokenizer(tokenizer or model)
    base = load_model(model, dtype="float32")
    check_tokenizer_fits(base, tok, what="the tokenizer (tokenizer=)" if tokenizer else f"the tokenizer in --model {model}")
    rows, notes = trainable_rows(model, config.embeddings, base.get_input_embeddings().weight.shape[0])
    notes += objective_notes
    packed, blocks, loss_fn = training_objective(base, tok, take_bytes(train, config.train_bytes), config, objective, teacher_ref, notes)
    steps_per_epoch = len(blocks) // config.batch_size
    if steps_per_epoch == 0:
        raise RetokError(f"{len(blocks)} packed sequences are fewer than one batch of {config.batch_size}; use more text or a smaller batch")
    total = steps_per_epoch * config.epochs
    tokens_per_step = config.batch_size * config.seq_len
    lora = lora_config_for(base, rows=rows, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout, target_modules=config.target_modules)
    peft_model = with_lora(base, lora)
    for note in notes:
        log(note)
    n_params = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    left_out = len(blocks) - steps_per_epoch * config.batch_size
    log(
        f"{len(blocks)} sequences x {config.seq_len} tokens packed from {packed.n_bytes} bytes; {total} steps x {config.batch_size} "
        f"sequences = {total * tokens_per_step} tokens trained" + (f" ({left_out} sequences short of a batch left out per epoch)" if left_out else "")
        + f"; {n_params} trainable parameters; {world} process(es) on {accelerator.device}" + (", sharded (FSDP2)" if is_sharded(accelerator) else "")
    )

    def held_out_bpb(step: int) -> dict[str, Any]:  # under FSDP every process scores (see trainer.train); the main one reports
        score = bits_per_byte(peft_model, tok, eval_text, progress=False)
        if accelerator.is_main_process:
            log(f"step {step}: held-out BPB {score.bpb:.4f}")
        seen = bytes_seen(packed, step * tokens_per_step)
        return {"train_bytes_seen": seen, "bpb": score.bpb, "tokens_per_byte": score.tokens_per_byte}

    def embeddings_only_stage(net: torch.nn.Module, step: int) -> None:
        if step < config.embedding_stage_steps:
            drop_lora_gradients(net)

    batches = epoch_batches(blocks, batch_size=config.batch_size, seed=config.seed)
    if teacher_ref is not None and config.alm_schedule == "decay":
        batches = with_progress(batches, total)
    work = out.parent / f"{out.name}.partial"
    run = train_loop(
        peft_model, loss_fn, batches,
        config=TrainerConfig(steps=total, warmup_steps=config.warmup_steps, max_grad_norm=config.max_grad_norm,
                             eval_every=config.eval_every, checkpoint_every=config.checkpoint_every),
        param_groups=lora_param_groups(peft_model, lr=config.lr, embedding_lr=config.embedding_lr),
        make_optimizer=partial(torch.optim.AdamW, weight_decay=config.weight_decay),
        evaluate=held_out_bpb if eval_text is not None else None,
        work=work, settings={**config.result_settings(), "model": str(model), "n_blocks": len(blocks), "objective": objective,
                             "teacher": teacher_ref},
        on_gradients=embeddings_only_stage if config.embedding_stage_steps else None,
        accelerator=accelerator, stop_after=stop_after, progress=progress, desc="finetune", restart=restart_rule(overwrite=overwrite, fresh=fresh),
        tokens_per_step=tokens_per_step, log=log,
    )
    trained_model = peft_model
    if run.finished and is_sharded(accelerator):
        trained = full_state_dict(accelerator, peft_model, trainable_only=True)  # a collective: every process takes part
        if accelerator.is_main_process:
            trained_model = unsharded_copy(model, lora, trained)
    if run.finished and accelerator.is_main_process:
        _export(trained_model, tok, model, out, work, config, run.history, notes, packed, total, run.seconds, overwrite,
                objective=objective, teacher=teacher_ref)
    accelerator.wait_for_everyone()
    trained = run.steps * tokens_per_step
    return FinetuneResult(out, run.history, packed.n_tokens, packed.n_bytes, run.steps, run.seconds, notes, objective,
                          trained_tokens=trained, trained_bytes=bytes_seen(packed, trained))


def unsharded_copy(model_dir: str | os.PathLike, lora: Any, trained: dict[str, torch.Tensor]) -> Any:
    """A fresh peft model of ``model_dir`` on the CPU with the ``trained`` tensors (gathered from an FSDP run) in place, to merge and save."""
    copy = with_lora(load_model(model_dir, dtype="float32"), lora)
    wanted = {n for n, p in copy.named_parameters() if p.requires_grad}
    result = copy.load_state_dict(trained, strict=False)
    if result.unexpected_keys or wanted - set(trained):
        raise RetokError(f"the gathered training state does not fit a fresh copy of {model_dir} (unexpected: {result.unexpected_keys[:3]}, "
                         f"missing: {sorted(wanted - set(trained))[:3]})")
    return copy


def training_objective(base: torch.nn.Module, tok: Any, documents: list[Document], config: FinetuneConfig, objective: str,
                       teacher_ref: str | None, notes: list[str]) -> tuple[PackedText | AlignedBlocks, Any, Callable[..., Any]]:
    """The packed training text, what the loop indexes (blocks), and the loss: plain next-token loss, or distillation.

    For distillation the teacher is loaded (sharing ``base``'s equal weights) and every block gets
    the teacher's tokens of the same bytes; what the user should know goes to ``notes``.
    """
    if teacher_ref is None:
        packed = pack(tok, documents, seq_len=config.seq_len)
        return packed, packed.blocks, causal_lm_loss
    teacher_model, teacher_tok, shared = load_teacher(base, teacher_ref, config)
    aligned = pack_aligned(tok, teacher_tok, documents, seq_len=config.seq_len, kind=config.alm_chunks)
    limit = getattr(teacher_model.config, "max_position_embeddings", None)
    if limit is not None and aligned.teacher.shape[1] > limit:
        raise RetokError(f"the teacher reads up to {aligned.teacher.shape[1]} tokens for one training sequence, more than its "
                         f"{limit} positions; use a shorter --seq-len")
    notes.append(f"the teacher shares {shared:,} parameters with the student; it reads {aligned.n_teacher_tokens:,} tokens "
                 f"where the student reads {aligned.n_tokens:,}")
    if aligned.blocks_without_chunks:
        notes.append(f"{aligned.blocks_without_chunks} of {len(aligned)} training sequences have no alignable chunk (skipped by alm)")
    return aligned, aligned, distill_loss(teacher_model, distill_settings(config, objective))


def load_teacher(student: torch.nn.Module, ref: str, config: FinetuneConfig) -> tuple[torch.nn.Module, Any, int]:
    """The teacher model (sharing the student's equal weights), its tokenizer, and how many parameters are shared."""
    teacher_tok = load_tokenizer(ref)
    teacher_model, shared = shared_teacher(student, load_model(ref, dtype="float32"))
    check_tokenizer_fits(teacher_model, teacher_tok, what=f"the teacher's tokenizer ({ref})")
    if config.hidden_weight:
        check_hidden_sizes(student, teacher_model)
    if config.alm_teacher == "adapted":
        body = sum(p.numel() for p in teacher_model.parameters()) - teacher_model.get_input_embeddings().weight.numel()
        head = teacher_model.get_output_embeddings()
        if head is not None and head.weight is not teacher_model.get_input_embeddings().weight:
            body -= head.weight.numel()
        if shared < body:
            raise RetokError(f"alm_teacher=adapted runs the teacher on the student's body, but the teacher {ref} shares only {shared:,} of its "
                             f"{body:,} body parameters with the student (another model); use alm_teacher=frozen")
    return teacher_model, teacher_tok, shared


def distill_settings(config: FinetuneConfig, objective: str) -> DistillSettings:
    return DistillSettings(objective=objective, temperature=config.alm_temperature, divergence=config.alm_divergence,
                           alm_weight=config.alm_weight, hidden_weight=config.hidden_weight, schedule=config.alm_schedule,
                           teacher_body=config.alm_teacher)


def _export(peft_model: Any, tok: Any, model_dir: Any, out: Path, work: Path, config: FinetuneConfig, history: list, notes: list[str],
            packed: PackedText | AlignedBlocks, steps: int, seconds: float, overwrite: bool, *, objective: str, teacher: str | None) -> None:
    """Merge the adapters into the weights and write a plain HF folder (atomically) to ``out``."""
    merged = peft_model.merge_and_unload()
    target = work / "merged"
    if target.exists():
        shutil.rmtree(target)
    with hf_progress_bars(bars_on()):
        merged.save_pretrained(target)
    tok.save_pretrained(target)
    retok_config = read_retok_config(model_dir) or {}
    retok_config["finetune"] = {
        "config": asdict(config), "steps": steps, "train_bytes": packed.n_bytes, "train_tokens": packed.n_tokens,
        "trained_tokens": steps * config.batch_size * config.seq_len,
        "seconds": seconds, "notes": notes, "source": str(model_dir), "objective": objective, "teacher": teacher,
    }
    atomic_write_text(target / CONFIG_NAME, json.dumps(retok_config, indent=2) + "\n")
    atomic_write_text(target / "finetune_history.json", json.dumps(history, indent=2) + "\n")
    check_output_dir(out, overwrite=overwrite)  # again: something may have appeared there during training
    publish(target, out)
    shutil.rmtree(work, ignore_errors=True)


def history_curve(history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(training bytes seen, held-out BPB) points of a run's history."""
    return [(h["train_bytes_seen"], h["bpb"]) for h in history if "bpb" in h]


__all__ = ["FinetuneConfig", "FinetuneResult", "causal_lm_loss", "choose_objective", "epoch_batches", "finetune", "held_out_slice", "history_curve", "lr_factor",
           "trainable_rows", "training_accelerator", "training_documents", "training_paragraphs", "with_lora"]
