"""Session fixtures built in-process from retok.testing (no network)."""

from __future__ import annotations

import os

# No test may touch the network: set before transformers / huggingface_hub are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from retok.testing import GERMAN, tiny_llama, tiny_method_options, tiny_tokenizer  # noqa: E402


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
def method_options(tmp_path_factory, english_tokenizer, german_tokenizer):
    """{method: options} so that every method runs on the tiny fixtures (fastText vectors trained once)."""
    return tiny_method_options(tmp_path_factory.mktemp("vectors"), english_tokenizer, german_tokenizer)
