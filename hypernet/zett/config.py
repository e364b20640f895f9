"""What a hypernetwork is and how it is trained: two config dataclasses, importable without torch.

:class:`Architecture` is saved with the weights (``hypernet_config.json``); :class:`TrainConfig`
is what ``retok train-hypernet`` and :func:`hypernet.train` take, one flag per field. Ranges are
declared with :func:`retok.options.option` and checked on construction, so the CLI and Python
refuse ``--layers 0`` the same way, before the model is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from retok.errors import RetokError
from retok.options import Checked, option


@dataclass(frozen=True, kw_only=True)
class Architecture(Checked):
    """The network: a small pre-LN transformer over a token's (at most ``max_pieces``) source pieces."""

    dim: int = option(576, "width of the source embeddings (set from the source model)", min=1)
    untied: bool = option(False, "the source has a separate LM head: predict input and output rows")
    max_pieces: int = option(8, "pieces of a token the transformer sees (the FVT mean uses all of them)", min=1)
    hidden: int = option(256, "width of the transformer (the source rows are projected down to it)", min=8)
    layers: int = option(2, "transformer layers", min=0)
    heads: int = option(4, "attention heads (hidden must be divisible by it)", min=1)
    ffn_mult: int = option(2, "MLP width as a multiple of hidden", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden % self.heads:
            raise RetokError(f"hidden={self.hidden} must be divisible by heads={self.heads}; e.g. --hidden {self.heads * 64}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class TrainConfig(Checked):
    """How to train a hypernetwork: stage 1 (composition in embedding space), then stage 2 (the ZeTT objective).

    Stage 1 needs no LM forward: each step predicts ``stage1_batch`` source tokens from their merge
    history. Stage 2 runs the frozen LM: each step samples a Unigram tokenizer from recent text,
    tokenizes ``batch_size`` windows of ``seq_len`` tokens with it, and trains on next-token
    cross-entropy over the batch's tokens plus sampled negatives (``candidates`` in all), plus
    ``aux_weight`` times the stage-1 loss.
    """

    max_pieces: int = option(8, "pieces of a token the transformer sees", min=1)
    hidden: int = option(128, "width of the hypernetwork's transformer", min=8)
    layers: int = option(2, "transformer layers of the hypernetwork", min=0)
    heads: int = option(4, "attention heads", min=1)
    ffn_mult: int = option(2, "MLP width as a multiple of --hidden", min=1)
    stage1_steps: int = option(2000, "stage 1: steps of composition learning (no LM forward)", min=0)
    stage1_batch: int = option(1024, "stage 1: source tokens per step", min=1)
    stage1_lr: float = option(1e-3, "stage 1: peak learning rate", above=0.0, max=1.0)
    steps: int = option(250, "stage 2: steps with the frozen LM (the ZeTT objective); 0: stage 1 only", min=0)
    batch_size: int = option(8, "stage 2: sequences per step, over all processes", min=1)
    seq_len: int = option(128, "stage 2: tokens per sequence", min=2)
    candidates: int = option(2048, "stage 2: tokens in each step's softmax (the batch's tokens plus sampled negatives)", min=2)
    lr: float = option(3e-4, "stage 2: peak learning rate", above=0.0, max=1.0)
    aux_weight: float = option(0.5, "stage 2: weight of the stage-1 loss mixed into every step", min=0.0)
    aux_batch: int = option(512, "stage 2: source tokens of the stage-1 loss per step", min=1)
    sampled_vocab: int = option(32768, "stage 2: size of each sampled Unigram tokenizer", min=257)
    stats_batches: int = option(16, "stage 2: recent batches whose substring counts the sampled tokenizer comes from", min=1)
    noise_mu: float = option(-11.5129, "stage 2: log of the median noise std added to substring probabilities (ZeTT: log 1e-5)")
    noise_sigma: float = option(4.0, "stage 2: sigma of the log-normal noise std (ZeTT: 4)", min=0.0)
    expand: float = option(0.5, "stage 1: probability of splitting a merge piece into its own parents (longer decompositions)", min=0.0, max=1.0)
    multiword: float = option(0.5, "stage 2: share of steps on text cut into multi-word entries grown from the training text, "
                              "against the whole base vocabulary (rows for `retok large-vocab`); 0: ZeTT steps only", min=0.0, max=1.0)
    multiword_size: int = option(1_000_000, "stage 2, multi-word steps: entries of the vocabulary grown from the training text", min=257)
    multiword_feed: Literal["rows", "pieces"] = option("rows", "stage 2, multi-word steps: the model reads the entries through "
                                                       "their rows (rows) or reads base tokens and predicts entries (pieces)")
    multiword_negatives: int = option(4096, "stage 2, multi-word steps: new entries in each softmax beside the base vocabulary", min=1)
    init: str | None = option(None, "start from this hypernetwork's weights (same source model and architecture), e.g. "
                                    "--init HN --stage1-steps 0 --multiword 0.5 to add multi-word training to HN")
    warmup_steps: int = option(20, "steps of linear warmup in each stage", min=0)
    weight_decay: float = option(0.01, "AdamW weight decay", min=0.0, max=1.0)
    max_grad_norm: float = option(1.0, "clip the gradient norm (0: no clipping)", min=0.0)
    checkpoint_every: int = option(20, "write a resumable checkpoint every N steps (0: none)", min=0)
    seed: int = option(0, "seed of the initial weights, the data order and every sampled tokenizer", min=0)
    device: Literal["auto", "cpu", "cuda"] = option("auto", "where to train: auto picks a GPU when there is one")
    dtype: Literal["float32", "bfloat16"] = option("float32", "precision of the frozen LM (bfloat16 on GPUs)")

    def architecture(self, *, dim: int, untied: bool) -> Architecture:
        return Architecture(dim=dim, untied=untied, max_pieces=self.max_pieces, hidden=self.hidden, layers=self.layers,
                            heads=self.heads, ffn_mult=self.ffn_mult)

    def result_settings(self) -> dict[str, Any]:
        """The fields that change the trained weights (the checkpoint cadence and the device do not)."""
        return {k: v for k, v in asdict(self).items() if k not in ("checkpoint_every", "device")}


__all__ = ["Architecture", "TrainConfig"]
