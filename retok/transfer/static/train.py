"""Train fastText word vectors on a corpus, cached by the prepared text and every setting.

The corpus (a text file or an iterable of lines) is first *prepared*: each line becomes its
words joined by single spaces (``words="regex"``: Unicode ``\\w+`` runs, case and digits kept;
``words="as-is"``: the line's whitespace-separated units, for token-level vectors such as
``"Ġein Ġhaus"``), and empty lines are dropped. The sha256 of the prepared text together with the
settings names the cache folder ``cache_dir()/fasttext/<sha256>/``, which holds ``model.bin`` and
the ``retok_asset.json`` marker; it is built atomically under a build lock (:mod:`retok.cache`).

fastText trains with several threads in a nondeterministic order; only ``threads=1`` gives the
same model for the same ``seed``.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from retok._version import __version__
from retok.atomic import atomic_dir, atomic_file
from retok.cache import build_lock, cache_dir, is_complete, say, write_marker
from retok.errors import RetokError
from retok.progress import bars_on

MODEL_FILE = "model.bin"
#: fewer word occurrences than this (after ``min_count``) is refused as too small to train on
MIN_TRAIN_WORDS = 1000
_FORMAT = 1
_MAX_SEED = 2**31 - 2  # fastText's seed is an int32 and retok passes seed + 1
_WORD = re.compile(r"\w+")
_MODELS = ("skipgram", "cbow")
_WORD_MODES = ("regex", "as-is")


def train_fasttext(
    corpus: str | os.PathLike | Iterable[str],
    *,
    dim: int = 100,
    epochs: int = 5,
    model: Literal["skipgram", "cbow"] = "skipgram",
    min_count: int = 5,
    minn: int = 3,
    maxn: int = 6,
    neg: int = 5,
    lr: float = 0.05,
    threads: int | None = None,
    seed: int = 0,
    words: Literal["regex", "as-is"] = "regex",
    bucket: int | None = None,
    cache: bool = True,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train fastText unsupervised on ``corpus`` and return the path of the ``.bin`` model.

    Args:
        corpus: a UTF-8 text file path, or an iterable of lines.
        dim, epochs, model, min_count, minn, maxn, neg, lr: fastText's settings of the same
            meaning (``maxn=0`` with ``minn=0`` trains without subwords).
        threads: training threads (default: all CPUs); use 1 for a model reproducible from ``seed``.
        seed: the random seed (0 <= seed < 2**31 - 2; fastText gets ``seed + 1``, see ``_train``).
        words: how lines are split into words, see the module docstring.
        bucket: hash buckets for character n-grams; the model holds ``(V + bucket) * dim``
            floats, 800 MB at fastText's default of 2M buckets and dim 100. ``None`` (default)
            picks it from the corpus: :func:`auto_bucket` of the words that pass ``min_count``.
        cache: look the model up in (and store it into) ``cache_dir()/fasttext``; with
            ``cache=False`` it is always trained, into ``out``.
        out: also write the model to this ``.bin`` path (refused if it exists, unless ``overwrite``).
        progress: fastText's progress line (with its ETA) and a start message on stderr.
    """
    settings = _check_settings(
        dim=dim, epochs=epochs, model=model, min_count=min_count, minn=minn, maxn=maxn, neg=neg, lr=lr,
        threads=threads, seed=seed, words=words, bucket=bucket,
    )
    out_path = _check_out(out, overwrite=overwrite) if out is not None else None
    if not cache and out_path is None:
        raise RetokError("train_fasttext(cache=False) needs out=PATH.bin to know where to write the model")
    with tempfile.TemporaryDirectory(prefix="retok-fasttext-") as work:
        prepared = Path(work) / "corpus.txt"
        corpus_sha256, counts = _prepare(corpus, prepared, words=words)
        _check_size(counts, min_count=min_count, words=words)
        if settings["bucket"] is None:
            settings["bucket"] = auto_bucket(sum(1 for c in counts.values() if c >= min_count))
        if not cache:
            return _train_to_file(prepared, out_path, settings, counts, progress=progress)
        key = hashlib.sha256(json.dumps({"corpus_sha256": corpus_sha256, **settings}, sort_keys=True).encode()).hexdigest()
        folder = cache_dir() / "fasttext" / key
        expected = {"asset": "fasttext", "format": _FORMAT, "key": key}
        if not is_complete(folder, expected, [MODEL_FILE]):
            with build_lock(f"fasttext-{key[:16]}", progress=progress):
                if not is_complete(folder, expected, [MODEL_FILE]):  # another process may have built it meanwhile
                    with atomic_dir(folder, overwrite=True) as tmp:
                        info = _train(prepared, tmp / MODEL_FILE, settings, counts, progress=progress)
                        write_marker(tmp, {**expected, "corpus_sha256": corpus_sha256, **info})
                    size = (folder / MODEL_FILE).stat().st_size / 2**20
                    say(f"fastText model cached at {folder / MODEL_FILE} ({size:.0f} MiB; RETOK_CACHE moves the cache)", progress=progress)
    if out_path is None:
        return folder / MODEL_FILE
    _replace_file(out_path, lambda tmp: shutil.copyfile(folder / MODEL_FILE, tmp))
    return out_path


def auto_bucket(n_words: int) -> int:
    """Hash buckets for a vocabulary of ``n_words``: 50 per word, between 10,000 and fastText's default 2,000,000.

    A word has a few dozen character n-grams, many shared; 50 buckets a word keeps collisions
    rare while a 20 KB text no longer gets an 800 MB model.
    """
    return min(2_000_000, max(10_000, 50 * n_words))


# ----------------------------------------------------------------------------- checks


def _check_settings(**s: Any) -> dict[str, Any]:
    """Validate the training settings; return them as a JSON-able dict (the cache key's settings part)."""
    for name in ("dim", "epochs", "min_count", "neg"):
        _check_int(name, s[name], minimum=1)
    if s["bucket"] is not None:
        _check_int("bucket", s["bucket"], minimum=1)
    for name in ("minn", "maxn", "seed"):
        _check_int(name, s[name], minimum=0)
    if s["seed"] >= _MAX_SEED:
        raise RetokError(f"seed must be below {_MAX_SEED} (fastText keeps it in a 32-bit integer); got {s['seed']}")
    if s["threads"] is not None:
        _check_int("threads", s["threads"], minimum=1)
    if s["maxn"] > 0 and not 1 <= s["minn"] <= s["maxn"]:
        raise RetokError(f"minn must be between 1 and maxn={s['maxn']}; got minn={s['minn']} (minn=maxn=0 trains without subwords)")
    if s["maxn"] == 0 and s["minn"] != 0:
        raise RetokError(f"maxn=0 trains without subwords, so minn must be 0 too; got minn={s['minn']}")
    if isinstance(s["lr"], bool) or not isinstance(s["lr"], numbers.Real) or not 0 < s["lr"] < float("inf"):
        raise RetokError(f"lr must be a positive number; got {s['lr']!r}")
    if s["model"] not in _MODELS:
        raise RetokError(f"unknown fastText model {s['model']!r}; choose one of {', '.join(_MODELS)}")
    if s["words"] not in _WORD_MODES:
        raise RetokError(f"unknown words mode {s['words']!r}; choose 'regex' (split lines into \\w+ words) or 'as-is' (lines are space-separated units)")
    return {**s, "lr": float(s["lr"])}


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise RetokError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _check_out(out: str | os.PathLike, *, overwrite: bool) -> Path:
    path = Path(out)
    if path.suffix != ".bin":
        raise RetokError(f"out must be a .bin file path (the fastText model format); got {str(path)!r}")
    if path.exists() and not overwrite:
        raise RetokError(f"{str(path)!r} already exists; pass overwrite=True to replace it, or choose another path")
    if path.is_dir():
        raise RetokError(f"{str(path)!r} is a folder; out must be a .bin file path")
    return path


def _check_size(counts: Counter[str], *, min_count: int, words: str) -> None:
    """Refuse corpora too small for fastText, saying how big they were and what to change."""
    total = sum(counts.values())
    if total == 0:
        raise RetokError(f"the corpus is empty: no words after splitting its lines (words={words!r}); pass a file or lines with text in them")
    kept = {w: c for w, c in counts.items() if c >= min_count}
    kept_total = sum(kept.values())
    if kept_total < MIN_TRAIN_WORDS:
        raise RetokError(
            f"the corpus is too small to train fastText: {total:,} words ({len(counts):,} distinct), of which only "
            f"{kept_total:,} are occurrences of the {len(kept):,} words seen at least min_count={min_count} times; "
            f"fastText needs at least {MIN_TRAIN_WORDS:,}. Give more text or lower min_count"
        )


# ----------------------------------------------------------------------------- corpus


def _prepare(corpus: str | os.PathLike | Iterable[str], dest: Path, *, words: str) -> tuple[str, Counter[str]]:
    """Write the prepared corpus to ``dest``; return its sha256 and the word counts."""
    digest = hashlib.sha256()
    counts: Counter[str] = Counter()
    with open(dest, "w", encoding="utf-8", newline="\n") as f:
        for line in _lines(corpus):
            units = _WORD.findall(line) if words == "regex" else line.split()
            if units:
                text = " ".join(units) + "\n"
                f.write(text)
                digest.update(text.encode("utf-8"))
                counts.update(units)
    return digest.hexdigest(), counts


def _lines(corpus: str | os.PathLike | Iterable[str]) -> Iterator[str]:
    """The corpus's lines: read from a file path, or taken from an iterable of strings."""
    if isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus)
        if not path.is_file():
            shown = str(corpus) if len(str(corpus)) <= 80 else str(corpus)[:77] + "..."
            raise RetokError(f"corpus {shown!r} is not an existing file; pass a UTF-8 text file path or a list of lines")
        with open(path, encoding="utf-8") as f:
            try:
                yield from f
            except UnicodeDecodeError as e:
                raise RetokError(f"corpus {str(path)!r} is not valid UTF-8 ({e.reason}); convert it, e.g. `iconv -f latin1 -t utf-8`") from None
        return
    if isinstance(corpus, bytes) or not isinstance(corpus, Iterable):
        raise RetokError(f"corpus must be a text file path or an iterable of str lines; got {type(corpus).__name__}")
    for i, item in enumerate(corpus):
        if not isinstance(item, str):
            raise RetokError(f"corpus line {i} is a {type(item).__name__}, not a str; pass lines of text")
        yield from item.splitlines()


# ----------------------------------------------------------------------------- training


def _train(prepared: Path, dest: Path, settings: dict[str, Any], counts: Counter[str], *, progress: bool) -> dict[str, Any]:
    """Train on the prepared corpus and save the model to ``dest``; return what the marker records."""
    import fasttext_pybind as ft  # the compiled core of the `fasttext` package (its Python train_unsupervised has no seed)

    threads = settings["threads"] or os.cpu_count() or 1
    vocab = sum(1 for c in counts.values() if c >= settings["min_count"])
    say(
        f"training fastText {settings['model']} (dim {settings['dim']}, {settings['epochs']} epochs, {threads} threads) on "
        f"{sum(counts.values()):,} words, vocabulary {vocab:,}; fastText shows its ETA below",
        progress=progress,
    )
    args = ft.args()
    args.input = str(prepared)
    args.output = ""  # saved explicitly below
    args.saveOutput = False
    args.model = getattr(ft.model_name, settings["model"])
    args.loss = ft.loss_name.ns
    args.dim, args.epoch, args.minCount = settings["dim"], settings["epochs"], settings["min_count"]
    args.minn, args.maxn, args.neg, args.lr = settings["minn"], settings["maxn"], settings["neg"], settings["lr"]
    args.bucket = settings["bucket"] if settings["maxn"] > 0 else 0
    # fastText seeds std::minstd_rand engines with (seed + block or thread number), and such an
    # engine treats 0 as 1: fastText's seeds 0 and 1 give the same single-thread model. Shifting by
    # one keeps every retok seed distinct.
    args.thread, args.seed, args.verbose = threads, settings["seed"] + 1, 2 if bars_on(progress) else 0  # its ETA line is a bar
    start = time.perf_counter()
    model = ft.fasttext()
    try:
        ft.train(model, args)
    except (ValueError, RuntimeError) as e:
        raise RetokError(f"fastText could not train on the corpus ({e}); give more text or lower min_count") from None
    model.saveModel(str(dest))
    return {"settings": settings, "words": sum(counts.values()), "vocabulary": vocab, "train_seconds": round(time.perf_counter() - start, 2), "retok_version": __version__}


def _train_to_file(prepared: Path, out: Path, settings: dict[str, Any], counts: Counter[str], *, progress: bool) -> Path:
    _replace_file(out, lambda tmp: _train(prepared, tmp, settings, counts, progress=progress))
    return out


def _replace_file(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` for a temporary file beside ``path``, then rename it to ``path``."""
    with atomic_file(path, suffix=".bin") as tmp:
        write(tmp)


__all__ = ["MIN_TRAIN_WORDS", "MODEL_FILE", "train_fasttext"]
