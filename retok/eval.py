"""Bits per byte and tokens per byte: how well a model predicts text, comparable across tokenizers.

Per-token perplexity cannot be compared between tokenizers (a tokenizer with longer tokens
has fewer, harder predictions). Bits per byte can: it is the total code length of the text
under the model, divided by the text's length in UTF-8 bytes, which no tokenizer changes.

The protocol (the project's default, so that numbers from different tools agree):

1. Tokenize the text once, without special tokens. The ids must decode back to exactly the
   same text; otherwise the tokenizer drops or rewrites characters (unknown tokens,
   normalisation) and would be scored on a different, usually easier, text. With
   ``strict=False`` such a tokenizer is scored anyway, still divided by the original bytes.
2. Cut the ids into consecutive windows of ``window`` tokens (default 256) without overlap;
   the last window may be shorter.
3. Feed each window as ``[SEP] + window[:-1]`` and score the predictions of ``window``, so every
   token of the text is predicted exactly once, each window starting from a fresh context.
   ``SEP`` is the tokenizer's document-separator special token (:func:`document_separator`:
   ``<|endoftext|>`` for SmolLM2 and tokenizers derived from it, ``<bos>`` for Gemma). A retok
   transplant records the new token that carries its source model's separator row
   (``retok_config.json`` ``"separator"``), and ``retok eval`` starts its windows with that one.
   ``window_start="previous"`` starts every window after the first with the last token of the window
   before it instead (lm-eval-harness's rolling windows, ``loglikelihood_rolling`` with ``max_length=window``);
   the default keeps every window a fresh document start, so a number does not depend on where a window cut.
4. ``bpb = sum of next-token NLL in nats / (ln 2 * UTF-8 bytes of the text)``; the NLL is taken
   from a float32 (or wider) log-softmax even for bf16/fp16 models and summed in float64.
5. ``tokens_per_byte = n_tokens / n_bytes`` measures how much the tokenizer shortens the text.

The held-out text itself (which paragraphs, in which order) is fixed by the project's
evaluation protocol (``design.md``): paragraphs whose md5 hex digest starts with ``0`` or ``1``,
in file order, joined by ``\\n``, at most 64 KiB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .errors import RetokError
from .measure import measure
from .progress import bars_on

__all__ = [
    "SEPARATOR_CANDIDATES",
    "EvalResult",
    "bits_per_byte",
    "document_separator",
    "markdown_table",
    "scoring_ids",
]

#: Document-separator tokens, in order of preference (GPT-2/SmolLM2, Llama 3 base, SentencePiece, Gemma, Llama 3 chat).
#: Gemma starts every document with ``<bos>``: it is the context its base model was trained to start from.
SEPARATOR_CANDIDATES: tuple[str, ...] = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<bos>", "<eos>", "<|eot_id|>")


@dataclass(frozen=True)
class EvalResult:
    """The outcome of :func:`bits_per_byte`.

    Attributes:
        bpb: bits per byte, ``nll_nats / (ln 2 * n_bytes)``; lower is better.
        tokens_per_byte: ``n_tokens / n_bytes``; lower means shorter sequences.
        n_tokens: tokens in the text (each scored once).
        n_bytes: UTF-8 bytes of the text.
        nll_nats: summed next-token negative log-likelihood, in nats.
        n_windows: number of windows the ids were cut into.
        window: the window length in tokens.
        seconds: wall time of tokenizing and scoring.
        peak_rss_mb: peak process RSS (MiB) while scoring (see :mod:`retok.measure`).
        peak_cuda_mb: peak CUDA tensor memory (MiB) while scoring; ``None`` on CPU.
    """

    bpb: float
    tokens_per_byte: float
    n_tokens: int
    n_bytes: int
    nll_nats: float
    n_windows: int
    window: int
    seconds: float
    peak_rss_mb: float
    peak_cuda_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (for JSON and :func:`markdown_table`)."""
        return asdict(self)


# --------------------------------------------------------------------------- separator


def _special_token_names(tokenizer: PreTrainedTokenizerBase) -> set[str]:
    return set(tokenizer.get_added_vocab()) | set(tokenizer.all_special_tokens)


def _prepended_bos(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The BOS id if encoding with special tokens puts it first (Gemma, Llama), else None (SmolLM2, GPT-2)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return None
    try:
        ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    except Exception:  # noqa: BLE001 - a tokenizer that cannot encode here simply has no prepended BOS
        return None
    return int(bos) if ids and ids[0] == bos else None


def _lookup_token(tokenizer: PreTrainedTokenizerBase, token: str) -> int | None:
    """Return the id of ``token`` if it is a whole token of the vocabulary, else ``None``."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None:
        return None
    # Unknown tokens map to the unk id instead of failing; that is not a match.
    if token_id == tokenizer.unk_token_id and token != tokenizer.unk_token:
        return None
    return int(token_id)


def document_separator(tokenizer: PreTrainedTokenizerBase, separator: str | int | None = None) -> int:
    """Return the id of the token that starts every scoring window.

    Args:
        tokenizer: the tokenizer being evaluated.
        separator: ``None`` picks the BOS token if the tokenizer prepends it to every text (Gemma,
            Llama: the document start the model was trained with), else the first of
            :data:`SEPARATOR_CANDIDATES` that the tokenizer has as a special/added token, else its
            BOS token, else its EOS token. A string is looked up as a token; an int is used as
            the id itself.

    Returns:
        The separator token id.

    Raises:
        RetokError: the given separator is not in the vocabulary or out of range, or
            ``separator=None`` and the tokenizer has none of the candidates, no BOS and no EOS.
    """
    if isinstance(separator, bool):  # bool is an int subclass; True is surely a mistake
        raise RetokError(f"separator must be a token string or a token id, not {separator!r}")
    if isinstance(separator, int):
        if not 0 <= separator < len(tokenizer):
            raise RetokError(
                f"separator id {separator} is out of range; the tokenizer has ids 0..{len(tokenizer) - 1}"
            )
        return separator
    if isinstance(separator, str):
        token_id = _lookup_token(tokenizer, separator)
        if token_id is None:
            raise RetokError(
                f"separator {separator!r} is not a token of this tokenizer; its special tokens are "
                f"{sorted(_special_token_names(tokenizer))}; pass one of them or a token id"
            )
        return token_id
    if separator is not None:
        raise RetokError(f"separator must be a token string, a token id or None, not {type(separator).__name__}")

    prepended = _prepended_bos(tokenizer)
    if prepended is not None:  # the tokenizer starts every text with it: the document start the model was trained on
        return prepended
    specials = _special_token_names(tokenizer)
    for name in SEPARATOR_CANDIDATES:
        if name in specials:
            token_id = _lookup_token(tokenizer, name)
            if token_id is not None:
                return token_id
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise RetokError(
        f"cannot tell which token separates documents: the tokenizer has none of {list(SEPARATOR_CANDIDATES)}, "
        f"no BOS and no EOS token (its special tokens: {sorted(specials)}); "
        "pass separator=<token string or id> (CLI: --separator)"
    )


# --------------------------------------------------------------------------- scoring


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _check_round_trip(text: str, decoded: str) -> None:
    if decoded == text:
        return
    i = _first_difference(text, decoded)
    raise RetokError(
        "the tokenizer does not round-trip this text: decode(encode(text)) differs from the text "
        f"at character {i}: text has {text[max(0, i - 20) : i + 20]!r}, decoded has "
        f"{decoded[max(0, i - 20) : i + 20]!r} (lengths {len(text)} vs {len(decoded)}). "
        "Scoring it would measure a different text than other tokenizers see; pass strict=False "
        "(CLI: --no-strict) to score it anyway"
    )


def scoring_ids(tokenizer: PreTrainedTokenizerBase, text: str, *, strict: bool = True) -> list[int]:
    """Step 1 of the protocol: the text's ids (no special tokens), checked to decode back to the text when ``strict``."""
    # verbose=False: silences "sequence longer than model_max_length"; the caller cuts windows itself.
    ids: list[int] = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    if strict:
        decoded = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        _check_round_trip(text, decoded)
    if not ids:
        raise RetokError("the tokenizer turned the text into zero tokens; nothing to score")
    return ids


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _window_nll(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Return the summed NLL (nats, float64) of ``targets`` given ``inputs``.

    Args:
        model: causal LM whose output has ``.logits`` of shape (B, T, V).
        inputs: (B, T) input ids, each row ``[SEP] + window[:-1]``.
        targets: (B, T) target ids, each row ``window``.
    """
    logits = model(input_ids=inputs, use_cache=False).logits  # (B, T, V)
    vocab = logits.shape[-1]
    top = int(max(inputs.max(), targets.max()))
    if top >= vocab:
        raise RetokError(
            f"the tokenizer produced id {top} but the model only has {vocab} output logits; "
            "the model and the tokenizer do not belong together"
        )
    # float32 at least: bf16 log-softmax over 49k entries loses ~3 significant digits.
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    nll = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="none")  # (B*T,)
    return float(nll.double().sum())


def bits_per_byte(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    *,
    window: int = 256,
    batch_size: int = 8,
    separator: str | int | None = None,
    progress: bool = True,
    strict: bool = True,
    window_start: Literal["separator", "previous"] = "separator",
) -> EvalResult:
    """Score ``text`` under ``model`` + ``tokenizer`` by the protocol in the module docstring.

    Sets ``model.eval()`` in place and runs on the model's device under ``torch.inference_mode()``.

    Args:
        model: a causal LM called as ``model(input_ids=(B, T) long)`` returning ``.logits`` (B, T, V).
        tokenizer: the tokenizer that belongs to ``model``.
        text: the held-out text (non-empty).
        window: tokens per window, each predicted from the separator and the window's earlier tokens.
        batch_size: full windows per forward pass (they all have length ``window``, so no padding);
            the shorter final window runs alone. Does not change the result.
        separator: the token fed before each window; see :func:`document_separator`.
        progress: show a tqdm bar over windows.
        strict: require ``decode(encode(text)) == text``.
        window_start: what every window after the first starts with: the separator (retok's protocol) or the
            previous window's last token (lm-eval-harness's rolling windows).

    Returns:
        An :class:`EvalResult`.

    Raises:
        RetokError: empty text, bad ``window``/``batch_size``, unknown separator, a tokenizer that
            does not round-trip the text (with ``strict=True``), or ids the model has no logits for.
    """
    if not isinstance(text, str) or not text:
        raise RetokError("the text to score is empty; pass the held-out text (a non-empty string)")
    if window < 1:
        raise RetokError(f"window must be a positive number of tokens, got {window}")
    if batch_size < 1:
        raise RetokError(f"batch_size must be at least 1, got {batch_size}")
    if window_start not in ("separator", "previous"):
        raise RetokError(f"window_start must be 'separator' or 'previous', got {window_start!r}")
    sep = document_separator(tokenizer, separator)
    n_bytes = len(text.encode("utf-8"))

    model.eval()
    device = _model_device(model)
    with measure() as m, torch.inference_mode():
        ids = scoring_ids(tokenizer, text, strict=strict)

        n_tokens = len(ids)
        all_ids = torch.tensor(ids, dtype=torch.long)
        n_full = n_tokens // window
        full = all_ids[: n_full * window].view(n_full, window)  # (n_full, window)
        batches = [full[i : i + batch_size] for i in range(0, n_full, batch_size)]
        if n_tokens % window:
            batches.append(all_ids[n_full * window :].unsqueeze(0))  # (1, n_tokens % window)
        n_windows = n_full + (1 if n_tokens % window else 0)
        starts = torch.full((n_windows,), sep, dtype=torch.long)  # (n_windows,) the first input of each window
        if window_start == "previous":
            starts[1:] = all_ids[window - 1 : (n_windows - 1) * window : window]

        nll = 0.0  # Python float is float64
        with tqdm(total=n_windows, desc="bits per byte", unit="window", disable=not bars_on(progress)) as bar:
            done = 0
            for targets in batches:
                seps = starts[done : done + targets.shape[0], None]  # (B, 1)
                done += targets.shape[0]
                inputs = torch.cat([seps, targets[:, :-1]], dim=1)  # (B, T)
                nll += _window_nll(model, inputs.to(device), targets.to(device))
                bar.update(targets.shape[0])

    return EvalResult(
        bpb=nll / (math.log(2) * n_bytes),
        tokens_per_byte=n_tokens / n_bytes,
        n_tokens=n_tokens,
        n_bytes=n_bytes,
        nll_nats=nll,
        n_windows=n_windows,
        window=window,
        seconds=m.seconds,
        peak_rss_mb=m.peak_rss_mb,
        peak_cuda_mb=m.peak_cuda_mb,
    )


# --------------------------------------------------------------------------- tables


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def markdown_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    floatfmt: str = ".3f",
) -> str:
    """Render result rows as a GitHub-flavoured Markdown table.

    Args:
        rows: one dict per table row (e.g. ``EvalResult.to_dict()`` plus a ``"method"`` key).
        columns: ``(key, header)`` pairs in display order. A row without a key gets an empty cell.
        floatfmt: format spec for float cells; numeric columns are right-aligned.

    Returns:
        The table, lines joined by ``\\n``, with a trailing newline.

    Raises:
        RetokError: no columns, or a column key that no row has (most likely a typo).
    """
    if not columns:
        raise RetokError("markdown_table needs at least one (key, header) column")
    present = set().union(*(row.keys() for row in rows)) if rows else set()
    missing = [key for key, _ in columns if rows and key not in present]
    if missing:
        raise RetokError(f"no row has the column key(s) {missing}; the rows have {sorted(present)}")

    header = "| " + " | ".join(h.replace("|", "\\|") for _, h in columns) + " |"
    aligns = []
    for key, _ in columns:
        values = [row[key] for row in rows if row.get(key) is not None]
        aligns.append("---:" if values and all(_is_number(v) for v in values) else "---")
    lines = [header, "|" + "|".join(aligns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), floatfmt) for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"
