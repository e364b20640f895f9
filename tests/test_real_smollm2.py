"""Integration tests on the real SmolLM2-135M and German LibreOffice text (built into the cache on first use)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from retok import transplant
from retok.assets.store import lohelp, smollm2
from retok.data import held_out_text, train_paragraphs
from retok.eval import bits_per_byte
from retok.transfer.initializers import INITIALIZERS
from retok.loading import load_model, load_tokenizer
from retok.vocab.train import train_tokenizer

pytestmark = pytest.mark.slow

SENTENCE = "Wenn Ihnen das Ergebnis nicht gefällt, klicken Sie auf das Symbol Rückgängig."


@pytest.fixture(scope="module")
def model_dir():
    return smollm2()


@pytest.fixture(scope="module")
def german_corpus():
    return lohelp().text("de")


@pytest.fixture(scope="module")
def german_tokenizer(model_dir, german_corpus):
    # 8k instead of the demo's 32k keeps training to a few seconds; the code path is the same
    return train_tokenizer(train_paragraphs(german_corpus), vocab_size=8000, like=load_tokenizer(model_dir), progress=False)


def logits(model, tokenizer, text):
    with torch.inference_mode():
        return model(torch.tensor([tokenizer.encode(text, add_special_tokens=False)])).logits


@pytest.mark.parametrize("method", INITIALIZERS.names())
def test_same_tokenizer_reproduces_the_original_logits_exactly(method, model_dir, hypernet_for):
    options = {"hypernet": hypernet_for(model_dir)} if method == "hypernet" else {}
    if INITIALIZERS.get(method).needs_donor:
        options["donor"] = model_dir  # the model is its own donor: every token is shared
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    before = logits(model, tokenizer, SENTENCE)
    result = transplant(model, tokenizer, method, **options)
    assert result.report.alignment["new"] == 0
    assert torch.equal(logits(model, tokenizer, SENTENCE), before)


def test_german_transplant_round_trips_through_plain_transformers(tmp_path, model_dir, german_tokenizer):
    result = transplant(load_model(model_dir), german_tokenizer, "fvt")
    assert result.model.config.vocab_size == len(german_tokenizer) == 8000
    assert result.model.lm_head.weight.data_ptr() == result.model.model.embed_tokens.weight.data_ptr()
    expected = logits(result.model, german_tokenizer, SENTENCE)
    out = result.save_pretrained(tmp_path / "smollm2-de")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert torch.allclose(logits(model, tokenizer, SENTENCE), expected, atol=1e-5)
    # special tokens and the chat template survive: ids line up with the model's config
    assert tokenizer.convert_ids_to_tokens(model.config.eos_token_id) == "<|im_end|>"
    assert tokenizer.convert_ids_to_tokens(model.config.bos_token_id) == "<|im_start|>"
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Hallo"}], tokenize=False, add_generation_prompt=True)
    assert chat.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nHallo<|im_end|>" in chat
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Hallo"}], add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in ids


def test_original_model_bpb_on_held_out_german_is_sane(model_dir, german_corpus):
    text = held_out_text(german_corpus, max_bytes=4096)
    result = bits_per_byte(load_model(model_dir), load_tokenizer(model_dir), text, progress=False)
    # the full 64 KiB protocol gives 1.961; a 4 KiB slice lands near it, far below uniform (log2 49152 * 0.37 = 5.7)
    assert 1.5 < result.bpb < 2.5
    assert 0.3 < result.tokens_per_byte < 0.45


def test_fvt_beats_mean_and_compose_beats_fvt_on_held_out_german(model_dir, german_corpus, german_tokenizer):
    text = held_out_text(german_corpus, max_bytes=4096)
    scores = {}
    for method in ("mean", "fvt", "compose"):
        result = transplant(load_model(model_dir), german_tokenizer, method)
        scores[method] = bits_per_byte(result.model, german_tokenizer, text, progress=False).bpb
    assert scores["compose"] < scores["fvt"] < scores["mean"]
