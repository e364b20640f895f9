"""lm-eval's bits per byte against `retok eval`'s on the canonical task (German held-out text), per model.

For each model: `retok eval --heldout` (retok's protocol: every 256-token window starts with the separator), the
same windows started as lm-eval starts them (`--window-start previous`: every window after the first begins with
the previous window's last token), and lm-eval's own `bits_per_byte` on the task `retok_bpb_de` (`retok eval
--tasks retok_bpb_de`, `max_length=256`, the separator as prefix token). The second and third must be equal; the
first and third differ only by where each window starts.

How to run:
    python recipes/task_check.py --out runs/task-check                     # SmolLM2 and its fvt transplant
    python recipes/task_check.py --out runs/task-check --models DIR ...    # any saved folders
Writes results.json and results.md to --out.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from retok import assets, bits_per_byte, train_tokenizer, transplant
from retok.atomic import atomic_write_text
from retok.data import held_out_text, train_paragraphs
from retok.eval import markdown_table
from retok.loading import load_model, load_tokenizer
from retok.tasks import evaluate
from retok.transfer.transplant import saved_separator

COLUMNS = [("model", "model"), ("retok", "retok eval (separator starts)"), ("previous", "retok eval --window-start previous"),
           ("lm_eval", "lm-eval bits_per_byte"), ("same_windows", "previous vs lm-eval"), ("protocols", "retok vs lm-eval"),
           ("windows", "windows")]


def fvt_transplant(out: Path) -> Path:
    folder = out / "transplanted-fvt"
    if not folder.exists():
        model_dir = assets.smollm2()
        old = load_tokenizer(model_dir)
        tokenizer = train_tokenizer(train_paragraphs(assets.lohelp().text("de")), vocab_size=32000, like=old)
        transplant(load_model(model_dir), tokenizer, "fvt", old_tokenizer=old).save_pretrained(folder)
    return folder


def check(model_dir: Path, name: str, text: str) -> dict:
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    separator = saved_separator(model_dir)
    ours = bits_per_byte(model, tokenizer, text, separator=separator, progress=False)
    previous = bits_per_byte(model, tokenizer, text, separator=separator, progress=False, window_start="previous")
    theirs = evaluate(model_dir, ["retok_bpb_de"], batch_size=8, progress=False).metrics("retok_bpb_de")["bits_per_byte"]
    return {"model": name, "retok": ours.bpb, "previous": previous.bpb, "lm_eval": theirs,
            "same_windows": f"{theirs / previous.bpb - 1:+.2e}", "protocols": f"{theirs / ours.bpb - 1:+.2%}", "windows": ours.n_windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/task-check")
    parser.add_argument("--models", nargs="*", type=Path, help="saved folders (default: SmolLM2 and its fvt transplant onto German 32k)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = held_out_text(assets.lohelp().text("de"))
    models = [(m, m.name) for m in args.models] if args.models else [
        (assets.smollm2(), "SmolLM2-135M, its own tokenizer"), (fvt_transplant(out), "SmolLM2-135M, fvt onto German 32k")]
    rows = [check(folder, name, text) for folder, name in models]
    table = markdown_table(rows, COLUMNS, floatfmt=".4f")
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    atomic_write_text(out / "results.md", table)
    print(table)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
