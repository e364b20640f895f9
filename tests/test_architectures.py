"""The architecture matrix of issue 26: every causal-LM family of tests/architectures.py, tied and untied.

For each family: a transplant onto the model's own tokenizer keeps the logits bit for bit; a
transplant onto another tokenizer saves a folder that plain ``transformers`` loads and generates
with; the lazy (tensor-streaming) and in-memory paths write the same tensors, and the lazy
identity transplant writes the source's tensors unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

import retok
from architectures import ARCHITECTURES, SPECIAL_IDS, tiny_model
from retok.testing import ENGLISH, GERMAN

FAMILIES = pytest.mark.parametrize("name", list(ARCHITECTURES))


def fixed_input(tokenizer, text: str) -> torch.Tensor:
    """``<bos> text`` as a (1, T) batch."""
    return torch.tensor([[SPECIAL_IDS["bos_token_id"], *tokenizer(text, add_special_tokens=False)["input_ids"]]])


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def saved_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor in the folder's ``*.safetensors`` files, merged (one file or shards)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    assert files, f"no safetensors file in {folder}"
    tensors: dict[str, torch.Tensor] = {}
    for file in files:
        part = load_file(file)
        assert not set(part) & set(tensors), f"{file.name} repeats tensors of another shard"
        tensors.update(part)
    return tensors


def byte_identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))


def saved_model(tmp_path: Path, name: str, tokenizer, tie: bool) -> Path:
    folder = tmp_path / "source"
    tiny_model(name, len(tokenizer), tie).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def assert_identity_keeps_logits(model, tokenizer) -> None:
    before = copy.deepcopy(model)
    ids = fixed_input(tokenizer, ENGLISH[0])

    result = retok.transplant(model, tokenizer, "fvt", old_tokenizer=tokenizer)

    expected, got = logits(before, ids), logits(result.model, ids)
    assert got.shape == expected.shape
    assert torch.equal(got, expected), f"max |diff| {(got - expected).abs().max().item():.3g}"


@FAMILIES
def test_identity_transplant_keeps_logits(name, tie, english_tokenizer):
    assert_identity_keeps_logits(tiny_model(name, len(english_tokenizer), tie), english_tokenizer)


@pytest.mark.parametrize("name", ["llama", "qwen2", "gpt2", "phi"])
def test_identity_transplant_keeps_logits_of_a_padded_vocabulary(name, tie, english_tokenizer):
    # 320 rows for 300 ids, as Qwen and GPT-2-style checkpoints pad to a multiple (phi: the head bias is padded too)
    assert_identity_keeps_logits(tiny_model(name, 320, tie), english_tokenizer)


@FAMILIES
def test_transplant_saves_folder_that_plain_transformers_loads_and_generates(name, tie, english_tokenizer, german_tokenizer, tmp_path):
    model = tiny_model(name, len(english_tokenizer), tie)
    out = retok.transplant(model, german_tokenizer, "fvt", old_tokenizer=english_tokenizer).save_pretrained(tmp_path / "out")

    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    rows = loaded.get_input_embeddings().weight.shape[0]
    assert loaded.config.vocab_size == rows
    assert rows >= len(german_tokenizer)
    head = loaded.get_output_embeddings()
    assert head.weight.shape[0] == rows
    if getattr(head, "bias", None) is not None:
        assert head.bias.shape == (rows,)
    assert (head.weight.data_ptr() == loaded.get_input_embeddings().weight.data_ptr()) == tie
    ids = fixed_input(german_tokenizer, GERMAN[0])
    with torch.no_grad():
        generated = loaded.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False)
    assert generated.shape == (1, ids.shape[1] + 3)
    assert int(generated.max()) < rows


@FAMILIES
def test_lazy_and_in_memory_transplants_write_equal_tensors(name, tie, english_tokenizer, german_tokenizer, tmp_path):
    folder = saved_model(tmp_path, name, english_tokenizer, tie)

    lazy = retok.transplant(folder, german_tokenizer, "fvt", lazy=True).save_pretrained(tmp_path / "lazy")
    eager = retok.transplant(folder, german_tokenizer, "fvt", lazy=False).save_pretrained(tmp_path / "in-memory")

    a, b = saved_tensors(lazy), saved_tensors(eager)
    assert sorted(a) == sorted(b)
    differ = [key for key in a if not torch.equal(a[key], b[key])]
    assert not differ, f"lazy and in-memory differ in {differ}"


@FAMILIES
def test_lazy_identity_transplant_writes_source_tensors_byte_identical(name, tie, english_tokenizer, tmp_path):
    folder = saved_model(tmp_path, name, english_tokenizer, tie)

    out = retok.transplant(folder, english_tokenizer, "fvt", lazy=True).save_pretrained(tmp_path / "out")

    source, written = saved_tensors(folder), saved_tensors(out)
    assert sorted(written) == sorted(source)
    differ = [key for key in source if not byte_identical(source[key], written[key])]
    assert not differ, f"changed by an identity transplant: {differ}"
