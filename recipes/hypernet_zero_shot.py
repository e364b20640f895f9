#!/usr/bin/env python
"""Zero-shot transplant check of hypernetworks: SmolLM2 -> the payoff's German BPE 32k tokenizer, BPB on held-out German.

The payoff recipe's protocol and tokenizer (``runs/payoff/transplanted-hypernet`` holds it), so the numbers compare with
its "hypernet zero-shot" row. Used to check that multi-word training keeps the transplant (issue 28):

    python recipes/hypernet_zero_shot.py runs/hypernet/hn runs/hypernet/hn-mw     # ~1 min per hypernetwork
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payoff import score_bpb  # noqa: E402

from retok import assets, transplant  # noqa: E402
from retok.data import held_out_text  # noqa: E402
from retok.loading import load_model, load_tokenizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hypernet", nargs="+", help="hypernetwork folders (retok train-hypernet --out)")
    parser.add_argument("--tokenizer", default="runs/payoff/transplanted-hypernet", help="the German 32k tokenizer (a payoff start)")
    args = parser.parse_args()
    smol = assets.smollm2()
    tokenizer = load_tokenizer(args.tokenizer)
    text = held_out_text(assets.lohelp().text("de"))
    for hn in args.hypernet:
        with tempfile.TemporaryDirectory() as tmp:
            transplant(load_model(smol), tokenizer, "hypernet", old_tokenizer=load_tokenizer(smol), hypernet=hn).save_pretrained(Path(tmp) / "m")
            print(json.dumps({"hypernet": hn, "de": score_bpb(Path(tmp) / "m", text)}), flush=True)


if __name__ == "__main__":
    main()
