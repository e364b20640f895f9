"""Copy a run's generated table into README.md (never type result tables by hand).

How to run:
    python recipes/readme_table.py demo runs/demo        # after `make demo`
    python recipes/readme_table.py payoff runs/payoff    # after `python recipes/payoff.py`
    python recipes/readme_table.py init runs/init-benchmark     # after `python recipes/init_benchmark.py`
    python recipes/readme_table.py large-source runs/init-large-source  # after `python recipes/init_large_source.py`
    python recipes/readme_table.py supertokens runs/supertokens  # after `python recipes/supertokens.py`
    python recipes/readme_table.py hypernet runs/hypernet-benchmark  # after `python recipes/hypernet_benchmark.py`
    python recipes/readme_table.py hypernet-longer runs/hypernet-benchmark-400  # the same benchmark for a --steps 400 hypernetwork
    python recipes/readme_table.py tasks $(retok assets --path lm-eval-tasks)  # the lm-eval tasks as built
    python recipes/readme_table.py task-check runs/task-check  # after `python recipes/task_check.py`
    python recipes/readme_table.py zip2zip runs/zip2zip-benchmark  # after `python recipes/zip2zip_benchmark.py`
    python recipes/readme_table.py donor runs/donor-benchmark  # after `python recipes/donor_benchmark.py`
    python recipes/readme_table.py large-vocab runs/large-vocab-benchmark  # after `python recipes/large_vocab_benchmark.py`
    python recipes/readme_table.py large-checkpoint runs/large-checkpoint.json  # after `python recipes/large_checkpoint.py`
    python recipes/readme_table.py moved -     # the "Moved modules" table, from retok.moved and hypernet.moved
The table goes between the README's `<!-- NAME-table:start -->` and `<!-- NAME-table:end -->` markers.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def render_demo(run: Path) -> str:
    generation = json.loads((run / "results.json").read_text(encoding="utf-8"))["generation"]
    return (
        (run / "results.md").read_text(encoding="utf-8")
        + f"\nGerman generation from the saved `{generation['method']}` model (greedy, zero-shot, no training):\n\n"
        + f"```text\n{generation['text']}\n```\n"
    )


def render_payoff(run: Path) -> str:
    """The payoff table, plus its figure and JSON copied to docs/ (runs/ is not committed)."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(run / "payoff.png", docs / "payoff.png")
    shutil.copyfile(run / "results.json", docs / "payoff-results.json")
    return (run / "results.md").read_text(encoding="utf-8") + "\n![German BPB while training, German vs English BPB, task accuracies](docs/payoff.png)\n"


def render_tasks(folder: Path) -> str:
    """retok's lm-eval tasks as built (``index.json`` of the task folder: items, metric, chance)."""
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))["tasks"]
    rows = [f"| `{name}` | {t['what']} | {t['items']} | {t['metric']} | {t['chance'] if t['chance'] is not None else ''} |"
            for name, t in index.items()]
    return "\n".join(["| task | asks | items | metric | chance |", "|---|---|---:|---|---:|", *rows, ""])


def render_task_check(run: Path) -> str:
    return (run / "results.md").read_text(encoding="utf-8")


def render_init(run: Path) -> str:
    """The initializer table and its targets, plus the bar chart copied to docs/."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(run / "bpb.png", docs / "init-benchmark.png")
    shutil.copyfile(run / "results.json", docs / "init-benchmark-results.json")
    targets = json.loads((run / "results.json").read_text(encoding="utf-8"))["targets"]
    lines = [f"- best retok heuristic: {targets['best_retok']['label']}, {targets['best_retok']['bpb']:.3f} BPB (target <= 2.10)"]
    if "repeats" in targets:
        lines.append(f"- init s: the median of {targets['repeats']} runs, each in a fresh process; peak RSS: the largest of them")
    for method in ("wechsel", "focus"):
        if method in targets:
            t = targets[method]
            goal = t.get("target_speedup")
            verdict = "" if goal is None else f" (target >= {goal:g}x: {'met' if t['met'] else 'missed'})"
            lines.append(
                f"- {method}: retok {t['bpb_ours']:.3f} (paper setting {t['bpb_ours_paper_setting']:.3f}) vs reference "
                f"{t['bpb_reference']:.3f} BPB; init time reference / retok = {t['speedup']:.2f}x "
                f"(paper setting {t['speedup_paper_setting']:.2f}x){verdict}"
                + (
                    f"; without loading the two fastText files, which the reference's timing leaves out: "
                    f"{t['speedup_same_work']:.2f}x (paper setting {t['speedup_paper_setting_same_work']:.2f}x)"
                    if "speedup_same_work" in t else ""
                )
            )
    if "warmup_seconds" in targets:
        cold = ", ".join(f"{k} {v:.1f} s" for k, v in targets["warmup_seconds"].items())
        lines.append(f"- per-source caches (compose fit, MiniLM encodings) filled by one untimed call each before the timed rows: {cold}")
    below = targets["below_fvt"]
    lines.append("- retok rows worse than fvt: " + (", ".join(below) if below else "none"))
    return (run / "results.md").read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n\n![zero-shot BPB per initializer](docs/init-benchmark.png)\n"


def render_large_source(run: Path) -> str:
    """Every initializer's time and peak RSS with Gemma-3-270m's 262k vocabulary as the source; results.json copied to docs/."""
    shutil.copyfile(run / "results.json", Path(__file__).resolve().parents[1] / "docs" / "init-large-source-results.json")
    targets = json.loads((run / "results.json").read_text(encoding="utf-8"))["targets"]
    over = ", ".join(f"{o['target']} {o['label']} ({o['peak_rss_mib']:.0f} MiB)" for o in targets["over_limit"]) or "none"
    cold = ", ".join(f"{k} {v:.1f} s" for k, v in targets["warmup_seconds"].items())
    lines = [f"- every method <= {targets['limit_mib']:.0f} MiB peak RSS: {'met' if targets['met'] else 'missed'} (over: {over})",
             f"- per-source caches filled by one untimed call each before the timed rows: {cold}"]
    return (run / "results.md").read_text(encoding="utf-8").rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"


def hypernet_targets(run: Path) -> list[str]:
    """The hypernetwork benchmark's targets, one line each."""
    t = json.loads((run / "results.json").read_text(encoding="utf-8"))["targets"]
    c = t["canonical"]
    lines = [f"- canonical task: hypernet {c['bpb']:.3f} BPB (target <= {c['target']}: {'met' if c['met'] else 'missed'}; "
             f"stretch <= {c['stretch']}: {'met' if c['stretch_met'] else 'missed'})"]
    for target, b in t["beats_every_heuristic"].items():
        lines.append(f"- {target}: hypernet {b['hypernet']:.3f} vs best heuristic {b['best_heuristic']} {b['best_heuristic_bpb']:.3f} "
                     f"({'better' if b['met'] else 'not better'}); never worse than fvt: {t['never_worse_than_fvt'][target]}")
    p = t["prediction_262k"]
    lines.append(f"- 262k-token target: {p['seconds']:.1f} s, peak RSS {p['peak_rss_mib']:.0f} MiB (targets < 120 s, < 4096 MiB: "
                 f"{'met' if p['met'] else 'missed'})")
    return lines


def render_hypernet(run: Path) -> str:
    """The hypernetwork benchmark's tables and targets, plus its bar chart copied to docs/."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(run / "bpb.png", docs / "hypernet-benchmark.png")
    shutil.copyfile(run / "results.json", docs / "hypernet-benchmark-results.json")
    lines = hypernet_targets(run)
    return (run / "results.md").read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n\n![zero-shot BPB per initializer and target](docs/hypernet-benchmark.png)\n"


def render_hypernet_longer(run: Path) -> str:
    """A second hypernetwork run (other settings): its table and targets; the JSON copied to docs/."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    shutil.copyfile(run / "results.json", docs / f"{run.name}-results.json")
    return (run / "results.md").read_text(encoding="utf-8") + "\n" + "\n".join(hypernet_targets(run)) + "\n"


def render_supertokens(run: Path) -> str:
    return (run / "results.md").read_text(encoding="utf-8")


def with_figure(run: Path, name: str, figure: str, caption: str) -> str:
    """A run's results.md plus its figure; the figure and results.json are copied to docs/ as ``<name>-benchmark.*``."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(run / figure, docs / f"{name}-benchmark.png")
    shutil.copyfile(run / "results.json", docs / f"{name}-benchmark-results.json")
    return (run / "results.md").read_text(encoding="utf-8") + f"\n![{caption}](docs/{name}-benchmark.png)\n"


def render_zip2zip(run: Path) -> str:
    """The zip2zip benchmark's tables and targets, plus its figure and JSON copied to docs/."""
    return with_figure(run, "zip2zip", "zip2zip.png", "compression per domain and held-out BPB")


def render_dynamic(run: Path) -> str:
    """The dynamic-tokenization / large-vocabulary benchmark's tables and targets, plus its figure and JSON copied to docs/."""
    return with_figure(run, "dynamic", "dynamic.png", "continuation BPB vs context reduction; decoding step time")


def render_large_vocab(run: Path) -> str:
    """The million-entry vocabulary per kind of rows (``recipes/large_vocab_benchmark.py``), plus its figure and JSON copied to docs/."""
    return with_figure(run, "large-vocab", "large_vocab.png", "bytes per step, distinct 4-grams and BPB under each vocabulary")


def render_donor(run: Path) -> str:
    """The donor-transplant benchmark (retok and tokensurgeon rows, targets), plus its figure and JSON copied to docs/."""
    return with_figure(run, "donor", "bpb.png", "zero-shot BPB of Gemma-3-270m with SmolLM2's tokenizer, per method")


def render_large_checkpoint(run: Path) -> str:
    """The checkpoint-path benchmark: synthetic 3B/8B-shaped rows and the real-model rows (``recipes/large_checkpoint.py``)."""
    from large_checkpoint import markdown  # the recipe's own table, one definition

    docs = Path(__file__).resolve().parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(run, docs / "large-checkpoint-results.json")
    return markdown(json.loads(run.read_text(encoding="utf-8"))["rows"])


def render_moved(_: Path) -> str:
    """The "Moved modules" table, from the two tables that make the old paths importable (no run needed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hypernet.moved import HYPERNET_MOVED
    from retok.moved import REMOVED_IN, RETOK_MOVED

    rows = [f"| `{old}` | `{new}` |" for old, new in {**RETOK_MOVED, **HYPERNET_MOVED}.items()]
    return "\n".join([f"Old paths import until retok {REMOVED_IN} (with a `DeprecationWarning`):", "", "| old module | now |", "|---|---|", *rows, ""])


RENDERERS = {"moved": render_moved, "demo": render_demo, "payoff": render_payoff, "init": render_init, "large-source": render_large_source, "supertokens": render_supertokens,
             "hypernet": render_hypernet, "hypernet-longer": render_hypernet_longer,
             "tasks": render_tasks, "task-check": render_task_check, "zip2zip": render_zip2zip,
             "dynamic": render_dynamic, "large-vocab": render_large_vocab, "donor": render_donor, "large-checkpoint": render_large_checkpoint}


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in RENDERERS:
        raise SystemExit(f"usage: readme_table.py {{{'|'.join(RENDERERS)}}} RUN_DIR")
    name, run = sys.argv[1], Path(sys.argv[2])
    start, end = f"<!-- {name}-table:start -->", f"<!-- {name}-table:end -->"
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{RENDERERS[name](run)}{end}{tail}", encoding="utf-8")
    print(f"updated {readme} from {run}")


if __name__ == "__main__":
    main()
