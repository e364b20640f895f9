"""The payoff of tokenizer transfer: transplanted + LoRA vs. the original tokenizer + LoRA, same text, same recipe.

Arms (``--arms``): ``control`` (the original tokenizer, LoRA, next-token loss), ``transplanted``
(the transplant, LoRA + new rows, next-token loss), ``alm`` (the same, distilled from the original
model through its own tokenizer, :mod:`retok.training.distill.objective`) and ``lm+alm`` (both losses, balanced by
gradient magnitude; ``lm+alm-decay``: the ALM term fading linearly to nothing over the run; ``lm+alm+hidden-decay``: plus hidden-state
alignment at chunk ends, all three balanced, the distillation terms fading; ``lm+alm+hidden-adapted``: the three
terms with the teacher's embeddings and head around the student's LoRA-adapted body, so the teacher adapts too). Every run sees the same training text (the first ``--train-bytes`` of the German LibreOffice training
paragraphs), one epoch, the same LoRA recipe and schedule; the budget is bytes, not tokens, so the
transplanted model (fewer tokens per byte) takes fewer steps. Held-out BPB (the project protocol) is
scored before and after on the full 64 KiB held-out text, and on an ``--curve-bytes`` slice every
``--eval-every`` steps for the curve.

How to run:
    python recipes/payoff.py --out runs/payoff                       # CPU: 512 KiB, ~45 min on 2 cores
    python recipes/payoff.py --out runs/payoff --train-bytes 65536   # a quick look
    python recipes/payoff.py --out runs/payoff --reuse docs/payoff-results.json --reuse-runs control transplanted
                                                                     # the distillation arms only; the lm rows are reused
    python recipes/payoff.py --out runs/payoff-again --rerender docs/payoff-results.json   # only the report of an earlier run
    python recipes/payoff.py --out runs/payoff-hypernet --method hypernet --options '{"hypernet": "runs/hypernet/hn"}' \
        --arms control transplanted --reuse docs/payoff-results.json # start from the hypernetwork; the control is reused
Writes results.json, results.md and curve.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from retok import assets, bits_per_byte, train_tokenizer, transplant
from retok.atomic import atomic_write_text
from retok.data import held_out_text, train_paragraphs
from retok.eval import markdown_table
from retok.training.finetune import FinetuneConfig, finetune, history_curve
from retok.loading import load_model, load_tokenizer
from retok.measure import measure

ARMS = ("control", "transplanted", "alm", "lm+alm", "lm+alm-decay", "lm+alm+hidden-decay", "lm+alm+hidden-adapted")


def score(model_dir: Path, text: str) -> dict:
    result = bits_per_byte(load_model(model_dir), load_tokenizer(model_dir), text, progress=False)
    return {"bpb": result.bpb, "tokens_per_byte": result.tokens_per_byte, "n_tokens": result.n_tokens}


def against_control(row: dict, rows: list[dict]) -> dict:
    """``vs control``: the BPB difference to the control; ``gap closed``: the share of the lm transplant's gap to it this arm closes."""
    by_name = {r["run"]: r["bpb_after"] for r in rows}
    if row["run"] == "control" or "control" not in by_name:
        return {}
    out = {"vs_control": f"{row['bpb_after'] - by_name['control']:+.3f}"}
    gap = by_name.get("transplanted", 0.0) - by_name["control"]
    if row["run"] != "transplanted" and "transplanted" in by_name and gap > 0:
        out["gap_closed"] = f"{(by_name['transplanted'] - row['bpb_after']) / gap:.0%}"
    return out


RECIPE_BATCH, RECIPE_SEQ_LEN = 4, 256  # sequences per step, tokens per sequence

COLUMNS = [("run", "run"), ("setup", "setup"), ("bpb_before", "BPB before"), ("bpb_after", "BPB after"),
           ("vs_control", "vs control"), ("gap_closed", "gap closed"),
           ("tokens_per_byte", "tokens/byte"), ("train_bytes", "train bytes"), ("train_tokens", "tokens trained"),
           ("steps", "steps"), ("train_seconds", "train s"), ("peak_rss_mb", "peak RSS MiB")]


def report(rows: list[dict]) -> str:
    """The results table of any subset of arms: the comparison columns appear only when their rows are there."""
    rows = [{**row, **against_control(row, rows)} for row in rows]
    return markdown_table(rows, [(key, header) for key, header in COLUMNS if any(key in row for row in rows)])


def check_report(names: list[str]) -> None:
    """Render the table of ``names`` from placeholder rows, so that a report that cannot be built fails before the training."""
    report([{"run": name, "setup": "", **{key: 0.0 for key, _ in COLUMNS if key not in ("run", "setup", "vs_control", "gap_closed")}}
            for name in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/payoff")
    parser.add_argument("--train-bytes", type=int, default=524288)
    parser.add_argument("--curve-bytes", type=int, default=8192)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--method", default="fvt")
    parser.add_argument("--options", default="{}", help='JSON options of the method, e.g. \'{"hypernet": "runs/hypernet/hn"}\'')
    parser.add_argument("--arms", nargs="+", default=list(ARMS[:4]), choices=list(ARMS), help="which runs (default: the first four)")
    parser.add_argument("--reuse", type=Path, help="a results.json of an earlier payoff run whose --reuse-runs rows to take instead of rerunning them")
    parser.add_argument("--reuse-runs", nargs="+", default=["control"], help="the rows of --reuse to take (default: control)")
    parser.add_argument("--rerender", type=Path, help="only write the report of this results.json (train tokens recounted) to --out")
    args = parser.parse_args()
    out = Path(args.out)
    if args.rerender:
        return rerender(args.rerender, out, args.curve_bytes)
    check_report(list(dict.fromkeys(args.arms)))  # before any training, not after it
    out.mkdir(parents=True, exist_ok=True)

    model_dir = assets.smollm2()
    corpus = assets.lohelp().text("de")
    train = train_paragraphs(corpus)
    heldout = held_out_text(corpus)
    curve_text = held_out_text(corpus, max_bytes=args.curve_bytes)
    transplanted = out / f"transplanted-{args.method}"
    if not transplanted.exists():
        old = load_tokenizer(model_dir)
        tokenizer = train_tokenizer(train, vocab_size=32000, like=old)
        transplant(load_model(model_dir), tokenizer, args.method, old_tokenizer=old, **json.loads(args.options)).save_pretrained(transplanted)
    if args.reuse:
        earlier = {r["run"]: r for r in json.loads(args.reuse.read_text())}
        for name in args.reuse_runs:
            if name in earlier and not (out / f"{name}.json").exists():
                atomic_write_text(out / f"{name}.json", json.dumps({**earlier[name], "reused_from": str(args.reuse)}, indent=2) + "\n")

    recipe = FinetuneConfig(
        train_bytes=args.train_bytes, seq_len=RECIPE_SEQ_LEN, batch_size=RECIPE_BATCH, lora_r=8, lora_alpha=16, lr=3e-4,
        embedding_lr=2e-3, warmup_steps=5, eval_every=args.eval_every, eval_bytes=args.curve_bytes, checkpoint_every=25,
    )
    swapped = replace(recipe, embeddings="new", embedding_stage_steps=20)
    runs = {
        "control": (model_dir, replace(recipe, embeddings="none", objective="lm"), "original tokenizer, LoRA"),
        "transplanted": (transplanted, replace(swapped, objective="lm"), f"{args.method} + LoRA + new rows"),
        "alm": (transplanted, replace(swapped, objective="alm"), f"{args.method} + LoRA + new rows, ALM from the original model"),
        "lm+alm": (transplanted, replace(swapped, objective="lm+alm"), f"{args.method} + LoRA + new rows, lm + ALM (balanced)"),
        "lm+alm-decay": (transplanted, replace(swapped, objective="lm+alm", alm_schedule="decay"),
                         f"{args.method} + LoRA + new rows, lm + ALM fading to 0"),
        "lm+alm+hidden-decay": (transplanted, replace(swapped, objective="lm+alm", hidden_weight=1.0, alm_schedule="decay"),
                                f"{args.method} + LoRA + new rows, lm + ALM + hidden states, fading to 0"),
        "lm+alm+hidden-adapted": (transplanted, replace(swapped, objective="lm+alm", hidden_weight=1.0, alm_teacher="adapted"),
                                  f"{args.method} + LoRA + new rows, lm + ALM + hidden states, teacher on the adapted body"),
    }
    rows = []
    for name in args.arms:
        start, config, label = runs[name]
        done = out / f"{name}.json"
        if done.exists():
            row = json.loads(done.read_text())
        else:
            before = score(start, heldout)
            with measure() as m:
                result = finetune(start, train, out / f"{name}-merged", config, eval_text=curve_text, overwrite=True)
            after = score(result.out, heldout)
            row = {
                "run": name, "setup": label, "objective": result.objective, "bpb_before": before["bpb"], "bpb_after": after["bpb"],
                "tokens_per_byte": after["tokens_per_byte"], "train_bytes": result.train_bytes,
                "train_tokens": result.trained_tokens, "steps": result.steps, "train_seconds": m.seconds,
                "peak_rss_mb": m.peak_rss_mb, "curve": history_curve(result.history),
            }
            atomic_write_text(done, json.dumps(row, indent=2) + "\n")
        rows.append(row)
        print(f"{name}: BPB {row['bpb_before']:.3f} -> {row['bpb_after']:.3f} in {row['steps']} steps ({row['train_seconds']:.0f} s)")

    write_report(out, rows, args.curve_bytes)


def write_report(out: Path, rows: list[dict], curve_bytes: int) -> None:
    """results.md, results.json and curve.png of ``rows`` in ``out``."""
    table = report(rows)
    atomic_write_text(out / "results.md", table)
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for row in rows:
        ax.plot([b / 1024 for b, _ in row["curve"]], [v for _, v in row["curve"]], marker="o", label=row["run"])
    ax.set_xlabel("training text seen (KiB)")
    ax.set_ylabel(f"held-out BPB ({curve_bytes // 1024} KiB slice)")
    ax.set_title("SmolLM2-135M, German: transplanted vs original tokenizer", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)
    print(f"wrote {out}/results.md, results.json, curve.png")


def rerender(results: Path, out: Path, curve_bytes: int) -> None:
    """The report of an earlier run's results.json, its ``train_tokens`` recounted as the tokens the optimizer saw.

    Runs before the fix recorded every packed token (the sequences short of a last batch included);
    every run of this recipe trains ``steps x RECIPE_BATCH x RECIPE_SEQ_LEN`` tokens.
    """
    rows = [{**row, "train_tokens": row["steps"] * RECIPE_BATCH * RECIPE_SEQ_LEN} for row in json.loads(results.read_text())]
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, rows, curve_bytes)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
