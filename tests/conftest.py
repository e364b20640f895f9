"""Session fixtures built in-process from retok.testing (no network)."""

from __future__ import annotations

import os

# No test may touch the network: set before transformers / huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from retok.testing import GERMAN, tiny_llama, tiny_tokenizer, tiny_vectors as build_tiny_vectors  # noqa: E402


@pytest.fixture(scope="session")
def english_tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def german_tokenizer():
    return tiny_tokenizer(GERMAN)


@pytest.fixture(params=[True, False], ids=["tied", "untied"])
def tie(request) -> bool:
    return request.param


@pytest.fixture
def english_model(english_tokenizer, tie):
    return tiny_llama(len(english_tokenizer), tie=tie)


@pytest.fixture(scope="session")
def tiny_vectors(tmp_path_factory, german_tokenizer):
    """fastText vectors and a dictionary for the tiny fixtures, trained once per session."""
    return build_tiny_vectors(tmp_path_factory.mktemp("vectors"), german_tokenizer)


@pytest.fixture
def model_dir(tmp_path, english_tokenizer):
    """A saved tiny model folder with its (English) tokenizer."""
    path = tmp_path / "model"
    tiny_llama(len(english_tokenizer)).save_pretrained(path)
    english_tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def corpus(tmp_path):
    """A German text file, one paragraph per line."""
    path = tmp_path / "de.txt"
    path.write_text("\n".join(GERMAN * 30) + "\n", encoding="utf-8")
    return path
