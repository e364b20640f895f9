"""What kind of pipeline a tokenizer is, read from its ``tokenizers`` JSON: the one place that decides.

Canonical token keys (:mod:`retok.vocab`) and tokenizer training (:mod:`retok.vocab.train`)
both need to know how a tokenizer writes text into token strings; they ask this module, so a
tokenizer trained like a source always gets the same family as the source. The families:

- ``"byte_level"``: a ``ByteLevel`` pre-tokenizer or decoder (GPT-2, Llama-3, Qwen2, SmolLM2); token
  strings are bytes through the GPT-2 byte->unicode map, a leading space is ``Ġ``;
- ``"wordpiece"``: a WordPiece model, or a BPE model with the ``##`` continuation prefix (what
  training like a BERT tokenizer gives); a piece without ``##`` starts a word;
- ``"metaspace"``: SentencePiece-style, a word start is :data:`SPACE_MARKER` (``▁``), unknown bytes
  are the byte-fallback tokens :data:`BYTE_TOKENS` (``<0x00>``..``<0xFF>``). Recognised by a
  ``Metaspace`` pre-tokenizer or decoder (Llama-2 non-legacy, T5), byte fallback, or a normalizer
  that writes ``▁`` (legacy Llama-2: ``Prepend("▁")`` + ``Replace(" ", "▁")``; Gemma:
  ``Replace(" ", "▁")`` alone);
- ``"plain"``: anything else; token strings are the text itself.

The checks run in that order: a byte-level decoder wins over everything, WordPiece over ``▁``.
Components are looked up through ``Sequence`` pre-tokenizers, normalizers and decoders.
"""

from __future__ import annotations

import json
from string import hexdigits
from typing import Any, Literal

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase

from retok.errors import RetokError

__all__ = [
    "BYTE_TOKENS",
    "Family",
    "ROLE_PRIORITY",
    "SPACE_MARKER",
    "backend_json",
    "byte_token_value",
    "pipeline_spec",
    "detect_family",
    "family_of",
    "fast_backend",
    "find_component",
    "is_space_marker_step",
    "mentions",
    "writes_space_marker",
]

Family = Literal["byte_level", "metaspace", "wordpiece", "plain"]

#: The word-start marker of SentencePiece-style vocabularies (U+2581).
SPACE_MARKER = "\u2581"
#: The byte-fallback tokens of SentencePiece-style vocabularies, in byte order (the Llama-2 spelling).
BYTE_TOKENS: tuple[str, ...] = tuple(f"<0x{b:02X}>" for b in range(256))
#: The standard special-token roles; when one token fills several, the earliest wins.
ROLE_PRIORITY = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")

# Where a tokenizers JSON component keeps its parts when it is a ``Sequence``.
_SEQUENCE_KEYS = ("pretokenizers", "decoders", "normalizers")


def fast_backend(tokenizer: PreTrainedTokenizerBase, *, what: str = "the tokenizer") -> Tokenizer:
    """The ``tokenizers.Tokenizer`` behind a fast tokenizer; ``what`` names it in the error for a slow one."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(tokenizer, "is_fast", True) is False:
        raise RetokError(
            f"{what} is a {type(tokenizer).__name__}, not a fast (tokenizers-backed) one, so retok cannot read its "
            "pipeline; load it with AutoTokenizer.from_pretrained(..., use_fast=True) or convert it to tokenizer.json first"
        )
    return backend


def backend_json(tokenizer: PreTrainedTokenizerBase, *, what: str = "the tokenizer") -> dict[str, Any]:
    """The ``tokenizers`` JSON of a fast tokenizer, as a fresh dict (:func:`fast_backend` for the error)."""
    return json.loads(fast_backend(tokenizer, what=what).to_str())


#: The scalar fields of a model that :func:`family_of` reads (never its vocabulary or merges).
_MODEL_FIELDS = ("byte_fallback", "continuing_subword_prefix")


def _component_json(component: Any) -> dict[str, Any] | None:
    return None if component is None else json.loads(component.__getstate__())


def pipeline_spec(tokenizer: PreTrainedTokenizerBase, *, what: str = "the tokenizer") -> dict[str, Any]:
    """The ``tokenizers`` JSON of a fast tokenizer without the model's vocabulary and merges.

    ``normalizer``, ``pre_tokenizer``, ``post_processor`` and ``decoder`` as :func:`backend_json`
    gives them; ``model`` holds its ``type`` and the fields :func:`family_of` reads. Read from the
    components one by one, so a 262k vocabulary is never serialised and parsed (what
    :func:`backend_json` costs, a quarter of a second for a 50k one).
    """
    backend = fast_backend(tokenizer, what=what)
    model = backend.model
    spec = {name: _component_json(getattr(backend, name)) for name in ("normalizer", "pre_tokenizer", "post_processor", "decoder")}
    spec["model"] = {"type": type(model).__name__, **{f: getattr(model, f) for f in _MODEL_FIELDS if hasattr(model, f)}}
    return spec


def _parts(component: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for key in _SEQUENCE_KEYS for part in component.get(key) or []]


def mentions(component: dict[str, Any] | None, type_name: str) -> bool:
    """Whether a tokenizers JSON component is ``type_name`` or a ``Sequence`` holding one (at any depth)."""
    return find_component(component, type_name) is not None


def find_component(component: dict[str, Any] | None, type_name: str) -> dict[str, Any] | None:
    """The first part of type ``type_name`` in a component, depth first through ``Sequence`` parts; ``None`` if none."""
    if not component:
        return None
    if component.get("type") == type_name:
        return component
    for part in _parts(component):
        found = find_component(part, type_name)
        if found is not None:
            return found
    return None


def is_space_marker_step(step: dict[str, Any]) -> bool:
    """A normalizer step that a ``Metaspace`` pre-tokenizer does exactly: ``Prepend("▁")`` or ``Replace(" ", "▁")``."""
    if step.get("type") == "Prepend":
        return step.get("prepend") == SPACE_MARKER
    if step.get("type") == "Replace":
        return (step.get("pattern") or {}).get("String") == " " and step.get("content") == SPACE_MARKER
    return False


def writes_space_marker(normalizer: dict[str, Any] | None) -> bool:
    """Whether a normalizer puts ``▁`` into the text: a ``Prepend`` or ``Replace`` step (any pattern) that writes it."""
    if not normalizer:
        return False
    if normalizer.get("type") == "Prepend":
        return SPACE_MARKER in (normalizer.get("prepend") or "")
    if normalizer.get("type") == "Replace":
        return SPACE_MARKER in (normalizer.get("content") or "")
    return any(writes_space_marker(part) for part in _parts(normalizer))


def byte_token_value(token: str) -> int | None:
    """The byte a byte-fallback token ``<0xNN>`` stands for (``"<0xC3>" -> 0xC3``); ``None`` for any other string."""
    if len(token) == 6 and token.startswith("<0x") and token.endswith(">") and all(c in hexdigits for c in token[3:5]):
        return int(token[3:5], 16)
    return None


def family_of(spec: dict[str, Any]) -> Family:
    """The family (module docstring) of a tokenizer given its ``tokenizers`` JSON ``spec``."""
    pre_tokenizer, decoder = spec.get("pre_tokenizer"), spec.get("decoder")
    if mentions(pre_tokenizer, "ByteLevel") or mentions(decoder, "ByteLevel"):
        return "byte_level"
    model = spec.get("model") or {}
    if model.get("type") == "WordPiece" or (model.get("type") == "BPE" and model.get("continuing_subword_prefix") == "##"):
        return "wordpiece"
    if (
        mentions(pre_tokenizer, "Metaspace")
        or mentions(decoder, "Metaspace")
        or model.get("byte_fallback")
        or writes_space_marker(spec.get("normalizer"))
    ):
        return "metaspace"
    return "plain"


def detect_family(tokenizer: PreTrainedTokenizerBase) -> Family:
    """How the tokenizer writes spaces and bytes in its token strings (module docstring)."""
    return family_of(pipeline_spec(tokenizer))
