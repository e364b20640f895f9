#!/usr/bin/env python
"""Try many bad inputs on every command and tabulate what happens: exit code, one line or not, what is left behind.

    python recipes/bad_inputs.py --out runs/bad-inputs.md     # ~1 min, tiny in-process fixtures

Every case runs ``retok.cli.main`` in this process on tiny fixtures (a 2-layer Llama, byte-level
BPE tokenizers, a German text) inside a scratch folder, with outputs pointed at fresh paths. A
case passes when the command exits 2 with exactly one ``retok: error: ...`` line and the scratch
folder holds nothing new afterwards. Writes the markdown table and prints the totals.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a case that names a hub id must not reach for the network

def fixtures(root: Path) -> dict[str, str]:
    """The input files and folders the cases refer to, built once in ``root``."""
    from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer

    english = tiny_tokenizer()
    model = root / "model"
    tiny_llama(len(english)).save_pretrained(model)
    english.save_pretrained(model)
    tiny_tokenizer(GERMAN).save_pretrained(root / "tok-de")
    tiny_tokenizer(GERMAN * 20, vocab_size=700).save_pretrained(root / "tok-big")
    tiny_tokenizer(GERMAN, vocab_size=280).save_pretrained(root / "tok-other")
    (root / "de.txt").write_text("\n".join(GERMAN * 30) + "\n", encoding="utf-8")
    (root / "en.txt").write_text("\n".join(ENGLISH * 30) + "\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes("Größe\n".encode("latin-1"))
    (root / "empty.txt").write_text("")
    (root / "afile").write_text("x")
    (root / "existing").mkdir()
    (root / "small.txt").write_text(GERMAN[0] + "\n", encoding="utf-8")
    import hypernet  # a hypernetwork trained for *another* model (same tokenizer, other weights)

    other = root / "model-other"
    tiny_llama(len(english), seed=1).save_pretrained(other)
    english.save_pretrained(other)
    tiny = hypernet.TrainConfig(stage1_steps=2, stage1_batch=16, steps=1, batch_size=2, seq_len=16, candidates=32, sampled_vocab=300,
                                hidden=16, heads=2, aux_batch=8, warmup_steps=0, checkpoint_every=0)
    hypernet.train(other, root / "de.txt", root / "hn-other", tiny, progress=False, log=lambda line: None)
    from hypernet.zip2zip.config import Zip2ZipTrainConfig
    from hypernet.zip2zip.train import train as train_zip2zip

    # an interrupted zip2zip run of *another* base model, left in z-other.partial/
    small = Zip2ZipTrainConfig(max_codebook_size=32, max_subtokens=3, window=32, train_bytes=None, encoder_hidden=16, encoder_heads=2,
                               encoder_layers=1, checkpoint_every=1, eval_every=0)
    train_zip2zip(other, root / "de.txt", root / "z-other", small, progress=False, log=lambda line: None, stop_after=1)
    german = tiny_tokenizer(GERMAN)
    for name, tokenizer, rows in (("donor-other", tiny_tokenizer(GERMAN, vocab_size=280), None), ("donor-tiny", german, 3)):
        tiny_llama(rows or len(tokenizer), hidden=24).save_pretrained(root / name)  # donor-tiny: 3 rows, only specials
        tokenizer.save_pretrained(root / name)
    lv = large_vocab_fixtures(root, model)
    damaged = damaged_fixtures(root, model, english)
    return {**lv, **damaged, "DONOR_OTHER": str(root / "donor-other"), "DONOR_TINY": str(root / "donor-tiny"), "M": str(model), "T": str(root / "tok-de"), "BIG": str(root / "tok-big"), "OTHER": str(root / "tok-other"),
            "DE": str(root / "de.txt"), "EN": str(root / "en.txt"), "LATIN1": str(root / "latin1.txt"), "EMPTY": str(root / "empty.txt"),
            "FILE": str(root / "afile"), "DIR": str(root / "existing"), "SMALL": str(root / "small.txt"),
            "HN_OTHER": str(root / "hn-other"), "M_OTHER": str(other), "Z_OTHER": str(root / "z-other")}


def damaged_fixtures(root: Path, model: Path, tokenizer) -> dict[str, str]:
    """Saved folders with one file cut in half: a model, a hypernetwork, a zip2zip model, a large vocabulary."""
    import shutil

    from hypernet.zip2zip.config import Zip2ZipTrainConfig
    from hypernet.zip2zip.train import wrap
    from retok.testing import tiny_llama

    def cut(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    shutil.copytree(model, root / "model-cut")
    cut(root / "model-cut" / "model.safetensors")
    shutil.copytree(root / "hn-other", root / "hn-cut")
    cut(root / "hn-cut" / "hypernet.safetensors")
    small = Zip2ZipTrainConfig(max_codebook_size=32, max_subtokens=3, window=32, encoder_hidden=16, encoder_heads=2, encoder_layers=1)
    wrap(tiny_llama(len(tokenizer)), tokenizer, small).save_pretrained(root / "z-cut", tokenizer)
    cut(root / "z-cut" / "zip2zip_encoders.safetensors")
    shutil.copytree(root / "lv", root / "lv-cut")
    cut(root / "lv-cut" / "input_rows.npy")
    # checkpoints the checkpoint path must refuse: pickle-only weights, a shard the index names but that is gone, a cut shard
    model_bin = root / "model-bin"
    shutil.copytree(model, model_bin)
    (model_bin / "model.safetensors").unlink()
    import torch

    torch.save({}, model_bin / "pytorch_model.bin")
    tiny_llama(len(tokenizer), hidden=64).save_pretrained(root / "model-sharded", max_shard_size="40KB")
    tokenizer.save_pretrained(root / "model-sharded")
    shutil.copytree(root / "model-sharded", root / "model-shard-gone")
    sorted((root / "model-shard-gone").glob("*.safetensors"))[1].unlink()
    shutil.copytree(root / "model-sharded", root / "model-shard-cut")
    cut(sorted((root / "model-shard-cut").glob("*.safetensors"))[-1])
    return {"M_CUT": str(root / "model-cut"), "HN_CUT": str(root / "hn-cut"), "Z_CUT": str(root / "z-cut"), "LV_CUT": str(root / "lv-cut"),
            "M_BIN": str(model_bin), "M_SHARD_GONE": str(root / "model-shard-gone"), "M_SHARD_CUT": str(root / "model-shard-cut")}


def large_vocab_fixtures(root: Path, model: Path) -> dict[str, str]:
    """A built tiny large vocabulary, a copy whose rows changed after the index was built, and a copy with a damaged index."""
    import random
    import shutil

    import numpy as np

    from retok.adaptive.large_vocab.build import LargeVocabConfig, build_large_vocab
    from retok.testing import ENGLISH

    words = " ".join(ENGLISH).split()
    rng = random.Random(0)
    corpus = root / "lv-corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(10)) for _ in range(2000)) + "\n", encoding="utf-8")
    built = build_large_vocab(model, root / "lv", corpus=[corpus], config=LargeVocabConfig(size=2000, index="ivf", nlist=8), progress=False)
    shutil.copytree(built, root / "lv-other")
    rows = np.load(root / "lv-other" / "input_rows.npy", mmap_mode="r+")
    rows[0] += 1.0
    rows.flush()
    shutil.copytree(built, root / "lv-half")
    (root / "lv-half" / "index" / "index.faiss").write_bytes(b"half")
    shutil.copytree(built, root / "lv-old")  # as an older version wrote it: no recorded merges
    (root / "lv-old" / "merges.npz").unlink()
    return {"LV": str(built), "LV_OTHER": str(root / "lv-other"), "LV_HALF": str(root / "lv-half"), "LV_CORPUS": str(corpus),
            "LV_OLD": str(root / "lv-old")}


def cases() -> list[tuple[str, list[str], dict[str, str]]]:
    """(what is wrong, argv with {placeholders}, extra environment) for every case."""
    t = ["transplant", "--model", "{M}", "--tokenizer", "{T}"]
    e = ["eval", "--model", "{M}", "--text", "{DE}"]
    k = ["train-tokenizer", "--corpus", "{DE}", "--like", "{M}"]
    f = ["finetune", "--model", "{M}", "--train", "{DE}"]
    h = ["train-hypernet", "--model", "{M}", "--train", "{DE}"]
    z = ["zip2zip", "train", "--model", "{M}", "--train", "{DE}"]
    zs = ["zip2zip", "stats", "--model", "{M}", "--text", "{DE}"]
    hn = [*t, "--method", "hypernet"]
    lb = ["large-vocab", "build", "--model", "{M}", "--train", "{LV_CORPUS}", "--out", "lv-new"]
    lg = ["large-vocab", "generate", "--model", "{LV}", "--prompt", "Open the"]
    de = ["dynamic", "eval", "--model", "{M}", "--text", "{DE}"]
    no_env: dict[str, str] = {}
    return [
        ("large-vocab build: --size below the base vocabulary", [*lb, "--size", "10"], no_env),
        ("large-vocab build: --size too large for memory and disk", [*lb, "--size", "2000000000"], no_env),
        ("large-vocab build: corpus too small for --size", [*lb[:4], "--train", "{SMALL}", "--out", "lv-new", "--size", "5000"], no_env),
        ("large-vocab build: --index flat", [*lb, "--index", "flat"], no_env),
        ("large-vocab build: --ivf-codes sq4", [*lb, "--ivf-codes", "sq4"], no_env),
        ("large-vocab build: --predictor fvtt", [*lb, "--predictor", "fvtt"], no_env),
        ("large-vocab build: --predictor hypernet without --hypernet", [*lb, "--predictor", "hypernet"], no_env),
        ("large-vocab build: --out exists", [*lb[:-1], "{LV}"], no_env),
        ("large-vocab build: --out is a file", [*lb[:-1], "{FILE}"], no_env),
        ("large-vocab build: --train not UTF-8", [*lb[:4], "--train", "{LATIN1}", "--out", "lv-new"], no_env),
        ("large-vocab generate: --model is not a large-vocabulary folder", ["large-vocab", "generate", "--model", "{M}", "--prompt", "x"], no_env),
        ("large-vocab generate: index built for other rows", ["large-vocab", "generate", "--model", "{LV_OTHER}", "--prompt", "x"], no_env),
        ("large-vocab generate: damaged index file", ["large-vocab", "generate", "--model", "{LV_HALF}", "--prompt", "x"], no_env),
        ("large-vocab generate: --k above the vocabulary size", [*lg, "--k", "5000"], no_env),
        ("large-vocab generate: --k 0", [*lg, "--k", "0"], no_env),
        ("large-vocab generate: --max-new-tokens 0", [*lg, "--max-new-tokens", "0"], no_env),
        ("large-vocab: no subcommand", ["large-vocab"], no_env),
        ("large-vocab build: --hypernet trained for another model", [*lb, "--predictor", "hypernet", "--hypernet", "{HN_OTHER}"], no_env),
        ("large-vocab build: --nprobe 0", [*lb, "--nprobe", "0"], no_env),
        ("large-vocab generate: --nprobe 0", [*lg, "--nprobe", "0"], no_env),
        ("large-vocab generate: --prior 1.5 (a weight in [0, 1])", [*lg, "--prior", "1.5"], no_env),
        ("large-vocab score: a folder built before merges were recorded", ["large-vocab", "score", "--model", "{LV_OLD}", "--text", "{EN}"], no_env),
        ("large-vocab score: --text missing", ["large-vocab", "score", "--model", "{LV}", "--text", "nope.txt"], no_env),
        ("large-vocab calibrate: --model is not a large-vocabulary folder", ["large-vocab", "calibrate", "--model", "{M}"], no_env),
        ("large-vocab calibrate: a folder built before merges were recorded", ["large-vocab", "calibrate", "--model", "{LV_OLD}",
                                                                              "--train", "{LV_CORPUS}"], no_env),
        ("large-vocab score: --window 0", ["large-vocab", "score", "--model", "{LV}", "--text", "{EN}", "--window", "0"], no_env),
        ("large-vocab generate: truncated input_rows.npy", ["large-vocab", "generate", "--model", "{LV_CUT}", "--prompt", "x"], no_env),
        ("large-vocab biuld: misspelled subcommand followed by options", ["large-vocab", "biuld", "--model", "{M}", "--out", "y"], no_env),
        ("zip2zip trian: misspelled subcommand followed by options", ["zip2zip", "trian", "--model", "{M}"], no_env),
        ("zip2zip generate: truncated zip2zip_encoders.safetensors", ["zip2zip", "generate", "--model", "{Z_CUT}", "--prompt", "x"], no_env),
        ("zip2zip train: a value after the switch --tie-encoders", [*z, "--out", "z-new", "--tie-encoders", "yes"], no_env),
        ("transplant --method hypernet: truncated hypernet.safetensors", [*hn, "--hypernet", "{HN_CUT}", "--out", "o-new"], no_env),
        ("eval: truncated model.safetensors", ["eval", "--model", "{M_CUT}", "--text", "{DE}"], no_env),
        ("dynamic eval: --reduction 1.5", [*de, "--reduction", "1.5"], no_env),
        ("dynamic eval: --boundary wrod", [*de, "--boundary", "wrod"], no_env),
        ("dynamic eval: --predictor fvtt", [*de, "--predictor", "fvtt"], no_env),
        ("dynamic eval: text shorter than one window", ["dynamic", "eval", "--model", "{M}", "--text", "{SMALL}"], no_env),
        ("dynamic eval: odd --window", [*de, "--window", "65"], no_env),
        ("dynamic eval: --text not UTF-8", ["dynamic", "eval", "--model", "{M}", "--text", "{LATIN1}"], no_env),
        ("transplant: --model missing", ["transplant", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: only pickle .bin weights", ["transplant", "--model", "{M_BIN}", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant --no-lazy: only pickle .bin weights", ["transplant", "--model", "{M_BIN}", "--tokenizer", "{T}", "--out", "o", "--no-lazy"], no_env),
        ("transplant: a shard named in the index is missing", ["transplant", "--model", "{M_SHARD_GONE}", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: a truncated shard", ["transplant", "--model", "{M_SHARD_CUT}", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: --max-shard-size nonsense", [*t, "--out", "o", "--max-shard-size", "big"], no_env),
        ("transplant: --lazy on a pickle folder", ["transplant", "--model", "{M_BIN}", "--tokenizer", "{T}", "--out", "o", "--lazy"], no_env),
        ("transplant: --modle typo", ["transplant", "--modle", "{M}", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: unknown method", [*t, "--out", "o", "--method", "fvtt"], no_env),
        ("transplant: --sed typo", [*t, "--out", "o", "--sed", "1"], no_env),
        ("transplant: option of another method", [*t, "--out", "o", "--method", "mean", "--output-pooling", "first"], no_env),
        ("transplant: --model does not exist", ["transplant", "--model", "nothere/", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: --model is a file", ["transplant", "--model", "{FILE}", "--tokenizer", "{T}", "--out", "o"], no_env),
        ("transplant: --tokenizer does not exist", ["transplant", "--model", "{M}", "--tokenizer", "./nothere", "--out", "o"], no_env),
        ("transplant: --out exists", [*t, "--out", "{DIR}"], no_env),
        ("transplant: --out is a file", [*t, "--out", "{FILE}"], no_env),
        ("transplant: --out is a file, --overwrite", [*t, "--out", "{FILE}", "--overwrite"], no_env),
        ("transplant: --out under /proc", [*t, "--out", "/proc/retok-out"], no_env),
        ("transplant: --out under a file", [*t, "--out", "{FILE}/out"], no_env),
        ("transplant: --out not UTF-8", [*t, "--out", "o\udcff"], no_env),
        ("transplant: --old-tokenizer of another model", [*t, "--out", "o", "--old-tokenizer", "{OTHER}"], no_env),
        ("transplant: --old-tokenizer larger than the matrix", [*t, "--out", "o", "--old-tokenizer", "{BIG}"], no_env),
        ("transplant: --prior-weight 7", [*t, "--out", "o", "--method", "tokenadapt", "--prior-weight", "7"], no_env),
        ("transplant: --temperature 0", [*t, "--out", "o", "--method", "wechsel", "--temperature", "0"], no_env),
        ("transplant: --neighbors 0", [*t, "--out", "o", "--method", "wechsel", "--neighbors", "0"], no_env),
        ("transplant: --output-pooling max", [*t, "--out", "o", "--output-pooling", "max"], no_env),
        ("transplant: --seed -1", [*t, "--out", "o", "--seed", "-1"], no_env),
        ("transplant: --seed x", [*t, "--out", "o", "--seed", "x"], no_env),
        ("transplant: wechsel without vectors", [*t, "--out", "o", "--method", "wechsel"], no_env),
        ("transplant: wechsel dictionary missing", [*t, "--out", "o", "--method", "wechsel", "--source-text", "{EN}", "--target-text", "{DE}", "--dictionary", "missing.tsv"], no_env),
        ("transplant: focus without text", [*t, "--out", "o", "--method", "focus"], no_env),
        ("transplant: tokenadapt --aux minlm", [*t, "--out", "o", "--method", "tokenadapt", "--aux", "minlm"], no_env),
        ("transplant: compose --fvt-weight 2", [*t, "--out", "o", "--method", "compose", "--fvt-weight", "2"], no_env),
        ("transplant: --method omp without --donor", [*t, "--out", "o", "--method", "omp"], no_env),
        ("transplant: --donor with --method fvt", [*t, "--out", "o", "--donor", "{M}"], no_env),
        ("transplant: --donor does not exist", [*t, "--out", "o", "--method", "omp", "--donor", "./nothere"], no_env),
        ("transplant: --donor of another tokenizer", [*t, "--out", "o", "--method", "omp", "--donor", "{DONOR_OTHER}"], no_env),
        ("transplant: --donor sharing no token", [*t, "--out", "o", "--method", "linear", "--donor", "{DONOR_TINY}"], no_env),
        ("transplant: omp --k 0", [*t, "--out", "o", "--method", "omp", "--donor", "{M}", "--k", "0"], no_env),
        ("transplant: omp --refresh 0", [*t, "--out", "o", "--method", "omp", "--donor", "{M}", "--refresh", "0"], no_env),
        ("transplant: omp --prior-weight 2", [*t, "--out", "o", "--method", "omp", "--donor", "{M}", "--prior-weight", "2"], no_env),
        ("transplant: linear --fit svd", [*t, "--out", "o", "--method", "linear", "--donor", "{M}", "--fit", "svd"], no_env),
        ("transplant: hub id not cached, offline", ["transplant", "--model", "someone/nothing", "--tokenizer", "{T}", "--out", "o"], {"HF_HUB_OFFLINE": "1"}),
        ("eval: --text missing", ["eval", "--model", "{M}", "--text", "nothere.txt"], no_env),
        ("eval: neither --text nor --tasks", ["eval", "--model", "{M}"], no_env),
        ("eval: --tasks with a misspelled retok task", ["eval", "--model", "{M}", "--tasks", "retok_clozee_de"], no_env),
        ("eval: --tasks without --model", ["eval", "--tasks", "retok_cloze_de"], no_env),
        ("eval: --tasks and --text together", [*e, "--tasks", "retok_cloze_de"], no_env),
        ("eval: --tasks with --limit 0", ["eval", "--model", "{M}", "--tasks", "retok_cloze_de", "--limit", "0"], no_env),
        ("eval: --task-folder is not a task folder", ["eval", "--model", "{M}", "--tasks", "retok_cloze_de", "--task-folder", "{T}"], no_env),
        ("eval: --text not UTF-8", ["eval", "--model", "{M}", "--text", "{LATIN1}"], no_env),
        ("eval: --text empty", ["eval", "--model", "{M}", "--text", "{EMPTY}"], no_env),
        ("eval: --max-bytes -5", [*e, "--max-bytes", "-5"], no_env),
        ("eval: --max-bytes x", [*e, "--max-bytes", "x"], no_env),
        ("eval: --window 1", [*e, "--window", "1"], no_env),
        ("eval: --batch-size 0", [*e, "--batch-size", "0"], no_env),
        ("eval: --tokenizer larger than the matrix", [*e, "--tokenizer", "{BIG}"], no_env),
        ("eval: --json onto a folder", [*e, "--json", "{DIR}"], no_env),
        ("eval: --json under /proc", [*e, "--json", "/proc/retok.json"], no_env),
        ("eval: --dtype float8", [*e, "--dtype", "float8"], no_env),
        ("eval: --model is a tokenizer folder", ["eval", "--model", "{T}", "--text", "{DE}"], no_env),
        ("eval: --heldout --max-bytes -1", [*e, "--heldout", "--max-bytes", "-1"], no_env),
        ("train-tokenizer: --vocab-size 0", [*k, "--vocab-size", "0", "--out", "o"], no_env),
        ("train-tokenizer: --vocab-size x", [*k, "--vocab-size", "x", "--out", "o"], no_env),
        ("train-tokenizer: --kind bep", [*k, "--vocab-size", "300", "--kind", "bep", "--out", "o"], no_env),
        ("train-tokenizer: --corpus missing", ["train-tokenizer", "--corpus", "nothere.txt", "--like", "{M}", "--vocab-size", "300", "--out", "o"], no_env),
        ("train-tokenizer: --corpus empty", ["train-tokenizer", "--corpus", "{EMPTY}", "--like", "{M}", "--vocab-size", "300", "--out", "o"], no_env),
        ("train-tokenizer: --like missing", ["train-tokenizer", "--corpus", "{DE}", "--like", "./nothere", "--vocab-size", "300", "--out", "o"], no_env),
        ("train-tokenizer: --out exists", [*k, "--vocab-size", "300", "--out", "{DIR}"], no_env),
        ("train-tokenizer: --out under /proc", [*k, "--vocab-size", "300", "--out", "/proc/retok-tok"], no_env),
        ("train-tokenizer: --supertoken-fraction 1.5", [*k, "--vocab-size", "300", "--supertokens", "--supertoken-fraction", "1.5", "--out", "o"], no_env),
        ("train-tokenizer: --max-words 0", [*k, "--vocab-size", "300", "--supertokens", "--max-words", "0", "--out", "o"], no_env),
        ("train-tokenizer: --min-frequency 0", [*k, "--vocab-size", "300", "--min-frequency", "0", "--out", "o"], no_env),
        ("train-tokenizer: --supertokens with unigram", [*k, "--vocab-size", "300", "--kind", "unigram", "--supertokens", "--out", "o"], no_env),
        ("train-tokenizer: --out missing", [*k, "--vocab-size", "300"], no_env),
        ("finetune: --batch-size 0", [*f, "--out", "o", "--batch-size", "0"], no_env),
        ("finetune: --lora-r 0", [*f, "--out", "o", "--lora-r", "0"], no_env),
        ("finetune: --lora-r abc", [*f, "--out", "o", "--lora-r", "abc"], no_env),
        ("finetune: --epochs 0", [*f, "--out", "o", "--epochs", "0"], no_env),
        ("finetune: --lr 1e9", [*f, "--out", "o", "--lr", "1e9"], no_env),
        ("finetune: --lr 0", [*f, "--out", "o", "--lr", "0"], no_env),
        ("finetune: --lora-dropout 1", [*f, "--out", "o", "--lora-dropout", "1"], no_env),
        ("finetune: --seq-len 1", [*f, "--out", "o", "--seq-len", "1"], no_env),
        ("finetune: --eval-bytes 0", [*f, "--out", "o", "--eval-bytes", "0"], no_env),
        ("finetune: --train-bytes 0", [*f, "--out", "o", "--train-bytes", "0"], no_env),
        ("finetune: --weight-decay -1", [*f, "--out", "o", "--weight-decay", "-1"], no_env),
        ("finetune: --warmup-steps -1", [*f, "--out", "o", "--warmup-steps", "-1"], no_env),
        ("finetune: --embeddings some", [*f, "--out", "o", "--embeddings", "some"], no_env),
        ("finetune: --learning-rate typo", [*f, "--out", "o", "--learning-rate", "1e-3"], no_env),
        ("finetune: --train missing", ["finetune", "--model", "{M}", "--train", "nothere.txt", "--out", "o"], no_env),
        ("finetune: --eval missing", [*f, "--eval", "nothere.txt", "--out", "o"], no_env),
        ("finetune: --out exists", [*f, "--out", "{DIR}"], no_env),
        ("finetune: --out under /proc", [*f, "--out", "/proc/retok-ft"], no_env),
        ("finetune: --model does not exist", ["finetune", "--model", "./nothere", "--train", "{DE}", "--out", "o"], no_env),
        ("finetune: --objective alm on a folder that records no source model", [*f, "--out", "o", "--objective", "alm"], no_env),
        ("finetune: --teacher does not exist", [*f, "--out", "o", "--objective", "alm", "--teacher", "./nothere"], no_env),
        ("finetune: --objective kd", [*f, "--out", "o", "--objective", "kd"], no_env),
        ("finetune: --alm-temperature 0", [*f, "--out", "o", "--alm-temperature", "0"], no_env),
        ("finetune: --alm-chunks words", [*f, "--out", "o", "--alm-chunks", "words"], no_env),
        ("transplant: --method hypernet without --hypernet", [*hn, "--out", "o"], no_env),
        ("transplant: --hypernet is not a hypernetwork folder", [*hn, "--hypernet", "{DIR}", "--out", "o"], no_env),
        ("transplant: --hypernet trained for another model", [*hn, "--hypernet", "{HN_OTHER}", "--out", "o"], no_env),
        ("transplant: --delta-scale without --swapped-base", [*t, "--base-model", "{M}", "--delta-scale", "0.5", "--out", "o"], no_env),
        ("transplant: --base-model is a tokenizer folder", [*t, "--base-model", "{BIG}", "--out", "o"], no_env),
        ("train-hypernet: --train too small", ["train-hypernet", "--model", "{M}", "--train", "{SMALL}", "--out", "o"], no_env),
        ("train-hypernet: --out exists", [*h, "--out", "{DIR}"], no_env),
        ("train-hypernet: --hidden not divisible by --heads", [*h, "--out", "o", "--hidden", "30"], no_env),
        ("train-hypernet: --device cuda without a GPU", [*h, "--out", "o", "--device", "cuda"], no_env),
        ("train-hypernet: --stepz typo", [*h, "--out", "o", "--stepz", "3"], no_env),
        ("train-hypernet: --steps -1", [*h, "--out", "o", "--steps", "-1"], no_env),
        ("train-hypernet: --init trained for another model", [*h, "--out", "o", "--init", "{HN_OTHER}"], no_env),
        ("train-hypernet: --init is not a hypernetwork folder", [*h, "--out", "o", "--init", "{DIR}"], no_env),
        ("train-hypernet: --multiword 1.5", [*h, "--out", "o", "--multiword", "1.5"], no_env),
        ("train-hypernet: --model missing", ["train-hypernet", "--train", "{DE}", "--out", "o"], no_env),
        ("zip2zip train: --max-subtokens 1", [*z, "--out", "o", "--max-subtokens", "1"], no_env),
        ("zip2zip train: --max-codebook-size larger than the output layer allows", [*z, "--out", "o", "--max-codebook-size", "10000000"], no_env),
        ("zip2zip train: --window 1", [*z, "--out", "o", "--window", "1"], no_env),
        ("zip2zip train: --warm-only with --warm-steps 0", [*z, "--out", "o", "--warm-only", "--warm-steps", "0"], no_env),
        ("zip2zip train: --positions bytes", [*z, "--out", "o", "--positions", "bytes"], no_env),
        ("zip2zip train: --mask none", [*z, "--out", "o", "--mask", "none"], no_env),
        ("zip2zip train: --out exists", [*z, "--out", "{DIR}"], no_env),
        ("zip2zip train: --train is empty", ["zip2zip", "train", "--model", "{M}", "--train", "{EMPTY}", "--out", "o"], no_env),
        ("zip2zip train: resuming a checkpoint of another base model", [*z, "--out", "{Z_OTHER}", "--max-codebook-size", "32",
                                                                        "--max-subtokens", "3", "--window", "32"], no_env),
        ("zip2zip train: --max-subtokenz typo", [*z, "--out", "o", "--max-subtokenz", "3"], no_env),
        ("zip2zip eval: --model is a plain model folder", ["zip2zip", "eval", "--model", "{M}", "--text", "{DE}"], no_env),
        ("zip2zip eval: --text missing", ["zip2zip", "eval", "--model", "{M}", "--text", "nope.txt"], no_env),
        ("zip2zip generate: --max-new-tokens 0", ["zip2zip", "generate", "--model", "{M}", "--prompt", "x", "--max-new-tokens", "0"], no_env),
        ("zip2zip generate: --model does not exist", ["zip2zip", "generate", "--model", "no-such-dir", "--prompt", "x"], no_env),
        ("zip2zip stats: a tokenizer with ids the model cannot index", [*zs, "--tokenizer", "{BIG}"], no_env),
        ("zip2zip stats: --max-subtokens 1", [*zs, "--max-subtokens", "1"], no_env),
        ("zip2zip stats: --codebook-size -1", [*zs, "--codebook-size", "-1"], no_env),
        ("zip2zip: no subcommand", ["zip2zip"], no_env),
        ("zip2zip: subcommand typo", ["zip2zip", "trian", "--model", "{M}"], no_env),
        ("assets: RETOK_CACHE is a file, --fetch", ["assets", "--fetch"], {"RETOK_CACHE": "{FILE}"}),
        ("assets: RETOK_CACHE under /proc, --fetch", ["assets", "--fetch"], {"RETOK_CACHE": "/proc/retok-cache"}),
        ("assets: --sed typo", ["assets", "--sed"], no_env),
        ("demo: --vocab-size 0", ["demo", "--out", "d", "--vocab-size", "0"], no_env),
        ("demo: --max-bytes -1", ["demo", "--out", "d", "--max-bytes", "-1"], no_env),
        ("demo: --methods fvtt", ["demo", "--out", "d", "--methods", "fvtt"], no_env),
        ("demo: --methods empty", ["demo", "--out", "d", "--methods", " , "], no_env),
        ("demo: --save-method not evaluated", ["demo", "--out", "d", "--methods", "fvt", "--save-method", "mean"], no_env),
        ("demo: --out is a file", ["demo", "--out", "{FILE}"], no_env),
        ("demo: --out under /proc", ["demo", "--out", "/proc/retok-demo"], no_env),
        ("methods: --sed typo", ["methods", "--sed"], no_env),
        ("retok: command typo", ["tranplant"], no_env),
        ("retok: no command", [], no_env),
        ("retok: --verbose", ["--verbose"], no_env),
    ]


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_case(argv: list[str], env: dict[str, str], work: Path) -> tuple[int, list[str]]:
    from retok.cli import main

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's own exit would show up here
                code = e.code if isinstance(e.code, int) else 1
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, err.getvalue().strip().splitlines()


def main(args: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="markdown file to write")
    ns = p.parse_args(args)
    ns.out = ns.out.resolve()  # the cases run in a scratch folder
    rows, ok = [], 0
    with tempfile.TemporaryDirectory(prefix="retok-bad-inputs-") as tmp:
        root = Path(tmp)
        paths = fixtures(root / "in")
        work = root / "work"
        work.mkdir()
        os.chdir(work)
        for n, (what, argv, env) in enumerate(cases(), start=1):
            before = listing(root)
            code, lines = run_case([a.format(**paths) for a in argv], {k: v.format(**paths) for k, v in env.items()}, work)
            left = sorted(listing(root) - before)
            passed = code == 2 and len(lines) == 1 and lines[0].startswith("retok: error: ") and not left
            ok += passed
            message = (lines[0] if lines else "").removeprefix("retok: error: ").replace("|", "\\|")
            rows.append(f"| {n} | {what} | {code} | {len(lines)} | {', '.join(left) or '-'} | {'yes' if passed else 'NO'} | {message[:160]} |")
        os.chdir(root.parent)
    table = "| # | bad input | exit | stderr lines | left behind | ok | message |\n|---:|---|---:|---:|---|---|---|\n" + "\n".join(rows) + "\n"
    summary = f"{ok} of {len(rows)} bad inputs: exit 2, one line, nothing left behind"
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(table + "\n" + summary + "\n", encoding="utf-8")
    print(table)
    print(summary)
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
