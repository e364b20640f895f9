"""``retok large-vocab {build,generate,score,calibrate}`` and ``retok dynamic eval``: thin shells over :mod:`retok.adaptive.large_vocab.build` and :mod:`retok.adaptive.dynamic`.

Added to ``retok`` through the ``retok.commands`` entry-point group, like the commands of other packages.

Building the parsers imports only torch-free configs; torch, faiss and transformers are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from retok.catalog import describe_config
from retok.cli import add_config_flags, add_resume_flag, given_options
from retok.options import argument_type
from .config import FEEDS, LargeVocabConfig


FEED_HELP = "how a chosen entry is read back: its predicted input row (rows, default) or its base pieces (pieces)"


def cmd_build(args: argparse.Namespace) -> int:
    from retok.atomic import check_output_dir
    from retok.options import config_from_options

    described = {"config": "LargeVocabConfig", "options": describe_config(LargeVocabConfig)}
    config = config_from_options(LargeVocabConfig, given_options(args, described))
    check_output_dir(args.out, overwrite=args.overwrite)  # before the model is loaded
    from .build import build_large_vocab

    out = build_large_vocab(args.model, args.out, tokenizer=args.tokenizer, corpus=args.train, config=config, overwrite=args.overwrite,
                             fresh=args.fresh)
    info = json.loads((out / "large_vocab.json").read_text())
    print(f"built {info['size']:,} entries ({info['index']['kind']} index) in {info['seconds']['total']:.0f} s; saved to {out}")
    print(f"generate with it: retok large-vocab generate --model {out} --prompt TEXT")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .decode import LargeVocab

    lv = LargeVocab.load(args.model, nprobe=args.nprobe, prior=args.prior)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    sys.stdout.write(args.prompt)
    result = lv.generate(args.prompt, max_new_tokens=args.max_new_tokens, exact=args.exact, k=args.k, include_base=args.include_base,
                         temperature=args.temperature, seed=args.seed, feed=args.feed, on_text=show)
    print()
    steps = sorted(result.step_seconds)
    median = steps[len(steps) // 2] * 1000 if steps else 0.0
    print(f"[{len(result.entries)} tokens, {result.new_share:.1%} outside the base vocabulary, {result.bytes_per_token:.2f} bytes "
          f"per token; median step {median:.1f} ms ({'exact' if args.exact else f'k={args.k}'})]", file=sys.stderr)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .build import calibrate

    path = calibrate(args.model, args.train)
    print(f"wrote the base tokens' unmerged prior to {path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from retok.textio import read_text
    from .decode import LargeVocab
    from .score import score_text

    text = read_text(args.text, what="held-out text (--text)")
    if args.max_bytes:
        text = text.encode("utf-8")[: args.max_bytes].decode("utf-8", errors="ignore")
    lv = LargeVocab.load(args.model, prior=args.prior)
    rows = {}
    for name, merged in (("base vocabulary", False), (f"{lv.size:,} entries", True)):
        got = score_text(lv, text, merged=merged, window=args.window, feed=args.feed, progress=True)
        rows[name] = got.to_dict()
        print(f"{name}: {got.bits_per_byte:.4f} bits per byte, {got.bytes_per_token:.2f} bytes per token, "
              f"{got.new_tokens / max(got.tokens, 1):.1%} new entries ({got.bytes:,} bytes, {got.windows} windows)")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def cmd_dynamic_eval(args: argparse.Namespace) -> int:
    from retok.adaptive.dynamic import continuation_bits_per_byte
    from retok.transfer.embeddings import TokenEmbeddings
    from retok.loading import load_model, load_tokenizer
    from retok.transfer.row_predictors import make_predictor
    from retok.textio import read_text

    text = read_text(args.text, what="held-out text (--text)")
    model = load_model(args.model)
    tokenizer = load_tokenizer(args.model)
    extra = {"hypernet": args.hypernet} if args.hypernet else {}
    predictor = make_predictor(args.predictor, TokenEmbeddings.from_model(model, tokenizer), **extra)
    rows = []
    for reduction in args.reduction:
        result = continuation_bits_per_byte(model, tokenizer, text, predictor, reduction=reduction, boundary=args.boundary,
                                            window=args.window, batch_size=args.batch_size, max_windows=args.max_windows)
        rows.append(result.to_dict())
        print(f"reduction target {reduction:.0%}: achieved {result.reduction:.1%}, continuation BPB {result.bits_per_byte:.4f}, "
              f"cache hit rate {result.cache_hit_rate:.1%}, {result.prefill_seconds_per_window * 1000:.0f} ms per window")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def add_prior_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prior", type=argument_type(float, min=0.0, max=1.0), default=0.0,
                   help="weight of the base tokens' unmerged prior on their logits (0: off, the default; 1: full; "
                        "measured in the large-vocabulary benchmark: more new entries, more repetitive text)")


def _fractions(text: str) -> list[float]:
    parse = argument_type(float, min=0.0, below=1.0)
    return [parse(part) for part in text.split(",") if part.strip()]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``large-vocab`` and ``dynamic`` to the ``retok`` parser."""
    group = sub.add_parser("large-vocab", help="a million-entry output vocabulary over a model's tokenizer, served by faiss")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="verb")

    p = verbs.add_parser("build", help="grow the vocabulary, predict its rows, index them (checkpointed in <out>.partial)")
    p.add_argument("--model", required=True, help="HF folder or hub id of the causal LM")
    p.add_argument("--tokenizer", help="the base tokenizer (default: the one in --model)")
    p.add_argument("--train", nargs="+", metavar="FILE", help="corpus files, one paragraph per line (default: LibreOffice help + man pages)")
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (and a <out>.partial of other settings)")
    add_resume_flag(p)
    add_config_flags(p, describe_config(LargeVocabConfig))
    p.set_defaults(func=cmd_build)

    p = verbs.add_parser("generate", help="continue a prompt, choosing among every entry of a built vocabulary")
    p.add_argument("--model", required=True, help="a folder written by `retok large-vocab build`")
    p.add_argument("--prompt", required=True, help="text to continue")
    p.add_argument("--max-new-tokens", type=argument_type(int, min=1), default=64)
    p.add_argument("--exact", action="store_true", help="score all entries every step instead of the retrieved candidates")
    p.add_argument("--k", type=argument_type(int, min=1), default=32, help="candidates retrieved per step (default 32)")
    p.add_argument("--include-base", action="store_true", default=True,
                   help="also score the whole base vocabulary every step (default: on; off: retrieval alone, faster, 87.6%% top-1 agreement "
                   "with exact scoring in the benchmark, and prone to loops)")
    p.add_argument("--nprobe", type=argument_type(int, min=1), help="IVF cells searched per step (default: the build's)")
    p.add_argument("--temperature", type=argument_type(float, min=0.0), default=0.0, help="0: greedy")
    p.add_argument("--seed", type=argument_type(int, min=0), default=0)
    p.add_argument("--feed", choices=FEEDS, default="rows", help=FEED_HELP)
    add_prior_flag(p)
    p.set_defaults(func=cmd_generate)

    p = verbs.add_parser("calibrate", help="add the base tokens' unmerged prior to a folder built by an older version")
    p.add_argument("--model", required=True, help="a folder written by `retok large-vocab build`")
    p.add_argument("--train", nargs="+", metavar="FILE", help="the corpus it was built from (default: LibreOffice help + man pages)")
    p.set_defaults(func=cmd_calibrate)

    p = verbs.add_parser("score", help="held-out bits per byte under the large vocabulary (exact softmax over every entry) and the base one")
    p.add_argument("--model", required=True, help="a folder written by `retok large-vocab build`")
    p.add_argument("--text", required=True, help="held-out UTF-8 text, one paragraph per line")
    p.add_argument("--window", type=argument_type(int, min=1), default=256, help="base tokens per scored window (default 256)")
    p.add_argument("--max-bytes", type=argument_type(int, min=1), help="score only the first N bytes of --text")
    p.add_argument("--feed", choices=FEEDS, default="rows", help=FEED_HELP)
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    add_prior_flag(p)
    p.set_defaults(func=cmd_score)

    group = sub.add_parser("dynamic", help="batch-level dynamic tokenization for prefill (merged context, base-token output)")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="verb")
    p = verbs.add_parser("eval", help="continuation bits per byte with the context merged to a target length reduction")
    p.add_argument("--model", required=True, help="HF folder or hub id of the causal LM")
    p.add_argument("--text", required=True, help="held-out UTF-8 text")
    p.add_argument("--reduction", type=_fractions, default=[0.0, 0.1, 0.2, 0.3], help="comma-separated context-length reductions in [0, 1)")
    p.add_argument("--predictor", default="compose", help="embedding predictor of merged tokens: fvt, compose, hypernet")
    p.add_argument("--hypernet", help="with --predictor hypernet: the hypernetwork folder")
    p.add_argument("--boundary", default="pretokens", help="what merges may not cross: pretokens, word, sentence")
    p.add_argument("--window", type=argument_type(int, min=4), default=512, help="base tokens per window (half context, half continuation)")
    p.add_argument("--batch-size", type=argument_type(int, min=1), default=8, help="windows merged together")
    p.add_argument("--max-windows", type=argument_type(int, min=1), help="score at most this many windows")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.set_defaults(func=cmd_dynamic_eval)


__all__ = ["add_commands"]
