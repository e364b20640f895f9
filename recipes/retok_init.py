#!/usr/bin/env python
"""Initialize a target embedding matrix with a retok method, in its own process (the benchmark's worker).

The counterpart of ``recipes/reference_init.py``, with the same inputs and outputs, so that the
benchmark measures retok and the reference packages the same way: a fresh process loads the two
tokenizers and the source matrix, then only the initializer is timed, and the peak RSS of that
step is read from the kernel (``VmHWM`` after resetting it through ``/proc/self/clear_refs``).

    python recipes/retok_init.py --method wechsel --options '{"source_vectors": "en.bin", ...}' \\
        --source-tokenizer DIR --target-tokenizer DIR --source-embeddings E.safetensors --out OUT.safetensors

Writes ``OUT.safetensors`` (key ``"weight"``, (len(target), d) float32) and ``OUT.safetensors.json``
atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_init import _reset_peak_rss, _status_mib  # noqa: E402  (the same kernel counters as the reference rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", required=True)
    p.add_argument("--options", default="{}", help="JSON object of method options")
    p.add_argument("--source-tokenizer", type=Path, required=True)
    p.add_argument("--target-tokenizer", type=Path, required=True)
    p.add_argument("--source-embeddings", type=Path, required=True, help='safetensors with key "weight" (V_s, d), kept in its stored dtype')
    p.add_argument("--donor-embeddings", type=Path, help='for a donor method: safetensors with key "weight" (V_t, d\'), the donor over the target tokenizer')
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    from safetensors.torch import load_file, save_file

    from retok.atomic import atomic_write_text
    from retok.transfer.donor import Donor
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.transfer.initializers import init_embeddings
    from retok.loading import load_tokenizer

    source_tok, target_tok = load_tokenizer(args.source_tokenizer), load_tokenizer(args.target_tokenizer)
    source = TokenEmbeddings(source_tok, load_file(args.source_embeddings)["weight"])
    if args.donor_embeddings:
        options = {"donor": Donor(TokenEmbeddings(target_tok, load_file(args.donor_embeddings)["weight"]), str(args.donor_embeddings))}
    else:
        options = {}
    options.update(json.loads(args.options))
    reset = _reset_peak_rss()
    rss_before = _status_mib("VmRSS")
    start = time.perf_counter()
    result = init_embeddings(source, target_tok, args.method, **options)
    seconds = time.perf_counter() - start
    report = {
        "method": args.method,
        "options": {k: v for k, v in options.items() if k != "donor"},
        "donor": str(args.donor_embeddings) if args.donor_embeddings else None,
        "init_seconds": seconds,
        "rss_before_init_mib": rss_before,
        "init_peak_rss_mib": _status_mib("VmHWM") if reset else None,
        "report": result.report.to_dict(),
    }
    tmp = args.out.with_name(args.out.name + ".tmp")
    save_file({"weight": result.embeddings.input.float().contiguous()}, str(tmp))
    tmp.replace(args.out)
    atomic_write_text(Path(str(args.out) + ".json"), json.dumps(report, indent=2) + "\n")
    print(f"{args.method}: {seconds:.1f} s, peak RSS {report['init_peak_rss_mib']} MiB, {result.report}")


if __name__ == "__main__":
    main()
