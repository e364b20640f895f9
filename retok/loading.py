"""Loading models and tokenizers from a local folder or a hub id, with clear errors.

A name that looks like a path but does not exist fails at once: the hub client would otherwise
spend about 45 s retrying a network this machine may not have.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .errors import RetokError
from .integrity import check_folder
from .progress import bars_on, hf_progress_bars

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


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's host opens within ``timeout`` seconds (one attempt, no retries)."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def from_folder_or_hub(load: Callable[..., Any], name: str, *, what: str, **kwargs: Any) -> Any:
    """``load(name)`` for a folder; for a hub id, the local HF cache first, then the hub only if it answers.

    Without this, an unreachable hub costs about a minute of retries before transformers gives up.
    """
    if Path(name).expanduser().is_dir():
        return load(name, **kwargs)
    try:
        return load(name, local_files_only=True, **kwargs)  # already downloaded: no network at all
    except Exception:  # not in the cache (transformers raises OSError, ValueError, hub errors...)
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or not hub_reachable():
        raise RetokError(
            f"cannot load the {what} {name!r}: it is not a local folder, not in the local Hugging Face cache, "
            "and the hub cannot be reached (offline); pass a local folder (e.g. `retok assets --fetch` for the demo model)"
        )
    return load(name, **kwargs)


def model_name(model: PreTrainedModel) -> str:
    """What a loaded model calls itself: the folder or hub id it came from, else its class name."""
    return str(getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or type(model).__name__)


def saved_tokenizer(folder: str | os.PathLike) -> PreTrainedTokenizerBase | None:
    """The tokenizer saved in a model folder, or None when ``folder`` is not a folder or holds none."""
    path = Path(folder)
    if not path.is_dir() or not any(path.glob("tokenizer*")):
        return None
    return load_tokenizer(path)


def load_tokenizer(ref: str | os.PathLike | PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A tokenizer object, or load one from a folder / hub id."""
    if isinstance(ref, PreTrainedTokenizerBase):
        return ref
    name = _resolve(ref, "tokenizer", "tokenizer_config.json")
    try:
        return from_folder_or_hub(AutoTokenizer.from_pretrained, name, what="tokenizer")
    except RetokError:
        raise
    except Exception as err:  # transformers raises OSError, ValueError, hub errors...
        raise RetokError(f"cannot load the tokenizer from {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def model_rows(ref: str | os.PathLike | PreTrainedModel) -> int:
    """The number of embedding rows (``vocab_size``) of a model, read from its config without loading the weights."""
    if isinstance(ref, PreTrainedModel):
        return int(ref.get_input_embeddings().weight.shape[0])
    from transformers import AutoConfig

    name = _resolve(ref, "causal language model", "config.json")
    try:
        config = from_folder_or_hub(AutoConfig.from_pretrained, name, what="model config")
    except RetokError:
        raise
    except Exception as err:
        raise RetokError(f"cannot read the model config of {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text.vocab_size)


def load_model(ref: str | os.PathLike | PreTrainedModel, *, dtype: str = "float32", **kwargs: Any) -> PreTrainedModel:
    """A causal LM object, or load one from a folder / hub id (eval mode)."""
    if isinstance(ref, PreTrainedModel):
        return ref
    if dtype not in DTYPES:
        raise RetokError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    name = _resolve(ref, "causal language model", "config.json")
    check_folder(name, fix="save or copy the model again")  # a local folder's weight files: truncated ones are named
    try:
        with hf_progress_bars(bars_on()):  # "Loading weights" bars only on a terminal, not once per load in a log
            model = from_folder_or_hub(AutoModelForCausalLM.from_pretrained, name, what="causal language model", dtype=DTYPES[dtype], **kwargs)
    except RetokError:
        raise
    except Exception as err:
        raise RetokError(f"cannot load a causal language model from {name!r}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return model.eval()
