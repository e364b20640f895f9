#!/usr/bin/env python
"""Dynamic tokenization and a million-token vocabulary on SmolLM2-135M, measured (issue 12).

1. **prefill** (:mod:`retok.adaptive.dynamic`): held-out German LibreOffice help in 512-token windows; the
   first half of each window (context) is merged batch-level (8 windows per batch, pre-token
   boundaries) to a target length reduction of 0-50%, the second half (continuation) is scored in
   base tokens. Continuation bits per byte for each embedding predictor of the merged tokens
   (``fvt``, ``compose``; 0% is the unmerged model), achieved reduction, LRU cache hit rate,
   prefill wall time per window.
2. **decoding** (:mod:`retok.adaptive.large_vocab.build`, a folder from ``retok large-vocab build``): per-step
   latency (median, p95) of greedy generation with the KV cache over >= 500 steps, exact scoring
   of all rows vs faiss-restricted (k = 32), each mode in its own process so that its peak RSS is
   its own; top-1 agreement of the restricted step with the exact one, teacher-forced on held-out
   text (the same prefixes for both); the build's time (from its ``large_vocab.json``); share of
   generated tokens outside the base vocabulary; bytes per generated token.

How to run (alone on the machine; the build about 10 min, this recipe about 20 min on 2 CPU cores):

    retok large-vocab build --model SMOLLM2_DIR --size 1000000 --out runs/large-vocab-1m
    retok train-hypernet --model SMOLLM2_DIR --out runs/hypernet/hn            # optional: hypernet rows too
    retok large-vocab build --model SMOLLM2_DIR --predictor hypernet --hypernet runs/hypernet/hn --out runs/large-vocab-1m-hn
    .venv/bin/python recipes/dynamic_benchmark.py --vocab runs/large-vocab-1m runs/large-vocab-1m-hn \\
        --hypernet runs/hypernet/hn --out runs/dynamic-benchmark
    .venv/bin/python recipes/readme_table.py dynamic runs/dynamic-benchmark

Every part is cached in ``<out>.partial/``, so an interrupted run resumes. Writes results.json,
results.md and dynamic.png to --out.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from init_benchmark import publish  # noqa: E402

from retok import assets  # noqa: E402
from retok.atomic import check_output_dir  # noqa: E402
from retok.training.checkpoints import cached_json, resume_or_start  # noqa: E402
from retok.data import held_out_text, split_paragraphs  # noqa: E402
from retok.eval import markdown_table  # noqa: E402

REDUCTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
PREDICTORS = ("fvt", "compose")
TARGETS = {"speedup": 5.0, "agreement": 0.99, "build_seconds": 600, "bpb_cost_at_20pct": 0.03}


# --------------------------------------------------------------------------- prefill


def prefill_row(predictor_name: str, reduction: float, windows: int, hypernet: str | None) -> dict[str, Any]:
    from retok.adaptive.dynamic import continuation_bits_per_byte
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.loading import load_model, load_tokenizer
    from retok.transfer.row_predictors import make_predictor

    path = assets.smollm2(progress=False)
    model, tokenizer = load_model(path), load_tokenizer(path)
    extra = {"hypernet": hypernet} if predictor_name == "hypernet" else {}
    predictor = make_predictor(predictor_name, TokenEmbeddings.from_model(model, tokenizer), **extra)
    text = held_out_text(assets.lohelp(progress=False).text("de"), max_bytes=1 << 22)
    result = continuation_bits_per_byte(model, tokenizer, text, predictor, reduction=reduction, window=512, batch_size=8,
                                        max_windows=windows)
    return result.to_dict()


# --------------------------------------------------------------------------- decoding


def prompts(n: int) -> list[str]:
    """Openings (first 8 words) of held-out English and German paragraphs, alternating."""
    help_text = assets.lohelp(progress=False)
    out: list[str] = []
    sides = [split_paragraphs(help_text.text(lang).read_text(encoding="utf-8").splitlines())[1] for lang in ("en", "de")]
    for i in range(n):
        words = sides[i % 2][i // 2 * 7].split()
        out.append(" ".join(words[:8]))
    return out


def decode_mode(vocab: str, mode: str, steps: int, out: str) -> None:
    """One mode's generation in this process (run as a child, so that ru_maxrss is this mode's peak)."""
    import torch

    from retok.adaptive.large_vocab.decode import LargeVocab

    torch.manual_seed(0)
    lv = LargeVocab.load(vocab)
    step_ms: list[float] = []
    select_ms: list[float] = []
    entries: list[int] = []
    token_bytes: list[int] = []
    for prompt in prompts(64):
        if len(step_ms) >= steps:
            break
        g = lv.generate(prompt, max_new_tokens=64, exact=mode == "exact", k=32, include_base=mode == "faiss+base", stop_at_eos=False)
        step_ms += [1000 * s for s in g.step_seconds]
        select_ms += [1000 * s for s in g.select_seconds]
        entries += g.entries
        token_bytes += g.entry_bytes
    step_ms.sort()
    select_ms.sort()
    row = {
        "mode": mode, "steps": len(step_ms),
        "step_ms_median": step_ms[len(step_ms) // 2], "step_ms_p95": step_ms[int(0.95 * (len(step_ms) - 1))],
        "select_ms_median": select_ms[len(select_ms) // 2], "select_ms_p95": select_ms[int(0.95 * (len(select_ms) - 1))],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "new_share": sum(e >= lv.base_size for e in entries) / len(entries),
        "bytes_per_token": sum(token_bytes) / len(entries),
    }
    Path(out).write_text(json.dumps(row, indent=2) + "\n")


def decode_row(vocab: Path, mode: str, steps: int, work: Path) -> dict[str, Any]:
    target = work / f"decode-{mode}.tmp.json"
    subprocess.run([sys.executable, __file__, "--child", str(vocab), mode, str(steps), str(target)], check=True)
    return json.loads(target.read_text())


def agreement_row(vocab: Path, positions: int) -> dict[str, Any]:
    from retok.adaptive.large_vocab.decode import LargeVocab

    lv = LargeVocab.load(vocab)
    help_text = assets.lohelp(progress=False)
    texts = [held_out_text(help_text.text(lang), max_bytes=1 << 16) for lang in ("en", "de")]
    states = [lv.hidden_states(t, window=256, max_positions=positions // 2) for t in texts]
    import torch

    h = torch.cat(states)
    began = time.perf_counter()
    restricted = lv.top1_agreement(h, k=32)
    with_base = lv.top1_agreement(h, k=32, include_base=True)
    return {"k32": restricted, "k32_plus_base": with_base, "seconds": round(time.perf_counter() - began, 1),
            "nprobe": lv.index.nprobe, "build": lv.info}


def sweep_row(vocab: Path, nprobes: tuple[int, ...] = (64, 256, 1024)) -> list[dict[str, Any]]:
    """Agreement and selection time per ``nprobe``, on *training* paragraphs (the held-out ones are for the headline only)."""
    import torch

    from retok.adaptive.large_vocab.decode import LargeVocab

    lv = LargeVocab.load(vocab)
    help_text = assets.lohelp(progress=False)
    texts = ["\n".join(split_paragraphs(help_text.text(lang).read_text(encoding="utf-8").splitlines())[0][5000:5400]) for lang in ("en", "de")]
    states = torch.cat([lv.hidden_states(t, window=256, max_positions=256) for t in texts])
    exact = torch.cat([lv.best(states[s : s + 64], exact=True) for s in range(0, len(states), 64)])
    rows = []
    for nprobe in nprobes:
        lv.index.nprobe = nprobe
        began = time.perf_counter()
        got = torch.cat([lv.best(states[i : i + 1], k=32) for i in range(len(states))])
        rows.append({"nprobe": nprobe, "agreement": float((got == exact).float().mean()),
                     "select_ms": 1000 * (time.perf_counter() - began) / len(states), "positions": len(states)})
    return rows


# --------------------------------------------------------------------------- report


def report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    prefill, predictors = results["prefill"], results["predictors"]
    base_bpb = prefill["fvt@0.0"]["bits_per_byte"]
    rows = []
    for name in predictors:
        for r in REDUCTIONS:
            p = prefill[f"{name}@{r}"]
            rows.append({"predictor": "unmerged" if r == 0 else name, "target": r, "achieved": p["reduction"],
                         "bpb": p["bits_per_byte"], "cost": p["bits_per_byte"] / base_bpb - 1, "hit": p["cache_hit_rate"],
                         "ms": 1000 * p["prefill_seconds_per_window"]})
    rows = [r for i, r in enumerate(rows) if r["target"] > 0 or i == 0]
    lines = ["Prefill with dynamic merges (held-out German, 512-token windows: context merged, continuation scored in base tokens):\n",
             markdown_table(rows, [("predictor", "merged-token rows"), ("target", "target reduction"), ("achieved", "achieved"),
                                   ("bpb", "continuation BPB"), ("cost", "BPB cost"), ("hit", "cache hit rate"),
                                   ("ms", "prefill ms / window")])]
    decode_rows, agree_rows, per_vocab = [], [], {}
    for name, v in results["vocabs"].items():
        info, agree, decode = v["agreement"]["build"], v["agreement"], v["decode"]
        label = f"{info['size']:,} entries, {info['predictor']['name']} rows"
        for d in decode.values():
            decode_rows.append({"vocab": label, "mode": d["mode"], "steps": d["steps"], "step": d["step_ms_median"], "p95": d["step_ms_p95"],
                                "sel": d["select_ms_median"], "selp95": d["select_ms_p95"], "rss": d["peak_rss_gib"],
                                "new": d["new_share"], "bpt": d["bytes_per_token"]})
        agree_rows.append({"vocab": label, "index": f"{info['index']['kind']}, nlist {info['index']['nlist']}, nprobe {agree['nprobe']}",
                           "k32": agree["k32"]["agreement"], "base": agree["k32_plus_base"]["agreement"],
                           "new": agree["k32"]["exact_new_share"], "positions": agree["k32"]["positions"],
                           "build": info["seconds"]["total"], "index_s": info["seconds"]["index"]})
        per_vocab[name] = {
            "speedup_step": decode["exact"]["step_ms_median"] / decode["faiss"]["step_ms_median"],
            "speedup_selection": decode["exact"]["select_ms_median"] / decode["faiss"]["select_ms_median"],
            "speedup_step_plus_base": decode["exact"]["step_ms_median"] / decode["faiss+base"]["step_ms_median"],
            "speedup_selection_plus_base": decode["exact"]["select_ms_median"] / decode["faiss+base"]["select_ms_median"],
            "forward_ms": decode["faiss"]["step_ms_median"] - decode["faiss"]["select_ms_median"],
            "sweep": v["sweep"],
            "agreement": agree["k32"]["agreement"], "agreement_plus_base": agree["k32_plus_base"]["agreement"],
            "exact_new_share": agree["k32"]["exact_new_share"], "build_seconds": info["seconds"]["total"],
            "index_seconds": info["seconds"]["index"],
        }
    lines.append("\nDecoding, greedy with the KV cache (a step = the model's forward pass + choosing the entry; selection = choosing alone):\n")
    lines.append(markdown_table(decode_rows, [("vocab", "vocabulary"), ("mode", "scoring"), ("steps", "steps"), ("step", "step ms (median)"),
                                              ("p95", "step ms (p95)"), ("sel", "selection ms (median)"), ("selp95", "selection ms (p95)"),
                                              ("rss", "peak RSS GiB"), ("new", "new tokens"), ("bpt", "bytes / token")]))
    lines.append("\nTop-1 agreement of the faiss-restricted step (k = 32) with exact scoring of every entry, teacher-forced on held-out en + de:\n")
    lines.append(markdown_table(agree_rows, [("vocab", "vocabulary"), ("index", "index"), ("k32", "agreement"), ("base", "agreement, base added"),
                                             ("new", "exact top-1 is a new entry"), ("positions", "positions"), ("build", "build s"),
                                             ("index_s", "index s")]))
    lines.append("\nThe same restricted step against `nprobe` (IVF cells searched of 2,000), on training paragraphs (en + de), k = 32:\n")
    lines.append(markdown_table([{**r, "vocab": name} for name, v in results["vocabs"].items() for r in v["sweep"]],
                                [("vocab", "vocabulary"), ("nprobe", "nprobe"), ("agreement", "agreement"), ("select_ms", "selection ms"),
                                 ("positions", "positions")]))
    first = per_vocab[next(iter(per_vocab))]
    targets = {"vocabs": per_vocab, "bpb_cost_at_20pct": {name: prefill[f"{name}@0.2"]["bits_per_byte"] / base_bpb - 1 for name in predictors},
               "goals": TARGETS}
    best_cost = min(targets["bpb_cost_at_20pct"].values())
    targets["met"] = {"speedup_step": all(v["speedup_step"] >= TARGETS["speedup"] for v in per_vocab.values()),
                      "speedup_selection": all(v["speedup_selection"] >= TARGETS["speedup"] for v in per_vocab.values()),
                      "agreement": all(v["agreement"] >= TARGETS["agreement"] for v in per_vocab.values()),
                      "build": all(v["build_seconds"] <= TARGETS["build_seconds"] for v in per_vocab.values()),
                      "prefill": best_cost <= TARGETS["bpb_cost_at_20pct"]}
    lines.append("\nTargets: " + "; ".join([
        "per step " + ", ".join(f"{v['speedup_step']:.1f}x" for v in per_vocab.values()) + " faster than exact scoring (selection alone "
        + ", ".join(f"{v['speedup_selection']:.0f}x" for v in per_vocab.values()) + "; with the base vocabulary added "
        + ", ".join(f"{v['speedup_step_plus_base']:.1f}x / {v['speedup_selection_plus_base']:.0f}x" for v in per_vocab.values())
        + "; goal 5x; the model's forward pass alone takes " + ", ".join(f"{v['forward_ms']:.0f} ms" for v in per_vocab.values()) + ")",
        "top-1 agreement " + ", ".join(f"{100 * v['agreement']:.2f}% ({100 * v['agreement_plus_base']:.2f}% with the base vocabulary added)"
                                       for v in per_vocab.values()) + " (goal 99%)",
        "whole build " + ", ".join(f"{v['build_seconds']:.0f} s (index {v['index_seconds']:.0f} s)" for v in per_vocab.values()) + " (goal: index <= 600 s)",
        "BPB cost at 20% reduction " + ", ".join(f"{k} {100 * v:+.2f}%" for k, v in targets["bpb_cost_at_20pct"].items()) + " (goal <= 3%)",
    ]) + f" (vocabularies in the order {', '.join(per_vocab)}; first: {first['agreement']:.4f} agreement).\n")
    return "\n".join(lines), targets


def draw(results: dict[str, Any]):
    def plot(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        for name in results["predictors"]:
            points = [results["prefill"][f"{name}@{r}"] for r in REDUCTIONS]
            left.plot([100 * p["reduction"] for p in points], [p["bits_per_byte"] for p in points], marker="o", label=name)
        left.set_xlabel("context length reduction (%)")
        left.set_ylabel("continuation bits per byte")
        left.set_title("prefill with dynamic merges")
        left.legend()
        labels, values = [], []
        for name, v in results["vocabs"].items():
            for mode, d in v["decode"].items():
                labels.append(f"{name}\n{mode}")
                values.append(d["step_ms_median"])
        right.bar(labels, values, color="#4c72b0")
        right.set_ylabel("ms per decoding step (median)")
        right.set_title("1M-entry vocabularies: exact vs faiss")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    return plot


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        decode_mode(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", required=True, nargs="+", help="folders from `retok large-vocab build` (each decoded on its own)")
    parser.add_argument("--out", default="runs/dynamic-benchmark")
    parser.add_argument("--windows", type=int, default=16, help="held-out windows per prefill setting")
    parser.add_argument("--steps", type=int, default=512, help="decoding steps per mode (>= 500)")
    parser.add_argument("--positions", type=int, default=1024, help="teacher-forced positions for the agreement")
    parser.add_argument("--hypernet", help="also predict merged-token rows with this hypernetwork (`retok train-hypernet` for SmolLM2)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    out = check_output_dir(args.out, overwrite=args.overwrite)
    work = out.parent / f"{out.name}.partial"
    resume_or_start(work, {"windows": args.windows, "steps": args.steps, "positions": args.positions})
    prefill = {}
    predictors = PREDICTORS + (("hypernet",) if args.hypernet else ())  # each row is cached on its own: adding one reuses the rest
    for name in predictors:
        for r in REDUCTIONS:
            key = f"{name}@{r}"
            source = "fvt@0.0" if r == 0 else key  # 0%: nothing is merged, the predictor is never asked
            prefill[key] = cached_json(work / f"prefill-{source}.json", lambda n=name, r=r: prefill_row(n, r, args.windows, args.hypernet))
            print(key, json.dumps({k: prefill[key][k] for k in ("reduction", "bits_per_byte", "cache_hit_rate")}), flush=True)
    vocabs = {}
    for folder in args.vocab:  # cached per vocabulary folder name: adding one reuses the rest
        vocab = Path(folder).resolve()
        agreement = cached_json(work / f"agreement-{vocab.name}.json", lambda v=vocab: agreement_row(v, args.positions))
        print(vocab.name, json.dumps({k: agreement[k] for k in ("k32", "k32_plus_base")}), flush=True)
        decode = {mode: cached_json(work / f"decode-{vocab.name}-{mode}.json", lambda m=mode, v=vocab: decode_row(v, m, args.steps, work))
                  for mode in ("exact", "faiss", "faiss+base")}
        sweep = cached_json(work / f"sweep-{vocab.name}.json", lambda v=vocab: {"rows": sweep_row(v)})["rows"]
        vocabs[vocab.name] = {"folder": str(vocab), "agreement": agreement, "decode": decode, "sweep": sweep}
    results = {"predictors": list(predictors), "hypernet": args.hypernet, "prefill": prefill, "vocabs": vocabs}
    table, targets = report(results)
    results["targets"] = targets
    publish(work, out, results, table, draw(results), "dynamic.png")


if __name__ == "__main__":
    main()
