"""Distillation after a swap on tiny models: the shared teacher, the aligned blocks, the objectives, resume, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from retok import RetokError, transplant
from retok.training.distill.blocks import pack_aligned
from retok.training.distill.objective import DistillSettings, distill_loss, evaluate_alm, shared_teacher
from retok.training.finetune import FinetuneConfig, finetune, with_lora
from retok.loading import load_model, load_tokenizer
from retok.training.lora import lora_config_for
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer

TRAIN = GERMAN * 3
SMALL = FinetuneConfig(train_bytes=None, seq_len=16, batch_size=4, eval_every=0, checkpoint_every=5, lr=1e-2, embedding_lr=1e-2,
                       objective="lm+alm")
quiet = dict(progress=False, log=lambda _: None)


@pytest.fixture
def source(tmp_path) -> Path:
    """A saved tiny 'original' model with its English tokenizer: the teacher."""
    tok = tiny_tokenizer(ENGLISH)
    tiny_llama(len(tok)).save_pretrained(tmp_path / "source")
    tok.save_pretrained(tmp_path / "source")
    return tmp_path / "source"


@pytest.fixture
def transplanted(tmp_path, source) -> Path:
    result = transplant(load_model(source), tiny_tokenizer(GERMAN), "fvt", old_tokenizer=load_tokenizer(source))
    return result.save_pretrained(tmp_path / "transplanted")


def test_teacher_shares_the_body_with_the_student_and_stays_the_original_model(source, transplanted):
    student = load_model(transplanted)
    teacher, shared = shared_teacher(student, load_model(source))
    body = "model.layers.0.self_attn.q_proj.weight"
    assert teacher.get_parameter(body) is student.get_parameter(body)
    assert teacher.get_input_embeddings().weight is not student.get_input_embeddings().weight
    n_embedding = teacher.get_input_embeddings().weight.numel()
    assert shared == sum(p.numel() for p in teacher.parameters()) - n_embedding  # everything but the (tied) embeddings
    peft = with_lora(student, lora_config_for(student, rows=[1, 2]))
    with torch.no_grad():  # a trained student: non-zero LoRA updates
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_()
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        assert torch.equal(teacher(input_ids=ids).logits, load_model(source)(input_ids=ids).logits)


def test_alm_is_zero_when_student_equals_teacher_and_the_tokenizers_are_equal():
    tok = tiny_tokenizer(ENGLISH)
    model = tiny_llama(len(tok))
    blocks = pack_aligned(tok, tok, ENGLISH * 3, seq_len=16)
    assert int(blocks.n_chunks.sum()) > 0
    assert evaluate_alm(model, model, blocks) == pytest.approx(0.0, abs=1e-6)
    _, parts = distill_loss(model, DistillSettings(objective="alm"))(model, blocks[torch.arange(4)])
    assert parts["alm"].item() == pytest.approx(0.0, abs=1e-6)


def test_aligned_blocks_keep_the_student_blocks_and_their_chunks_spell_the_same_text():
    student, teacher = tiny_tokenizer(GERMAN), tiny_tokenizer(ENGLISH)
    from retok.training.packing import pack

    blocks = pack_aligned(student, teacher, GERMAN * 2, seq_len=16)
    assert torch.equal(blocks.student, pack(student, GERMAN * 2, seq_len=16).blocks)
    batch = blocks[torch.arange(len(blocks))]
    for j in range(len(blocks)):
        for k in range(int(blocks.n_chunks[j])):
            mine = student.decode(batch["input_ids"][j][batch["student_chunks"][j] == k])
            theirs = teacher.decode(batch["teacher_ids"][j][batch["teacher_chunks"][j] == k])
            assert mine == theirs and mine
        assert batch["student_chunks"][j, 0] == -1  # the first token has no prediction


def test_auto_trains_lm_and_says_how_to_distil_while_alm_needs_a_loadable_teacher(tmp_path, source, transplanted):
    auto = FinetuneConfig(**{**SMALL.__dict__, "objective": "auto"})
    said = []
    result = finetune(transplanted, TRAIN, tmp_path / "a", auto, progress=False, log=said.append)
    assert result.objective == "lm" and any("--objective lm+alm" in s for s in said)
    both = finetune(transplanted, TRAIN, tmp_path / "b", FinetuneConfig(**{**SMALL.__dict__, "objective": "lm+alm"}), **quiet)
    assert both.objective == "lm+alm"
    assert all("lm" in h and "alm" in h for h in both.history if "loss" in h)
    shutil.rmtree(source)
    with pytest.raises(RetokError, match="cannot be loaded"):
        finetune(transplanted, TRAIN, tmp_path / "c", FinetuneConfig(**{**SMALL.__dict__, "objective": "alm"}), **quiet)


def test_a_few_alm_steps_lower_the_alm_loss(tmp_path, source, transplanted):
    config = FinetuneConfig(**{**SMALL.__dict__, "objective": "alm", "lr": 3e-2, "embedding_lr": 3e-2})
    out = finetune(transplanted, TRAIN, tmp_path / "o", config, **quiet).out
    teacher_tok, student_tok = load_tokenizer(source), load_tokenizer(transplanted)
    held_out = pack_aligned(student_tok, teacher_tok, GERMAN[::-1], seq_len=16)
    before = evaluate_alm(load_model(transplanted), load_model(source), held_out)
    after = evaluate_alm(load_model(out), load_model(source), held_out)
    assert after < before


def test_interrupted_distillation_resumes_to_the_same_final_weights(tmp_path, transplanted):
    straight = finetune(transplanted, TRAIN, tmp_path / "a", SMALL, **quiet)
    stopped = finetune(transplanted, TRAIN, tmp_path / "b", SMALL, **quiet, stop_after=7)
    assert stopped.steps == 7 and not (tmp_path / "b").exists()
    resumed = finetune(transplanted, TRAIN, tmp_path / "b", SMALL, **quiet)
    a, b = load_file(straight.out / "model.safetensors"), load_file(resumed.out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["loss"] for h in straight.history if "loss" in h] == [h["loss"] for h in resumed.history if "loss" in h]


def test_a_teacher_that_cannot_spell_the_text_back_is_refused_and_nothing_is_written(tmp_path, transplanted):
    from tokenizers import normalizers

    lower = tiny_tokenizer(ENGLISH)
    lower.backend_tokenizer.normalizer = normalizers.Lowercase()  # "Der" comes back as "der"
    tiny_llama(len(lower)).save_pretrained(tmp_path / "lower")
    lower.save_pretrained(tmp_path / "lower")
    with pytest.raises(RetokError, match="training document 1 .*teacher's tokenizer does not spell the text back"):
        finetune(transplanted, TRAIN, tmp_path / "o", SMALL, teacher=tmp_path / "lower", **quiet)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_hidden_alignment_with_a_teacher_of_another_width_is_refused(tmp_path, transplanted):
    tok = tiny_tokenizer(ENGLISH)
    tiny_llama(len(tok), hidden=16).save_pretrained(tmp_path / "narrow")
    tok.save_pretrained(tmp_path / "narrow")
    config = FinetuneConfig(**{**SMALL.__dict__, "hidden_weight": 1.0})
    with pytest.raises(RetokError, match="same hidden size; the teacher has 16, the student 32"):
        finetune(transplanted, TRAIN, tmp_path / "o", config, teacher=tmp_path / "narrow", **quiet)
    assert not (tmp_path / "o").exists()


def test_hidden_alignment_trains_and_is_logged(tmp_path, transplanted):
    config = FinetuneConfig(**{**SMALL.__dict__, "hidden_weight": 0.5})
    result = finetune(transplanted, TRAIN, tmp_path / "o", config, **quiet, stop_after=2)
    assert all(h["hidden"] > 0 for h in result.history if "loss" in h)


def test_windows_without_an_alignable_chunk_are_reported(tmp_path, transplanted):
    config = FinetuneConfig(**{**SMALL.__dict__, "seq_len": 2, "alm_chunks": "space"})
    said = []
    finetune(transplanted, TRAIN, tmp_path / "o", config, progress=False, log=said.append, stop_after=1)
    assert any("have no alignable chunk (skipped by alm)" in s for s in said)


def test_decay_schedule_fades_the_distillation_term_to_nothing():
    tok = tiny_tokenizer(ENGLISH)
    model = tiny_llama(len(tok))
    blocks = pack_aligned(tok, tiny_tokenizer(GERMAN), ENGLISH * 3, seq_len=16)
    from retok.training.distill.objective import with_progress
    from retok.training.finetune import epoch_batches

    batch_at = with_progress(epoch_batches(blocks, batch_size=4, seed=0), total=10)
    settings = DistillSettings(objective="lm+alm", alm_weight=1.0, schedule="decay")
    loss_fn = distill_loss(tiny_llama(len(tok), seed=1), settings)
    start_loss, start = loss_fn(model, batch_at(0))
    assert start_loss.item() == pytest.approx((start["lm"] + start["alm"]).item(), rel=1e-5)
    half_loss, half = loss_fn(model, batch_at(5))
    assert half_loss.item() == pytest.approx((half["lm"] + 0.5 * half["alm"]).item(), rel=1e-5)


CONVERSATIONS = [[{"role": "user", "content": g}, {"role": "assistant", "content": e}] for g, e in zip(GERMAN, ENGLISH)]


def test_conversations_align_across_two_chat_templates_in_training_blocks():
    student, teacher = tiny_tokenizer(GERMAN), tiny_tokenizer(ENGLISH)
    student.chat_template = "{% for m in messages %}<|im_start|>[{{ m['role'] }}] {{ m['content'] }}<|im_end|>{% endfor %}"
    blocks = pack_aligned(student, teacher, CONVERSATIONS * 2, seq_len=32)
    batch = blocks[torch.arange(len(blocks))]
    assert int(blocks.n_chunks.sum()) > 0
    for j in range(len(blocks)):
        for k in range(int(blocks.n_chunks[j])):
            mine = student.decode(batch["input_ids"][j][batch["student_chunks"][j] == k])
            assert mine == teacher.decode(batch["teacher_ids"][j][batch["teacher_chunks"][j] == k])
            assert "im_" not in mine and "[user]" not in mine  # only message contents align


def test_finetune_distils_on_a_jsonl_file_of_conversations(tmp_path, transplanted):
    import json

    train = tmp_path / "chat.jsonl"
    train.write_text("".join(json.dumps({"messages": c}) + "\n" for c in CONVERSATIONS * 3), encoding="utf-8")
    result = finetune(transplanted, train, tmp_path / "o", SMALL, **quiet, stop_after=2)
    assert all(h["alm"] > 0 for h in result.history if "loss" in h)
    (tmp_path / "bad.jsonl").write_text('{"messages": [{"role": "user"}]}\n', encoding="utf-8")
    with pytest.raises(RetokError, match="line 1 of the training conversations"):
        finetune(transplanted, tmp_path / "bad.jsonl", tmp_path / "p", SMALL, **quiet)


def test_hidden_weight_scales_the_balanced_hidden_term_only():
    tok = tiny_tokenizer(ENGLISH)
    student, teacher = tiny_llama(len(tok), seed=1), tiny_llama(len(tok))
    batch = pack_aligned(tok, tok, ENGLISH * 3, seq_len=16)[torch.arange(4)]
    totals = {}
    for w in (0.5, 1.0, 2.0):
        totals[w], parts = distill_loss(teacher, DistillSettings(objective="lm+alm", hidden_weight=w))(student, batch)
        assert set(parts) == {"lm", "alm", "hidden"}
    # the total is linear in the hidden term's weight: the balanced weights do not depend on it
    assert (totals[2.0] - totals[1.0]).item() == pytest.approx(2 * (totals[1.0] - totals[0.5]).item(), rel=1e-4)


def test_adapted_teacher_reads_its_tokens_through_the_students_lora_body(source, transplanted):
    from retok.training.distill.objective import teacher_forward

    student = load_model(transplanted)
    teacher, _ = shared_teacher(student, load_model(source))
    peft = with_lora(student, lora_config_for(student, rows=[1]))
    ids, mask = torch.tensor([[3, 4, 5, 6]]), torch.ones(1, 4, dtype=torch.long)
    frozen, _ = teacher_forward(teacher, ids, mask)
    at_start, _ = teacher_forward(teacher, ids, mask, student=peft)
    assert torch.allclose(frozen, at_start, atol=1e-5)  # LoRA starts at zero: the same model
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.normal_()
    adapted, _ = teacher_forward(teacher, ids, mask, student=peft)
    assert not torch.allclose(frozen, adapted, atol=1e-3)
    assert torch.equal(frozen, teacher_forward(teacher, ids, mask)[0])  # the frozen teacher never moves


def test_adapted_teacher_needs_a_teacher_that_shares_the_body(tmp_path, transplanted):
    tok = tiny_tokenizer(ENGLISH)
    tiny_llama(len(tok), seed=5).save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    config = FinetuneConfig(**{**SMALL.__dict__, "alm_teacher": "adapted"})
    with pytest.raises(RetokError, match="shares only [0-9,]+ of its 18,592 body parameters"):
        finetune(transplanted, TRAIN, tmp_path / "o", config, teacher=tmp_path / "other", **quiet)
    result = finetune(transplanted, TRAIN, tmp_path / "p", config, **quiet, stop_after=2)
    assert all(h["alm"] > 0 for h in result.history if "loss" in h)
