#!/usr/bin/env python
"""Every initializer's wall time and peak RSS with a 262k-entry source vocabulary.

Gemma-3-270m (262,144 tokens x 640, bfloat16 as stored) as the source, two targets: SmolLM2's
tokenizer (49k, byte-level: another family) and the German byte-level BPE 32k of
``recipes/init_benchmark.py``. Each method runs in its own process (``recipes/retok_init.py``,
as in the init benchmark: only the initialization is timed, and its peak RSS is the kernel's
high-water mark of that step, the loaded source and tokenizers included) ``--repeats`` times;
the table gives the median time and the largest peak.

The inputs are the init benchmark's (its output, or its cache, is reused: word vectors, dictionary, German
tokenizer, SmolLM2); the FOCUS rows use a token-level fastText model per target trained on the
German training paragraphs tokenized by that target. The donor methods (``omp``, ``linear``)
run where a donor exists, Gemma -> SmolLM2's tokenizer with SmolLM2's embeddings; the
hypernetwork is left out (it needs a hypernetwork trained on this source). The per-source
caches (compose fit, MiniLM encodings of the 262k strings) are warmed first, as in the init
benchmark, and their cold cost is reported.

    python recipes/init_large_source.py --out runs/init-large-source      # ~30 min on 2 cores

Writes results.json and results.md; exits 1 if a method's peak RSS is above ``--limit-mib``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from init_benchmark import build_inputs, open_run, publish, run_init, warm_caches, warm_page_cache  # noqa: E402

from retok import assets  # noqa: E402
from retok.eval import markdown_table  # noqa: E402
from retok.loading import load_model, load_tokenizer  # noqa: E402
from retok.training.checkpoints import cached_json  # noqa: E402
from retok.transfer.initializers.focus import FOCUSConfig, token_level_model  # noqa: E402

LIMIT_MIB = 3 * 1024
SLOW = 3.0  # a method slower than this many times fvt is listed with the reason
# Why a method costs more than FVT's one pass over the pieces (what it computes beyond it).
REASONS = {
    "compose": "FVT plus a ridge map of [mean, first, last] pieces (the fit on the source's merges is cached per source)",
    "wechsel": "loads two fastText models, aligns them, and runs an exact kNN of each new token over every source token",
    "focus": "reads the token-level fastText model and the compose prior, then a sparsemax over the overlap's neighbours",
    "tokenadapt": "an exact kNN of each new token over every source token in the auxiliary space, plus the weighted pieces",
    "omp": "a k-sparse OMP code of each new donor row over the shared tokens",
    "linear": "a linear map fitted on the shared tokens' donor and source rows",
}
COLUMNS = [
    ("target", "target tokenizer"),
    ("label", "initializer"),
    ("seconds", "init s (median)"),
    ("vs_fvt", "x fvt"),
    ("peak_rss_mib", "peak RSS MiB (max)"),
    ("within_limit", "<= 3 GB"),
]


def rows_to_run(inputs: dict[str, str], target: str) -> list[dict[str, Any]]:
    """(label, method, options[, donor]) of every row for one target."""
    words = {"source_vectors": inputs["en_vectors"], "target_vectors": inputs["de_vectors"], "dictionary": inputs["dictionary"]}
    rows = [
        ("mean", "mean", {}),
        ("gaussian", "gaussian", {}),
        ("fvt", "fvt", {}),
        ("compose", "compose", {}),
        ("wechsel", "wechsel", words),
        ("focus", "focus", {"fasttext_model": inputs[f"large_{target}_token_vectors"]}),
        ("tokenadapt (aux: model embeddings)", "tokenadapt", {"aux": "model"}),
        ("tokenadapt (aux: aligned fastText)", "tokenadapt", {"aux": "fasttext", **words}),
        ("tokenadapt (aux: all-MiniLM-L6-v2)", "tokenadapt", {"aux": "minilm"}),
    ]
    out = [{"label": label, "method": method, "options": options} for label, method, options in rows]
    if target == "smollm2":  # SmolLM2 itself is a model that speaks this tokenizer
        out += [{"label": m, "method": m, "options": {}, "donor": inputs["source_matrix"]} for m in ("omp", "linear")]
    return out


def large_inputs(work: Path, inputs: dict[str, str]) -> dict[str, str]:
    """The Gemma source matrix (stored dtype) and a token-level fastText model per target, as files."""
    from safetensors.torch import save_file

    gemma = assets.gemma3_270m()
    matrix = work / "gemma-embeddings.safetensors"
    if not matrix.exists():
        model = load_model(gemma, dtype="bfloat16")
        save_file({"weight": model.get_input_embeddings().weight.detach().contiguous()}, str(matrix))
    out = {**inputs, "model": str(gemma), "source_matrix": str(matrix), "donor_matrix": inputs["source_matrix"]}
    for target, tokenizer in (("smollm2", inputs["model"]), ("de", inputs["tokenizer"])):
        focus = FOCUSConfig(target_text=inputs["de_train"], bucket=2_000_000)
        out[f"large_{target}_token_vectors"] = str(token_level_model(focus, load_tokenizer(tokenizer)))
    out["smollm2_tokenizer"], out["de_tokenizer"] = inputs["model"], inputs["tokenizer"]
    return out


WARMUPS = (  # the per-source caches: compose fit, MiniLM encodings of the source and both targets
    ("compose fit", "compose", {}, "de_tokenizer"),
    ("MiniLM encodings (source, de)", "tokenadapt", {"aux": "minilm"}, "de_tokenizer"),
    ("MiniLM encodings (smollm2)", "tokenadapt", {"aux": "minilm"}, "smollm2_tokenizer"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/init-large-source")
    parser.add_argument("--bench", default="runs/init-benchmark",
                        help="the init benchmark's output (its results.json names the inputs); if missing, its inputs are built in BENCH.partial")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the median time and the largest peak are reported")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    out, work = open_run(args, {})
    bench = Path(args.bench)
    if (bench / "results.json").is_file():
        inputs = json.loads((bench / "results.json").read_text())["inputs"]
    else:
        partial = bench.parent / f"{bench.name}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        inputs = cached_json(partial / "inputs.json", lambda: build_inputs(partial, 32000))
    inputs = cached_json(work / "inputs.json", lambda: large_inputs(work, inputs))
    warmup = cached_json(work / "warmup.json", lambda: warm_caches(inputs, work, WARMUPS))
    print(f"caches warmed: {warmup}", flush=True)
    (work / "rows").mkdir(exist_ok=True)

    rows = []
    for target in ("smollm2", "de"):
        for n, row in enumerate(rows_to_run(inputs, target)):
            def compute(row: dict[str, Any] = row) -> dict[str, Any]:
                runs = []
                for _ in range(args.repeats):
                    warm_page_cache(inputs)
                    matrix = work / "rows" / "matrix.safetensors"
                    runs.append(run_init(row, inputs, inputs[f"{target}_tokenizer"], matrix))
                    matrix.unlink()
                return {**row, "target": "SmolLM2 (49k)" if target == "smollm2" else "German BPE 32k",
                        "seconds": statistics.median(r["init_seconds"] for r in runs),
                        "peak_rss_mib": max(r["init_peak_rss_mib"] or 0.0 for r in runs),
                        "all_seconds": [r["init_seconds"] for r in runs], "init": runs[0]}

            result = cached_json(work / "rows" / f"{target}-{n:02d}.json", compute)
            print(f"{result['target']} {result['label']}: {result['seconds']:.1f} s, {result['peak_rss_mib']:.0f} MiB", flush=True)
            rows.append(result)
    for r in rows:
        fvt = next(x["seconds"] for x in rows if x["target"] == r["target"] and x["method"] == "fvt")
        r["vs_fvt"] = r["seconds"] / fvt
        r["within_limit"] = "yes" if r["peak_rss_mib"] <= args.limit_mib else "NO"
    slow = [{"target": r["target"], "label": r["label"], "vs_fvt": r["vs_fvt"], "reason": REASONS.get(r["method"], "")}
            for r in rows if r["vs_fvt"] > SLOW]
    over = [{"target": r["target"], "label": r["label"], "peak_rss_mib": r["peak_rss_mib"]} for r in rows if r["peak_rss_mib"] > args.limit_mib]
    targets = {"warmup_seconds": warmup, "limit_mib": args.limit_mib, "over_limit": over, "met": not over, "slower_than_3x_fvt": slow}
    table = markdown_table(rows, COLUMNS)
    if slow:
        table += "\n\nSlower than 3x fvt:\n\n" + "\n".join(f"- {s['target']}, {s['label']} ({s['vs_fvt']:.1f}x): {s['reason']}" for s in slow) + "\n"
    publish(work, out, {"rows": rows, "targets": targets, "inputs": inputs}, table)
    if over:
        sys.exit(1)


if __name__ == "__main__":
    main()
