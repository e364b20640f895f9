"""Benchmark NeighbourIndex: exact cosine top-10 for 32k queries against a 50k x 300 table.

The shape of the embedding-initialization kNN (a 32k target vocabulary looked up in a 50k x 300
static-embedding table). Random normal float32 data, seed 0. For each method: wall time and
peak memory of build and of search (median over ``--repeats``), and agreement with the torch
brute force (ids equal for exact methods, recall@10 for HNSW).

Methods:
    faiss-exact  NeighbourIndex(kind="exact"): faiss IndexFlatIP
    faiss-hnsw   NeighbourIndex(kind="hnsw"): IndexHNSWFlat, M=32, efConstruction=80, efSearch=64
    torch        NeighbourIndex(kind="torch"): the fallback, chunked matmul + group-max top-k
    torch-naive  the textbook fallback: chunked matmul + torch.topk over whole rows (for comparison)

The target (issue): exact top-10 in under 5 s on 2 cores. On the 2-core AMD EPYC it was written on,
the matrix product alone is 32k x 50k x 300 x 2 = 0.96 TFLOP, and the fastest sgemm measured there
(OpenBLAS) ran at 130-150 GFLOP/s, so 6-7 s is a floor for any exact float32 method there.
An exact int8 first pass was tried and lost to faiss there; docs/index-int8.md has the numbers.
Measured there (median of 3, runs/index_benchmark.json): faiss-exact 0.2 s build + 9.9 s search;
faiss-hnsw 26 s + 13 s at recall@10 0.30 (random isotropic data is HNSW's worst case); torch
14.2 s; torch-naive 15.4 s. Timings on that shared machine varied by about 30% between runs.

How to run:
    python recipes/index_benchmark.py                          # all methods, 3 repeats: ~5 min on 2 cores
    python recipes/index_benchmark.py --methods faiss-exact torch --out runs/exact_only.json
    python recipes/index_benchmark.py --rows 5000 --queries 2000 --repeats 1   # a quick look
Writes JSON to --out (default runs/index_benchmark.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from retok.atomic import atomic_write_text
from retok.index import NeighbourIndex, brute_force_topk
from retok.measure import measure

METHODS = ["faiss-exact", "faiss-hnsw", "torch", "torch-naive"]
KINDS = {"faiss-exact": "exact", "faiss-hnsw": "hnsw", "torch": "torch"}


def naive_torch_topk(vectors: torch.Tensor, queries: torch.Tensor, k: int, chunk_size: int = 2048):
    """The textbook fallback: normalize, then per chunk of queries one matmul and torch.topk over whole rows."""
    table_t = torch.nn.functional.normalize(vectors, dim=1).T
    queries = torch.nn.functional.normalize(queries, dim=1)
    ids = torch.empty(len(queries), k, dtype=torch.int64)
    for start in range(0, len(queries), chunk_size):
        ids[start : start + chunk_size] = (queries[start : start + chunk_size] @ table_t).topk(k, dim=1).indices
    return None, ids


def run_method(method: str, table: torch.Tensor, queries: torch.Tensor, k: int, batch_size: int):
    """(build Measurement | None, search Measurement, ids (Q, k))."""
    if method == "torch-naive":
        with measure() as search:
            _, ids = naive_torch_topk(table, queries, k)
        return None, search, ids
    with measure() as build:
        index = NeighbourIndex(table, metric="cosine", kind=KINDS[method])
    with measure() as search:
        _, ids = index.search(queries, k, batch_size=batch_size)
    return build, search, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=32_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--out", default="runs/index_benchmark.json")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    table = torch.randn(args.rows, args.dim, generator=generator)
    queries = torch.randn(args.queries, args.dim, generator=generator)
    print(f"reference: brute_force_topk on {args.queries} x {args.rows} x {args.dim} ...", flush=True)
    _, reference = brute_force_topk(table, queries, args.k, metric="cosine")
    results = {}
    for method in args.methods:
        builds, searches, peaks = [], [], []
        for _ in range(args.repeats):
            build, search, ids = run_method(method, table, queries, args.k, args.batch_size)
            builds.append(build.seconds if build else 0.0)
            searches.append(search.seconds)
            peaks.append(max(search.peak_delta_mb, build.peak_delta_mb if build else 0.0))
            print(f"  {method}: build {builds[-1]:.2f} s, search {searches[-1]:.2f} s", flush=True)
        same = (ids == reference).all(dim=1).float().mean().item()
        recall = np.mean([len(set(a) & set(b)) for a, b in zip(ids.tolist(), reference.tolist())]) / args.k
        results[method] = {
            "build_s": statistics.median(builds),
            "search_s": statistics.median(searches),
            "total_s": statistics.median(b + s for b, s in zip(builds, searches)),
            "build_s_all": builds,
            "search_s_all": searches,
            "peak_delta_mb": max(peaks),
            "rows_identical_to_brute_force": same,
            f"recall_at_{args.k}": float(recall),
        }

    faiss_version = None
    try:
        import faiss

        faiss_version = faiss.__version__
    except ImportError:
        pass
    report = {
        "task": f"cosine top-{args.k}: {args.queries} queries x {args.rows} rows x {args.dim} dims, float32, seed 0",
        "repeats": args.repeats,
        "statistic": "median",
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "faiss": faiss_version,
            "load_average_at_end": os.getloadavg(),
        },
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "methods": results,
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(f"\n{report['task']}, median of {args.repeats}")
    print(f"{'method':<12} {'build s':>8} {'search s':>9} {'total s':>8} {'recall':>7} {'same ids':>9}")
    for method, r in results.items():
        print(
            f"{method:<12} {r['build_s']:>8.2f} {r['search_s']:>9.2f} {r['total_s']:>8.2f} "
            f"{r[f'recall_at_{args.k}']:>7.3f} {r['rows_identical_to_brute_force']:>9.3f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
