#!/usr/bin/env python
"""Which row should an untrained *input* hyper-encoder return: the entry's first token, its last token, or their mean?

A short ablation on SmolLM2-135M: LoRA + both encoders (output residual: first token) on German training windows of
256 base tokens (K=2048, M=4), 30 steps of 4 windows, the training loss (nats per code) logged per step. The rows
differ only in ``input_residual``; seeds, data and schedule are equal. The loss at step 0 is the zero-shot start; the
mean of the last 10 steps is where a short run gets to.

    .venv/bin/python recipes/zip2zip_residual.py --out runs/zip2zip-residual.json   # ~12 min on 2 cores, alone

Only training text is used (never the held-out paragraphs).
"""

from __future__ import annotations

import argparse
import json
import statistics
from functools import partial
from pathlib import Path

import torch

from retok import assets
from retok.atomic import atomic_write_text
from retok.data import train_paragraphs
from retok.training.finetune import epoch_batches
from retok.loading import load_model, load_tokenizer
from retok.training.packing import pack, take_bytes
from retok.training.trainer import TrainerConfig, train as train_loop

from hypernet.zip2zip.model import is_encoder_parameter
from hypernet.zip2zip.config import Zip2ZipTrainConfig
from hypernet.zip2zip.data import compressed_batches
from hypernet.zip2zip.train import zip2zip_loss, wrap


def run(residual: str, steps: int, window: int, batch: int) -> list[float]:
    from peft import get_peft_model

    from retok.training.lora import lora_config_for

    torch.manual_seed(0)
    model_dir = assets.smollm2()
    tok = load_tokenizer(model_dir)
    base = load_model(model_dir)
    config = Zip2ZipTrainConfig(input_residual=residual)
    net = wrap(get_peft_model(base, lora_config_for(base, rows=[])), tok, config)
    packed = pack(tok, take_bytes(train_paragraphs(assets.lohelp().text("de")), 100000), seq_len=window)
    groups = [{"params": [p for n, p in net.named_parameters() if p.requires_grad and not is_encoder_parameter(n)], "lr": config.lr},
              {"params": [p for n, p in net.named_parameters() if p.requires_grad and is_encoder_parameter(n)], "lr": config.encoder_lr}]
    result = train_loop(net, zip2zip_loss, compressed_batches(epoch_batches(packed.blocks, batch_size=batch, seed=0), net.lzw),
                        config=TrainerConfig(steps=steps, warmup_steps=5, max_grad_norm=1.0), param_groups=groups,
                        make_optimizer=partial(torch.optim.AdamW, weight_decay=0.0), progress=False, log=lambda _: None)
    return [h["loss"] for h in result.history if "loss" in h]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/zip2zip-residual.json")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    rows = {}
    for residual in ("first", "last", "mean"):
        losses = run(residual, args.steps, args.window, args.batch_size)
        rows[residual] = {"first_step_loss": losses[0], "last10_mean_loss": statistics.mean(losses[-10:]), "losses": losses}
        print(f"input residual {residual:5s}: step-1 loss {losses[0]:.3f}, mean of the last 10 steps {rows[residual]['last10_mean_loss']:.3f}",
              flush=True)
    atomic_write_text(Path(args.out), json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
