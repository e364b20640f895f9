"""Supertokens vs. plain BPE: tokens per byte of two German tokenizers of the same size on held-out German.

Both tokenizers are trained the way ``retok demo`` trains its German tokenizer: byte-level BPE on
the training paragraphs of the German LibreOffice help text, inheriting SmolLM2-135M's pipeline,
specials and chat template. The supertoken one learns its last ``--supertoken-fraction`` of the
vocabulary across word boundaries (at most ``--max-words`` words per token; see
``retok/vocab/supertokens.py``). Both are scored on the held-out paragraphs (the project split, 64 KiB):
tokens per byte (tokenized once without special tokens; the text must decode back exactly),
training wall time and peak RSS, the number of multi-word entries and the multi-word tokens used
most on the held-out text.

How to run:
    python recipes/supertokens.py --out runs/supertokens                    # 32k: about 40 s on 2 cores
    python recipes/supertokens.py --out runs/supertokens-4k --vocab-size 4000 # a quick look
Writes results.json, results.md and the two tokenizers (plain/, supertokens/) to --out, atomically;
an existing --out is only replaced with --overwrite.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from retok import assets, train_tokenizer
from retok.atomic import atomic_dir, atomic_write_text, check_output_dir
from retok.data import held_out_text, train_paragraphs
from retok.errors import RetokError
from retok.eval import markdown_table
from retok.loading import load_tokenizer
from retok.measure import measure
from retok.vocab.supertokens import count_words, multi_word_tokens

COLUMNS = [
    ("tokenizer", "tokenizer"),
    ("vocab_size", "entries"),
    ("tokens_per_byte", "tokens/byte (held-out de)"),
    ("n_tokens", "tokens"),
    ("multi_word_entries", "multi-word entries"),
    ("multi_word_share", "share of held-out tokens that are multi-word"),
    ("train_seconds", "train s"),
    ("peak_rss_mb", "peak RSS MiB"),
]


def score(tokenizer, text: str, *, examples: int) -> dict:
    """Tokens per byte of ``tokenizer`` on ``text``, and how much of it multi-word tokens cover."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if tokenizer.decode(ids) != text:
        raise RetokError(f"{tokenizer.name_or_path or 'the tokenizer'} does not round-trip the held-out text")
    used = Counter(tokenizer.convert_ids_to_tokens(ids))
    multi = Counter({token: n for token, n in used.items() if count_words(token) >= 2})
    return {
        "vocab_size": len(tokenizer),
        "tokens_per_byte": len(ids) / len(text.encode("utf-8")),
        "n_tokens": len(ids),
        "multi_word_entries": len(multi_word_tokens(tokenizer)),
        "multi_word_share": sum(multi.values()) / len(ids),
        "most_used_multi_word": [
            [tokenizer.convert_tokens_to_string([token]), n] for token, n in multi.most_common(examples)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/supertokens", help="output folder (written atomically)")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--max-words", type=int, default=4)
    parser.add_argument("--supertoken-fraction", type=float, default=0.1)
    parser.add_argument("--max-bytes", type=int, default=65536, help="held-out bytes to score")
    parser.add_argument("--examples", type=int, default=15, help="most used multi-word tokens to list")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    check_output_dir(args.out, overwrite=args.overwrite)

    corpus = assets.lohelp().text("de")
    source = load_tokenizer(assets.smollm2())
    train = train_paragraphs(corpus)
    text = held_out_text(corpus, max_bytes=args.max_bytes)
    settings = {"plain": {}, "supertokens": {
        "supertokens": True, "max_words": args.max_words, "supertoken_fraction": args.supertoken_fraction,
    }}
    rows, tokenizers = [], {}
    for name, options in settings.items():
        print(f"training the {name} tokenizer ({args.vocab_size} entries)", flush=True)
        with measure() as m:
            tokenizers[name] = train_tokenizer(train, vocab_size=args.vocab_size, like=source, progress=False, **options)
        row = {"tokenizer": name, **options, "train_seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb}
        rows.append({**row, **score(tokenizers[name], text, examples=args.examples)})

    table = markdown_table(rows, COLUMNS)
    examples = rows[-1]["most_used_multi_word"]
    listing = ", ".join(f"{json.dumps(token, ensure_ascii=False)} ({n})" for token, n in examples)
    report = f"{table}\nMost used multi-word tokens on the held-out text (uses): {listing}\n"
    result = {
        "settings": {**vars(args), "corpus": "lohelp de", "source": "SmolLM2-135M", "held_out_bytes": len(text.encode("utf-8"))},
        "rows": rows,
    }
    with atomic_dir(args.out, overwrite=args.overwrite) as tmp:
        for name, tokenizer in tokenizers.items():
            tokenizer.save_pretrained(tmp / name)
        atomic_write_text(tmp / "results.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(tmp / "results.md", report)
    print()
    print(report)
    print(f"results and tokenizers saved to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except RetokError as err:
        raise SystemExit(f"supertokens.py: error: {err}") from None
