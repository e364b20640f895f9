"""``retok zip2zip {train,eval,generate,stats}``: the commands this package adds to ``retok`` (entry point group ``retok.commands``).

Building the parser imports only the torch-free config, so ``retok --help`` and argument errors stay
instant; torch and transformers are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from retok.catalog import describe_config
from retok.cli import add_config_flags, add_resume_flag, given_options
from retok.options import argument_type

from .config import MAX_CODEBOOK_SIZE, Zip2ZipTrainConfig


def cmd_train(args: argparse.Namespace) -> int:
    from retok.atomic import check_output_dir
    from retok.options import config_from_options
    from retok.textio import read_text

    described = {"config": "Zip2ZipTrainConfig", "options": describe_config(Zip2ZipTrainConfig)}
    config = config_from_options(Zip2ZipTrainConfig, given_options(args, described))
    check_output_dir(args.out, overwrite=args.overwrite)  # before the model is loaded, not after training
    eval_text = read_text(args.eval_text, what="held-out text (--eval-text)") if args.eval_text else None

    from .train import train

    result = train(args.model, args.train, args.out, config, eval_text=eval_text, tokenizer=args.tokenizer, overwrite=args.overwrite,
                   fresh=args.fresh)
    if result.finished:
        print(f"trained zip2zip (K={config.max_codebook_size}, M={config.max_subtokens}) for {result.steps} steps "
              f"in {result.seconds:.0f} s; saved to {result.out}")
        print(f"score it: retok zip2zip eval --model {result.out} --text HELD_OUT.txt")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from retok.textio import read_text

    text = read_text(args.text, what="text to score (--text)")
    from retok.loading import load_tokenizer

    from .model import Zip2ZipLM
    from .eval import compressed_bits_per_byte

    model = Zip2ZipLM.from_pretrained(args.model)
    result = compressed_bits_per_byte(model, load_tokenizer(args.model), text, window=args.window, batch_size=args.batch_size)
    print(json.dumps(result.to_dict(), indent=2) if args.json else
          f"bits per byte {result.bpb:.4f}, {result.tokens_per_byte:.4f} codes per byte, compression ratio "
          f"{result.compression_ratio:.3f} ({result.n_base_tokens} base tokens -> {result.n_codes} codes, {result.n_bytes} bytes)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from retok.loading import load_tokenizer

    from .generate import generate
    from .model import Zip2ZipLM

    model = Zip2ZipLM.from_pretrained(args.model)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    result = generate(model, load_tokenizer(args.model), args.prompt, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, seed=args.seed, on_text=show)
    print()
    print(f"[{len(result.base_ids)} base tokens in {len(result.codes)} codes ({result.n_hyper} hypertokens, ratio "
          f"{result.compression_ratio:.3f}); {result.decode_seconds:.2f} s]", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from retok.textio import read_text

    text = read_text(args.text, what="text (--text)")
    from retok.eval import scoring_ids
    from retok.loading import load_tokenizer, model_rows

    from .config import Zip2ZipTrainConfig as Config
    from .eval import codec_stats
    from .train import lzw_config_for

    tok = load_tokenizer(args.tokenizer or args.model)
    config = lzw_config_for(tok, model_rows(args.model), Config(max_codebook_size=args.codebook_size, max_subtokens=args.max_subtokens,
                                                                 protect_digits=args.protect_digits))
    stats = codec_stats(scoring_ids(tok, text, strict=False), config, window=args.window, n_bytes=len(text.encode("utf-8")))
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    for i, row in enumerate(stats["per_window"]):
        print(f"window {i:4d}: {row['base_tokens']:5d} tokens -> {row['codes']:5d} codes (ratio {row['ratio']:.3f}), "
              f"{row['entries']} entries made, {row['entries_used']} used")
    print(f"total: {stats['base_tokens']} tokens -> {stats['codes']} codes, compression ratio {stats['compression_ratio']:.3f} "
          f"({100 * stats['token_reduction']:.1f}% fewer tokens); codec {stats['ids_per_second'] / 1e6:.2f} M ids/s")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    """Add ``zip2zip`` (with its four subcommands) to the ``retok`` subcommands."""
    p = sub.add_parser("zip2zip", help="LZW hypertokens: train, score, generate, codec statistics")
    inner = p.add_subparsers(dest="zip2zip_command", required=True, metavar="subcommand")

    t = inner.add_parser("train", help="train LoRA + hyper-encoders on LZW-compressed text")
    t.add_argument("--model", required=True, help="the base causal LM: HF folder or hub id")
    t.add_argument("--tokenizer", help="the model's tokenizer (default: the one in --model)")
    t.add_argument("--train", required=True, help="UTF-8 training text, one paragraph per line")
    t.add_argument("--eval-text", help="held-out text scored (compressed BPB) during training")
    t.add_argument("--out", required=True, help="zip2zip folder (checkpoints go to <out>.partial; rerun to resume)")
    t.add_argument("--overwrite", action="store_true", help="replace --out if it exists (and a <out>.partial of other settings)")
    add_resume_flag(t)
    add_config_flags(t, describe_config(Zip2ZipTrainConfig))
    t.set_defaults(func=cmd_train)

    e = inner.add_parser("eval", help="compressed-mode bits per byte of a zip2zip folder on a text")
    e.add_argument("--model", required=True, help="a folder written by `retok zip2zip train`")
    e.add_argument("--text", required=True, help="UTF-8 text to score")
    e.add_argument("--window", type=argument_type(int, min=2), default=1024, help="base tokens per window (default 1024)")
    e.add_argument("--batch-size", type=argument_type(int, min=1), default=2, help="windows per forward pass (default 2)")
    e.add_argument("--json", action="store_true", help="print the full result as JSON")
    e.set_defaults(func=cmd_eval)

    g = inner.add_parser("generate", help="generate text with hypertokens (KV cache, online codebook), streamed")
    g.add_argument("--model", required=True, help="a folder written by `retok zip2zip train`")
    g.add_argument("--prompt", required=True, help="the text to continue")
    g.add_argument("--max-new-tokens", type=argument_type(int, min=1), default=256, help="base tokens to generate (default 256)")
    g.add_argument("--temperature", type=argument_type(float, min=0.0), default=0.0, help="0: greedy (default)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed")
    g.set_defaults(func=cmd_generate)

    s = inner.add_parser("stats", help="what LZW does to a text: ratio per window, entries, codec throughput (no model run)")
    s.add_argument("--model", required=True, help="HF folder or hub id (its tokenizer and embedding rows)")
    s.add_argument("--tokenizer", help="tokenizer (default: the one in --model)")
    s.add_argument("--text", required=True, help="UTF-8 text")
    s.add_argument("--codebook-size", type=argument_type(int, min=0, max=MAX_CODEBOOK_SIZE), default=2048, help=f"K, hypertoken slots (default 2048, at most {MAX_CODEBOOK_SIZE})")
    s.add_argument("--max-subtokens", type=argument_type(int, min=2), default=4, help="M, base tokens per hypertoken (default 4, at least 2)")
    s.add_argument("--protect-digits", action="store_true", help="never merge digit tokens")
    s.add_argument("--window", type=argument_type(int, min=2), default=1024, help="base tokens per window (default 1024)")
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    s.set_defaults(func=cmd_stats)


__all__ = ["add_command", "cmd_eval", "cmd_generate", "cmd_stats", "cmd_train"]
