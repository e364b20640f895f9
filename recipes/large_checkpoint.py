#!/usr/bin/env python
"""Transplant at model sizes no model here has: checkpoints with real shapes and random weights, written shard by shard.

    python recipes/large_checkpoint.py --out runs/large-checkpoint.json --work /tmp/retok-large
    python recipes/large_checkpoint.py --out runs/large-checkpoint.json --shapes llama-3.2-3b --methods fvt
    python recipes/large_checkpoint.py --out /tmp/x.json --shapes tiny --real none      # the recipe itself, in seconds

For each shape (Llama-3.2-3B: tied, 128,256 x 3,072; Llama-3.1-8B: untied, 128,256 x 4,096, 16 GB in
bfloat16) the recipe writes a safetensors checkpoint in 5 GB shards, one tensor at a time (never the
model in memory), with a 128,256-entry byte-level tokenizer trained here (128,000 pieces on the
LibreOffice help text in four languages, plus 256 reserved specials as in Llama-3, no pad token).
Then, each as its own process measured alone (:func:`retok.measure.run_measured`), with an empty retok
cache (so ``compose`` fits its composition from scratch, as on first use):

* the copy floor: ``cp -r`` of the checkpoint, the I/O a transplant cannot avoid;
* ``retok transplant`` with each method onto a German 32k tokenizer (trained like the source);
* ``retok transplant`` onto the model's own tokenizer.

It checks every tensor but the embeddings byte by byte against the source (all of them for the
identity run) and deletes each output before the next run (disk: about twice the checkpoint).
Real-model rows beside them: SmolLM2-135M and Gemma-3-270m, the checkpoint path vs the in-memory
path (``--no-lazy``): time, peak RSS, and whether the written rows are equal.

Writes the rows as JSON (``--out``) and prints the markdown table that the README shows
(``python recipes/readme_table.py large-checkpoint runs/large-checkpoint.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

SHAPES = {
    # name: (hidden, layers, intermediate, heads, kv heads, vocab, tied)
    "llama-3.2-3b": (3072, 28, 8192, 24, 8, 128256, True),
    "llama-3.1-8b": (4096, 32, 14336, 32, 8, 128256, False),
    "tiny": (64, 2, 128, 4, 2, 2304, False),  # a smoke run of the recipe (2,048 pieces + 256 specials)
}
RESERVED = 256
SHARD = 5 * 10**9
CHUNK_ROWS = 8192


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- tokenizers


def source_tokenizer(vocab: int, work: Path):
    """A Llama-3-like byte-level tokenizer: ``vocab - 256`` BPE pieces on four languages' help text, 256 reserved specials."""
    from transformers import AutoTokenizer

    folder = work / f"tokenizer-{vocab}"
    if (folder / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(folder)
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from retok import assets

    corpus = assets.lohelp()
    texts = [line for lang in ("en", "de", "fr", "es") for line in corpus.text(lang).read_text(encoding="utf-8").splitlines() if line.strip()]
    specials = ["<|begin_of_text|>", "<|end_of_text|>"] + [f"<|reserved_special_token_{i}|>" for i in range(RESERVED - 2)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab - RESERVED, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    log(f"training the {vocab}-entry source tokenizer on {len(texts)} lines")
    tok.train_from_iterator(texts, trainer=trainer)
    tok = fill_vocabulary(tok, vocab - RESERVED)
    tok.add_special_tokens(specials)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>")
    fast.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def fill_vocabulary(tok, size: int):
    """``tok`` with regular pieces added up to ``size`` when its corpus ran out of merges (28 MB of help text gives
    about 88k): each an unseen concatenation of two pieces, in the vocabulary but reached by no merge, as rare
    pieces of a real 128k vocabulary are in practice."""
    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    pieces = data["model"]["vocab"]
    tokens = sorted(pieces, key=pieces.get)
    step = 0
    while len(pieces) < size:
        a, b = tokens[step % len(tokens)], tokens[(step * 7919 + 13) % len(tokens)]
        step += 1
        if a + b not in pieces:
            pieces[a + b] = len(pieces)
    log(f"{len(tokens)} trained pieces, {len(pieces) - len(tokens)} filler pieces")
    return Tokenizer.from_str(json.dumps(data))


def german_tokenizer(like, vocab: int, work: Path, name: str) -> Path:
    folder = work / f"german-{vocab}-{name}"
    if not (folder / "tokenizer.json").is_file():
        from retok import assets
        from retok.vocab.train import train_tokenizer

        log(f"training the German {vocab} tokenizer like {name}")
        train_tokenizer(assets.lohelp().text("de"), vocab_size=vocab, like=like, progress=False).save_pretrained(folder)
    return folder


# ----------------------------------------------------------------------------- the checkpoint


def write_checkpoint(shape: str, folder: Path, tokenizer) -> None:
    """A LlamaForCausalLM checkpoint of ``shape`` in bfloat16, written one tensor (and one block of rows) at a time."""
    import torch
    from transformers import LlamaConfig

    from retok.transfer.sharded.layout import meta_model
    from retok.transfer.sharded.writer import OutputTensor, header_bytes, pack_shards, shard_names

    hidden, layers, inter, heads, kv, vocab, tied = SHAPES[shape]
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, intermediate_size=inter, num_attention_heads=heads,
        num_key_value_heads=kv, tie_word_embeddings=tied, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        max_position_embeddings=8192, torch_dtype="bfloat16",
    )
    model = meta_model(config)
    params = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    placeholders = [OutputTensor.new(n, torch.empty(s, dtype=torch.bfloat16, device="meta")) for n, s in params]
    shards = pack_shards(placeholders, SHARD)
    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    noise = (torch.randn(64 * 2**20, generator=generator) * 0.02).to(torch.bfloat16)  # 128 MiB, cycled for the body
    names = shard_names(len(shards))
    weight_map = {}
    for name, group in zip(names, shards):
        with open(folder / name, "wb") as f:
            f.write(header_bytes(group))
            for t in group:
                numel = int(torch.tensor(t.shape).prod()) if t.shape else 1
                if "embed_tokens" in t.name or "lm_head" in t.name:  # real random rows: methods compute on these
                    for start in range(0, t.shape[0], CHUNK_ROWS):
                        rows = min(CHUNK_ROWS, t.shape[0] - start)
                        block = (torch.randn(rows, t.shape[1], generator=generator) * 0.02).to(torch.bfloat16)
                        f.write(block.view(torch.uint8).numpy().tobytes())
                elif "norm" in t.name:
                    f.write(torch.ones(numel, dtype=torch.bfloat16).view(torch.uint8).numpy().tobytes())
                else:
                    offset = int(torch.randint(0, noise.numel(), (1,), generator=generator))
                    written = 0
                    while written < numel:
                        piece = noise[offset : offset + min(numel - written, noise.numel() - offset)]
                        f.write(piece.view(torch.uint8).numpy().tobytes())
                        written += piece.numel()
                        offset = 0
                weight_map[t.name] = name
    if len(names) > 1:
        total = sum(t.nbytes for t in placeholders)
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def compare_tensors(source: Path, out: Path, *, skip: set[str]) -> tuple[int, int]:
    """(tensors equal byte for byte, tensors compared), every tensor not in ``skip``, read in 64 MiB pieces."""
    from retok.transfer.sharded.files import Checkpoint

    a, b = Checkpoint(source), Checkpoint(out)
    equal = compared = 0
    for name, entry in a.entries.items():
        if name in skip:
            continue
        compared += 1
        other = b.entries.get(name)
        if other is None or other.nbytes != entry.nbytes or other.dtype != entry.dtype or other.shape != entry.shape:
            continue
        same = True
        with entry.file.open("rb") as f, other.file.open("rb") as g:
            f.seek(entry.start)
            g.seek(other.start)
            left = entry.nbytes
            while left and same:
                step = min(left, 64 * 2**20)
                same = f.read(step) == g.read(step)
                left -= step
        equal += same
    return equal, compared


def measured(cmd: list[str], logfile: Path, *, cold: bool = True) -> dict:
    """Run ``cmd`` alone and measure it; ``cold``: with an empty retok cache (compose fits its composition afresh)."""
    import tempfile

    from retok.measure import run_measured

    with tempfile.TemporaryDirectory(prefix="retok-cold-cache-", dir=logfile.parent) as cache:
        env = {**os.environ, "RETOK_CACHE": cache} if cold else None
        run = run_measured(cmd, logfile, env=env)
    if run.exit_code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {run.exit_code}); see {logfile}:\n{logfile.read_text()[-2000:]}")
    return {"seconds": round(run.seconds, 1), "peak_rss_gib": round(run.peak_rss_mib / 1024, 2)}


def retok_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "retok.cli", *args]


def shape_rows(shape: str, methods: list[str], work: Path) -> list[dict]:
    hidden, layers, _, _, _, vocab, tied = SHAPES[shape]
    tokenizer = source_tokenizer(vocab, work)
    german_size = 32000 if shape != "tiny" else 1000
    german = german_tokenizer(tokenizer, german_size, work, f"{vocab}")
    src = work / f"{shape}-checkpoint"
    if not (src / "config.json").is_file():
        shutil.rmtree(src, ignore_errors=True)
        log(f"writing the {shape} checkpoint")
        start = time.perf_counter()
        write_checkpoint(shape, src, tokenizer)
        log(f"wrote {folder_bytes(src) / 2**30:.1f} GiB in {time.perf_counter() - start:.0f} s")
    size = folder_bytes(src)
    embeddings = {"model.embed_tokens.weight"} | (set() if tied else {"lm_head.weight"})
    copy = work / f"{shape}-copy"
    shutil.rmtree(copy, ignore_errors=True)
    log("copy floor: cp -r")
    floor = measured(["cp", "-r", str(src), str(copy)], work / "cp.log", cold=False)
    shutil.rmtree(copy)
    rows = []
    for method, target in [(m, german) for m in methods] + [("fvt", src)]:
        out = work / f"{shape}-out"
        shutil.rmtree(out, ignore_errors=True)
        onto = "own tokenizer" if target == src else f"German {german_size // 1000}k"
        log(f"transplant {shape} {method} onto {onto}")
        run = measured(retok_cmd("transplant", "--model", str(src), "--tokenizer", str(target), "--method", method, "--out", str(out)),
                       work / f"transplant-{method}.log")
        equal, compared = compare_tensors(src, out, skip=set() if target == src else embeddings)
        rows.append({
            "checkpoint": f"{shape} ({'tied' if tied else 'untied'}, {vocab:,} x {hidden:,}, bf16)",
            "size_gib": round(size / 2**30, 2),
            "onto": onto,
            "method": method,
            "seconds": run["seconds"],
            "peak_rss_gib": run["peak_rss_gib"],
            "copy_seconds": floor["seconds"],
            "time_vs_copy": round(run["seconds"] / max(floor["seconds"], 1e-9), 2),
            "tensors_byte_identical": f"{equal}/{compared}",
        })
        log(json.dumps(rows[-1]))
        shutil.rmtree(out)
    return rows


def real_rows(name: str, work: Path) -> list[dict]:
    """A real model: the checkpoint path vs the in-memory path onto a German 32k tokenizer, rows compared."""
    from retok import assets
    from retok.loading import load_tokenizer
    from retok.transfer.sharded.files import Checkpoint

    folder = Path(assets.smollm2() if name == "smollm2" else assets.gemma3_270m())
    german = german_tokenizer(load_tokenizer(folder), 32000, work, name)
    runs = {}
    for path, flag in (("checkpoint", "--lazy"), ("in-memory", "--no-lazy")):
        out = work / f"{name}-{path}"
        shutil.rmtree(out, ignore_errors=True)
        runs[path] = measured(retok_cmd("transplant", "--model", str(folder), "--tokenizer", str(german), "--method", "fvt", "--out", str(out), flag),
                              work / f"{name}-{path}.log")
    a, b = Checkpoint(work / f"{name}-checkpoint"), Checkpoint(work / f"{name}-in-memory")
    same = a.entries.keys() == b.entries.keys() and all(a.read(n).view(-1).view(dtype=__import__("torch").uint8).equal(
        b.read(n).view(-1).view(dtype=__import__("torch").uint8)) for n in a.entries)
    for path in runs:
        shutil.rmtree(work / f"{name}-{path}")
    label = "SmolLM2-135M (fp32)" if name == "smollm2" else "Gemma-3-270m (bf16)"
    return [{
        "checkpoint": label, "size_gib": round(folder_bytes(folder) / 2**30, 2), "onto": "German 32k", "method": "fvt",
        "seconds": runs["checkpoint"]["seconds"], "peak_rss_gib": runs["checkpoint"]["peak_rss_gib"],
        "in_memory_seconds": runs["in-memory"]["seconds"], "in_memory_peak_rss_gib": runs["in-memory"]["peak_rss_gib"],
        "rows_equal": same,
    }]


def markdown(rows: list[dict]) -> str:
    synthetic = [r for r in rows if "copy_seconds" in r]
    real = [r for r in rows if "in_memory_seconds" in r]
    lines = []
    if synthetic:
        lines += [
            "| checkpoint | GiB | onto | method | seconds | peak RSS GiB | cp -r seconds | time / copy | untouched tensors byte-identical |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {r['checkpoint']} | {r['size_gib']} | {r['onto']} | {r['method']} | {r['seconds']} | {r['peak_rss_gib']} | "
                  f"{r['copy_seconds']} | {r['time_vs_copy']}x | {r['tensors_byte_identical']} |" for r in synthetic]
    if real:
        lines += ["", "| model | GiB | onto | method | checkpoint path s | RSS GiB | in-memory s | RSS GiB | rows equal |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['checkpoint']} | {r['size_gib']} | {r['onto']} | {r['method']} | {r['seconds']} | {r['peak_rss_gib']} | "
                  f"{r['in_memory_seconds']} | {r['in_memory_peak_rss_gib']} | {'yes' if r['rows_equal'] else 'NO'} |" for r in real]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--work", type=Path, default=Path("/tmp/retok-large"), help="scratch folder (about 2x the largest checkpoint)")
    p.add_argument("--shapes", default="llama-3.2-3b,llama-3.1-8b", help=f"comma-separated: {', '.join(SHAPES)}")
    p.add_argument("--methods", default="fvt,compose", help="methods onto the German tokenizer")
    p.add_argument("--real", default="smollm2,gemma3", help="real models to compare both paths on (none: skip)")
    p.add_argument("--keep", action="store_true", help="keep the synthetic checkpoints in --work")
    args = p.parse_args(argv)
    from retok.atomic import atomic_write_text

    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for shape in [s for s in args.shapes.split(",") if s]:
        rows += shape_rows(shape, [m for m in args.methods.split(",") if m], args.work)
        if not args.keep:
            shutil.rmtree(args.work / f"{shape}-checkpoint", ignore_errors=True)
        atomic_write_text(args.out, json.dumps({"rows": rows}, indent=2) + "\n")
    for name in [n for n in args.real.split(",") if n and n != "none"]:
        rows += real_rows(name, args.work)
        atomic_write_text(args.out, json.dumps({"rows": rows}, indent=2) + "\n")
    atomic_write_text(args.out, json.dumps({"rows": rows, "machine": {"cpus": os.cpu_count()}}, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
