#!/usr/bin/env python
"""Same inputs, two versions of retok: the matrices each initializer makes, and how long it takes.

    git worktree add /tmp/old <commit>
    python recipes/compare_versions.py --old /tmp/old [--bench runs/init-benchmark] [row ...]

Runs ``recipes/retok_init.py`` of each tree (``PYTHONPATH`` set to the tree) on the inputs of a
finished ``recipes/init_benchmark.py`` run, and prints per row the largest absolute difference
between the two matrices and both init times. A refactor that keeps behaviour shows float-rounding
differences only.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--old", required=True, help="a checkout of the other version")
parser.add_argument("--bench", default=str(ROOT / "runs" / "init-benchmark"), help="a finished init benchmark (its inputs)")
parser.add_argument("rows", nargs="*")
args = parser.parse_args()
B = args.bench
inp = json.load(open(f"{B}/inputs.json"))
words = {"source_vectors": inp["en_vectors"], "target_vectors": inp["de_vectors"], "dictionary": inp["dictionary"]}
paper = {"prior_weight": 0.0, "fallback": "random"}
rows = {
    "mean": ("mean", {}), "fvt": ("fvt", {}), "compose": ("compose", {}),
    "wechsel": ("wechsel", words), "wechsel-paper": ("wechsel", {**words, **paper, "min_similarity": -1.0}),
    "focus": ("focus", {"fasttext_model": inp["token_vectors"]}), "focus-paper": ("focus", {"fasttext_model": inp["token_vectors"], **paper}),
    "tokenadapt-model": ("tokenadapt", {"aux": "model"}), "tokenadapt-fasttext": ("tokenadapt", {"aux": "fasttext", **words}),
}
for name in args.rows or rows:
    method, opts = rows[name]
    out = {}
    trees = (str(Path(args.old).resolve()), str(ROOT))
    for tree in trees:
        env = {**os.environ, "PYTHONPATH": tree}
        path = f"{B}/compare-{name}-{'old' if tree == trees[0] else 'new'}.safetensors"
        r = subprocess.run([sys.executable, f"{tree}/recipes/retok_init.py", "--method", method, "--options", json.dumps(opts),
                            "--source-tokenizer", inp["model"], "--target-tokenizer", f"{B}/tokenizer", "--source-embeddings", f"{B}/source.safetensors", "--out", path],
                           env=env, capture_output=True, text=True)
        if r.returncode: print(r.stderr[-2000:]); raise SystemExit(1)
        out[tree] = (load_file(path)["weight"], r.stdout.strip().split(",")[0])
    (a, old_time), (b, new_time) = out[trees[0]], out[trees[1]]
    print(f"{name:22s} max|old-new| {float((a - b).abs().max()):.3g}  max|old| {float(a.abs().max()):.3g}   old {old_time}  new {new_time}", flush=True)
