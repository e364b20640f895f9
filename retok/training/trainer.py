"""One training loop: LR schedule, eval cadence, gradient clipping, exact resume, accelerate/DDP.

``finetune`` (LoRA after a tokenizer swap) calls it, and so will the learned embedding predictors
and zip2zip training. It is generic on purpose: it sees a model, a loss function ``loss_fn(model, batch)`` and
a batch source indexed by step, and knows nothing about tokenizers, peft or bits per byte.

- Schedule: linear warmup, then linear decay to zero at the last step (:func:`lr_factor`), applied
  to every parameter group's peak learning rate.
- Exact resume: a batch is a function of its step, so the step is the data position; a checkpoint
  holds the trainable parameters, the optimizer, the step, the history and every process's RNG
  state. An interrupted-then-resumed run therefore equals the uninterrupted one bit for bit.
  Checkpoints follow :mod:`retok.training.checkpoints`: ``settings.json`` (a rerun with other settings is
  refused) and ``state.pt``, replaced atomically.
- DDP: under ``accelerate launch`` each process takes an equal slice (along dim 0) of every global
  batch and the losses are averaged, so the update equals the single-process one; the same code
  runs on one CPU or one GPU.
- FSDP (``accelerate launch --config_file recipes/accelerate_fsdp.yaml``, FSDP2): the same slices, with
  the parameters, gradients and optimizer state sharded over the processes. Checkpoints hold the
  gathered (full) trainable tensors and optimizer state (:func:`full_state_dict`; the optimizer state keyed by
  parameter name, not position), which go back into the sharded model on resume; evaluation runs on every
  process (a sharded forward pass is a collective) and keeps the main process's row.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from retok.errors import RetokError
from retok.progress import bars_on
from .checkpoints import Restart, load_state, open_partial, save_state

if TYPE_CHECKING:
    from accelerate import Accelerator

STATE_FILE = "state.pt"

Batch = Any  # a tensor, or a dict / tuple / list of them, with the batch along dim 0
LossFn = Callable[[torch.nn.Module, Batch], "torch.Tensor | tuple[torch.Tensor, Mapping[str, torch.Tensor]]"]


@dataclass(frozen=True, kw_only=True)
class TrainerConfig:
    """How long to train and how often to clip, evaluate and checkpoint."""

    steps: int
    warmup_steps: int = 0
    max_grad_norm: float = 0.0  # 0: no clipping
    eval_every: int = 0  # 0: evaluate only at the start and the end
    checkpoint_every: int = 0  # 0: checkpoint only when stopped by stop_after

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise RetokError(f"steps={self.steps}: a training run needs at least one step")

    def result_settings(self) -> dict[str, Any]:
        """The fields that change the trained weights (the cadences do not), for the resume check."""
        return {k: v for k, v in asdict(self).items() if k not in ("eval_every", "checkpoint_every")}


@dataclass(frozen=True)
class TrainResult:
    history: list[dict[str, Any]]  # {"step", "loss"} after every step, {"step", **evaluate(step)} at each evaluation
    steps: int  # steps done so far (== config.steps unless stopped by stop_after)
    seconds: float
    finished: bool


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup to 1, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


@dataclass(frozen=True)
class Replicated:
    """A part of a batch that every process gets whole, not sliced by :func:`shard` (e.g. a candidate set all sequences share).

    ``value`` is a tensor (or anything with ``.to(device)``); the loss function reads ``batch[...].value``.
    """

    value: Any

    def to(self, device: Any, **kwargs: Any) -> Replicated:
        return Replicated(self.value.to(device, **kwargs))


def global_mean(total: torch.Tensor, count: Replicated, world: int) -> torch.Tensor:
    """This process's loss from its ``total`` (a sum over its slice) and ``count``, the *global* batch's number of terms.

    ``total / (count / world)``: averaged over the ``world`` processes (as DDP averages gradients and the
    loop its logged loss) it is the global batch's mean, whatever share of the terms each slice holds,
    so a run on several processes trains as one process does.
    """
    return total / (count.value.float().clamp(min=1) / world)


def shard(batch: Batch, rank: int, world: int) -> Batch:
    """This process's equal slice (along dim 0) of a global batch: rows ``[rank * B/world, (rank + 1) * B/world)``.

    :class:`Replicated` parts (and anything that is not a tensor or a container of them) are passed whole.
    """
    if world == 1 or isinstance(batch, Replicated):
        return batch
    if isinstance(batch, torch.Tensor):
        if batch.shape[0] % world:
            raise RetokError(
                f"a global batch of {batch.shape[0]} rows cannot be split evenly over {world} processes; "
                f"use a batch size divisible by {world}"
            )
        size = batch.shape[0] // world
        return batch[rank * size : (rank + 1) * size]
    if isinstance(batch, Mapping):
        return {k: shard(v, rank, world) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(v, rank, world) for v in batch)
    return batch


def indexed_batches(make_iterable: Callable[[], Iterable[Batch]]) -> Callable[[int], Batch]:
    """Index a deterministic iterable by step: batch ``k`` is the ``k``-th item of ``make_iterable()``.

    For batch sources that are Python iterators (e.g. sampled on the fly from a seeded generator):
    a resumed run starts a fresh iterable and skips to its step, so it sees the same batches as
    the uninterrupted run. ``make_iterable`` must yield the same items every time it is called.
    """
    iterator, position = None, 0

    def batch_at(step: int) -> Batch:
        nonlocal iterator, position
        if iterator is None or step < position:
            iterator, position = iter(make_iterable()), 0
        try:
            for _ in range(step - position):
                next(iterator)
            batch = next(iterator)
        except StopIteration:
            raise RetokError(f"the batch iterator ran out before step {step}; make it yield one batch per training step") from None
        position = step + 1
        return batch

    return batch_at


def rng_state() -> dict[str, Any]:
    """Every random generator a training step may draw from (dropout, sampling), to checkpoint."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generators saved by :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the parameters that train (``requires_grad``), by name."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def is_sharded(accelerator: Accelerator) -> bool:
    """Whether ``accelerator`` shards the model over its processes (FSDP): its state is then gathered to be saved."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def full_state_dict(accelerator: Accelerator, model: torch.nn.Module, *, trainable_only: bool = False) -> dict[str, torch.Tensor]:
    """CPU copies of ``model``'s whole (unsharded) state, by name; ``trainable_only``: the parameters that train.

    Under FSDP a collective (every process calls it; the main process gets the tensors, the others
    an empty dict); otherwise a plain copy of the unwrapped model's state.
    """
    if is_sharded(accelerator):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=trainable_only)
        return get_model_state_dict(model, options=options)
    net = accelerator.unwrap_model(model)
    if trainable_only:
        return trainable_state(net)
    return {n: t.detach().cpu().clone() for n, t in net.state_dict().items()}


@contextmanager
def tie_visible(model: torch.nn.Module) -> Iterator[None]:
    """Show a tied input/output embedding as one ``.weight`` while accelerate shards ``model`` (FSDP2).

    accelerate puts a tied head in one shard group with its input embedding only when
    ``get_input_embeddings().weight is get_output_embeddings().weight``. Wrappers such as peft's
    trainable-token layers answer ``.weight`` with a freshly merged tensor, which hides the tie; the
    shared matrix then lands in two groups and ``fully_shard`` fails. The shared parameter is set
    as the wrappers' ``weight`` attribute for the duration (not registered: the parameters do not change).
    """
    get_in = getattr(model, "get_input_embeddings", None)
    get_out = getattr(model, "get_output_embeddings", None)
    inp, out = (get_in() if callable(get_in) else None), (get_out() if callable(get_out) else None)
    shown: list[torch.nn.Module] = []
    if inp is not None and out is not None and inp is not out and getattr(inp, "weight", None) is not getattr(out, "weight", None):
        own = {id(p) for p in inp.parameters()}
        shared = [p for p in out.parameters() if id(p) in own]
        if shared:
            weight = max(shared, key=lambda p: p.numel())
            for module in (inp, out):
                if "weight" not in module._parameters:
                    module.__dict__["weight"] = weight
                    shown.append(module)
    try:
        yield
    finally:
        for module in shown:
            module.__dict__.pop("weight", None)


def gather_once(model: torch.nn.Module) -> None:
    """All-gather and free every shard group of an FSDP2 ``model`` once, now, outside inference mode.

    FSDP2 allocates a group's unsharded parameters at its first all-gather and keeps them; done first
    by an evaluation under ``torch.inference_mode()`` they would be inference tensors, which a
    training step cannot save for backward. A collective: every process calls it.
    """
    from torch.distributed.fsdp import FSDPModule

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FSDPModule):
                module.unshard()
                module.reshard()


def train(
    model: torch.nn.Module,
    loss_fn: LossFn,
    batch_at: Callable[[int], Batch],
    *,
    config: TrainerConfig,
    param_groups: Sequence[dict[str, Any]] | None = None,
    make_optimizer: Callable[[list[dict[str, Any]]], torch.optim.Optimizer] = torch.optim.AdamW,
    evaluate: Callable[[int], dict[str, Any] | None] | None = None,
    work: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    on_gradients: Callable[[torch.nn.Module, int], None] | None = None,
    accelerator: Accelerator | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    desc: str = "train",
    tokens_per_step: int = 0,
    log: Callable[[str], None] = print,
    restart: Restart = "never",
) -> TrainResult:
    """Train ``model`` in place for ``config.steps`` optimizer steps; resume from ``work`` if a run stopped there.

    Args:
        model: the module to train; parameters with ``requires_grad`` train. Seed the global RNG
            before building it (e.g. ``accelerate.utils.set_seed``) so that its init is reproducible.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``, or ``(scalar, {name: scalar})`` to log the
            parts of a combined loss in the history too; ``model`` may be the DDP wrapper.
        batch_at: ``batch_at(step)`` -> the *global* batch of that step (same on every process; each
            process trains on its :func:`shard`). Pure in ``step``, so that resume is exact; see
            :func:`indexed_batches` for iterators.
        config: steps, warmup, clipping, eval and checkpoint cadence.
        param_groups: optimizer groups, each with its peak ``lr``; default: every trainable parameter.
        make_optimizer: ``make_optimizer(groups) -> Optimizer``, e.g. ``partial(AdamW, weight_decay=0.1)``.
        evaluate: ``evaluate(step) -> dict | None``, called on the main process only (the others
            wait; under FSDP on every process, since the sharded model's forward pass is a collective,
            and the main process's row is kept) with the model in eval mode, at step 0 (unless resuming),
            every ``eval_every`` steps and at the end; a returned dict goes into every process's history
            as ``{"step": step, **row}``.
        work: the checkpoint folder (see :mod:`retok.training.checkpoints`); None: no checkpoints, no resume.
        settings: the caller's JSON-able settings that change the result (data, model, recipe);
            a checkpoint of other settings is refused. The loop adds its own and the process count.
        on_gradients: ``on_gradients(model, step)`` after backward and before clipping, e.g. to drop
            the gradients of weights frozen in an early stage (``model`` unwrapped).
        accelerator: an ``accelerate.Accelerator``; default one (CPU unless a GPU is there).
        stop_after: stop (as if interrupted) after this many steps, with a checkpoint. For tests.
        restart: when to discard the checkpoint folder of an interrupted run instead of resuming it
            (:data:`retok.training.checkpoints.Restart`; ``--fresh`` / ``--overwrite``).
        tokens_per_step: shown as tokens/s in the progress bar when > 0.
    """
    if accelerator is None:
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=not torch.cuda.is_available())
    from accelerate.utils import broadcast_object_list, gather_object, send_to_device

    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    sharded = is_sharded(accelerator)
    if sharded and not accelerator.is_fsdp2:
        raise RetokError("retok trains under FSDP2 only: set fsdp_version: 2 in the accelerate config (see recipes/accelerate_fsdp.yaml)")
    if main and not sharded and world > 1 and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        log(f"note: accelerate runs FSDP only on GPUs (or other accelerators); on {accelerator.device.type} these {world} processes "
            "run DDP, each with the whole model")
    total = config.steps
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [dict(g) for g in param_groups] if param_groups is not None else [{"params": trainable}]
    optimizer = make_optimizer(groups)
    peak_lrs = [g["lr"] for g in optimizer.param_groups]
    start, history, saved_rng, state = 0, [], None, None
    state_path = None
    if work is not None:
        work = Path(work)
        state_path = work / STATE_FILE
        run_settings = {"run": settings or {}, "loop": config.result_settings(), "processes": world}
        if sharded:  # its optimizer state is saved by parameter name, not by position: never resumed by DDP, nor the reverse
            run_settings["fsdp"] = 2
        open_partial(work, run_settings, restart=restart, main=main, wait=accelerator.wait_for_everyone, log=log, state=state_path)
        if state_path.exists():
            state = load_state(state_path)
            missing = {n for n, p in model.named_parameters() if p.requires_grad} - set(state["params"])
            if missing:
                raise RetokError(f"checkpoint {state_path} lacks {len(missing)} trainable tensors; rerun with --fresh to discard {work} and start over")
            if not sharded:  # under FSDP the state goes into the sharded model, after prepare
                with torch.no_grad():
                    for n, p in model.named_parameters():
                        if n in state["params"]:
                            p.copy_(state["params"][n])
                optimizer.load_state_dict(state["optimizer"])
            start, history, saved_rng = state["step"], state["history"], state["rng"][rank]
            log(f"resuming from step {start} of {total} ({state_path})")
    if sharded:
        with tie_visible(model):
            ddp_model, optimizer = accelerator.prepare(model, optimizer)
    else:
        ddp_model, optimizer = accelerator.prepare(model, optimizer)
    net = accelerator.unwrap_model(ddp_model)
    trainable = [p for p in ddp_model.parameters() if p.requires_grad]  # FSDP replaces the parameters with their shards
    if sharded:
        gather_once(ddp_model)
    if sharded and state is not None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict, set_optimizer_state_dict

        full = StateDictOptions(full_state_dict=True, strict=False)
        set_model_state_dict(ddp_model, state["params"], options=full)
        set_optimizer_state_dict(ddp_model, optimizer.optimizer, state["optimizer"], options=full)
    state = None

    def run_evaluation(step: int) -> None:
        if evaluate is None:
            return
        row = None
        if main or sharded:
            net.eval()
            row = evaluate(step)
            net.train()
        # every process keeps the same history (the others waited here for the main one's row)
        row = broadcast_object_list([row])[0]
        if row:
            history.append({"step": step, **row})

    def checkpoint(step: int) -> None:
        rngs = gather_object([rng_state()])  # a collective: every process takes part, the main one writes
        if sharded:  # collectives too: the full tensors and optimizer state, gathered onto the main process
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            params = full_state_dict(accelerator, ddp_model, trainable_only=True)
            optim = get_optimizer_state_dict(ddp_model, optimizer.optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if main:
            if not sharded:
                params, optim = trainable_state(net), optimizer.state_dict()
            state = {"step": step, "params": params, "optimizer": optim, "history": history, "rng": rngs}
            save_state(state_path, state)
        accelerator.wait_for_everyone()

    if start == 0:
        run_evaluation(0)
    if saved_rng is not None:
        set_rng_state(saved_rng)
    ddp_model.train()
    began = time.perf_counter()
    bar = tqdm(range(start, total), initial=start, total=total, desc=desc, disable=not (bars_on(progress) and main))
    for step in bar:
        batch = send_to_device(shard(batch_at(step), rank, world), accelerator.device)
        factor = lr_factor(step, total, config.warmup_steps)
        for group, peak in zip(optimizer.param_groups, peak_lrs):
            group["lr"] = peak * factor
        loss = loss_fn(ddp_model, batch)
        loss, parts = loss if isinstance(loss, tuple) else (loss, {})
        accelerator.backward(loss)
        if on_gradients is not None:
            on_gradients(net, step)
        if config.max_grad_norm:
            accelerator.clip_grad_norm_([p for p in trainable if p.grad is not None], config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = accelerator.reduce(loss.detach(), reduction="mean").item()
        history.append({"step": step + 1, "loss": loss_value,
                        **{name: accelerator.reduce(v.detach(), reduction="mean").item() for name, v in parts.items()}})
        done = step + 1
        postfix = {"loss": f"{loss_value:.3f}"}
        if tokens_per_step:
            postfix["tok_s"] = f"{tokens_per_step * (done - start) / (time.perf_counter() - began):.0f}"
        bar.set_postfix(postfix)
        if config.eval_every and done % config.eval_every == 0 and done < total:
            run_evaluation(done)
        stopping = stop_after is not None and done >= stop_after
        if state_path is not None and ((config.checkpoint_every and done % config.checkpoint_every == 0) or stopping):
            checkpoint(done)
        if stopping and done < total:
            bar.close()
            log(f"stopped after step {done}; rerun the same command to resume")
            return TrainResult(history, done, time.perf_counter() - began, finished=False)
    bar.close()
    run_evaluation(total)
    return TrainResult(history, total, time.perf_counter() - began, finished=True)


__all__ = ["Replicated", "TrainResult", "TrainerConfig", "full_state_dict", "gather_once", "global_mean", "indexed_batches", "is_sharded", "lr_factor", "rng_state", "set_rng_state",
           "shard", "tie_visible", "train", "trainable_state"]
