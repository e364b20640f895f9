import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from retok import RetokError, read_retok_config, transplant
from retok.transfer.initializers import INITIALIZERS
from retok.testing import ENGLISH, GERMAN, tiny_donor, tiny_llama, tiny_tokenizer

TEXT = "Click the Undo icon if you do not like the result."


def logits(model, tokenizer, text):
    with torch.no_grad():
        return model(torch.tensor([tokenizer.encode(text, add_special_tokens=False)])).logits


@pytest.mark.parametrize("method", INITIALIZERS.names())
def test_same_tokenizer_gives_identical_logits(method, english_model, english_tokenizer, hypernet_for):
    options = {"hypernet": hypernet_for(english_model, english_tokenizer)} if method == "hypernet" else {}
    if INITIALIZERS.get(method).needs_donor:
        options["donor"] = tiny_donor(english_tokenizer)
    before = logits(english_model, english_tokenizer, TEXT)
    transplant(english_model, english_tokenizer, method, old_tokenizer=english_tokenizer, **options)
    assert torch.equal(logits(english_model, english_tokenizer, TEXT), before)


def test_saved_folder_loads_with_plain_transformers_and_gives_the_same_logits(tmp_path, english_model, english_tokenizer, german_tokenizer, tie):
    result = transplant(english_model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    expected = logits(result.model, german_tokenizer, GERMAN[1])
    out = result.save_pretrained(tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert torch.allclose(logits(model, tokenizer, GERMAN[1]), expected, atol=1e-6)
    assert model.config.tie_word_embeddings == tie
    assert model.config.vocab_size == len(german_tokenizer)
    config = json.loads((out / "retok_config.json").read_text())
    assert config["method"] == "fvt" and config["options"]["seed"] == 0
    assert config["report"]["alignment"]["new"] == len(result.new_token_ids)
    assert read_retok_config(out)["new_token_ids"] == result.new_token_ids


def test_tied_head_stays_tied_after_transplant(english_tokenizer, german_tokenizer):
    model = tiny_llama(len(english_tokenizer), tie=True)
    transplant(model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_special_token_ids_follow_the_new_tokenizer(english_tokenizer):
    # a target whose specials sit at other ids than the source's
    german = tiny_tokenizer(GERMAN)
    german.add_special_tokens({"additional_special_tokens": ["<|tool|>"]})
    model = tiny_llama(len(english_tokenizer))
    model.config.eos_token_id = english_tokenizer.eos_token_id
    result = transplant(model, german, "mean", old_tokenizer=english_tokenizer)
    assert model.config.eos_token_id == german.eos_token_id
    assert model.generation_config.pad_token_id == german.pad_token_id
    assert result.report.counts["special-mean"] == 1  # <|tool|> had no counterpart


def test_chat_template_keeps_working(english_model, english_tokenizer, german_tokenizer):
    german_tokenizer = tiny_tokenizer(GERMAN)
    german_tokenizer.chat_template = None
    result = transplant(english_model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    messages = [{"role": "user", "content": "Hallo"}]
    rendered = result.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == english_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "chat template copied" in " ".join(result.notes)


def test_generation_runs_on_the_transplanted_model(english_model, english_tokenizer, german_tokenizer):
    result = transplant(english_model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    ids = torch.tensor([german_tokenizer.encode("Das Haus", add_special_tokens=False)])
    out = result.model.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 5 or out[0, -1].item() == german_tokenizer.eos_token_id


def test_old_tokenizer_larger_than_the_model_is_refused(german_tokenizer):
    big = tiny_tokenizer(ENGLISH * 30, vocab_size=500)
    model = tiny_llama(300)
    with pytest.raises(RetokError, match="does not belong to this model"):
        transplant(model, german_tokenizer, "fvt", old_tokenizer=big)
    assert model.get_input_embeddings().weight.shape[0] == 300


def test_new_tokenizer_missing_a_required_special_is_refused_and_model_unchanged(english_tokenizer):
    german = tiny_tokenizer(GERMAN)
    german.bos_token = None
    german.eos_token = None
    model = tiny_llama(len(english_tokenizer))
    model.config.eos_token_id = 2
    # remove <|im_end|> from the new vocabulary entirely: rebuild without it
    from tokenizers import Tokenizer

    spec = json.loads(german.backend_tokenizer.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] != "<|im_end|>"]
    spec["model"]["vocab"].pop("<|im_end|>")
    from transformers import PreTrainedTokenizerFast

    stripped = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), unk_token="<|endoftext|>")
    before = model.get_input_embeddings().weight.clone()
    with pytest.raises(RetokError, match=r"no counterpart for '<\|im_end\|>', the model's eos_token_id"):
        transplant(model, stripped, "fvt", old_tokenizer=english_tokenizer)
    assert torch.equal(model.get_input_embeddings().weight, before)


def test_unknown_method_fails_before_loading_anything():
    with pytest.raises(RetokError, match="Did you mean 'gaussian'"):
        transplant("/nonexistent/model", "/nonexistent/tok", "gausian")


def test_missing_model_path_says_what_is_wrong(german_tokenizer):
    with pytest.raises(RetokError, match="neither a folder with config.json nor a reachable hub id"):
        transplant("/nonexistent/model", german_tokenizer, "fvt")


def test_existing_output_is_not_overwritten_without_the_flag(tmp_path, english_model, english_tokenizer, german_tokenizer):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = transplant(english_model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    with pytest.raises(RetokError, match="already exists; pass --overwrite"):
        result.save_pretrained(out)
    assert (out / "keep.txt").read_text() == "precious"
    result.save_pretrained(out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "retok_config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folders left behind
