#!/usr/bin/env python
"""How much accuracy the shortlist OMP search trades for speed, on the real donor problem.

Gemma-3-270m given SmolLM2-135M's tokenizer with SmolLM2 as the donor: the first ``--tokens`` new
tokens' donor rows are coded by :func:`retok.transfer.initializers.omp.batch_omp` (k=64) over the donor rows
of the shared tokens, once per (refresh, shortlist) setting; refresh=1 is the exact greedy search.
Prints and writes the wall seconds and the median relative residual of each (what the defaults
of ``OMPConfig`` were chosen from; BPB of the two searches is in ``recipes/donor_benchmark.py``).

    python recipes/omp_search.py --out runs/omp-search.json     # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time

from retok import assets
from retok.atomic import atomic_write_text
from retok.transfer.donor import load_donor
from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.initializers.donor_view import donor_view
from retok.transfer.initializers.omp import batch_omp, relative_residual
from retok.loading import load_model, load_tokenizer
from retok.vocab.canonical import VocabAlignment

SETTINGS = [(1, 64), (8, 128), (8, 64), (4, 64), (16, 256)]  # (refresh, shortlist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/omp-search.json")
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--k", type=int, default=64)
    args = parser.parse_args()
    gemma, smollm2 = assets.gemma3_270m(), assets.smollm2()
    old, new = load_tokenizer(gemma), load_tokenizer(smollm2)
    source = TokenEmbeddings.from_model(load_model(gemma), old)
    view = donor_view(source, VocabAlignment.build(old, new), load_donor(smollm2, new))
    targets, atoms = view.new_in[: args.tokens], view.atoms_in
    rows = []
    for refresh, shortlist in SETTINGS:
        start = time.perf_counter()
        ids, coef = batch_omp(targets, atoms, args.k, refresh=refresh, shortlist=shortlist)
        seconds = time.perf_counter() - start
        residual = float(relative_residual(targets, atoms, ids, coef).median())
        rows.append({"refresh": refresh, "shortlist": shortlist, "seconds": round(seconds, 2), "median_relative_residual": round(residual, 4)})
        print(f"refresh {refresh:2d} shortlist {shortlist:3d}: {seconds:6.2f} s, median relative residual {residual:.4f}", flush=True)
    result = {"tokens": len(targets), "atoms": len(atoms), "hidden": int(atoms.shape[1]), "k": args.k, "rows": rows}
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
