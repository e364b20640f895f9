"""The payoff of tokenizer transfer: each way of training after the swap against the original tokenizer + LoRA.

Arms (``--arms``, :data:`ARMS`): ``control`` (the original tokenizer, LoRA, next-token loss); from the fvt
transplant, ``fvt+lm`` (LoRA + new rows, next-token loss), ``fvt+alm`` (distilled from the original model through
its own tokenizer, :mod:`retok.training.distill.objective`), ``fvt+lm+alm`` (both, balanced by gradient magnitude),
``fvt+lm+alm-decay`` (the ALM term fading linearly to 0), ``fvt+lm+alm-adapted`` (the teacher's embeddings around
the student's adapting body); from the hypernetwork's transplant (``--hypernet``), ``hypernet+lm`` and
``hypernet+lm+alm``. Every run sees the same training text (the first ``--train-bytes`` of the German LibreOffice
training paragraphs), one epoch, the same LoRA recipe and schedule; the budget is bytes, not tokens, so a transplanted
model (fewer tokens per byte) takes fewer steps. German held-out BPB (the project protocol) is scored before and after
on the full 64 KiB held-out text, and on a ``--curve-bytes`` slice every ``--eval-every`` steps for the curve.

Then every trained model, plus the untrained ones (``original``, ``fvt``, ``hypernet``: zero-shot), is scored on
English held-out BPB (what the adaptation costs outside its domain) and on retok's lm-eval tasks (``--tasks``,
:mod:`retok.tasks`; ``--tasks none`` skips them). Training and scoring are separate stages: each arm's training is
kept in ``<arm>.json``, each model's scores in ``<arm>.scores.json``, so a rerun does only what is missing and an
interrupted arm resumes from its checkpoints.

How to run:
    python recipes/payoff.py --out runs/payoff                       # CPU: 512 KiB, hours on 2 cores for every arm
    python recipes/payoff.py --out runs/payoff --arms control fvt+lm --train-bytes 65536   # a quick look
    python recipes/payoff.py --out runs/payoff --stage train         # train every arm, score later
    python recipes/payoff.py --out runs/payoff --rerender            # only the report of what is there
Writes results.json, results.md and payoff.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from retok import assets, bits_per_byte, train_tokenizer, transplant
from retok.atomic import atomic_write_text
from retok.data import held_out_text, train_paragraphs
from retok.eval import markdown_table
from retok.loading import load_model, load_tokenizer
from retok.measure import measure
from retok.tasks import TASKS
from retok.training.finetune import FinetuneConfig, finetune, history_curve

RECIPE_BATCH, RECIPE_SEQ_LEN = 4, 256  # sequences per step, tokens per sequence
RECIPE = FinetuneConfig(
    train_bytes=524288, seq_len=RECIPE_SEQ_LEN, batch_size=RECIPE_BATCH, lora_r=8, lora_alpha=16, lr=3e-4,
    embedding_lr=2e-3, warmup_steps=5, eval_every=25, eval_bytes=8192, checkpoint_every=25,
)


@dataclass(frozen=True)
class Arm:
    """One training run: where it starts (``original``, ``fvt`` or ``hypernet``), what changes in the recipe, its label."""

    start: str
    changes: dict
    setup: str


_SWAPPED = {"embeddings": "new", "embedding_stage_steps": 20}
ARMS: dict[str, Arm] = {
    "control": Arm("original", {"embeddings": "none", "objective": "lm"}, "original tokenizer, LoRA"),
    "fvt+lm": Arm("fvt", {**_SWAPPED, "objective": "lm"}, "fvt + LoRA + new rows"),
    "hypernet+lm": Arm("hypernet", {**_SWAPPED, "objective": "lm"}, "hypernet + LoRA + new rows"),
    "fvt+alm": Arm("fvt", {**_SWAPPED, "objective": "alm"}, "fvt + LoRA + new rows, ALM only"),
    "fvt+lm+alm": Arm("fvt", {**_SWAPPED, "objective": "lm+alm"}, "fvt + LoRA + new rows, lm + ALM (balanced)"),
    "fvt+lm+alm-decay": Arm("fvt", {**_SWAPPED, "objective": "lm+alm", "alm_schedule": "decay"},
                            "fvt + LoRA + new rows, lm + ALM fading to 0"),
    "fvt+lm+alm-adapted": Arm("fvt", {**_SWAPPED, "objective": "lm+alm", "alm_teacher": "adapted"},
                              "fvt + LoRA + new rows, lm + ALM, teacher on the adapted body"),
    "hypernet+lm+alm": Arm("hypernet", {**_SWAPPED, "objective": "lm+alm"}, "hypernet + LoRA + new rows, lm + ALM (balanced)"),
}
ZERO_SHOT = {"original": "SmolLM2, its own tokenizer, no training", "fvt": "fvt transplant, no training",
             "hypernet": "hypernet transplant, no training"}
DEFAULT_TASKS = ("retok_translate_en_de", "retok_parallel_en_de", "retok_cloze_de")
#: the metric each task reports in the table: the catalog's (translation and cloze candidates are matched in length;
#: the parallel task's paragraphs are not, so it reports acc_mutual_info)
TASK_METRIC = {name: TASKS[name].metric for name in DEFAULT_TASKS}


def score_bpb(model_dir: Path, text: str) -> dict:
    result = bits_per_byte(load_model(model_dir), load_tokenizer(model_dir), text, progress=False)
    return {"bpb": result.bpb, "tokens_per_byte": result.tokens_per_byte, "n_tokens": result.n_tokens}


# ----------------------------------------------------------------------------- report

COLUMNS = [("run", "run"), ("setup", "setup"), ("bpb_before", "de BPB before"), ("bpb_after", "de BPB after"),
           ("vs_control", "de vs control"), ("bpb_en", "en BPB"), ("en_lost", "en BPB lost"),
           ("retok_translate_en_de", "translation acc"), ("retok_parallel_en_de", f"parallel {TASK_METRIC['retok_parallel_en_de']}"),
           ("retok_cloze_de", "cloze acc"), ("tokens_per_byte", "tokens/byte"), ("steps", "steps"),
           ("train_seconds", "train s"), ("peak_rss_mb", "peak RSS MiB")]


def flatten(row: dict) -> dict:
    """A row with its task scores as ``task -> "0.512 ± 0.022"`` cells and English BPB lost against the original."""
    out = {k: v for k, v in row.items() if k not in ("tasks", "curve")}
    for task, metrics in row.get("tasks", {}).items():
        metric = TASK_METRIC.get(task, "acc")
        if metric in metrics:
            out[task] = f"{metrics[metric]:.3f} ± {metrics.get(metric + '_stderr', 0.0):.3f}"
    return out


def against(row: dict, rows: list[dict]) -> dict:
    """``de vs control``: the German BPB difference to the control; ``en BPB lost``: English BPB above the original model's."""
    out = {}
    control = next((r for r in rows if r["run"] == "control"), None)
    if control and row["run"] != "control" and "bpb_after" in row:
        out["vs_control"] = f"{row['bpb_after'] - control['bpb_after']:+.3f}"
    original = next((r for r in rows if r["run"] == "original"), None)
    if original and "bpb_en" in original and "bpb_en" in row and row["run"] != "original":
        out["en_lost"] = f"{row['bpb_en'] - original['bpb_en']:+.3f}"
    return out


def report(rows: list[dict]) -> str:
    """The results table of any subset of rows: a column appears only when some row has it."""
    flat = [{**flatten(row), **against(row, rows)} for row in rows]
    return markdown_table(flat, [(key, header) for key, header in COLUMNS if any(key in row for row in flat)])


def check_report(names: list[str]) -> None:
    """Render the table of ``names`` from placeholder rows, so that a report that cannot be built fails before the training."""
    report([{"run": name, "setup": "", "bpb_after": 0.0, "bpb_en": 0.0, "tasks": {t: {TASK_METRIC[t]: 0.0} for t in TASK_METRIC}}
            for name in names])


def plot(rows: list[dict], out: Path, curve_bytes: int) -> None:
    """payoff.png: the German curve, German against English BPB, and the task accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, trade, tasks) = plt.subplots(1, 3, figsize=(15, 4.2))
    palette = plt.get_cmap("tab20").colors
    colour = {row["run"]: palette[i % len(palette)] for i, row in enumerate(rows)}  # one colour per run in every panel
    for row in rows:
        if row.get("curve"):
            curve.plot([b / 1024 for b, _ in row["curve"]], [v for _, v in row["curve"]], marker=".", label=row["run"],
                       color=colour[row["run"]])
    curve.set(xlabel="training text seen (KiB)", ylabel=f"held-out de BPB ({curve_bytes // 1024} KiB slice)", title="German while training")
    curve.legend(fontsize=7)
    scored = [r for r in rows if "bpb_en" in r and ("bpb_after" in r or "bpb" in r)]
    for row in scored:
        de = row.get("bpb_after", row.get("bpb"))
        trade.scatter(de, row["bpb_en"], s=22, color=colour[row["run"]], label=row["run"])
    trade.set(xlabel="held-out de BPB", ylabel="held-out en BPB", title="in domain vs outside it (lower is better)")
    trade.legend(fontsize=6, ncol=2)
    with_tasks = [r for r in rows if r.get("tasks")]
    names = [t for t in TASK_METRIC if any(t in r["tasks"] for r in with_tasks)]
    width = 0.8 / max(1, len(with_tasks))
    for i, row in enumerate(with_tasks):
        values = [row["tasks"].get(t, {}).get(TASK_METRIC[t], 0.0) for t in names]
        tasks.bar([j + i * width for j in range(len(names))], values, width, label=row["run"], color=colour[row["run"]])
    tasks.axhline(0.25, color="grey", linestyle=":", linewidth=1, label="chance")
    tasks.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], [n.removeprefix("retok_") for n in names], fontsize=8)
    tasks.set(ylabel="accuracy", title="lm-eval tasks (4 candidates)", ylim=(0, 1))
    tasks.legend(fontsize=6, ncol=2)
    fig.suptitle("SmolLM2-135M, German: training after the swap", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "payoff.png", dpi=120)


def write_report(out: Path, rows: list[dict], curve_bytes: int) -> None:
    table = report(rows)
    atomic_write_text(out / "results.md", table)
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    plot(rows, out, curve_bytes)
    print(table)
    print(f"wrote {out}/results.md, results.json, payoff.png")


# ----------------------------------------------------------------------------- stages


def starts(out: Path, hypernet: Path | None, needed: set[str]) -> dict[str, Path]:
    """The model folder each start names: the original model, and its transplants onto one German 32k tokenizer."""
    model_dir = assets.smollm2()
    folders = {"original": model_dir}
    options = {"fvt": {}, "hypernet": {"hypernet": str(hypernet)} if hypernet else None}
    tokenizer = None
    for method in ("fvt", "hypernet"):
        if method not in needed:
            continue
        folder = out / f"transplanted-{method}"
        if not folder.exists():
            if options[method] is None:
                raise SystemExit(f"arm(s) starting from the hypernetwork need --hypernet DIR (retok train-hypernet --model {model_dir} --out DIR)")
            old = load_tokenizer(model_dir)
            tokenizer = tokenizer or train_tokenizer(train_paragraphs(assets.lohelp().text("de")), vocab_size=32000, like=old)
            transplant(load_model(model_dir), tokenizer, method, old_tokenizer=old, **options[method]).save_pretrained(folder)
        folders[method] = folder
    return folders


def train_arm(name: str, start: Path, out: Path, recipe: FinetuneConfig, train: list[str], heldout: str, curve_text: str) -> dict:
    arm = ARMS[name]
    config = replace(recipe, **arm.changes)
    before = score_bpb(start, heldout)
    with measure() as m:
        result = finetune(start, train, out / f"{name}-merged", config, eval_text=curve_text, overwrite=True)
    after = score_bpb(result.out, heldout)
    return {
        "run": name, "setup": arm.setup, "objective": result.objective, "bpb_before": before["bpb"], "bpb_after": after["bpb"],
        "tokens_per_byte": after["tokens_per_byte"], "train_bytes": result.train_bytes, "train_tokens": result.trained_tokens,
        "steps": result.steps, "train_seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb, "curve": history_curve(result.history),
    }


def score_model(model_dir: Path, english: str, tasks: list[str], batch_size: int) -> dict:
    """English held-out BPB and the lm-eval task metrics of one saved folder."""
    scores: dict = {"bpb_en": score_bpb(model_dir, english)["bpb"]}
    if tasks:
        from retok.tasks import evaluate

        results = evaluate(model_dir, tasks, batch_size=batch_size, progress=False)
        scores["tasks"] = {task: results.metrics(task) for task in tasks}
    return scores


def cached(path: Path, compute) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/payoff")
    parser.add_argument("--train-bytes", type=int, default=RECIPE.train_bytes)
    parser.add_argument("--curve-bytes", type=int, default=RECIPE.eval_bytes)
    parser.add_argument("--eval-every", type=int, default=RECIPE.eval_every)
    parser.add_argument("--hypernet", type=Path, help="a trained hypernetwork (retok train-hypernet) for the arms that start from it")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS), help="which runs, in this order (default: all)")
    parser.add_argument("--zero-shot", nargs="*", default=list(ZERO_SHOT), choices=list(ZERO_SHOT), help="untrained models to score too")
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), help="lm-eval tasks to score (retok eval --tasks list); none: skip")
    parser.add_argument("--task-batch-size", type=int, default=16)
    parser.add_argument("--stage", choices=("all", "train", "score"), default="all", help="train the arms, score the models, or both")
    parser.add_argument("--rerender", action="store_true", help="only write the report of what --out holds")
    args = parser.parse_args()
    out = Path(args.out)
    tasks = [] if args.tasks == ["none"] else args.tasks
    names = list(dict.fromkeys(args.arms))
    check_report([*args.zero_shot, *names])  # before any training, not after it
    out.mkdir(parents=True, exist_ok=True)

    if not args.rerender:
        needed = {ARMS[n].start for n in names} | set(args.zero_shot)
        folders = starts(out, args.hypernet, needed)
        corpus = assets.lohelp().text("de")
        recipe = replace(RECIPE, train_bytes=args.train_bytes, eval_every=args.eval_every, eval_bytes=args.curve_bytes)
        if args.stage in ("all", "train"):
            train, heldout = train_paragraphs(corpus), held_out_text(corpus)
            curve_text = held_out_text(corpus, max_bytes=args.curve_bytes)
            for name in names:
                row = cached(out / f"{name}.json", lambda: train_arm(name, folders[ARMS[name].start], out, recipe, train, heldout, curve_text))
                print(f"{name}: de BPB {row['bpb_before']:.3f} -> {row['bpb_after']:.3f} in {row['steps']} steps ({row['train_seconds']:.0f} s)")
        if args.stage in ("all", "score"):
            english = held_out_text(assets.lohelp().text("en"))
            heldout = held_out_text(corpus)
            for name in args.zero_shot:
                cached(out / f"{name}.json", lambda: {"run": name, "setup": ZERO_SHOT[name], "bpb_after": score_bpb(folders[name], heldout)["bpb"], "steps": 0})
            for name in [*args.zero_shot, *names]:
                model = folders[name] if name in ZERO_SHOT else out / f"{name}-merged"
                if (out / f"{name}.json").exists():
                    scores = cached(out / f"{name}.scores.json", lambda: score_model(model, english, tasks, args.task_batch_size))
                    print(f"{name}: en BPB {scores['bpb_en']:.3f}", scores.get("tasks", ""))

    rows = []
    for name in [*args.zero_shot, *names]:
        if (out / f"{name}.json").exists():
            row = json.loads((out / f"{name}.json").read_text())
            if (out / f"{name}.scores.json").exists():
                row.update(json.loads((out / f"{name}.scores.json").read_text()))
            rows.append(row)
    write_report(out, rows, args.curve_bytes)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
