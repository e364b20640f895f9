"""ZeTT's transfer to a fine-tuned variant: ``transplant(ft, tok, method, base_model=, swapped_base=, delta_scale=)``.

The initializer reads the base model's embeddings and writes the result into the fine-tuned model;
with a swapped base, the fine-tuned weights also get ``delta_scale`` x the swapped base's change.
"""

import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from retok import RetokError, transplant
from retok.cli import main
from retok.loading import load_model
from retok.testing import GERMAN, tiny_llama, tiny_tokenizer

# The embedding parameters of the tiny Llama, written out here (not taken from retok) so that a wrong split fails.
EMBEDDING_PARAMETERS = {"model.embed_tokens.weight", "lm_head.weight"}


def non_embedding(model):
    return {name: p.detach().clone() for name, p in model.named_parameters() if name not in EMBEDDING_PARAMETERS}


def embeddings(model):
    return model.get_input_embeddings().weight.detach().clone(), model.get_output_embeddings().weight.detach().clone()


def saved(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def perturbed(model, seed):
    """``model`` with seeded noise on every weight, embeddings included: a stand-in for continued training."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=generator))
    return model


@pytest.fixture
def base_dir(tmp_path, english_tokenizer, tie):
    return saved(tiny_llama(len(english_tokenizer), tie=tie, seed=0), english_tokenizer, tmp_path / "base")


@pytest.fixture
def finetuned(english_tokenizer, tie):
    """A 'fine-tuned variant' of the base: same architecture and vocabulary, every weight different."""
    return tiny_llama(len(english_tokenizer), tie=tie, seed=1)


@pytest.fixture
def swapped_dir(tmp_path, base_dir, german_tokenizer):
    """The base after its own swap to the German tokenizer and some 'continued training'."""
    swapped = perturbed(transplant(load_model(base_dir), german_tokenizer, "fvt").model, seed=2)
    return saved(swapped, german_tokenizer, tmp_path / "swapped")


def test_base_model_gives_the_base_transplants_embeddings_and_keeps_the_finetuned_weights(
    base_dir, finetuned, english_tokenizer, german_tokenizer, tie
):
    kept = non_embedding(finetuned)
    result = transplant(finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir)
    expected = transplant(load_model(base_dir), german_tokenizer, "fvt").model
    got = non_embedding(result.model)
    assert got.keys() == kept.keys() and all(torch.equal(got[n], kept[n]) for n in kept)
    assert all(torch.equal(a, b) for a, b in zip(embeddings(result.model), embeddings(expected)))
    assert result.model.config.vocab_size == len(german_tokenizer)
    assert (result.model.lm_head.weight.data_ptr() == result.model.model.embed_tokens.weight.data_ptr()) == tie
    assert result.finetuned_transfer == {"base_model": str(base_dir), "swapped_base": None, "delta_scale": None}


@pytest.mark.parametrize("delta_scale", [0.5, None], ids=["0.5", "default"])
def test_swapped_base_adds_half_its_weight_change_and_gives_its_embeddings(
    tmp_path, base_dir, swapped_dir, finetuned, english_tokenizer, german_tokenizer, delta_scale
):
    ft, base, swapped = non_embedding(finetuned), non_embedding(load_model(base_dir)), non_embedding(load_model(swapped_dir))
    result = transplant(
        finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir,
        swapped_base=swapped_dir, delta_scale=delta_scale,
    )
    got = non_embedding(result.model)
    assert got.keys() == ft.keys()
    for name in ft:
        assert torch.allclose(got[name], ft[name] + 0.5 * (swapped[name] - base[name]), rtol=0, atol=1e-6), name
        assert not torch.equal(got[name], ft[name]), name  # the delta was really added
    assert all(torch.equal(a, b) for a, b in zip(embeddings(result.model), embeddings(load_model(swapped_dir))))
    config = json.loads((result.save_pretrained(tmp_path / "out") / "retok_config.json").read_text())
    assert config["finetuned_transfer"] == {"base_model": str(base_dir), "swapped_base": str(swapped_dir), "delta_scale": 0.5}


def test_zero_delta_scale_keeps_the_finetuned_weights_exactly(base_dir, swapped_dir, finetuned, english_tokenizer, german_tokenizer):
    kept = non_embedding(finetuned)
    result = transplant(
        finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir,
        swapped_base=swapped_dir, delta_scale=0,
    )
    got = non_embedding(result.model)
    assert got.keys() == kept.keys() and all(torch.equal(got[n], kept[n]) for n in kept)
    assert all(torch.equal(a, b) for a, b in zip(embeddings(result.model), embeddings(load_model(swapped_dir))))


def test_base_with_another_vocabulary_is_refused_and_the_model_unchanged(tmp_path, finetuned, english_tokenizer, german_tokenizer, tie):
    other = saved(tiny_llama(len(english_tokenizer), tie=tie), german_tokenizer, tmp_path / "other-base")
    before = embeddings(finetuned)
    with pytest.raises(RetokError, match=r"the fine-tuned model's tokenizer and the base model .* have different vocabularies \(.* ids differ"):
        transplant(finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=other)
    assert all(torch.equal(a, b) for a, b in zip(embeddings(finetuned), before))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_model": "/nonexistent/base", "delta_scale": 0.5}, r"--delta-scale \(delta_scale=\) needs --swapped-base DIR"),
        ({"swapped_base": "/nonexistent/swapped"}, r"--swapped-base \(swapped_base=\) needs --base-model"),
        ({"swapped_base": "/nonexistent/swapped", "delta_scale": 0.5}, r"needs --base-model"),
        *[
            ({"base_model": "/nonexistent/base", "swapped_base": "/nonexistent/swapped", "delta_scale": bad}, "must be a finite number >= 0")
            for bad in (-0.1, math.nan, math.inf, "0.5")
        ],
    ],
)
def test_a_wrong_combination_of_finetuned_options_fails_before_loading(kwargs, message, german_tokenizer):
    with pytest.raises(RetokError, match=message):
        transplant("/nonexistent/model", german_tokenizer, "fvt", **kwargs)


def test_swapped_base_with_another_vocabulary_than_the_new_tokenizer_is_refused(
    base_dir, swapped_dir, finetuned, english_tokenizer
):
    # the swapped base speaks German; the transplant asks for the English tokenizer
    with pytest.raises(RetokError, match=r"the swapped base .* and the new tokenizer have different vocabularies"):
        transplant(finetuned, english_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir, swapped_base=swapped_dir)


def test_swapped_base_with_other_rows_or_parameters_is_refused_by_name(
    tmp_path, base_dir, finetuned, english_tokenizer, german_tokenizer, tie
):
    extra_rows = saved(tiny_llama(len(german_tokenizer) + 8, tie=tie), german_tokenizer, tmp_path / "extra-rows")
    with pytest.raises(RetokError, match=rf"has {len(german_tokenizer) + 8} embedding rows but the new tokenizer has {len(german_tokenizer)}"):
        transplant(finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir, swapped_base=extra_rows)
    deeper = saved(tiny_llama(len(german_tokenizer), tie=tie, layers=3), german_tokenizer, tmp_path / "deeper")
    with pytest.raises(RetokError, match=r"parameter 'model\.layers\.2\.self_attn\.q_proj\.weight' differs .* \(missing\) and the swapped base"):
        transplant(finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer, base_model=base_dir, swapped_base=deeper)


def test_chat_template_comes_from_the_finetuned_tokenizer(tmp_path, base_dir, finetuned, english_tokenizer):
    ft_tokenizer = tiny_tokenizer()
    assert ft_tokenizer.get_vocab() == english_tokenizer.get_vocab()
    ft_tokenizer.chat_template = "{% for m in messages %}<|im_start|>FINE-TUNED {{ m['content'] }}<|im_end|>{% endfor %}"
    ft_dir = saved(finetuned, ft_tokenizer, tmp_path / "ft")
    new = tiny_tokenizer(GERMAN)
    new.chat_template = None
    result = transplant(ft_dir, new, "fvt", base_model=base_dir)
    assert result.tokenizer.chat_template == ft_tokenizer.chat_template != english_tokenizer.chat_template


def test_plain_transplant_records_no_finetuned_transfer(tmp_path, finetuned, english_tokenizer, german_tokenizer):
    result = transplant(finetuned, german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    assert result.finetuned_transfer is None
    assert "finetuned_transfer" not in json.loads((result.save_pretrained(tmp_path / "out") / "retok_config.json").read_text())


def test_cli_base_model_and_swapped_base_are_recorded_in_retok_config(tmp_path, base_dir, finetuned, english_tokenizer, german_tokenizer):
    ft_dir = saved(finetuned, english_tokenizer, tmp_path / "ft")
    tok = tmp_path / "tok-de"
    german_tokenizer.save_pretrained(tok)
    out = tmp_path / "out"
    assert main(["transplant", "--model", str(ft_dir), "--tokenizer", str(tok), "--base-model", str(base_dir), "--out", str(out)]) == 0
    config = json.loads((out / "retok_config.json").read_text())
    assert config["finetuned_transfer"] == {"base_model": str(base_dir), "swapped_base": None, "delta_scale": None}
    swapped = tmp_path / "swapped"
    assert main(["transplant", "--model", str(base_dir), "--tokenizer", str(tok), "--out", str(swapped)]) == 0
    argv = ["transplant", "--model", str(ft_dir), "--tokenizer", str(tok), "--base-model", str(base_dir),
            "--swapped-base", str(swapped), "--delta-scale", "0.25", "--out", str(out), "--overwrite"]
    assert main(argv) == 0
    config = json.loads((out / "retok_config.json").read_text())
    assert config["finetuned_transfer"] == {"base_model": str(base_dir), "swapped_base": str(swapped), "delta_scale": 0.25}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--delta-scale", "0.5"], "--delta-scale (delta_scale=) needs --swapped-base DIR"),
        (["--swapped-base", "S"], "--swapped-base (swapped_base=) needs --base-model"),
        (["--base-model", "B", "--swapped-base", "S", "--delta-scale", "-1"], "--delta-scale: must be >= 0.0; got -1"),
    ],
)
def test_cli_wrong_finetuned_flags_exit_2_with_one_line(extra, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["transplant", "--model", "M", "--tokenizer", "T", "--out", "O", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("retok: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "O").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fvt", "hypernet"])
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # peft 0.21 asks transformers 5 for it
def test_finetuned_smollm2_keeps_its_merged_weights_and_its_folder_loads_with_plain_transformers(tmp_path, method, hypernet_for):
    from peft import LoraConfig, get_peft_model

    from retok.assets.store import smollm2
    from retok.loading import load_tokenizer
    from retok.vocab.train import train_tokenizer

    base_dir = smollm2()
    base_tokenizer = load_tokenizer(base_dir)
    base = load_model(base_dir)
    base_q = base.model.layers[0].self_attn.q_proj.weight.detach().clone()
    # a "fine-tuned variant": a LoRA with random (not zero) B matrices, merged into the weights
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.copy_(0.01 * torch.randn(p.shape, generator=generator))
    merged = lora.merge_and_unload()
    assert not torch.equal(merged.model.layers[0].self_attn.q_proj.weight, base_q)
    ft_dir = saved(merged, base_tokenizer, tmp_path / "ft")
    kept = {n: p.detach().clone() for n, p in merged.named_parameters() if n not in EMBEDDING_PARAMETERS}
    del lora, merged, base

    german = train_tokenizer(GERMAN * 4, vocab_size=500, like=base_tokenizer, progress=False)
    options = {"hypernet": hypernet_for(base_dir)} if method == "hypernet" else {}
    result = transplant(ft_dir, german, method, base_model=base_dir, **options)
    got = non_embedding(result.model)
    assert got.keys() == kept.keys() and all(torch.equal(got[n], kept[n]) for n in kept)
    expected = transplant(load_model(base_dir), german, method, **options).model
    assert torch.equal(result.model.get_input_embeddings().weight, expected.get_input_embeddings().weight)
    out = result.save_pretrained(tmp_path / "ft-de")
    loaded = AutoModelForCausalLM.from_pretrained(out)
    assert loaded.config.vocab_size == len(german)
    assert torch.equal(loaded.model.layers[0].self_attn.q_proj.weight, kept["model.layers.0.self_attn.q_proj.weight"])
    assert json.loads((out / "retok_config.json").read_text())["finetuned_transfer"]["base_model"] == str(base_dir)
