"""retok.transfer.sharded: a checkpoint transplanted by editing only its embedding tensors.

The invariants: the checkpoint path and the in-memory path write the same tensors; onto its own
tokenizer every tensor comes out byte-identical; every tensor but the embeddings is the source's,
byte for byte; shards follow the source or ``max_shard_size``; bad checkpoints are refused in one line
and nothing is half-written.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from retok import transplant
from retok.errors import RetokError
from retok.testing import GERMAN, saved_tensors, tiny_llama, tiny_tokenizer
from retok.transfer.padding import find_padding, padded_rows, padding_rows
from retok.transfer.sharded import budget as budget_module
from retok.transfer.sharded import writer as writer_module
from retok.transfer.sharded.files import Checkpoint
from retok.transfer.sharded.writer import parse_size
from retok.transfer.transplant import specials_summary


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tokenizers():
    return tiny_tokenizer(), tiny_tokenizer(GERMAN)


def save_model(folder: Path, tokenizer, *, tie: bool, dtype=torch.float32, shard: str | None = None) -> Path:
    model = tiny_llama(len(tokenizer), tie=tie, hidden=64).to(dtype)
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("method", ["fvt", "mean", "gaussian", "compose"])
def test_checkpoint_and_in_memory_paths_write_identical_tensors(tmp_path, tokenizers, tie, dtype, method):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=tie, dtype=dtype)
    transplant(src, new, method, lazy=True).save_pretrained(tmp_path / "lazy")
    transplant(src, new, method, lazy=False).save_pretrained(tmp_path / "memory")
    lazy, memory = saved_tensors(tmp_path / "lazy"), saved_tensors(tmp_path / "memory")
    assert lazy.keys() == memory.keys()
    assert all(lazy[k] == memory[k] for k in lazy)
    assert lazy["model.embed_tokens.weight"][0] == str(dtype)  # written in the checkpoint's own dtype


def test_identity_on_a_sharded_checkpoint_keeps_every_tensor_and_the_shards(tmp_path, tokenizers, tie):
    old, _ = tokenizers
    src = save_model(tmp_path / "src", old, tie=tie, shard="40KB")
    assert len(list(src.glob("*.safetensors"))) > 2
    before = digest(src)
    result = transplant(src, old, "fvt")
    assert result.in_memory is None  # nothing but the embeddings was read
    result.save_pretrained(tmp_path / "out")
    assert saved_tensors(tmp_path / "out") == saved_tensors(src)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.safetensors")) == sorted(p.name for p in src.glob("*.safetensors"))
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert index["weight_map"] == json.loads((src / "model.safetensors.index.json").read_text())["weight_map"]
    assert digest(src) == before  # the source is never modified


def test_non_embedding_tensors_are_copied_byte_for_byte(tmp_path, tokenizers, tie):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=tie, shard="40KB")
    transplant(src, new, "fvt").save_pretrained(tmp_path / "out")
    source, out = saved_tensors(src), saved_tensors(tmp_path / "out")
    changed = {k for k in source if source[k] != out.get(k)}
    assert changed == ({"model.embed_tokens.weight"} if tie else {"model.embed_tokens.weight", "lm_head.weight"})
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["vocab_size"] == out["model.embed_tokens.weight"][1][0] == len(new)


def test_max_shard_size_reshards_the_output(tmp_path, tokenizers):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True)
    transplant(src, new, "fvt").save_pretrained(tmp_path / "out", max_shard_size="30KB")
    files = list((tmp_path / "out").glob("*.safetensors"))
    assert len(files) > 2 and all(f.stat().st_size < 30_000 + 2 * 64 * 300 * 4 for f in files)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert model.get_input_embeddings().weight.shape[0] == len(new)


def test_a_tied_head_stored_in_the_checkpoint_gets_the_new_rows(tmp_path, tokenizers):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True)
    from safetensors.torch import load_file, save_file

    weights = load_file(src / "model.safetensors")
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"].clone()  # some tied checkpoints store both
    save_file(weights, src / "model.safetensors", metadata={"format": "pt"})
    transplant(src, new, "fvt").save_pretrained(tmp_path / "out")
    out = load_file(tmp_path / "out" / "model.safetensors")
    assert torch.equal(out["lm_head.weight"], out["model.embed_tokens.weight"]) and out["lm_head.weight"].shape[0] == len(new)


def test_the_model_attribute_loads_the_same_model_that_is_saved(tmp_path, tokenizers):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=False)
    result = transplant(src, new, "fvt")
    result.save_pretrained(tmp_path / "out")
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    ids = torch.tensor([[1, 5, 9, 20]])
    assert torch.equal(result.model(ids).logits, saved(ids).logits)


# --- refusals: one line, nothing written --------------------------------------------------


def test_pickle_only_weights_are_refused_without_allow_pickle(tmp_path, tokenizers):
    old, new = tokenizers
    src = tmp_path / "src"
    tiny_llama(len(old)).save_pretrained(src)
    old.save_pretrained(src)
    (src / "model.safetensors").unlink()
    torch.save({}, src / "pytorch_model.bin")
    for lazy in (None, True, False):
        with pytest.raises(RetokError, match="pickle.*allow-pickle"):
            transplant(src, new, "fvt", lazy=lazy)


def test_a_shard_missing_from_the_index_is_named(tmp_path, tokenizers):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, shard="40KB")
    victim = sorted(src.glob("*.safetensors"))[1]
    victim.unlink()
    with pytest.raises(RetokError, match=f"incomplete.*{victim.name}"):
        transplant(src, new, "fvt")


def test_a_truncated_shard_is_named(tmp_path, tokenizers):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, shard="40KB")
    victim = sorted(src.glob("*.safetensors"))[-1]
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(RetokError, match=f"{victim.name} is damaged.*truncated"):
        transplant(src, new, "fvt")


def test_too_little_memory_or_disk_is_refused_before_any_work(tmp_path, tokenizers, monkeypatch):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True)
    monkeypatch.setattr(budget_module, "available_memory", lambda: 1000)
    with pytest.raises(RetokError, match="not enough memory.*--no-check-resources"):
        transplant(src, new, "fvt")
    result = transplant(src, new, "fvt", check_resources=False)
    monkeypatch.setattr(budget_module, "free_disk", lambda path: 1000)
    with pytest.raises(RetokError, match="not enough disk space.*--no-check-resources"):
        result.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result.save_pretrained(tmp_path / "out", check_resources=False)
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_an_interrupt_mid_write_leaves_nothing(tmp_path, tokenizers, monkeypatch):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, shard="40KB")
    before = digest(src)
    result = transplant(src, new, "fvt")
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = writer_module.copy_range
    monkeypatch.setattr(writer_module, "copy_range", interrupted)
    with pytest.raises(KeyboardInterrupt):
        result.save_pretrained(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no output, no temporary folder
    assert digest(src) == before


def test_a_cached_hub_id_takes_the_checkpoint_path(tmp_path, tokenizers, monkeypatch):
    old, new = tokenizers
    repo = tmp_path / "hub" / "models--someone--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    save_model(snapshot, old, tie=True)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    result = transplant("someone/tiny", new, "fvt")
    assert result.checkpoint is not None and result.in_memory is None
    result.save_pretrained(tmp_path / "out")
    assert saved_tensors(tmp_path / "out")["model.embed_tokens.weight"][1][0] == len(new)


# --- pure pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "used", "multiple"),
    [(50304, 50257, 128), (128320, 128257, 64), (151936, 151665, None), (300, 300, None)],
)
def test_find_padding_names_the_multiple(rows, used, multiple):
    assert find_padding(rows, used).multiple == multiple


def test_padded_rows_keep_the_shape_for_the_same_ids_and_the_multiple_otherwise():
    gpt2 = find_padding(50304, 50257)
    assert padded_rows(gpt2, 50257) == 50304
    assert padded_rows(gpt2, 32000) == 32000 and padded_rows(gpt2, 32001) == 32128
    qwen = find_padding(151936, 151665)
    assert padded_rows(qwen, 151665) == 151936 and padded_rows(qwen, 32000) == 32000 + 271


def test_padding_rows_copy_the_source_rows_then_their_mean():
    source = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(padding_rows(source, 2), source[:2])
    assert torch.equal(padding_rows(source, 4)[3], source.mean(0))


@pytest.mark.parametrize(("text", "size"), [("5GB", 5 * 10**9), ("500MiB", 500 * 2**20), ("2kb", 2000), (7, 7)])
def test_parse_size_reads_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["five", "0GB", "-1MB"])
def test_parse_size_refuses_nonsense(text):
    with pytest.raises(RetokError):
        parse_size(text)


def test_specials_summary_stays_short_for_hundreds_of_specials():
    specials = {f"<|reserved_{i}|>": "mean row" for i in range(250)} | {"<s>": "<s> (bos_token role)"}
    line = specials_summary(specials)
    assert len(line) < 300 and "250 mean row" in line and "1 by role" in line


def test_checkpoint_reads_one_tensor_in_its_dtype(tmp_path, tokenizers):
    old, _ = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, dtype=torch.bfloat16)
    ckpt = Checkpoint(src)
    weight = ckpt.read("model.embed_tokens.weight")
    mapped = ckpt.mapped("model.embed_tokens.weight").tensor
    assert weight.dtype == torch.bfloat16 and torch.equal(weight, mapped)


def test_a_new_tokenizer_with_ids_far_beyond_its_entries_is_refused():
    from retok.transfer.transplant import check_new_tokenizer

    class FarIds:  # transformers renumbers such files on load; a hand-built tokenizer object can still hold them
        def get_vocab(self):
            return {"a": 0, "b": 1, "<far>": 100_000}

    with pytest.raises(RetokError, match="ids up to 100000.*renumber"):
        check_new_tokenizer(FarIds())


def test_transplant_straight_to_a_folder_writes_what_save_pretrained_writes(tmp_path, tokenizers, tie):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=tie, dtype=torch.bfloat16, shard="40KB")
    transplant(src, new, "fvt", out=tmp_path / "direct")
    transplant(src, new, "fvt").save_pretrained(tmp_path / "two-step")
    assert saved_tensors(tmp_path / "direct") == saved_tensors(tmp_path / "two-step")
    for name in ("config.json", "model.safetensors.index.json", "tokenizer.json"):
        assert (tmp_path / "direct" / name).read_text() == (tmp_path / "two-step" / name).read_text()


def test_a_failure_while_computing_stops_the_copy_and_leaves_nothing(tmp_path, tokenizers, monkeypatch):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, shard="40KB")
    from retok.transfer.initializers import base

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "source_statistics", broken)
    with pytest.raises(KeyboardInterrupt):
        transplant(src, new, "fvt", out=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_failure_in_the_copy_is_raised_and_leaves_nothing(tmp_path, tokenizers, monkeypatch):
    old, new = tokenizers
    src = save_model(tmp_path / "src", old, tie=True, shard="40KB")

    def failing(*args, **kwargs):
        raise RetokError("disk gone")

    monkeypatch.setattr(writer_module, "copy_range", failing)
    with pytest.raises(RetokError, match="disk gone"):
        transplant(src, new, "fvt", out=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
