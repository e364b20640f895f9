"""Loading models and tokenizers from a local folder or a hub id, with clear errors.

A name that looks like a path but does not exist fails at once: the hub client would otherwise
spend about 45 s retrying a network this machine may not have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .errors import RetokError

DTYPES: dict[str, Any] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}


def _resolve(ref: str | os.PathLike, what: str, marker: str) -> str:
    """Check ``ref`` before transformers sees it; return the string to load from."""
    name = os.fspath(ref)
    path = Path(name).expanduser()
    nothing = (
        f"cannot load the {what} from {name!r}: it is neither a folder with {marker} nor a reachable hub id "
        "(there may be no internet here, so hub ids only work when already in the local HF cache)"
    )
    if path.is_file():
        raise RetokError(f"{nothing}; it is a file: pass the folder that holds {marker}")
    if path.is_dir():
        if not (path / marker).is_file() and not (what == "tokenizer" and any(path.glob("tokenizer*"))):
            raise RetokError(f"{nothing}; the folder has no {marker}")
        return str(path)
    if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
        raise RetokError(f"{nothing}; the folder does not exist")
    return name


def load_tokenizer(ref: str | os.PathLike | PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A tokenizer object, or load one from a folder / hub id."""
    if isinstance(ref, PreTrainedTokenizerBase):
        return ref
    name = _resolve(ref, "tokenizer", "tokenizer_config.json")
    try:
        return AutoTokenizer.from_pretrained(name)
    except Exception as err:  # transformers raises OSError, ValueError, hub errors...
        raise RetokError(f"cannot load the tokenizer from {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def load_model(ref: str | os.PathLike | PreTrainedModel, *, dtype: str = "float32", **kwargs: Any) -> PreTrainedModel:
    """A causal LM object, or load one from a folder / hub id (eval mode)."""
    if isinstance(ref, PreTrainedModel):
        return ref
    if dtype not in DTYPES:
        raise RetokError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    name = _resolve(ref, "causal language model", "config.json")
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=DTYPES[dtype], **kwargs)
    except Exception as err:
        raise RetokError(f"cannot load a causal language model from {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return model.eval()
