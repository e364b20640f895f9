"""Loading models and tokenizers from a local folder or a hub id, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .errors import RetokError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _explain(what: str, ref: str, err: Exception) -> RetokError:
    path = Path(ref)
    if path.exists() and not path.is_dir():
        hint = "it is a file; pass the folder that holds config.json / tokenizer.json"
    elif path.is_dir():
        hint = f"the folder exists but could not be read as a {what} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    else:
        hint = "it is neither a local folder nor a hub id that can be downloaded here (this machine may have no internet)"
    return RetokError(f"cannot load {what} from {ref!r}: {hint}")


def load_tokenizer(ref: str | os.PathLike | PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A tokenizer object, or load one from a folder / hub id."""
    if isinstance(ref, PreTrainedTokenizerBase):
        return ref
    try:
        return AutoTokenizer.from_pretrained(str(ref))
    except Exception as err:  # transformers raises OSError, ValueError, HF errors...
        raise _explain("tokenizer", str(ref), err) from None


def load_model(ref: str | os.PathLike | PreTrainedModel, *, dtype: str = "float32", **kwargs: Any) -> PreTrainedModel:
    """A causal LM object, or load one from a folder / hub id (eval mode)."""
    if isinstance(ref, PreTrainedModel):
        return ref
    if dtype not in DTYPES:
        raise RetokError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(ref), dtype=DTYPES[dtype], **kwargs)
    except Exception as err:
        raise _explain("causal language model", str(ref), err) from None
    return model.eval()
