#!/usr/bin/env python
"""Profile one initializer on the init benchmark's inputs: wall time, peak RSS and the top functions (cProfile).

Reads the inputs that ``recipes/init_benchmark.py`` builds and caches (tokenizers, fastText models,
dictionary, source matrix) from its ``inputs.json``, runs ``init_embeddings`` once untimed (to warm
retok's per-source caches, as the benchmark does) and once under cProfile, and prints the entries
with the largest own time and cumulative time.

    python recipes/init_profile.py --method focus --inputs runs/init-benchmark.partial/inputs.json
    python recipes/init_profile.py --method focus --paper --top 25 --json runs/profile-focus.json

``--paper`` uses the published settings (no prior blend, random fallback), as the benchmark's
"(paper: ...)" rows do.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from init_benchmark import rows_to_run  # noqa: E402
from reference_init import _reset_peak_rss, _status_mib  # noqa: E402


def options_for(method: str, paper: bool, inputs: dict[str, str]) -> dict[str, Any]:
    """The benchmark's options for ``method`` (its first row, or its paper-setting row)."""
    for row in rows_to_run(inputs):
        if row["method"] == method and not row.get("reference") and ("paper" in row["label"]) == paper:
            return dict(row["options"])
    raise SystemExit(f"the benchmark has no {'paper-setting ' if paper else ''}row for {method!r}")


def top_entries(profile: cProfile.Profile, key: str, n: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({name})", "calls": calls, "own_s": own, "cumulative_s": cumulative})
    return sorted(rows, key=lambda r: -r[key])[:n]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True)
    p.add_argument("--paper", action="store_true", help="the published settings (the benchmark's paper-setting row)")
    p.add_argument("--inputs", type=Path, default=Path("runs/init-benchmark.partial/inputs.json"))
    p.add_argument("--tokenizer", default="tokenizer", help="which target tokenizer of the inputs (tokenizer, supertokenizer)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    if not args.inputs.is_file():
        raise SystemExit(f"{args.inputs} is missing: run recipes/init_benchmark.py once (it builds and caches the inputs)")
    inputs = json.loads(args.inputs.read_text())

    from safetensors.torch import load_file

    from retok.loading import load_tokenizer
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.transfer.initializers import init_embeddings

    options = options_for(args.method, args.paper, inputs)
    source = TokenEmbeddings(load_tokenizer(inputs["model"]), load_file(inputs["source_matrix"])["weight"].float())
    target = load_tokenizer(inputs[args.tokenizer])
    init_embeddings(source, target, args.method, **options)  # warms the per-source caches, as the benchmark does
    reset = _reset_peak_rss()
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    init_embeddings(source, target, args.method, **options)
    profile.disable()
    seconds = time.perf_counter() - start
    result = {"method": args.method, "paper": args.paper, "options": options, "seconds": seconds,
              "peak_rss_mib": _status_mib("VmHWM") if reset else None,
              "own": top_entries(profile, "own_s", args.top), "cumulative": top_entries(profile, "cumulative_s", args.top)}
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    print(f"{args.method}{' (paper)' if args.paper else ''}: {seconds:.2f} s under cProfile, peak RSS {result['peak_rss_mib']} MiB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
