#!/usr/bin/env python
"""zip2zip benchmark: LZW hypertokens on SmolLM2-135M (K=2048, M=4, 1024-token windows), measured side by side.

1. **codec**: compression ratio (base tokens / codes, 1024-token windows) on held-out German and
   English LibreOffice help and on Python source (the installed ``transformers`` package's files,
   not ``__init__.py``), with retok.adaptive.lzw and with the reference package ``zip2zip-compression``
   0.3.4 (run in ``.venv-ref`` by ``recipes/lzw_reference.py``): identical codes required, and the
   throughput of both (1024-id windows, one long stream);
2. **ablation**: the warm start alone (encoders distilled from the frozen model, no LoRA) on a small
   budget (``--ablation-steps``), per variant: input/output residual, base-token positions, the
   legacy causal mask; compressed BPB on 16 KiB of held-out German and code;
3. **training**: the default recipe (warm start, then LoRA + hyper-encoders) on the same 512 KiB of
   German training text plus a 64 KiB slice of training code, for zip2zip (K=2048) and for the
   control (K=0: plain LoRA, the same recipe); compressed BPB before, after the warm start alone
   (its ``warm/`` encoders on the base model) and after training, on held-out German and code;
4. **generation**: greedy, KV cache, 20 prompts (10 German, 10 code) x 256 generated base tokens:
   wall time per output byte, the trained zip2zip model vs the base model in the same loop (and
   HF ``generate`` for reference);
5. **stacked**: LZW on top of the German transplant (``retok demo``'s tokenizer, 32k BPE):
   tokens per byte vs the transplant alone.

How to run (alone on the machine; about 90 min on 2 CPU cores, most of it the two training runs):

    bash recipes/reference_env.sh                       # once: .venv-ref with zip2zip-compression
    .venv/bin/python recipes/zip2zip_benchmark.py --out runs/zip2zip-benchmark
    .venv/bin/python recipes/readme_table.py zip2zip runs/zip2zip-benchmark

Every part is cached in ``<out>.partial/`` (the trained models too), so an interrupted run resumes.
Writes results.json, results.md and zip2zip.png to --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
from retok.data import held_out_text, is_held_out, train_paragraphs  # noqa: E402
from retok.eval import markdown_table, scoring_ids  # noqa: E402
from retok.loading import load_model, load_tokenizer  # noqa: E402
from retok.training.packing import take_bytes  # noqa: E402

from hypernet.zip2zip.train import WARM_FOLDER  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
K, M, WINDOW = 2048, 4, 1024
TARGETS = {"bpb_within": 0.05, "fewer_tokens_de": 0.18, "fewer_tokens_code": 0.25, "generation_faster": 0.15}


# --------------------------------------------------------------------------- texts


def python_files() -> list[Path]:
    """The installed transformers package's Python files (not ``__init__.py``), in path order."""
    import transformers

    root = Path(transformers.__file__).parent
    return sorted(p for p in root.rglob("*.py") if p.name != "__init__.py")


def code_split(train_bytes: int, held_bytes: int) -> tuple[list[str], str]:
    """(training files, held-out text): a file is held out by the md5 rule on its path inside the package."""
    import transformers

    root = Path(transformers.__file__).parent
    train, held = [], []
    for path in python_files():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            (held if is_held_out(str(path.relative_to(root))) else train).append(text)
    return fill_bytes(train, train_bytes), "\n".join(fill_bytes(held, held_bytes))


def fill_bytes(files: list[str], max_bytes: int) -> list[str]:
    """Whole files in order, skipping any that would overflow, until ``max_bytes`` (``"\n"``-joined UTF-8) is nearly full."""
    kept, size = [], 0
    for text in files:
        cost = len(text.encode("utf-8")) + (1 if kept else 0)
        if size + cost <= max_bytes:
            kept.append(text)
            size += cost
        if size > max_bytes - 256:
            break
    return kept


def build_texts(work: Path, train_bytes: int, code_bytes: int, eval_bytes: int) -> dict[str, Any]:
    corpus = assets.lohelp()
    code_train, code_held = code_split(code_bytes, eval_bytes)
    texts = {
        "de": held_out_text(corpus.text("de"), max_bytes=eval_bytes),
        "en": held_out_text(corpus.text("en"), max_bytes=eval_bytes),
        "code": code_held,
    }
    folder = work / "texts"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    train = take_bytes(train_paragraphs(corpus.text("de")), train_bytes) + fill_bytes(code_train, code_bytes)
    (folder / "train.json").write_text(json.dumps(train), encoding="utf-8")
    return {name: str(folder / f"{name}.txt") for name in texts} | {"train": str(folder / "train.json"),
            "train_bytes_de": len("\n".join(take_bytes(train_paragraphs(corpus.text("de")), train_bytes)).encode()),
            "train_bytes_code": len("\n".join(fill_bytes(code_train, code_bytes)).encode())}


def read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- 1. codec


def lzw_settings(tokenizer: Any, rows: int) -> Any:
    from retok.adaptive.lzw import LZWConfig

    return LZWConfig.from_tokenizer(tokenizer, vocab_size=rows, max_codebook_size=K, max_subtokens=M)


def codec_part(work: Path, texts: dict[str, Any], reference_python: str) -> dict[str, Any]:
    from hypernet.zip2zip.eval import codec_stats

    model = assets.smollm2()
    tok = load_tokenizer(model)
    config = lzw_settings(tok, load_model(model).get_input_embeddings().weight.shape[0])
    cases, rows = [], {}
    for name in ("de", "en", "code"):
        text = read(texts[name])
        ids = scoring_ids(tok, text)
        stats = codec_stats(ids, config, window=WINDOW, n_bytes=len(text.encode("utf-8")))
        rows[name] = {k: v for k, v in stats.items() if k != "per_window"}
        cases.append({"name": name, "ids": ids, "config": config.to_dict()})
    cases_file = work / "codec-cases.json"
    cases_file.write_text(json.dumps(cases), encoding="utf-8")
    result_file = work / "codec-reference.json"
    run = subprocess.run([reference_python, str(ROOT / "recipes" / "lzw_reference.py"), "--compare", str(cases_file),
                          "--out", str(result_file), "--window", str(WINDOW)], capture_output=True, text=True)
    if not result_file.exists():
        raise SystemExit(f"the reference codec run failed ({reference_python}); build .venv-ref with "
                         f"`bash recipes/reference_env.sh` or pass --reference-python\n{run.stderr[-2000:]}")
    reference = json.loads(result_file.read_text(encoding="utf-8"))
    for case in reference["cases"]:
        rows[case["name"]]["reference_ratio"] = case["window_compression_ratio"]["package"]
        rows[case["name"]]["identical_to_reference"] = case["identical"]
    return {"domains": rows, "identical": reference["identical"], "throughput": reference["total"],
            "package": reference["package"], "disabled_ids": len(config.disabled_ids)}


# --------------------------------------------------------------------------- 2. training and scoring


def train_arm(work: Path, texts: dict[str, Any], codebook: int, name: str | None = None, **options: Any) -> dict[str, Any]:
    """Train one arm with the default recipe (``options`` change it: ``warm_only=True`` stops after the warm start)."""
    from hypernet.zip2zip.config import Zip2ZipTrainConfig
    from hypernet.zip2zip.train import train

    out = work / (name or f"model-k{codebook}")
    config = Zip2ZipTrainConfig(max_codebook_size=codebook, max_subtokens=M, window=WINDOW, train_bytes=None, eval_every=0, **options)
    began = time.perf_counter()
    result = train(assets.smollm2(), json.loads(read(texts["train"])), out, config, overwrite=True)
    stages = {h.get("stage") for h in result.history}
    return {"folder": str(out), "steps": result.steps, "seconds": result.seconds, "wall_seconds": time.perf_counter() - began,
            "train_bytes": result.train_bytes, "base_tokens": result.base_tokens, "options": options,
            "warm_steps": sum(1 for h in result.history if h.get("stage") == "warm" and "loss" in h), "stages": sorted(map(str, stages)),
            "final_loss": [h["loss"] for h in result.history if "loss" in h][-1]}


#: the ablation, each a warm start alone (the encoders distilled, no LoRA) on a small budget, scored zero-shot;
#: the variants change one option of zip2zip's own setting (code positions), and the best became the default
ABLATION = {
    "zip2zip: one position per code": {"positions": "codes"},
    "input residual: first token": {"positions": "codes", "input_residual": "first"},
    "input residual: mean": {"positions": "codes", "input_residual": "mean"},
    "output residual: last token": {"positions": "codes", "output_residual": "last"},
    "base-token positions (the default)": {"positions": "base"},
    "legacy causal mask": {"positions": "codes", "mask": "legacy"},
}


def ablation_part(work: Path, texts: dict[str, Any], steps: int, eval_bytes: int) -> dict[str, Any]:
    """Each :data:`ABLATION` variant: ``steps`` warm-start steps alone, then compressed BPB on the first ``eval_bytes`` of de and code."""
    import shutil

    from retok.training.finetune import held_out_slice

    slices = {}
    for domain in ("de", "code"):
        path = work / f"ablation-{domain}.txt"
        path.write_text(held_out_slice(read(texts[domain]), eval_bytes), encoding="utf-8")
        slices[domain] = str(path)
    rows = {}
    for i, (label, options) in enumerate(ABLATION.items()):
        def run(options: dict[str, Any] = options, i: int = i) -> dict[str, Any]:
            arm = train_arm(work, texts, K, f"ablation-{i}", warm_only=True, warm_steps=steps, **options)
            row = {**arm, **{f"bpb_{d}": score(arm["folder"], 0, f)["bpb"] for d, f in slices.items()}}
            shutil.rmtree(arm["folder"], ignore_errors=True)  # 0.5 GB each; the scores are what is kept
            return row
        rows[label] = cached_json(work / f"ablation-{i}.json", run)
        print(label, {k: round(v, 4) for k, v in rows[label].items() if k.startswith("bpb")}, flush=True)
    return {"steps": steps, "eval_bytes": eval_bytes, "rows": rows}


def score(folder: str | None, codebook: int, text_file: str, *, onto_base: bool = False) -> dict[str, Any]:
    """Compressed BPB of a trained folder (``onto_base``: encoders alone, loaded onto the base model), or (folder None) of the
    base model with fresh encoders at this K."""
    from hypernet.zip2zip.model import Zip2ZipLM
    from hypernet.zip2zip.config import Zip2ZipTrainConfig
    from hypernet.zip2zip.eval import compressed_bits_per_byte
    from hypernet.zip2zip.train import wrap

    import torch

    if folder is None:
        torch.manual_seed(0)
        model = assets.smollm2()
        tok = load_tokenizer(model)
        net = wrap(load_model(model), tok, Zip2ZipTrainConfig(max_codebook_size=codebook, max_subtokens=M))
    else:
        net = Zip2ZipLM.from_pretrained(folder, model=assets.smollm2() if onto_base else None)
        tok = load_tokenizer(assets.smollm2() if onto_base else folder)
    return compressed_bits_per_byte(net, tok, read(text_file), window=WINDOW).to_dict()


# --------------------------------------------------------------------------- 3. generation


def prompts(texts: dict[str, Any], n: int) -> list[str]:
    """``n / 2`` German held-out paragraphs and ``n / 2`` held-out code openings (the first ~400 characters)."""
    german = [p for p in read(texts["de"]).split("\n") if len(p) > 80][: n // 2]
    code = read(texts["code"]).split("\n\n")
    code = [c[:400] for c in code if len(c) > 200][: n - len(german)]
    return german + code


def generation_part(folder: str, texts: dict[str, Any], n: int, tokens: int) -> dict[str, Any]:
    import torch

    from hypernet.zip2zip.generate import generate
    from hypernet.zip2zip.model import Zip2ZipLM
    from hypernet.zip2zip.config import Zip2ZipTrainConfig
    from hypernet.zip2zip.train import wrap

    torch.set_num_threads(2)
    zipped = Zip2ZipLM.from_pretrained(folder)
    tok = load_tokenizer(folder)
    base_model = load_model(assets.smollm2())
    base = wrap(base_model, tok, Zip2ZipTrainConfig(max_codebook_size=0, max_subtokens=M))
    rows: dict[str, list[dict[str, Any]]] = {"zip2zip": [], "base": [], "hf_generate": []}
    for prompt in prompts(texts, n):
        for name, net in (("zip2zip", zipped), ("base", base)):
            g = generate(net, tok, prompt, max_new_tokens=tokens, stop_at_eos=False)
            rows[name].append({"bytes": len(g.text.encode("utf-8")), "base_tokens": len(g.base_ids), "codes": len(g.codes),
                               "hyper": g.n_hyper, "decode_seconds": g.decode_seconds, "prefill_seconds": g.prefill_seconds})
        ids = tok([tok.convert_ids_to_tokens(0) + prompt], add_special_tokens=False, return_tensors="pt")["input_ids"]
        began = time.perf_counter()
        with torch.inference_mode():
            out = base_model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        seconds = time.perf_counter() - began
        text = tok.decode(out[0, ids.shape[1]:])
        rows["hf_generate"].append({"bytes": len(text.encode("utf-8")), "base_tokens": tokens, "codes": tokens, "hyper": 0,
                                    "decode_seconds": seconds, "prefill_seconds": 0.0})
    summary = {}
    for name, items in rows.items():
        total_bytes = sum(r["bytes"] for r in items)
        decode = sum(r["decode_seconds"] for r in items)
        both = decode + sum(r["prefill_seconds"] for r in items)
        summary[name] = {"prompts": len(items), "bytes": total_bytes, "codes": sum(r["codes"] for r in items),
                         "base_tokens": sum(r["base_tokens"] for r in items), "hypertokens": sum(r["hyper"] for r in items),
                         "ms_per_byte": 1000 * decode / total_bytes, "ms_per_byte_with_prefill": 1000 * both / total_bytes}
    return {"summary": summary, "rows": rows}


# --------------------------------------------------------------------------- 4. stacked on the transplant


def stacked_part(work: Path, texts: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    from hypernet.zip2zip.eval import codec_stats
    from retok.vocab.train import save_tokenizer, train_tokenizer

    model = assets.smollm2()
    old = load_tokenizer(model)
    folder = work / "german-tokenizer"
    if not folder.exists():  # the demo's tokenizer: German byte-level BPE on the training paragraphs, SmolLM2's specials
        save_tokenizer(train_tokenizer(train_paragraphs(assets.lohelp().text("de")), vocab_size=vocab_size, like=old), folder)
    german = load_tokenizer(folder)
    text = read(texts["de"])
    n_bytes = len(text.encode("utf-8"))
    rows = {}
    for name, tok, v0 in (("smollm2", old, len(old)), ("transplant", german, len(german))):
        stats = codec_stats(scoring_ids(tok, text), lzw_settings(tok, v0), window=WINDOW, n_bytes=n_bytes)
        rows[name] = {"tokens_per_byte": stats["base_tokens_per_byte"], "with_lzw_tokens_per_byte": stats["tokens_per_byte"],
                      "compression_ratio": stats["compression_ratio"]}
    rows["transplant_plus_lzw_vs_smollm2"] = 1 - rows["transplant"]["with_lzw_tokens_per_byte"] / rows["smollm2"]["tokens_per_byte"]
    return rows


# --------------------------------------------------------------------------- report


def report_ablation(ablation: dict[str, Any]) -> str:
    rows = [{"variant": label, "de": r["bpb_de"], "code": r["bpb_code"]} for label, r in ablation["rows"].items()]
    return (f"Ablation: the warm start alone ({ablation['steps']} steps, no LoRA), compressed BPB on the first "
            f"{ablation['eval_bytes'] // 1024} KiB of held-out text (each variant changes one option of the first row: input rows from "
            "the last token, output rows from the first, one position per code, the online mask):\n\n"
            + markdown_table(rows, [("variant", "variant"), ("de", "BPB de"), ("code", "BPB code")]))


def report(results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    codec, scores, arms, gen, stacked = (results[k] for k in ("codec", "scores", "training", "generation", "stacked"))
    lines = ["Compression (1024-token windows, K=2048, M=4):", ""]
    lines.append(markdown_table(
        [{"domain": d, "ours": r["compression_ratio"], "reference": r["reference_ratio"], "fewer": 100 * r["token_reduction"],
          "identical": "yes" if r["identical_to_reference"] else "NO"} for d, r in codec["domains"].items()],
        [("domain", "held-out text"), ("ours", "ratio, retok.adaptive.lzw"), ("reference", f"ratio, {codec['package']}"),
         ("fewer", "% fewer tokens"), ("identical", "identical codes")]))
    t = codec["throughput"]
    lines.append(f"\nCodec throughput (ids/s, median of 5): 1024-id windows retok {t['windows']['retok_ids_per_s']:,} vs "
                 f"package {t['windows']['package_ids_per_s']:,} ({t['windows']['retok_over_package']:.2f}x); one long stream "
                 f"retok {t['stream']['retok_ids_per_s']:,} vs package {t['stream']['package_ids_per_s']:,} "
                 f"({t['stream']['retok_over_package']:.2f}x).\n")
    table = []
    for label, key in (("base model (no training)", "base"), ("zip2zip, untrained encoders", "untrained"),
                       ("zip2zip, warm start alone (encoders distilled, no LoRA)", "warm"),
                       ("control: LoRA, K=0", "control"), ("zip2zip: warm start + LoRA + encoders, K=2048", "zip2zip")):
        row = {"model": label}
        for domain in ("de", "code"):
            s = scores[f"{key}-{domain}"]
            row[f"bpb_{domain}"], row[f"tpb_{domain}"] = s["bpb"], s["tokens_per_byte"]
        arm = arms.get(key)
        row["steps"], row["seconds"] = (arm["steps"], round(arm["seconds"])) if arm else (None, None)
        if key == "warm":
            row["steps"] = arms["zip2zip"].get("warm_steps")
        table.append(row)
    lines.append(f"Training on {arms['zip2zip']['train_bytes']:,} bytes (German + code), compressed BPB on held-out text:\n")
    lines.append(markdown_table(table, [("model", "model"), ("bpb_de", "BPB de"), ("tpb_de", "tokens/byte de"),
                                        ("bpb_code", "BPB code"), ("tpb_code", "tokens/byte code"), ("steps", "steps"),
                                        ("seconds", "train s")]))
    lines.append("\n" + report_ablation(results["ablation"]))
    g = gen["summary"]
    lines.append("\nGeneration (greedy, KV cache, 20 prompts x 256 base tokens; decode wall time per output byte):\n")
    lines.append(markdown_table(
        [{"model": name, "ms": s["ms_per_byte"], "ms_all": s["ms_per_byte_with_prefill"], "codes": s["codes"],
          "tokens": s["base_tokens"], "hyper": s["hypertokens"], "bytes": s["bytes"]} for name, s in g.items()],
        [("model", "model"), ("ms", "ms / byte"), ("ms_all", "ms / byte incl. prefill"), ("codes", "steps (codes)"),
         ("tokens", "base tokens"), ("hyper", "hypertokens emitted"), ("bytes", "bytes")]))
    lines.append("\nStacked on the German transplant (held-out German, tokens per byte):\n")
    lines.append(markdown_table(
        [{"tokenizer": name, "alone": r["tokens_per_byte"], "lzw": r["with_lzw_tokens_per_byte"], "ratio": r["compression_ratio"]}
         for name, r in stacked.items() if isinstance(r, dict)],
        [("tokenizer", "tokenizer"), ("alone", "tokens/byte"), ("lzw", "tokens/byte with LZW"), ("ratio", "ratio")]))
    z, c = scores["zip2zip-de"], scores["control-de"]
    zc, cc = scores["zip2zip-code"], scores["control-code"]
    targets = {
        "bpb_gap_de": z["bpb"] / c["bpb"] - 1, "bpb_gap_code": zc["bpb"] / cc["bpb"] - 1,
        "fewer_tokens_de": 1 - z["n_codes"] / c["n_codes"], "fewer_tokens_code": 1 - zc["n_codes"] / cc["n_codes"],
        "generation_time_saved": 1 - g["zip2zip"]["ms_per_byte"] / g["base"]["ms_per_byte"],
        "identical_codes": codec["identical"], "goals": TARGETS,
        "warm_start_zero_shot": {d: scores[f"warm-{d}"]["bpb"] for d in ("de", "code")},
    }
    targets["met"] = {
        "bpb_within_5pct": max(targets["bpb_gap_de"], targets["bpb_gap_code"]) <= TARGETS["bpb_within"],
        "fewer_tokens_de": targets["fewer_tokens_de"] >= TARGETS["fewer_tokens_de"],
        "fewer_tokens_code": targets["fewer_tokens_code"] >= TARGETS["fewer_tokens_code"],
        "generation": targets["generation_time_saved"] >= TARGETS["generation_faster"],
        "identical_codes": codec["identical"],
    }
    lines.append("\nTargets: " + "; ".join(
        [f"BPB gap to the control de {100 * targets['bpb_gap_de']:+.1f}%, code {100 * targets['bpb_gap_code']:+.1f}% (goal within 5%)",
         f"fewer tokens de {100 * targets['fewer_tokens_de']:.1f}% (goal 18%), code {100 * targets['fewer_tokens_code']:.1f}% (goal 25%)",
         f"generation time per byte {100 * targets['generation_time_saved']:+.1f}% saved (goal 15%)",
         f"identical codes to the reference: {'yes' if codec['identical'] else 'NO'}"]) + ".\n")
    return "\n".join(lines), targets


def draw(results: dict[str, Any]):
    def plot(path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        domains = list(results["codec"]["domains"])
        ratios = [results["codec"]["domains"][d]["compression_ratio"] for d in domains]
        left.bar(domains, ratios, color="#4c72b0")
        left.set_ylabel("base tokens / hypertoken codes")
        left.set_title("LZW compression, 1024-token windows")
        left.set_ylim(1.0, max(ratios) * 1.1)
        names = ["base", "control", "zip2zip"]
        for i, domain in enumerate(("de", "code")):
            values = [results["scores"][f"{n}-{domain}"]["bpb"] for n in names]
            right.bar([x + 0.38 * i for x in range(len(names))], values, width=0.36, label=domain)
        right.set_xticks([x + 0.19 for x in range(len(names))], names)
        right.set_ylabel("held-out bits per byte")
        right.set_title("after 512 KiB of training")
        right.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    return plot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/zip2zip-benchmark")
    parser.add_argument("--train-bytes", type=int, default=524288, help="German training bytes (default 512 KiB)")
    parser.add_argument("--code-bytes", type=int, default=65536, help="training code bytes (default 64 KiB)")
    parser.add_argument("--eval-bytes", type=int, default=65536, help="held-out bytes per domain (default 64 KiB)")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--reference-python", default=str(ROOT / ".venv-ref" / "bin" / "python"),
                        help="a Python with zip2zip-compression 0.3.4 (default .venv-ref)")
    parser.add_argument("--ablation-steps", type=int, default=16, help="warm-start steps of each ablation variant")
    parser.add_argument("--ablation-bytes", type=int, default=16384, help="held-out bytes per domain scored in the ablation")
    parser.add_argument("--ablation-only", action="store_true", help="run the codec and the ablation, print its table, stop")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    # everything the run will call, loaded now: editing the sources during the hour it runs cannot change it
    import hypernet.zip2zip.generate, hypernet.zip2zip.eval, hypernet.zip2zip.train, retok.vocab.train  # noqa: E401, F401
    out = check_output_dir(args.out, overwrite=args.overwrite)
    work = out.parent / f"{out.name}.partial"
    settings = {"train_bytes": args.train_bytes, "code_bytes": args.code_bytes, "eval_bytes": args.eval_bytes,
                "prompts": args.prompts, "new_tokens": args.new_tokens, "k": K, "m": M, "window": WINDOW}
    resume_or_start(work, settings)
    texts = cached_json(work / "texts.json", lambda: build_texts(work, args.train_bytes, args.code_bytes, args.eval_bytes))
    step = lambda name, compute: cached_json(work / f"{name}.json", compute)  # noqa: E731
    results: dict[str, Any] = {"settings": settings, "texts": texts}
    results["codec"] = step("codec", lambda: codec_part(work, texts, args.reference_python))
    print(json.dumps(results["codec"]["domains"], indent=1), flush=True)
    results["ablation"] = ablation_part(work, texts, args.ablation_steps, args.ablation_bytes)
    if args.ablation_only:
        print(report_ablation(results["ablation"]))
        return
    results["stacked"] = step("stacked", lambda: stacked_part(work, texts, 32000))
    arms = {"zip2zip": step("train-zip2zip", lambda: train_arm(work, texts, K)),
            "control": step("train-control", lambda: train_arm(work, texts, 0))}
    results["training"] = arms
    scores = {}
    for domain in ("de", "code"):
        scores[f"base-{domain}"] = step(f"score-base-{domain}", lambda: score(None, 0, texts[domain]))
        scores[f"untrained-{domain}"] = step(f"score-untrained-{domain}", lambda: score(None, K, texts[domain]))
        for arm, row in arms.items():
            scores[f"{arm}-{domain}"] = step(f"score-{arm}-{domain}", lambda: score(row["folder"], 0, texts[domain]))
        warm_folder = str(Path(arms["zip2zip"]["folder"]) / WARM_FOLDER)  # the encoders after the warm start alone, on the base model
        scores[f"warm-{domain}"] = step(f"score-warm-{domain}", lambda: score(warm_folder, 0, texts[domain], onto_base=True))
        print({k: round(v["bpb"], 4) for k, v in scores.items()}, flush=True)
    results["scores"] = scores
    results["generation"] = step("generation", lambda: generation_part(arms["zip2zip"]["folder"], texts, args.prompts, args.new_tokens))
    table, targets = report(results)
    results["targets"] = targets
    results["digest"] = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    publish(work, out, results, table, draw(results), "zip2zip.png")


if __name__ == "__main__":
    main()
