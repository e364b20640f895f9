"""Continued training on tiny transplanted models: what trains, merge/export, resume, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from retok import RetokError, bits_per_byte, read_retok_config, transplant
from retok.transfer.embeddings import embedding_module_names, is_tied
from retok.training.finetune import FinetuneConfig, finetune, lr_factor
from retok.training.lora import lora_config_for
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer, two_process_launcher

TRAIN = GERMAN * 6
EVAL = "\n".join(GERMAN[:3])
SMALL = FinetuneConfig(train_bytes=None, seq_len=16, batch_size=4, eval_every=10, checkpoint_every=5, lr=1e-2, embedding_lr=1e-2)


@pytest.fixture
def transplanted(tmp_path, tie) -> Path:
    old = tiny_tokenizer(ENGLISH)
    result = transplant(tiny_llama(len(old), tie=tie), tiny_tokenizer(GERMAN), "fvt", old_tokenizer=old)
    return result.save_pretrained(tmp_path / "transplanted")


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_only_new_rows_train_and_a_tied_head_stays_tied(tmp_path, transplanted, tie):
    before = weights(transplanted)
    out = finetune(transplanted, TRAIN, tmp_path / "out", SMALL, progress=False, log=lambda _: None).out
    after = weights(out)
    new = read_retok_config(transplanted)["new_token_ids"]
    old_rows = [i for i in range(before["model.embed_tokens.weight"].shape[0]) if i not in set(new)]
    emb_before, emb_after = before["model.embed_tokens.weight"], after["model.embed_tokens.weight"]
    assert torch.equal(emb_after[old_rows], emb_before[old_rows])
    assert not torch.equal(emb_after[new], emb_before[new])
    # LoRA merged into the linear layers: the attention weights moved
    assert not torch.equal(after["model.layers.0.self_attn.q_proj.weight"], before["model.layers.0.self_attn.q_proj.weight"])
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.tie_word_embeddings == tie
    if tie:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_merged_folder_scores_the_same_bpb_as_the_adapter_model(tmp_path, transplanted):
    result = finetune(transplanted, TRAIN, tmp_path / "out", SMALL, eval_text=EVAL, progress=False, log=lambda _: None)
    adapter_bpb = [h["bpb"] for h in result.history if "bpb" in h][-1]  # scored on the peft model before merging
    merged = bits_per_byte(AutoModelForCausalLM.from_pretrained(result.out), AutoTokenizer.from_pretrained(result.out), EVAL, progress=False)
    assert merged.bpb == pytest.approx(adapter_bpb, abs=1e-4)
    assert adapter_bpb < [h["bpb"] for h in result.history if "bpb" in h][0]  # training helped on this tiny text
    config = read_retok_config(result.out)
    assert config["method"] == "fvt" and config["finetune"]["steps"] == result.steps
    assert json.loads((result.out / "finetune_history.json").read_text()) == result.history


def test_interrupted_run_resumes_to_the_same_final_weights(tmp_path, transplanted):
    straight = finetune(transplanted, TRAIN, tmp_path / "a", SMALL, progress=False, log=lambda _: None)
    stopped = finetune(transplanted, TRAIN, tmp_path / "b", SMALL, progress=False, log=lambda _: None, stop_after=7)
    assert stopped.steps == 7 and not (tmp_path / "b").exists() and (tmp_path / "b.partial" / "state.pt").exists()
    resumed = finetune(transplanted, TRAIN, tmp_path / "b", SMALL, progress=False, log=lambda _: None)
    a, b = weights(straight.out), weights(resumed.out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "b.partial").exists()


def test_resume_with_other_settings_is_refused(tmp_path, transplanted):
    finetune(transplanted, TRAIN, tmp_path / "b", SMALL, progress=False, log=lambda _: None, stop_after=3)
    other = FinetuneConfig(**{**SMALL.__dict__, "lora_r": 4})
    with pytest.raises(RetokError, match="made with other settings"):
        finetune(transplanted, TRAIN, tmp_path / "b", other, progress=False, log=lambda _: None)


def test_embedding_stage_leaves_lora_at_its_initial_zero(tmp_path, transplanted):
    config = FinetuneConfig(**{**SMALL.__dict__, "embedding_stage_steps": 4})
    finetune(transplanted, TRAIN, tmp_path / "b", config, progress=False, log=lambda _: None, stop_after=4)
    state = torch.load(tmp_path / "b.partial" / "state.pt", weights_only=False)
    lora_b = [v for k, v in state["params"].items() if "lora_B" in k]
    emb = [v for k, v in state["params"].items() if "trainable_tokens" in k]
    assert lora_b and all(torch.count_nonzero(v) == 0 for v in lora_b)
    assert emb and any(torch.count_nonzero(v) > 0 for v in emb)


def test_folder_that_is_not_a_transplant_trains_all_rows_and_says_so(tmp_path, english_tokenizer):
    plain = tmp_path / "plain"
    tiny_llama(len(english_tokenizer)).save_pretrained(plain)
    english_tokenizer.save_pretrained(plain)
    said = []
    result = finetune(plain, ENGLISH * 6, tmp_path / "out", SMALL, progress=False, log=said.append)
    assert any("not a retok transplant): training all embedding rows" in s for s in said)
    assert result.notes and "all embedding rows" in result.notes[0]


def test_bad_inputs_are_refused_with_clear_errors(tmp_path, transplanted):
    with pytest.raises(RetokError, match="eval text is empty"):
        finetune(transplanted, TRAIN, tmp_path / "o", SMALL, eval_text="  \n", progress=False)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Größe der Tabelle\n".encode("latin-1"))
    with pytest.raises(RetokError, match="not valid UTF-8"):
        finetune(transplanted, bad, tmp_path / "o", SMALL, progress=False)
    (tmp_path / "exists").mkdir()
    with pytest.raises(RetokError, match="already exists; pass --overwrite"):
        finetune(transplanted, TRAIN, tmp_path / "exists", SMALL, progress=False)
    with pytest.raises(RetokError, match="fewer than one batch"):
        finetune(transplanted, GERMAN[:1], tmp_path / "o", FinetuneConfig(seq_len=4, batch_size=64), progress=False)


def test_learning_rate_warms_up_then_decays_to_zero():
    assert [round(lr_factor(s, 10, 2), 3) for s in range(10)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]


def tiny_gpt2(tie: bool) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1, n_head=2, tie_word_embeddings=tie))


def test_embedding_module_names_are_found_by_identity_not_spelled_out(tie):
    assert embedding_module_names(tiny_llama(40, tie=tie)) == ("embed_tokens", "lm_head")
    assert embedding_module_names(tiny_gpt2(tie)) == ("wte", "lm_head")  # GPT-2 calls its input embeddings wte
    assert is_tied(tiny_llama(40, tie=tie)) == is_tied(tiny_gpt2(tie)) == tie


def test_lora_config_trains_the_head_rows_only_when_the_head_is_untied(tie):
    model = tiny_gpt2(tie)
    rows = lora_config_for(model, rows=[3, 5])
    assert rows.trainable_token_indices == ({"wte": [3, 5]} if tie else {"wte": [3, 5], "lm_head": [3, 5]})
    assert not rows.modules_to_save
    whole = lora_config_for(model, rows=None)
    assert sorted(whole.modules_to_save) == (["wte"] if tie else ["lm_head", "wte"]) and whole.trainable_token_indices is None
    none = lora_config_for(model, rows=[], r=4, alpha=8)
    assert none.trainable_token_indices is None and not none.modules_to_save and (none.r, none.lora_alpha) == (4, 8)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["lm", "lm+alm"])
def test_two_processes_give_the_same_losses_as_one(tmp_path, objective):
    """DDP over two CPU processes (gloo, :func:`retok.testing.two_process_launcher`) reproduces the single-process run."""
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "finetune.py"
    common = ["--tiny", "--model", str(tmp_path / "m"), "--train-bytes", "None", "--seq-len", "16", "--epochs", "2", "--objective", objective]
    single = [sys.executable, str(recipe), *common, "--out", str(tmp_path / "one"), "--history", str(tmp_path / "one.json")]
    first = subprocess.run(single, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    double = [*two_process_launcher(), str(recipe), *common, "--out", str(tmp_path / "two"), "--history", str(tmp_path / "two.json")]
    run = subprocess.run(double, capture_output=True, text=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "2 process(es)" in run.stdout + run.stderr
    one = [h["loss"] for h in json.loads((tmp_path / "one.json").read_text()) if "loss" in h]
    two = [h["loss"] for h in json.loads((tmp_path / "two.json").read_text()) if "loss" in h]
    assert len(one) == len(two) > 50
    assert max(abs(a - b) for a, b in zip(one, two)) < 1e-4


def test_the_result_counts_what_the_optimizer_saw_not_every_packed_sequence(tmp_path, transplanted):
    from dataclasses import replace

    from retok.training.packing import bytes_seen, pack

    packed = pack(AutoTokenizer.from_pretrained(transplanted), TRAIN, seq_len=SMALL.seq_len)
    n_blocks = len(packed.blocks)
    batch = next(b for b in range(3, n_blocks) if n_blocks % b)  # a batch size that leaves sequences out of each epoch
    logs: list[str] = []
    result = finetune(transplanted, TRAIN, tmp_path / "out", replace(SMALL, batch_size=batch, epochs=2, eval_every=1),
                      eval_text=EVAL, progress=False, log=logs.append)
    assert result.steps == 2 * (n_blocks // batch)
    assert result.trained_tokens == result.steps * batch * SMALL.seq_len < 2 * result.packed_tokens
    assert result.trained_bytes == bytes_seen(packed, result.trained_tokens) < 2 * result.train_bytes
    assert result.history[-1]["train_bytes_seen"] == result.trained_bytes  # the curve's last point is what was trained
    assert any(f"= {result.trained_tokens} tokens trained ({n_blocks % batch} sequences short of a batch" in line for line in logs), logs
    saved = read_retok_config(result.out)["finetune"]
    assert saved["trained_tokens"] == result.trained_tokens
