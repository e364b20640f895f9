"""Train a ZeTT hypernetwork for one source model: stage 1 (composition, no LM), then stage 2 (the frozen LM).

Both stages run in retok's one training loop (:func:`retok.training.trainer.train`): exact resume from
``<out>.partial/`` (a rerun with other settings is refused), DDP under ``accelerate launch`` (each
process takes an equal slice of the sequences; the candidate set is :class:`~retok.training.trainer.Replicated`),
progress bars with loss and time left. Under FSDP (``recipes/accelerate_fsdp.yaml``) the frozen LM's
decoder is sharded over the processes too (it is the large part), and the hypernetwork is gathered onto
the main process to be saved. The losses:

* stage 1: mean squared error, in the rescaled space (per-dimension z-scores of the source rows),
  between the predicted and the true rows of source tokens given as their merge history;
* stage 2: next-token cross-entropy of the *frozen* LM run with the predicted rows, over the step's
  candidates (the batch's tokens plus sampled negatives; never the whole vocabulary), plus
  ``aux_weight`` times the stage-1 loss. Only the hypernetwork's weights receive gradients.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from retok.atomic import atomic_dir, check_output_dir
from retok.data import paragraphs
from retok.errors import RetokError
from retok.eval import document_separator
from retok.loading import load_model, load_tokenizer
from retok.textio import read_text
from retok.training.checkpoints import load_state, open_partial, restart_rule, save_state
from retok.training.trainer import TrainerConfig, full_state_dict, global_mean, is_sharded, train as train_loop
from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.initializers.combine import row_mean_std
from retok.transfer.initializers.subword import merge_triples
from retok.vocab.canonical import CanonicalVocab
from retok.vocab.pieces import PAD
from retok.vocab.pipeline import backend_json

from hypernet import io
from .config import TrainConfig
from .data import IGNORE, MergeExamples, SampledBatches, TextStream
from .model import Hypernet, load_hypernet
from .multiword import GrownBatches, MixedBatches, grow_from_text

HISTORY = "training_history.json"
STAGE1_FOLDER = "stage1"  # inside the output: the hypernetwork after stage 1 alone, for ablations
STAGE1_DONE = "stage1.pt"


@dataclass(frozen=True)
class TrainResult:
    out: Path
    hypernet: Hypernet
    history: list[dict[str, Any]]  # {"stage", "step", "loss"} after every step
    seconds: dict[str, float]  # per stage, and "total"
    finished: bool


def rescaled_mse(predicted: torch.Tensor, target: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """mean(((predicted - target) / std)^2): predicted, target (N, d), std (d,) -> scalar."""
    return (((predicted - target.float()) / std) ** 2).mean()


def cat_pieces(*blocks: torch.Tensor) -> torch.Tensor:
    """Stack (N_i, L_i) piece blocks into one (sum N_i, max L_i) block, -1 padded."""
    width = max(b.shape[1] for b in blocks)
    return torch.cat([F.pad(b, (0, width - b.shape[1]), value=PAD) for b in blocks])


DEFAULT_LANGUAGES = ("en", "de")  # the demo corpus's languages a hypernetwork trains on when no text is given


def read_streams(train: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[TextStream]:
    """One stream per training file; ``None``: the English and German *training* paragraphs of the demo corpus."""
    if train is None:
        from retok.assets.store import lohelp
        from retok.data import train_paragraphs

        corpus = lohelp()
        return [TextStream(f"lohelp:{lang} (training paragraphs)", "\n".join(train_paragraphs(corpus.text(lang)))) for lang in DEFAULT_LANGUAGES]
    files = [train] if isinstance(train, (str, os.PathLike)) else list(train)
    if not files:
        raise RetokError("no training text: pass at least one --train FILE")
    return [TextStream(str(f), "\n".join(paragraphs(read_text(f, what="training text (--train)").splitlines()))) for f in files]


class Objective:
    """The two losses, over the source tables on the training device (see the module docstring)."""

    def __init__(self, lm: Any, source: TokenEmbeddings, separator: int, device: torch.device, *, aux_weight: float,
                 world: int = 1) -> None:
        self.lm, self.world = lm, world
        self.body = lm.base_model  # the decoder without its LM head: the candidates' rows are the head here
        mean_in = source.input.mean(0, keepdim=True)
        self.table_in = torch.cat([source.input, mean_in]).to(device)  # row V: the mean (tokens nothing covers)
        self.table_out = None if source.output is None else torch.cat([source.output, source.output.mean(0, keepdim=True)]).to(device)
        self.bos_in = self.table_in[separator]
        self.scale = getattr(lm.get_input_embeddings(), "embed_scale", None)  # Gemma scales its input rows
        text_config = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
        self.softcap = getattr(text_config, "final_logit_softcapping", None)
        self.dtype = next(lm.parameters()).dtype
        self.aux_weight = aux_weight

    def composition_loss(self, net: Any, rows: tuple[torch.Tensor, torch.Tensor | None], targets: torch.Tensor) -> torch.Tensor:
        hn = getattr(net, "module", net)
        loss = rescaled_mse(rows[0], self.table_in[targets], hn.std_in)
        if rows[1] is not None:
            loss = (loss + rescaled_mse(rows[1], self.table_out[targets], hn.std_out)) / 2
        return loss

    def stage1(self, net: Any, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        pieces, targets = batch
        return self.composition_loss(net, net(self.table_in, self.table_out, pieces), targets)

    def stage2(self, net: Any, batch: dict[str, Any]) -> torch.Tensor:
        copy, pieces = batch["copy"].value, batch["pieces"].value
        n_new = len(pieces)
        aux = "aux_pieces" in batch and self.aux_weight > 0
        rows_in, rows_out = net(self.table_in, self.table_out, cat_pieces(pieces, batch["aux_pieces"].value) if aux else pieces)
        cand_in = torch.cat([self.table_in[copy], rows_in[:n_new]])
        cand_out = cand_in if rows_out is None else torch.cat([self.table_out[copy], rows_out[:n_new]])
        ids = batch["ids"]
        inputs = ids[:, :-1].masked_fill(ids[:, :-1] == IGNORE, len(cand_in))  # padding reads the BOS row
        embeds = torch.cat([cand_in, self.bos_in[None].float()])[inputs]
        if self.scale is not None:
            embeds = embeds * self.scale
        hidden = self.body(inputs_embeds=embeds.to(self.dtype)).last_hidden_state.float()
        logits = hidden @ cand_out.T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        targets = batch.get("targets", ids[:, 1:])  # multi-word steps read as pieces name their targets apart from the inputs
        if "count" in batch:  # the global batch's target count: sum / (count / world), averaged over processes, is the global mean
            total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
            loss = global_mean(total, batch["count"], self.world)
        else:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        if aux:
            aux_rows = (rows_in[n_new:], None if rows_out is None else rows_out[n_new:])
            loss = loss + self.aux_weight * self.composition_loss(net, aux_rows, batch["aux_targets"].value)
        return loss


def _digest(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def train(
    model: str | os.PathLike,
    train: str | os.PathLike | Sequence[str | os.PathLike] | None,
    out: str | os.PathLike,
    config: TrainConfig = TrainConfig(),
    *,
    tokenizer: str | os.PathLike | None = None,
    separator: str | int | None = None,
    overwrite: bool = False,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    stop_after: int | None = None,
) -> TrainResult:
    """Train a hypernetwork for ``model`` on ``train`` text and save it to ``out`` (``Hypernet.from_pretrained(out)``).

    Args:
        model: the source causal LM (folder or hub id); it stays frozen.
        train: UTF-8 text file(s), one paragraph per line; batches cycle through the files. ``None``: the
            English and German training paragraphs of the LibreOffice help corpus (never its held-out text).
        out: the hypernetwork folder, written atomically when training ends.
        config: architecture, both stages, schedule, seed, device.
        tokenizer: the model's tokenizer, default the one in ``model``.
        separator: the token that starts every training window (default: as in :func:`retok.eval.document_separator`).
        overwrite: replace ``out`` if it exists (and discard ``<out>.partial`` if it holds a run of other settings).
        fresh: discard ``<out>.partial`` (an interrupted run) and start over.
        stop_after: stop (as if interrupted) after this many steps over both stages; a rerun resumes. For tests.

    Checkpoints go to ``<out>.partial/``; rerunning the same call resumes exactly (same weights as
    an uninterrupted run); a rerun with other settings is refused.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    out = Path(out)
    check_output_dir(out, overwrite=overwrite)
    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise RetokError("--device cuda: no GPU is visible here (torch.cuda.is_available() is False); use --device cpu or auto")
    accelerator = Accelerator(cpu=config.device == "cpu" or not cuda)
    world, main, sharded = accelerator.num_processes, accelerator.is_main_process, is_sharded(accelerator)
    if config.batch_size % world or config.stage1_batch % world:
        raise RetokError(f"--batch-size {config.batch_size} and --stage1-batch {config.stage1_batch} must be divisible by the "
                         f"number of processes ({world})")
    streams = read_streams(train)
    tok = load_tokenizer(tokenizer or model)
    lm = load_model(model, dtype=config.dtype)
    source = TokenEmbeddings.from_model(lm, tok)
    lm.requires_grad_(False)
    lm.eval()
    if not sharded:  # under FSDP only the shards go to the device (below)
        lm.to(accelerator.device)
    canonical = CanonicalVocab.of(tok)
    regular = torch.tensor([i for i, k in enumerate(canonical.keys) if k is not None and i < source.input.shape[0]], dtype=torch.long)
    stats = row_mean_std(source.input, regular)
    stats_out = (None, None) if source.output is None else row_mean_std(source.output, regular)

    set_seed(config.seed)  # the hypernetwork's initial weights
    hn = Hypernet(config.architecture(dim=source.dim, untied=not source.tied), mean_in=stats[0], std_in=stats[1],
                  mean_out=stats_out[0], std_out=stats_out[1])
    try:
        merges: MergeExamples | None = MergeExamples(merge_triples(tok, source.input.shape[0]), batch=config.stage1_batch,
                                                     max_pieces=config.max_pieces, expand=config.expand, seed=config.seed)
    except RetokError:
        if config.stage1_steps:
            kind = backend_json(tok).get("model", {}).get("type", "unknown")
            raise RetokError(f"stage 1 learns composition from the source tokenizer's BPE merges, but it is a {kind} model without "
                             "merges; pass --stage1-steps 0 to train with stage 2 only") from None
        merges = None
        log("the source tokenizer has no BPE merges: stage 2 runs without the auxiliary composition loss")
    sampled = SampledBatches(streams, canonical, batch_size=config.batch_size, seq_len=config.seq_len, candidates=config.candidates,
                             sampled_vocab=config.sampled_vocab, stats_batches=config.stats_batches, noise_mu=config.noise_mu,
                             noise_sigma=config.noise_sigma, seed=config.seed, merges=merges, aux_batch=config.aux_batch)
    check_text_size(streams, config, sampled.window, log)
    init_digest = start_from(hn, config.init, source) if config.init else None
    multiword = None
    multiword_entries = 0
    if config.multiword > 0 and config.steps:
        try:
            grown = grow_from_text(tok, [s.text for s in streams], canonical.keys, size=config.multiword_size, progress=progress and main)
        except RetokError as e:  # text too small or too varied to repeat a pair of tokens: ZeTT steps only, said once
            log(f"no multi-word steps: {e}")
        else:
            multiword_entries = len(grown) - grown.base_size
            log(f"multi-word steps ({config.multiword:.0%} of stage 2): {multiword_entries:,} entries grown from the training text")
            multiword = GrownBatches(sampled, tok, grown, negatives=config.multiword_negatives, seed=config.seed, merges=merges,
                                     aux_batch=config.aux_batch, feed=config.multiword_feed)
    batches = MixedBatches(sampled, multiword, share=config.multiword, seed=config.seed)
    objective = Objective(lm, source, document_separator(tok, separator), accelerator.device, aux_weight=config.aux_weight,
                          world=world)
    if sharded and config.steps:  # stage 2 runs the decoder on every process: a sharded forward (and backward) pass
        objective.body = accelerator.prepare(objective.body)
    identity = io.source_identity(str(model), source.input, source.output)
    settings = {"config": config.result_settings(), "source": identity["fingerprint"], "init": init_digest,
                "train": [[s.name, len(s.text), _digest(s.text)] for s in streams]}
    work = out.parent / f"{out.name}.partial"
    # the whole run's settings at the top (each stage records its own too): a stage-1 result of other settings is never reused
    open_partial(work, settings, restart=restart_rule(overwrite=overwrite, fresh=fresh), main=main, wait=accelerator.wait_for_everyone, log=log)
    optimizer = partial(torch.optim.AdamW, weight_decay=config.weight_decay, betas=(0.9, 0.95))
    history: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    done_path = work / STAGE1_DONE

    def stage(name: str, steps: int, loss_fn: Any, batch_at: Any, lr: float, budget: int | None, tokens: int) -> bool:
        run = train_loop(
            hn, loss_fn, batch_at,
            config=TrainerConfig(steps=steps, warmup_steps=min(config.warmup_steps, steps - 1), max_grad_norm=config.max_grad_norm,
                                 checkpoint_every=config.checkpoint_every),
            param_groups=[{"params": [p for p in hn.parameters() if p.requires_grad], "lr": lr}], make_optimizer=optimizer,
            work=work / name, settings={**settings, "stage": name}, accelerator=accelerator, stop_after=budget,
            progress=progress, desc=f"hypernet {name}", tokens_per_step=tokens, log=log,
        )
        history.extend({"stage": name, **row} for row in run.history)
        seconds[name] = run.seconds
        return run.finished

    stage1_done = bool(config.stage1_steps) and done_path.exists()
    if stage1_done:
        state = load_state(done_path)
        hn.load_state_dict(state["hypernet"])
        history.extend(state["history"])
        seconds.update(state["seconds"])
        log(f"stage 1 already done ({done_path})")
    if sharded:
        shard_whole(hn, accelerator)
    if config.stage1_steps and not stage1_done:
        log(f"stage 1: {config.stage1_steps} steps x {config.stage1_batch} source tokens (composition, no LM)")
        if not stage("stage1", config.stage1_steps, objective.stage1, merges.at, config.stage1_lr, stop_after, 0):
            return TrainResult(out, hn, history, seconds, finished=False)
        weights = full_state_dict(accelerator, hn)  # under FSDP a collective: the gathered weights, on the main process
        if main:
            save_state(done_path, {"hypernet": weights, "history": history, "seconds": seconds})
        accelerator.wait_for_everyone()
    if config.steps:
        budget = None if stop_after is None else stop_after - config.stage1_steps
        log(f"stage 2: {config.steps} steps x {config.batch_size} sequences x {config.seq_len} tokens, "
            f"{config.candidates} candidates per step (frozen LM on {accelerator.device}, {world} process(es)"
            + (", sharded (FSDP2))" if sharded else ")"))
        if not stage("stage2", config.steps, objective.stage2, batches.at, config.lr, budget, config.batch_size * config.seq_len):
            return TrainResult(out, hn, history, seconds, finished=False)
    seconds["total"] = time.perf_counter() - began
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak so far (Linux: KiB)
    if sharded:
        weights = full_state_dict(accelerator, hn)  # a collective; the main process saves an unsharded copy
        if not main:
            accelerator.wait_for_everyone()
            return TrainResult(out, hn, history, seconds, finished=True)
        hn = rebuilt(hn, weights)
    hn = hn.cpu()
    hn.source = identity
    hn.training_info = {"config": asdict(config), "train": settings["train"], "seconds": seconds, "peak_rss_mib": peak_rss_mib,
                        "device": str(accelerator.device), "processes": world, "multiword_entries": multiword_entries,
                        "final_loss": {s: next((h["loss"] for h in reversed(history) if h["stage"] == s), None) for s in ("stage1", "stage2")}}
    if main:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            hn.save_pretrained(tmp, overwrite=True, extra={HISTORY: json.dumps(history) + "\n"})
            if config.stage1_steps and config.steps:
                after_stage1 = rebuilt(hn, load_state(done_path)["hypernet"])
                after_stage1.source, after_stage1.training_info = identity, {**hn.training_info, "stage": "stage1 only"}
                after_stage1.save_pretrained(tmp / STAGE1_FOLDER)
        shutil.rmtree(work, ignore_errors=True)
    accelerator.wait_for_everyone()
    return TrainResult(out, hn, history, seconds, finished=True)


def start_from(hn: Hypernet, folder: str, source: TokenEmbeddings) -> str:
    """Load the weights of the hypernetwork in ``folder`` into ``hn`` (same architecture, trained for ``source``); returns their digest."""
    from retok.transfer.row_predictors import table_digest

    start = load_hypernet(folder)
    start.check_source(source.input, source.output, where=f"--init {folder}")
    if start.arch != hn.arch:
        theirs, ours = start.arch.to_dict(), hn.arch.to_dict()
        differ = ", ".join(f"{k} {theirs[k]} (--init) vs {ours[k]}" for k in ours if theirs[k] != ours[k])
        raise RetokError(f"--init {folder} has another architecture: {differ}; pass the same --hidden/--layers/--heads/--ffn-mult/--max-pieces")
    hn.load_state_dict(start.state_dict())
    return table_digest(*[t.detach() for t in start.state_dict().values()])


def shard_whole(hn: Hypernet, accelerator: Any) -> None:
    """Shard the hypernetwork over the processes as one FSDP2 unit, in place (before the training loop prepares it).

    Its forward pass runs the same blocks a data-dependent number of times (one pass per bucket of piece
    counts that the process's slice of the batch has), so it must not be split into several shard groups,
    which accelerate would do (its final ``norm`` gets a group of its own): the processes' collectives
    would then come in different orders and hang. accelerate leaves a module that is already sharded alone.
    """
    from torch.distributed.fsdp import fully_shard

    fully_shard(hn, reshard_after_forward=accelerator.state.fsdp_plugin.reshard_after_forward)


def rebuilt(hn: Hypernet, weights: dict[str, torch.Tensor]) -> Hypernet:
    """A fresh, unsharded hypernetwork of ``hn``'s architecture and rescaler on the CPU, holding ``weights``."""
    def buffer(name: str) -> torch.Tensor | None:
        value = getattr(hn, name, None)
        return None if value is None else value.cpu()

    copy = Hypernet(hn.arch, mean_in=buffer("mean_in"), std_in=buffer("std_in"), mean_out=buffer("mean_out"), std_out=buffer("std_out"))
    copy.load_state_dict(weights)
    return copy


def check_text_size(streams: list[TextStream], config: TrainConfig, window: int, log: Callable[[str], None]) -> None:
    """Refuse text too small for one batch of distinct windows; say so when the steps reread it many times."""
    need = config.batch_size * window
    for s in streams:
        if len(s.text) < need:
            raise RetokError(
                f"training text {s.name} has {len(s.text)} characters, fewer than one batch of {config.batch_size} windows of "
                f"{window} characters ({need}); pass more text (--train) or lower --batch-size / --seq-len"
            )
    read = config.steps * need / max(1, sum(len(s.text) for s in streams))
    if read > 20:
        log(f"note: {config.steps} steps read the training text about {read:.0f} times; more text would generalize better")


__all__ = ["Objective", "TrainResult", "cat_pieces", "rescaled_mse", "train"]
