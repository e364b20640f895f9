"""Dynamic prefill and a large vocabulary on the real SmolLM2-135M and LibreOffice text (small settings)."""

from __future__ import annotations

import pytest
import torch

from retok.assets.store import lohelp, smollm2
from retok.data import held_out_text
from retok.adaptive.dynamic import continuation_bits_per_byte
from retok.transfer.embeddings import TokenEmbeddings
from retok.adaptive.large_vocab.build import LargeVocabConfig, build_large_vocab
from retok.adaptive.large_vocab.decode import LargeVocab
from retok.loading import load_model, load_tokenizer
from retok.transfer.row_predictors import make_predictor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir():
    return smollm2()


@pytest.fixture(scope="module")
def model(model_dir):
    return load_model(model_dir)


def test_merging_a_fifth_of_the_context_costs_little_and_zero_is_the_plain_model(model, model_dir):
    tokenizer = load_tokenizer(model_dir)
    text = held_out_text(lohelp().text("de"), max_bytes=1 << 16)
    predictor = make_predictor("compose", TokenEmbeddings.from_model(model, tokenizer))
    plain = continuation_bits_per_byte(model, tokenizer, text, predictor, reduction=0.0, window=256, batch_size=4, max_windows=4)
    merged = continuation_bits_per_byte(model, tokenizer, text, predictor, reduction=0.2, window=256, batch_size=4, max_windows=4)
    assert plain.context_units == plain.context_tokens and 0.2 <= merged.reduction < 0.25
    assert merged.continuation_bytes == plain.continuation_bytes
    assert plain.bits_per_byte < merged.bits_per_byte < 1.10 * plain.bits_per_byte


def test_a_60k_vocabulary_retrieves_what_exact_scoring_picks(model, model_dir, tmp_path):
    config = LargeVocabConfig(size=60_000, chunk=16_384, index="ivf", nprobe=64)
    out = build_large_vocab(model_dir, tmp_path / "lv", corpus=[lohelp().text("en")], config=config, progress=False)
    lv = LargeVocab.load(out, model)
    states = lv.hidden_states(held_out_text(lohelp().text("en"), max_bytes=8000), max_positions=256)
    assert lv.top1_agreement(states, k=32)["agreement"] >= 0.97
    exact = lv.generate("To insert a table into the document, choose", max_new_tokens=8, exact=True)
    fast = lv.generate("To insert a table into the document, choose", max_new_tokens=8, k=32, include_base=True)
    assert fast.entries == exact.entries and fast.text.strip()
    assert torch.equal(lv.input_row(5), model.get_input_embeddings().weight[5])
