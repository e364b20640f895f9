#!/usr/bin/env python
"""Side-by-side benchmark of embedding initializers, retok's and the reference packages', on one task.

SmolLM2-135M -> German byte-level BPE 32k (trained on the German LibreOffice training paragraphs),
zero-shot BPB on the 64 KiB held-out German text (the project protocol, ``retok.eval``). Every
method gets the same inputs, built once here and cached:

* fastText word vectors for English (all English help text) and German (training paragraphs),
  dim 100, 10 epochs, min_count 3 (retok's ``train_fasttext``);
* a token-level German fastText model for FOCUS (text tokenized by the target tokenizer, FOCUS's
  settings: cbow, dim 100, 3 epochs, min_count 10); all fastText models trained with one thread,
  so they are the same on every machine and run;
* the FreeDict eng-deu dictionary (Debian), as a TSV;
* the source embedding matrix and both tokenizers, as files.

Each initializer runs ``--repeats`` times (3; the median time is reported), each run in its own
process (``recipes/retok_init.py`` for retok, ``recipes/reference_init.py`` in ``.venv-ref`` for
``wechsel==0.0.4`` and ``deepfocus==1.0.1``), which times only the initialization and reads its
peak RSS from the kernel; every input file is read once before each run, so no row pays for the
disk. The last run's matrix is then scored here. Rows are cached in ``<out>.partial/`` so an
interrupted run resumes.

retok caches two things per source model that do not depend on the target: the ``compose`` fit
(also the default prior of wechsel, focus and tokenadapt) and the MiniLM encodings of token
strings. Both are warmed once before the timed rows (``warmup.json`` records their cold cost), so
each row times the method's own work, as a user's second transplant from the same model would.
The reference WECHSEL takes loaded fastText models, so its time excludes loading them; retok's
wechsel loads its two ``.bin`` files inside the call, and the speedup is also given without that
load ("same work").

    python recipes/init_benchmark.py --out runs/init-benchmark            # ~25 min on 2 cores
    bash recipes/reference_env.sh                                         # once, for the reference rows

Writes results.json, results.md and bpb.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from retok import assets
from retok.atomic import atomic_write_text, check_output_dir
from retok.training.checkpoints import cached_json, resume_or_start
from retok.data import held_out_text, train_paragraphs
from retok.transfer.embeddings import TokenEmbeddings
from retok.eval import bits_per_byte, markdown_table
from retok.transfer.initializers.focus import FOCUSConfig, token_level_model
from retok.loading import load_model, load_tokenizer
from retok.transfer.static import freedict, train_fasttext
from retok.vocab.train import save_tokenizer, train_tokenizer

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
# = retok's WordVectorOptions defaults; one thread, so that the vectors (and every row) are the same on every run
WORD_VECTORS = {"dim": 100, "epochs": 10, "min_count": 3, "threads": 1, "bucket": 2_000_000}  # bucket: fastText's own default
TARGET_SPEEDUP = 3.0  # every retok init at least this many times faster than its reference, in both settings
TOKENIZER_NAMES = {"tokenizer": "de-bpe-32k", "supertokenizer": "de-bpe-32k-supertokens"}
COLUMNS = [
    ("label", "initializer"),
    ("implementation", "implementation"),
    ("tokenizer", "tokenizer"),
    ("bpb", "BPB (held-out de)"),
    ("tokens_per_byte", "tokens/byte"),
    ("init_seconds", "init s"),
    ("init_peak_rss_mib", "init peak RSS MiB"),
]


def rows_to_run(inputs: dict[str, str]) -> list[dict[str, Any]]:
    """(label, implementation, method, options) of every row; the supertoken row is added at the end."""
    words = {"source_vectors": inputs["en_vectors"], "target_vectors": inputs["de_vectors"], "dictionary": inputs["dictionary"]}
    paper = {"prior_weight": 0.0, "fallback": "random"}  # the published method: no subword prior, random rows
    retok = [
        ("mean", "mean", {}),
        ("fvt", "fvt", {}),
        ("compose", "compose", {}),
        ("wechsel", "wechsel", words),
        ("wechsel (paper: no FVT blend, random fallback)", "wechsel", {**words, **paper, "min_similarity": -1.0}),
        ("focus", "focus", {"fasttext_model": inputs["token_vectors"]}),
        ("focus (paper: no FVT blend, random fallback)", "focus", {"fasttext_model": inputs["token_vectors"], **paper}),
        ("tokenadapt (aux: model embeddings)", "tokenadapt", {"aux": "model"}),
        ("tokenadapt (aux: aligned fastText)", "tokenadapt", {"aux": "fasttext", **words}),
        ("tokenadapt (aux: all-MiniLM-L6-v2)", "tokenadapt", {"aux": "minilm"}),
        ("tokenadapt (paper: aux MiniLM, no prior blend)", "tokenadapt", {"aux": "minilm", "prior_weight": 0.0}),
    ]
    rows = [{"label": label, "implementation": "retok", "method": m, "options": o} for label, m, o in retok]
    rows += [
        {"label": "wechsel", "implementation": "wechsel 0.0.4", "method": "wechsel", "reference": True},
        {"label": "focus", "implementation": "deepfocus 1.0.1", "method": "focus", "reference": True},
    ]
    return rows


def build_inputs(work: Path, vocab_size: int) -> dict[str, str]:
    """Tokenizers, vectors, dictionary and source matrix as files (each built once, then cached)."""
    from safetensors.torch import save_file

    model_dir = assets.smollm2()
    corpus = assets.lohelp()
    de_train = work / "de-train.txt"
    if not de_train.exists():
        atomic_write_text(de_train, "\n".join(train_paragraphs(corpus.text("de"))) + "\n")
    source_tok = load_tokenizer(model_dir)
    for name, extra in (("tokenizer", {}), ("supertokenizer", {"supertokens": True})):
        if not (work / name).exists():
            tok = train_tokenizer(train_paragraphs(corpus.text("de")), vocab_size=vocab_size, like=source_tok, **extra)
            save_tokenizer(tok, work / name)
    source_matrix = work / "source.safetensors"
    if not source_matrix.exists():
        weight = load_model(model_dir).get_input_embeddings().weight.detach().float().contiguous()
        save_file({"weight": weight}, str(source_matrix))
    inputs = {"model": str(model_dir), "de_train": str(de_train), "source_matrix": str(source_matrix)}
    inputs["en_vectors"] = str(train_fasttext(corpus.text("en"), **WORD_VECTORS))
    inputs["de_vectors"] = str(train_fasttext(de_train, **WORD_VECTORS))
    inputs["dictionary"] = str(freedict("eng-deu"))
    for name in ("tokenizer", "supertokenizer"):
        inputs[name] = str(work / name)
        focus = FOCUSConfig(target_text=str(de_train), bucket=2_000_000)
        inputs[f"{name}_token_vectors"] = str(token_level_model(focus, load_tokenizer(work / name)))
    inputs["token_vectors"] = inputs["tokenizer_token_vectors"]
    return inputs


WARMUPS = (
    ("compose fit", "compose", {}, "tokenizer"),
    ("MiniLM encodings", "tokenadapt", {"aux": "minilm"}, "tokenizer"),
    ("MiniLM encodings (supertokens)", "tokenadapt", {"aux": "minilm"}, "supertokenizer"),
)


def warm_caches(inputs: dict[str, str], work: Path, warmups: tuple = WARMUPS) -> dict[str, float]:
    """Compute the per-source caches once (``(label, method, options, tokenizer key of inputs)`` each); their cold seconds."""
    seconds = {}
    for label, method, options, tokenizer in warmups:
        out = work / "warmup.safetensors"
        seconds[label] = run_init({"method": method, "options": options}, inputs, inputs[tokenizer], out)["init_seconds"]
        out.unlink()
        Path(str(out) + ".json").unlink()
    return seconds


def warm_page_cache(inputs: dict[str, str]) -> None:
    """Read every input file once, so that no timed row pays for the disk (the OS may have dropped them since)."""
    for value in inputs.values():
        path = Path(value)
        for file in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
            if file.is_file():
                with open(file, "rb") as f:
                    while f.read(1 << 24):
                        pass


def run_init(row: dict[str, Any], inputs: dict[str, str], tokenizer: str, out: Path) -> dict[str, Any]:
    """Run one initializer in its own process; return its JSON report (time, peak RSS, counts)."""
    common = ["--source-tokenizer", inputs["model"], "--target-tokenizer", tokenizer, "--source-embeddings", inputs["source_matrix"], "--out", str(out)]
    if row.get("donor"):
        common += ["--donor-embeddings", row["donor"]]
    if row.get("reference"):
        if not REFERENCE_PYTHON.exists():
            raise FileNotFoundError(f"{REFERENCE_PYTHON} is missing; build it with `bash recipes/reference_env.sh`")
        extra = (
            ["--source-vectors", inputs["en_vectors"], "--target-vectors", inputs["de_vectors"], "--dictionary", inputs["dictionary"]]
            if row["method"] == "wechsel"
            else ["--fasttext-model", inputs["token_vectors"]]
        )
        cmd = [str(REFERENCE_PYTHON), str(ROOT / "recipes" / "reference_init.py"), "--method", row["method"], *common, *extra]
    else:
        cmd = [sys.executable, str(ROOT / "recipes" / "retok_init.py"), "--method", row["method"], "--options", json.dumps(row["options"]), *common]
    subprocess.run(cmd, check=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return json.loads(Path(str(out) + ".json").read_text())


def score(inputs: dict[str, str], tokenizer_dir: str, matrix: Path | None, text: str) -> dict[str, Any]:
    """Zero-shot BPB of SmolLM2 with ``matrix`` as its (tied) embeddings, or of the original model."""
    from safetensors.torch import load_file

    model = load_model(inputs["model"])
    tokenizer = load_tokenizer(tokenizer_dir)
    if matrix is not None:
        TokenEmbeddings(tokenizer, load_file(str(matrix))["weight"]).apply_to(model)
    return bits_per_byte(model, tokenizer, text, progress=False).to_dict()


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in rows if r.get("bpb") is not None]
    labels = [f"{r['label']} [{r['implementation']}]" + (" + supertokens" if "supertokens" in r["tokenizer"] else "") for r in scored]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(scored) + 1.2))
    ax.barh(range(len(scored)), [r["bpb"] for r in scored], color=["tab:gray" if r["implementation"] != "retok" else "tab:blue" for r in scored])
    ax.set_yticks(range(len(scored)), labels, fontsize=8)
    ax.invert_yaxis()
    fvt = next(r["bpb"] for r in scored if r["label"] == "fvt")
    ax.axvline(fvt, color="tab:red", linestyle="--", linewidth=1, label=f"fvt {fvt:.3f}")
    ax.set_xlabel("zero-shot bits per byte on held-out German (lower is better)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def publish(work: Path, out: Path, results: dict[str, Any], table: str, draw: Any = None, figure: str = "") -> None:
    """Write results.json, results.md and the figure (``draw(path)``, if any) into ``work``, then rename it to ``out``; print them."""
    atomic_write_text(work / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(work / "results.md", table)
    if draw is not None:
        draw(work / figure)
    if out.exists():
        shutil.rmtree(out)
    os.replace(work, out)
    print(table)
    print(json.dumps(results["targets"], indent=2))


def open_run(args: argparse.Namespace, settings: dict[str, Any]) -> tuple[Path, Path]:
    """Check ``--repeats``, ``--out`` (and ``--overwrite``); resume or start ``<out>.partial`` with ``settings`` + repeats."""
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1; got {args.repeats}")
    out = check_output_dir(args.out, overwrite=args.overwrite)
    work = out.parent / f"{out.name}.partial"
    resume_or_start(work, {**settings, "repeats": args.repeats})
    return out, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/init-benchmark")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--max-bytes", type=int, default=65536)
    parser.add_argument("--skip-reference", action="store_true", help="leave out the wechsel/deepfocus reference rows")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per initializer; the median time is reported")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    out, work = open_run(args, {"vocab_size": args.vocab_size, "max_bytes": args.max_bytes})
    inputs = cached_json(work / "inputs.json", lambda: build_inputs(work, args.vocab_size))
    text = held_out_text(assets.lohelp().text("de"), max_bytes=args.max_bytes)
    (work / "rows").mkdir(exist_ok=True)
    warmup = cached_json(work / "warmup.json", lambda: warm_caches(inputs, work))
    print(f"caches warmed: {warmup}", flush=True)

    def evaluate(row: dict[str, Any], n: int, tokenizer: str) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            matrix = work / "rows" / f"{n:02d}.safetensors"
            runs = []
            for _ in range(args.repeats):  # every run writes the same matrix (seeded); the last one is scored
                warm_page_cache(inputs)
                runs.append(run_init(row, inputs, inputs[tokenizer], matrix))
            scored = score(inputs, inputs[tokenizer], matrix, text)
            matrix.unlink()  # 74 MB each; the JSON keeps everything reported
            seconds = [r["init_seconds"] for r in runs]
            return {**row, "tokenizer": TOKENIZER_NAMES[tokenizer], **scored, "init_seconds": statistics.median(seconds),
                    "init_seconds_runs": seconds, "init_peak_rss_mib": max(r.get("init_peak_rss_mib") or 0.0 for r in runs),
                    "init": runs[-1]}

        result = cached_json(work / "rows" / f"{n:02d}.json", compute)
        print(f"{result['label']} [{result['implementation']}] ({tokenizer}): BPB {result['bpb']:.3f}, "
              f"{result['tokens_per_byte']:.3f} t/b, init {result['init_seconds']:.1f} s", flush=True)
        return result

    original = cached_json(work / "rows" / "original.json", lambda: {
        "label": "original SmolLM2 tokenizer", "implementation": "-", "tokenizer": "original", **score(inputs, inputs["model"], None, text)})
    rows = [original]
    for n, row in enumerate(rows_to_run(inputs)):
        if row.get("reference") and args.skip_reference:
            continue
        rows.append(evaluate(row, n, "tokenizer"))
    best = min((r for r in rows if r["implementation"] == "retok"), key=lambda r: r["bpb"])
    super_row = {k: best[k] for k in ("label", "implementation", "method", "options")}
    if best["method"] == "focus":
        super_row["options"] = {**best["options"], "fasttext_model": inputs["supertokenizer_token_vectors"]}
    rows.append(evaluate(super_row, 99, "supertokenizer"))

    fvt = next(r["bpb"] for r in rows if r["label"] == "fvt")
    targets: dict[str, Any] = {
        "warmup_seconds": warmup,
        "repeats": args.repeats,
        "best_retok": {"label": best["label"], "bpb": best["bpb"], "target": 2.10, "met": best["bpb"] <= 2.10},
        "below_fvt": [r["label"] for r in rows if r["implementation"] == "retok" and r["method"] not in ("mean", "fvt")
                      and "paper" not in r["label"] and r["bpb"] > fvt + 1e-3],
    }
    for method in ("wechsel", "focus"):
        ref = next((r for r in rows if r["implementation"] != "retok" and r["label"] == method and r["tokenizer"] == TOKENIZER_NAMES["tokenizer"]), None)
        ours = next((r for r in rows if r["implementation"] == "retok" and r["label"] == method), None)
        paper = next((r for r in rows if r["implementation"] == "retok" and r["label"].startswith(f"{method} (paper")), None)
        if ref and ours and paper:
            targets[method] = {
                "bpb_ours": ours["bpb"], "bpb_ours_paper_setting": paper["bpb"], "bpb_reference": ref["bpb"],
                "speedup": ref["init_seconds"] / ours["init_seconds"],
                "speedup_paper_setting": ref["init_seconds"] / paper["init_seconds"],
                "target_speedup": TARGET_SPEEDUP,  # retok's wechsel time includes loading its vectors; the reference's does not
            }
            targets[method]["met"] = min(targets[method]["speedup"], targets[method]["speedup_paper_setting"]) >= TARGET_SPEEDUP
            if method == "wechsel":  # the reference is timed without loading its fastText models; so is this pair
                load = lambda r: r["init"]["report"].get("details", {}).get("vectors_seconds", 0.0)  # noqa: E731
                targets[method]["speedup_same_work"] = ref["init_seconds"] / (ours["init_seconds"] - load(ours))
                targets[method]["speedup_paper_setting_same_work"] = ref["init_seconds"] / (paper["init_seconds"] - load(paper))
    table = markdown_table(rows, COLUMNS)
    moved = {k: v.replace(str(work), str(out)) for k, v in inputs.items()}  # where the files are after the rename below
    publish(work, out, {"rows": rows, "targets": targets, "inputs": moved}, table, lambda path: plot(rows, path), "bpb.png")


if __name__ == "__main__":
    main()
