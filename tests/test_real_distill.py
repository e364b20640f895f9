"""Distillation on the real SmolLM2-135M: a few ALM steps after an fvt swap to a German tokenizer lower the held-out ALM loss."""

from __future__ import annotations

import pytest

from retok import transplant
from retok.training.distill.blocks import pack_aligned
from retok.assets.store import lohelp, smollm2
from retok.data import held_out_text, train_paragraphs
from retok.training.distill.objective import evaluate_alm
from retok.training.finetune import FinetuneConfig, finetune
from retok.loading import load_model, load_tokenizer
from retok.vocab.train import train_tokenizer

pytestmark = pytest.mark.slow


def test_a_few_distillation_steps_lower_the_alm_loss_on_held_out_german(tmp_path):
    source = smollm2()
    corpus = lohelp().text("de")
    train = train_paragraphs(corpus)
    old = load_tokenizer(source)
    german = train_tokenizer(train, vocab_size=8000, like=old, progress=False)
    folder = transplant(load_model(source), german, "fvt", old_tokenizer=old).save_pretrained(tmp_path / "fvt")
    config = FinetuneConfig(train_bytes=6000, seq_len=64, batch_size=2, lr=3e-4, embedding_lr=2e-3, warmup_steps=1, eval_every=0,
                            checkpoint_every=0, objective="alm")
    result = finetune(folder, train, tmp_path / "distilled", config, progress=False, log=lambda _: None)
    assert result.objective == "alm" and result.steps >= 5

    held_out = pack_aligned(german, old, held_out_text(corpus, max_bytes=3000).split("\n"), seq_len=64)
    teacher = load_model(source)
    before = evaluate_alm(load_model(folder), teacher, held_out)
    after = evaluate_alm(load_model(result.out), teacher, held_out)
    assert after < before
