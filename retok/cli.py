"""The ``retok`` command line: a thin shell over the library's verbs.

    retok methods
    retok transplant --model DIR --tokenizer DIR --method fvt --out DIR [--base-model DIR [--swapped-base DIR] [--delta-scale 0.5]]
    retok eval --model DIR --text FILE | --tasks NAMES|list
    retok train-tokenizer --corpus FILE --vocab-size N --kind bpe --like DIR --out DIR [--supertokens]
    retok assets [--fetch]
    retok demo --out DIR
    retok large-vocab build --model DIR --size 1000000 --out DIR
    retok large-vocab generate --model DIR --prompt TEXT [--exact]
    retok dynamic eval --model DIR --text FILE --reduction 0,0.1,0.2

Other packages add commands through the ``retok.commands`` entry-point group (:func:`plugin_commands`).
Bad input prints one line ``retok: error: ...`` and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from . import catalog
from ._registry import did_you_mean
from .argparsing import Parser, Switch, check_unknown_command, check_unknown_options
from .errors import RetokError
from .options import argument_type, check_text_option, range_text

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _method_in(argv: Sequence[str]) -> str:
    """The --method value in ``argv`` (so that its options can become flags), default fvt."""
    for i, arg in enumerate(argv):
        if arg == "--method" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--method="):
            return arg.split("=", 1)[1]
    return "fvt"


def add_config_flags(parser: argparse.ArgumentParser, fields: list[dict]) -> None:
    """One flag per config field (``--output-pooling first``) from its catalog entry, stored as ``opt_<field>`` strings.

    Values stay strings (or are absent when not given); the library coerces them to the field
    types and checks their ranges.
    """
    for f in fields:
        bounds = range_text(f)
        default = ("on" if f["default"] else "off") if f.get("kind") == "bool" else repr(f["default"])
        kwargs: dict = {
            "help": f"{f['help']} (default: {default}{'; ' + bounds if bounds else ''})",
            "default": argparse.SUPPRESS,
            "metavar": f["name"].upper(),
        }
        if "choices" in f:
            kwargs["choices"] = f["choices"]
        if f.get("kind") == "bool":  # --tie-encoders / --no-tie-encoders, like every yes/no option
            kwargs = {"help": kwargs["help"], "default": argparse.SUPPRESS, "action": Switch, "as_text": True}
        parser.add_argument(f"--{f['name'].replace('_', '-')}", dest=f"opt_{f['name']}", **kwargs)


def add_resume_flag(parser: argparse.ArgumentParser) -> None:
    """``--fresh`` for a resumable command (its checkpoints go to ``<out>.partial``; a rerun resumes them)."""
    parser.add_argument("--fresh", action="store_true",
                        help="discard <out>.partial, the checkpoints of an interrupted run, and start over (default: off, resume it)")


def interrupted_message(args: argparse.Namespace | None) -> str:
    """``retok: interrupted``, and for a resumable command how to resume and how to start over."""
    out = getattr(args, "out", None)
    if args is None or not hasattr(args, "fresh") or out is None:
        return "retok: interrupted"
    return (f"retok: interrupted; rerun the same command to resume from {out}.partial, "
            "or add --fresh to discard it and start over")


def _method_description(name: str) -> dict:
    described = catalog.method(name)
    if described is None:
        valid = catalog.method_names()
        raise RetokError(f"unknown initializer {name!r}.{did_you_mean(name, valid)} Available: {', '.join(valid)}")
    return described


def _other_method_hint(method: str) -> Callable[[str], str]:
    """For an unknown transplant flag: which other methods take it (``--output-pooling`` with ``--method mean``)."""

    def hint(flag: str) -> str:
        name = flag[2:].replace("-", "_")
        owners = [m for m in catalog.method_names() if any(f["name"] == name for f in catalog.method(m)["options"])]
        return f"an option of {', '.join(owners)}, not of --method {method}" if owners else ""

    return hint


def given_options(args: argparse.Namespace, described: dict | None = None) -> dict[str, str]:
    """The config options given as flags; with their catalog description, each value is checked first (no imports)."""
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_")}
    if described is not None:
        fields = {f["name"]: f for f in described["options"]}
        for name, text in given.items():
            check_text_option(text, fields[name], described["config"])
    return given


def cmd_methods(args: argparse.Namespace) -> int:
    from .transfer.initializers import INITIALIZERS  # the live registry: it also knows methods other packages registered

    for name in INITIALIZERS.names():
        try:
            spec = catalog.describe_method(INITIALIZERS.get(name))
        except RetokError as e:  # an optional method whose dependencies are missing: say so, list the rest
            print(f"{name:10s} unavailable: {e}")
            continue
        print(f"{name:10s} {spec['pretty_name']}: {spec['summary']}")
        print(f"{'':10s} paper: {spec['paper']}")
        for f in spec["options"]:
            print(f"{'':10s} --{f['name'].replace('_', '-')} (default {f['default']!r}): {f['help']}")
    return 0


def cmd_transplant(args: argparse.Namespace) -> int:
    from .atomic import check_output_dir
    from .transfer.sharded.writer import parse_size
    from .transfer.transplant import specials_summary, transplant

    described = _method_description(args.method)
    options = given_options(args, described)
    _check_donor_flag(args.method, described, args.donor)
    check_output_dir(args.out, overwrite=args.overwrite)
    max_shard_size = parse_size(args.max_shard_size)  # a bad size fails before any work
    result = transplant(
        args.model, args.tokenizer, args.method, old_tokenizer=args.old_tokenizer,
        base_model=args.base_model, swapped_base=args.swapped_base, delta_scale=args.delta_scale, donor=args.donor,
        lazy=args.lazy, check_resources=args.check_resources, allow_pickle=args.allow_pickle, say=print,
        out=args.out, overwrite=args.overwrite, max_shard_size=max_shard_size, **options,
    )
    print(f"{result.report}")
    if result.report.specials:
        print("specials: " + specials_summary(result.report.specials, shown=3) + " (all in retok_config.json)")
    for note in result.notes:
        print(f"note: {note}")
    print(f"saved to {args.out}")
    return 0


def _check_donor_flag(method: str, described: dict, donor: str | None) -> None:
    """--donor exactly for the methods that read one (from the catalog: before torch is imported)."""
    needs = described.get("needs_donor", False)
    if needs and donor is None:
        raise RetokError(f"--method {method} reads a donor model: add --donor DIR (the model whose tokenizer is --tokenizer)")
    if donor is not None and not needs:
        donors = [m for m in catalog.method_names() if catalog.method(m).get("needs_donor")]
        raise RetokError(f"--method {method} does not use a donor; drop --donor or pick a donor method ({', '.join(donors)})")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.tasks is not None:
        return _eval_tasks(args)
    if args.text is None:
        raise RetokError("retok eval needs --text FILE (bits per byte of a text) or --tasks NAMES (lm-eval tasks; --tasks list shows retok's)")
    if args.model is None:
        raise RetokError("retok eval needs --model DIR|ID: the model to score")
    from .data import held_out_text
    from .transfer.embeddings import check_tokenizer_fits
    from .eval import bits_per_byte
    from .loading import load_model, load_tokenizer
    from .textio import read_text
    from .transfer.transplant import saved_separator

    if args.json:
        from .atomic import check_output_file

        check_output_file(args.json, flag="--json")  # before scoring, not after
    text = held_out_text(args.text, max_bytes=args.max_bytes) if args.heldout else read_text(args.text, what="eval text (--text)")
    if not args.heldout and args.max_bytes:
        text = text.encode("utf-8")[: args.max_bytes].decode("utf-8", errors="ignore")
    model = load_model(args.model, dtype=args.dtype)
    tokenizer = load_tokenizer(args.tokenizer or args.model)
    check_tokenizer_fits(model, tokenizer, what="the tokenizer (--tokenizer)" if args.tokenizer else f"the tokenizer in --model {args.model}")
    separator = args.separator
    if separator is None and args.tokenizer is None:
        separator = saved_separator(args.model)
        if separator is not None:
            print(f"separator: {separator} (carries the source model's separator row; retok_config.json)", file=sys.stderr)
    result = bits_per_byte(
        model, tokenizer, text, window=args.window, batch_size=args.batch_size, separator=separator, strict=args.strict,
        window_start=args.window_start,
    )
    print(json.dumps(result.to_dict(), indent=2))
    if args.json:
        from .atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


def _list_tasks(folder: str | None) -> int:
    from pathlib import Path

    from .tasks import TAGS, TASKS
    from .tasks.folder import default_task_folder, read_index

    where = Path(folder) if folder else default_task_folder()
    built = read_index(where)["tasks"] if (where / "index.json").is_file() else {}
    for name, spec in TASKS.items():
        items = f"{built[name]['items']} items" if name in built else "not built yet"
        print(f"{name:24} {spec.metric:16} {items:14} {spec.what}")
    print("tags: " + "; ".join(f"{tag}: {', '.join(names)}" for tag, names in TAGS.items()))
    state = "" if built else " (built on first use, or now by `retok assets --fetch lm-eval-tasks`)"
    print(f"task folder: {where}{state}")
    print(f"lm_eval --model hf --model_args pretrained=DIR,max_length=256 --include_path {where} --tasks retok")
    return 0


def _eval_tasks(args: argparse.Namespace) -> int:
    from .tasks import check_tasks

    names = [n for n in args.tasks.split(",") if n]
    if names == ["list"]:
        return _list_tasks(args.task_folder)
    names = check_tasks(names)  # a misspelled task fails before the model loads
    if args.model is None:
        raise RetokError("retok eval --tasks needs --model DIR|ID: the model to run the tasks on")
    if args.text is not None:
        raise RetokError("pass either --text (bits per byte of a text) or --tasks (lm-eval tasks), not both")
    if args.json:
        from .atomic import check_output_file

        check_output_file(args.json, flag="--json")
    from .tasks import evaluate

    results = evaluate(args.model, names, task_folder=args.task_folder, batch_size=args.batch_size, window=args.window,
                       limit=args.limit, device=args.device, dtype=args.dtype, separator=args.separator)
    print(results.table())
    if args.json:
        from .atomic import atomic_write_text

        summary = {"model": str(args.model), "limit": args.limit, "tasks": {n: results.metrics(n) for n in names}}
        atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    return 0


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from .atomic import check_output_dir
    from .data import train_paragraphs
    from .vocab.train import save_tokenizer, train_tokenizer

    check_output_dir(args.out, overwrite=args.overwrite)
    corpus = train_paragraphs(args.corpus) if args.exclude_heldout else args.corpus
    tokenizer = train_tokenizer(
        corpus, vocab_size=args.vocab_size, kind=args.kind, like=args.like, min_frequency=args.min_frequency,
        supertokens=args.supertokens, max_words=args.max_words, supertoken_fraction=args.supertoken_fraction,
    )
    save_tokenizer(tokenizer, args.out, overwrite=args.overwrite)
    what = f"{args.kind} tokenizer with {len(tokenizer)} entries"
    if args.supertokens:
        from .vocab.supertokens import multi_word_tokens

        what += f" ({len(multi_word_tokens(tokenizer))} span several words)"
    print(f"trained a {what}; saved to {args.out}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from .atomic import check_output_dir

    options = given_options(args, catalog.load()["configs"]["finetune"])  # bad values fail before torch is imported
    check_output_dir(args.out, overwrite=args.overwrite)

    from .training.finetune import FinetuneConfig, finetune, history_curve
    from .options import config_from_options
    from .textio import read_text

    config = config_from_options(FinetuneConfig, options)
    eval_text = read_text(args.eval, what="eval text (--eval)") if args.eval else None
    result = finetune(args.model, args.train, args.out, config, eval_text=eval_text, teacher=args.teacher, overwrite=args.overwrite,
                      fresh=args.fresh)
    print(f"{result.steps} steps on {result.trained_tokens} tokens (about {result.trained_bytes} of the {result.train_bytes} "
          f"bytes packed) in {result.seconds:.0f} s")
    curve = history_curve(result.history)
    if curve:
        print("held-out BPB by training bytes:")
        for seen, bpb in curve:
            print(f"  {seen:>10,d}  {bpb:.3f}")
    print(f"merged model saved to {result.out}")
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from . import assets
    from .cache import writable_cache_dir

    if args.path:  # only the path on stdout, for `MODEL=$(retok assets --path smollm2)`; progress goes to stderr
        writable_cache_dir()
        print(assets.fetch(args.path))
        return 0
    if args.fetch is not None:
        writable_cache_dir()  # a cache that is a file or read-only fails here, in one line
        names = list(assets.FETCHABLE) if "all" in args.fetch else list(dict.fromkeys(args.fetch)) or list(assets.DEFAULT_FETCH)
        for name in names:
            print(f"{name}: {assets.fetch(name)}")
    print(f"cache: {assets.cache_dir()} (set RETOK_CACHE to move it)")
    try:
        writable_cache_dir()
    except RetokError as e:
        print(f"problem: {e}")
    for row in assets.status():
        print(f"{'ready' if row.present else 'missing':8s} {row.name:32s} {row.size_bytes / 2**20:8.1f} MiB  {row.path}")
        print(f"{'':8s} {row.note}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import write_split

    if args.lang:
        from . import assets

        source, name = assets.lohelp().text(args.lang), args.name or args.lang
    else:
        source, name = Path(args.text), args.name or Path(args.text).stem
    split = write_split(source, args.out, name, max_bytes=args.max_bytes, overwrite=args.overwrite)
    print(f"training paragraphs: {split.train} ({split.train_paragraphs} paragraphs, {split.train_bytes} bytes)")
    print(f"held-out text:       {split.heldout} ({split.heldout_paragraphs} paragraphs, {split.heldout_bytes} bytes)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from .demo import run_demo

    start = time.perf_counter()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    result = run_demo(
        args.out, methods=methods, save_method=args.save_method, vocab_size=args.vocab_size,
        max_bytes=args.max_bytes, overwrite=args.overwrite, fresh=args.fresh,
    )
    print()
    print(result.table)
    print(f"German generation ({result.saved_method}): {result.generation}")
    print(f"results and model saved to {result.out}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")
    return 0


PLUGIN_GROUP = "retok.commands"


def plugin_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Commands other installed packages add to ``retok``: entry points ``add(subparsers)`` in group ``retok.commands``.

    Each adds its subparser (with ``set_defaults(func=...)``) and must import nothing heavy at
    that point. A plugin that fails to load is left out rather than breaking the command line.
    """
    from importlib.metadata import entry_points

    adders = []
    for point in sorted(entry_points(group=PLUGIN_GROUP), key=lambda p: p.name):
        try:
            adders.append(point.load())
        except Exception as e:  # noqa: BLE001  (a broken plugin must not take `retok` down with it)
            print(f"retok: warning: command {point.name!r} ({point.value}) cannot be loaded: {e}", file=sys.stderr)
    return adders


def build_parser(method: str = "fvt") -> argparse.ArgumentParser:
    parser = Parser(prog="retok", description="Tokenizer transfer for pretrained language models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("methods", help="list the embedding initializers and their options")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("transplant", help="give a model a new tokenizer and save it")
    p.add_argument("--model", required=True, help="HF folder or hub id of the causal LM")
    p.add_argument("--tokenizer", required=True, help="HF folder or hub id of the new tokenizer")
    p.add_argument("--old-tokenizer", help="the model's own tokenizer (default: the one in --model)")
    p.add_argument("--method", default="fvt", help=f"initializer: {', '.join(catalog.method_names())} (see `retok methods`)")
    p.add_argument(
        "--base-model", metavar="BASE",
        help="--model is a fine-tuned variant of this model (folder or hub id, same vocabulary): the initializer reads "
        "the base's embeddings and the result goes into --model, whose other weights are kept (ZeTT)",
    )
    p.add_argument(
        "--swapped-base", metavar="DIR",
        help="with --base-model: the base after its swap to --tokenizer (and continued training, e.g. `retok finetune`); "
        "embeddings are taken from it and every other weight becomes fine-tuned + LAMBDA x (swapped base - base)",
    )
    p.add_argument(
        "--delta-scale", type=argument_type(float, min=0.0), metavar="LAMBDA",
        help="with --swapped-base: LAMBDA, the share of the swapped base's weight change added to --model (default 0.5; 0: none)",
    )
    p.add_argument(
        "--donor", metavar="DIR",
        help="for a donor method (omp, linear): a model whose tokenizer is --tokenizer (folder or hub id); its embeddings "
        "are a second view of every new token",
    )
    p.add_argument("--out", required=True, help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--lazy", action=Switch, default=None,
        help="read only the embedding tensors of a safetensors checkpoint and stream the rest to --out (default: whenever "
        "--model is such a checkpoint); --no-lazy loads the whole model in memory",
    )
    p.add_argument("--max-shard-size", metavar="SIZE", help="shard the output weights, e.g. 5GB (default: shard like --model)")
    p.add_argument(
        "--check-resources", action=Switch, default=True,
        help="refuse before any work when the estimated memory or the output size exceed what is free",
    )
    p.add_argument("--allow-pickle", action="store_true", help="load a --model that has only pickle .bin weights (unpickling can run code)")
    add_config_flags(p, _method_description(method)["options"])
    p.set_defaults(func=cmd_transplant)

    p = sub.add_parser("eval", help="bits per byte of a model on a text, or lm-eval tasks (retok's, built from held-out text, or any lm-eval task)")
    p.add_argument("--model", help="HF folder or hub id")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the one in --model; --text only)")
    p.add_argument("--text", help="UTF-8 text file to score")
    p.add_argument("--tasks", help="comma-separated lm-eval tasks or tags (retok, retok_choice, retok_bpb); list: show retok's tasks")
    p.add_argument("--task-folder", help="retok's lm-eval task folder (default: the cached one, built on first use)")
    p.add_argument("--limit", type=argument_type(int, min=1), help="--tasks: at most this many items per task (a quick look)")
    p.add_argument("--device", default="cpu", help="--tasks: where the model runs (cpu, cuda)")
    p.add_argument("--heldout", action="store_true", help="score only the held-out paragraphs of --text (the project's split)")
    p.add_argument("--max-bytes", type=argument_type(int, min=0), default=65536, help="score at most this many bytes (0: all; default 65536)")
    p.add_argument("--window", type=argument_type(int, min=2), default=256, help="tokens per scoring window (--tasks: of the rolling tasks)")
    p.add_argument("--window-start", default="separator", choices=["separator", "previous"],
                   help="what each window after the first starts with: the separator (retok's protocol) or the previous "
                   "window's last token (lm-eval's rolling windows)")
    p.add_argument("--batch-size", type=argument_type(int, min=1), default=8)
    p.add_argument(
        "--separator",
        help="document-separator token (default: for a retok transplant, the token carrying its source model's separator row; "
        "else <|endoftext|>, </s>, <bos>, <eos> or the tokenizer's bos)",
    )
    p.add_argument("--no-strict", dest="strict", action="store_false", help="score even if the tokenizer does not round-trip the text")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--json", help="also write the result to this JSON file")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train-tokenizer", help="train a tokenizer that inherits a source tokenizer's specials and template")
    p.add_argument("--corpus", required=True, help="UTF-8 text file, one paragraph per line")
    p.add_argument("--vocab-size", type=argument_type(int, min=1), required=True)
    p.add_argument("--kind", default="bpe", choices=["bpe", "unigram"])
    p.add_argument("--like", required=True, help="source tokenizer (folder or hub id) whose pipeline and specials are inherited")
    p.add_argument("--min-frequency", type=argument_type(int, min=1), default=1, help="BPE: merge only pairs seen at least this often")
    p.add_argument("--exclude-heldout", action="store_true", help="train only on paragraphs outside the held-out split")
    p.add_argument("--supertokens", action="store_true", help="byte-level BPE: also learn tokens that span several words (SuperBPE-style)")
    p.add_argument("--max-words", type=argument_type(int, min=1), default=4, help="with --supertokens: the most words one token may span (default 4)")
    p.add_argument(
        "--supertoken-fraction", type=argument_type(float, above=0.0, below=1.0), default=0.1,
        help="with --supertokens: the share of --vocab-size learned across words (default 0.1)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_train_tokenizer)

    p = sub.add_parser("finetune", help="LoRA + new embedding rows on a transplanted model; writes a merged HF folder")
    p.add_argument("--model", required=True, help="a transplanted model folder (retok transplant --out)")
    p.add_argument("--train", required=True, help="UTF-8 training text, one paragraph per line")
    p.add_argument("--eval", help="held-out UTF-8 text scored (BPB) during training")
    p.add_argument("--teacher", help="the teacher of --objective alm / lm+alm (a model folder with its tokenizer); default the transplant's source model")
    p.add_argument("--out", required=True, help="output folder for the merged model (checkpoints go to <out>.partial; rerun to resume)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (and a <out>.partial of other settings)")
    add_resume_flag(p)
    add_config_flags(p, catalog.load()["configs"]["finetune"]["options"])
    p.set_defaults(func=cmd_finetune)

    from .assets import DEFAULT_FETCH, FETCHABLE  # light: names and descriptions only

    p = sub.add_parser("assets", help="show, fetch or locate the real assets (models, corpora), cached once",
                       epilog="assets: " + "; ".join(f"{name}: {a.what}" for name, a in FETCHABLE.items()))
    p.add_argument("--fetch", nargs="*", metavar="NAME", choices=[*FETCHABLE, "all"],
                   help=f"fetch and prepare these assets (one of: {', '.join(FETCHABLE)}, all; none named: {' and '.join(DEFAULT_FETCH)})")
    p.add_argument("--path", metavar="NAME", choices=list(FETCHABLE),
                   help="print only the folder of this asset (fetched first if needed), e.g. MODEL=$(retok assets --path smollm2)")
    p.set_defaults(func=cmd_assets)

    p = sub.add_parser("split", help="write the training and held-out files of the project's md5 split (for the examples)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--lang", choices=["en", "de", "fr", "es"], help="the LibreOffice help text of this language (fetched once)")
    source.add_argument("--text", help="your own UTF-8 text file, one paragraph per line")
    p.add_argument("--out", default=".", help="folder for NAME.txt (training paragraphs) and NAME-heldout.txt (default: .)")
    p.add_argument("--name", help="file name stem (default: the language, or the --text file's stem)")
    p.add_argument("--max-bytes", type=argument_type(int, min=1), default=65536, help="held-out bytes (the protocol's 64 KiB)")
    p.add_argument("--overwrite", action="store_true", help="replace the two files if they exist")
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("demo", help="the main job: SmolLM2 -> German tokenizer, baselines scored on held-out German")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--methods", default="mean,gaussian,fvt,compose,tokenadapt", help="comma-separated initializers to compare")
    p.add_argument("--save-method", default="best", help="which transplanted model to save: an evaluated method, or best (lowest BPB)")
    p.add_argument("--vocab-size", type=argument_type(int, min=1), default=32000)
    p.add_argument("--max-bytes", type=argument_type(int, min=1), default=65536, help="held-out bytes to score")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (and a <out>.partial of other settings)")
    add_resume_flag(p)
    p.set_defaults(func=cmd_demo)

    for add in plugin_commands():
        add(sub)
    return parser


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``{name: subparser}`` of a parser (the ``retok`` parser, or a command with subcommands); empty if it has none."""
    action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)  # noqa: SLF001
    return dict(action.choices) if action is not None else {}


def innermost_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[argparse.ArgumentParser, int]:
    """The (sub)command parser that ``argv`` names (``retok zip2zip train`` -> the ``train`` parser) and where its flags start.

    Returns ``(parser, 0)`` when ``argv`` names no command.
    """
    start = 0
    while True:
        subparsers = commands(parser)
        word = next((i for i in range(start, len(argv)) if not argv[i].startswith("-")), None)
        if not subparsers or word is None or argv[word] not in subparsers:
            return parser, start
        parser, start = subparsers[argv[word]], word + 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = None
    try:
        parser = build_parser(_method_in(argv))
        command, start = innermost_command(parser, argv)
        if command is not parser and commands(command):  # `retok zip2zip trian --model x`: the command is wrong
            check_unknown_command(command, list(commands(command)), argv[start:])
        if command is parser:
            first = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
            check_unknown_options(parser, argv if first is None else argv[:first])
        else:
            hint = _other_method_hint(_method_in(argv)) if argv[start - 1] == "transplant" and start == 1 else None
            check_unknown_options(command, argv[start:], hint=hint)
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except RetokError as err:
        print(f"retok: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a write that failed despite the checks (disk full, a folder removed meanwhile)
        where = f" {err.filename!r}" if err.filename else ""
        print(f"retok: error: {err.strerror or err}{where}; check the path and free space, then rerun", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(interrupted_message(args), file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
