"""Continue training a transplanted model (LoRA + new embedding rows) and export a merged HF folder.

How to run:
    python recipes/finetune.py --model runs/demo/model --train de-train.txt --eval de-heldout.txt --out runs/ft
    accelerate launch --num_processes 2 --cpu recipes/finetune.py ...        # DDP, two CPU processes (gloo)
    accelerate launch --num_processes 8 recipes/finetune.py ...               # eight GPUs
    python recipes/finetune.py --tiny --out /tmp/ft-tiny                       # in-process fixtures, seconds

Every FinetuneConfig field is a flag (`--lora-r 16`, `--embedding-stage-steps 20`, ...); see `retok finetune --help`.
Interrupt it and rerun the same command to resume from the last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from retok import transplant
from retok.training.finetune import FinetuneConfig, finetune
from retok.options import config_from_options
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer
from retok.textio import read_text


def tiny_model(folder: Path) -> Path:
    """A tiny transplanted model (English tiny Llama -> German tiny tokenizer), saved once to ``folder``.

    Its source (the teacher of ``--objective alm``) is saved beside it, in ``<folder>-source``.
    """
    if not (folder / "config.json").exists():
        from retok.loading import load_model

        source = folder.parent / f"{folder.name}-source"
        old = tiny_tokenizer(ENGLISH)
        tiny_llama(len(old)).save_pretrained(source)
        old.save_pretrained(source)
        transplant(load_model(source), tiny_tokenizer(GERMAN), "fvt", old_tokenizer=old).save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--train")
    parser.add_argument("--eval")
    parser.add_argument("--out", required=True)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="tiny in-process model and German sentences")
    parser.add_argument("--history", help="also write the run's history to this JSON file")
    for f in dataclasses.fields(FinetuneConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f"opt_{f.name}", default=argparse.SUPPRESS)
    args = parser.parse_args()
    config = config_from_options(FinetuneConfig, {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_")})
    if args.tiny:
        model = tiny_model(Path(args.model or tempfile.mkdtemp()) / "tiny-de")
        train, eval_text = GERMAN * 8, "\n".join(GERMAN[:4])
    else:
        if not (args.model and args.train):
            parser.error("--model and --train are required unless --tiny is given")
        model, train = args.model, args.train
        eval_text = read_text(args.eval, what="eval text") if args.eval else None
    result = finetune(model, train, args.out, config, eval_text=eval_text, overwrite=args.overwrite)
    if args.history:
        Path(args.history).write_text(json.dumps(result.history, indent=2) + "\n", encoding="utf-8")
    print(f"{result.steps} steps, {result.train_bytes} bytes, {result.seconds:.1f} s -> {result.out}")


if __name__ == "__main__":
    main()
