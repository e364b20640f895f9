"""``retok train-hypernet``: the command this package adds to ``retok`` (entry point group ``retok.commands``).

Building the parser imports only the config dataclass, so ``retok --help`` and argument errors stay
instant; the training code (torch, transformers) is imported when the command runs.
"""

from __future__ import annotations

import argparse

from retok.catalog import describe_config
from retok.cli import add_config_flags, add_resume_flag, given_options

from .config import TrainConfig


def cmd_train_hypernet(args: argparse.Namespace) -> int:
    from retok.atomic import check_output_dir
    from retok.options import config_from_options

    described = {"config": "TrainConfig", "options": describe_config(TrainConfig)}
    config = config_from_options(TrainConfig, given_options(args, described))
    check_output_dir(args.out, overwrite=args.overwrite)  # before the model is loaded, not after training

    from .training import train

    result = train(args.model, args.train, args.out, config, tokenizer=args.tokenizer, separator=args.separator,
                   overwrite=args.overwrite, fresh=args.fresh)
    if result.finished:
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items())
        print(f"trained a hypernetwork for {args.model} ({parts}); saved to {result.out}")
        print(f"use it: retok transplant --model {args.model} --tokenizer NEW --method hypernet --hypernet {result.out} --out DIR")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    """Add ``train-hypernet`` to the ``retok`` subcommands."""
    p = sub.add_parser("train-hypernet", help="train a ZeTT hypernetwork for a source model (then --method hypernet)")
    p.add_argument("--model", required=True, help="the source causal LM: HF folder or hub id (stays frozen)")
    p.add_argument("--tokenizer", help="the model's tokenizer (default: the one in --model)")
    p.add_argument("--separator", help="the token that starts every training window (default: <|endoftext|> or the tokenizer's bos)")
    p.add_argument("--train", action="append",
                   help="UTF-8 training text, one paragraph per line (repeatable; default: the English and German training "
                        "paragraphs of the demo corpus, fetched once)")
    p.add_argument("--out", required=True, help="hypernetwork folder (checkpoints go to <out>.partial; rerun to resume)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (and a <out>.partial of other settings)")
    add_resume_flag(p)
    add_config_flags(p, describe_config(TrainConfig))
    p.set_defaults(func=cmd_train_hypernet)


__all__ = ["add_command", "cmd_train_hypernet"]
