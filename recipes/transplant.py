"""Transplant a tokenizer onto a causal LM and save the result.

How to run:
    python recipes/transplant.py --model DIR --tokenizer DIR --out DIR [--method fvt]
    python recipes/transplant.py --tiny --out /tmp/tiny-transplant     # in-process fixtures, a few seconds
"""

from __future__ import annotations

import argparse

from retok import transplant
from retok.testing import GERMAN, tiny_llama, tiny_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--tokenizer")
    parser.add_argument("--method", default="fvt")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tiny", action="store_true", help="use a tiny in-process model and tokenizers")
    args = parser.parse_args()
    if args.tiny:
        old = tiny_tokenizer()
        result = transplant(tiny_llama(len(old)), tiny_tokenizer(GERMAN), args.method, old_tokenizer=old)
    else:
        if not (args.model and args.tokenizer):
            parser.error("--model and --tokenizer are required unless --tiny is given")
        result = transplant(args.model, args.tokenizer, args.method)
    result.save_pretrained(args.out)
    print(result.report)
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
