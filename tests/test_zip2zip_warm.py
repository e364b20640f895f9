"""The zip2zip warm start: byte-aligned self-distillation targets, gradients to the encoders only, and its effect."""

from __future__ import annotations

import math

import pytest
import torch

from retok.testing import ENGLISH, tiny_llama, tiny_tokenizer

from hypernet.zip2zip.config import Zip2ZipTrainConfig
from hypernet.zip2zip.data import compress_window
from hypernet.zip2zip.train import train, wrap
from hypernet.zip2zip.warm import chain_targets, distillation_loss, warm_batches, warm_loss

from zip2zip_tiny import REPETITIVE, TINY



@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def target_from_gradient(student: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
    """The target distribution the loss pulls ``student (1, T, C)`` towards: d(mean CE)/d(logits) = (softmax - q) / n."""
    logits = student.clone().requires_grad_(True)
    distillation_loss(logits, *args).backward()
    n = int((args[2] >= 0).sum())
    return torch.softmax(student, -1) - n * logits.grad


def test_the_target_splits_the_teachers_mass_along_the_chain_of_entries():
    # base ids 0..3; the text is 1 2 3 0; the student at t=0 has read [1] and the next code is entry [2, 3] (class 4)
    torch.manual_seed(0)
    teacher = torch.randn(1, 4, 4)
    base_ids = torch.tensor([[1, 2, 3, 0]])
    span_end = torch.tensor([[0]])
    chain_class, chain_end = torch.tensor([[[4, -1]]]), torch.tensor([[[2, -1]]])
    q = target_from_gradient(torch.randn(1, 1, 6), teacher, base_ids, span_end, chain_class, chain_end)[0, 0]
    p = torch.softmax(teacher[0], -1)
    mass = float(p[0, 2] * p[1, 3])  # P([2, 3]) = p(2 | 1) p(3 | 1 2)
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-5) and bool((q > -1e-6).all())
    assert float(q[4]) == pytest.approx(mass, abs=1e-5)  # the entry: its whole base string
    assert float(q[2]) == pytest.approx(float(p[0, 2]) - mass, abs=1e-5)  # its first token: the rest of its mass
    assert torch.allclose(q[[0, 1, 3]], p[0, [0, 1, 3]], atol=1e-5) and abs(float(q[5])) < 1e-6  # others as the teacher; class 5 unused


def test_a_longer_entry_takes_its_share_from_the_shorter_one():
    torch.manual_seed(1)
    teacher = torch.randn(1, 4, 4)
    base_ids = torch.tensor([[1, 2, 3, 0]])
    chain_class, chain_end = torch.tensor([[[4, 5]]]), torch.tensor([[[2, 3]]])  # [2, 3] and [2, 3, 0]
    q = target_from_gradient(torch.randn(1, 1, 6), teacher, base_ids, torch.tensor([[0]]), chain_class, chain_end)[0, 0]
    p = torch.softmax(teacher[0], -1)
    two, three = float(p[0, 2] * p[1, 3]), float(p[0, 2] * p[1, 3] * p[2, 0])
    assert float(q[5]) == pytest.approx(three, abs=1e-5) and float(q[4]) == pytest.approx(two - three, abs=1e-5)
    assert float(q[2]) == pytest.approx(float(p[0, 2]) - two, abs=1e-5) and float(q.sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_student_equal_to_the_teacher_without_entries_scores_the_teachers_entropy():
    teacher = torch.randn(1, 5, 7)
    span_end = torch.tensor([[0, 1, 2, 3]])
    none = torch.full((1, 4, 2), -1)
    loss = distillation_loss(teacher[:, :4], teacher, torch.tensor([[1, 2, 3, 4, 5]]), span_end, none, none)
    p = torch.softmax(teacher[0, :4], -1)
    assert float(loss) == pytest.approx(float(-(p * p.log()).sum(-1).mean()), rel=1e-5)


def test_chain_entries_are_the_texts_continuation_and_readable_by_the_decoder(tokenizer):
    net = wrap(tiny_llama(len(tokenizer)), tokenizer, TINY)
    ids = tokenizer(REPETITIVE, add_special_tokens=False)["input_ids"][:120]
    window = compress_window(ids, net.lzw)
    span_end, classes, ends = chain_targets(window, ids, net.lzw)
    v0, seen = net.base_vocab_size, 0
    for t, (end, row, last) in enumerate(zip(span_end, classes, ends)):
        for cls, stop in zip(row, last):
            if cls < 0:
                continue
            seen += 1
            slot = cls - v0
            assert window.entries[slot] == tuple(ids[end + 1 : stop + 1])
            assert window.available[slot] <= t or (cls == window.labels[t] and window.pending[t] is not None)
        if window.labels[t] >= v0:  # the next code is the chain's longest entry
            assert max(row) == window.labels[t]
    assert seen > 0 and span_end[-1] == -1  # the last position predicts nothing


def test_the_warm_loss_trains_the_encoders_and_nothing_else(tokenizer):
    from retok.training.lora import lora_config_for
    from retok.training.finetune import with_lora

    base = tiny_llama(len(tokenizer))
    net = wrap(with_lora(base, lora_config_for(base, rows=[], r=4, alpha=8, dropout=0.0, target_modules="all-linear")), tokenizer, TINY)
    lora = [p for n, p in net.named_parameters() if "lora_" in n]
    for p in lora:
        p.requires_grad_(False)  # as in the warm stage
    blocks = torch.tensor([tokenizer(REPETITIVE, add_special_tokens=False)["input_ids"][:96]]).view(2, 48)
    loss = warm_loss(net, warm_batches(lambda step: blocks, net.lzw)(0))
    loss.backward()
    assert math.isfinite(float(loss))
    with_grad = {n for n, p in net.named_parameters() if p.grad is not None}
    assert with_grad and all(n.startswith(("input_encoder.", "output_encoder.", "length_bias")) for n in with_grad)
    assert not any(p.requires_grad for p in lora)  # the teacher's pass leaves the adapters frozen


def test_the_warm_start_alone_lowers_compressed_bpb_of_a_model_that_knows_the_text(tmp_path, tokenizer):
    model = tiny_llama(len(tokenizer))
    ids = torch.tensor(tokenizer(REPETITIVE, add_special_tokens=False)["input_ids"])
    blocks = ids[: len(ids) // 48 * 48].view(-1, 48)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):  # a teacher worth distilling: a random tiny model predicts next to nothing
        model(input_ids=blocks, labels=blocks).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    base = tmp_path / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)
    config = Zip2ZipTrainConfig(**{**TINY.__dict__, "warm_steps": 8, "warm_only": True})
    run = train(base, ENGLISH * 8, tmp_path / "z", config, eval_text=REPETITIVE, progress=False, log=lambda _: None)
    bpbs = [h["bpb"] for h in run.history if "bpb" in h]
    assert run.finished and len(bpbs) == 2 and bpbs[-1] < bpbs[0] - 0.05


@pytest.mark.slow
def test_two_processes_train_the_same_zip2zip_model_as_one(tmp_path, tokenizer):
    """DDP over two CPU processes (gloo, through torchrun as in test_finetune): the same losses, warm start and LoRA stage alike."""
    import json
    import subprocess
    import sys

    from retok.testing import two_process_launcher

    base = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    text = tmp_path / "train.txt"
    text.write_text("\n".join(ENGLISH * 4), encoding="utf-8")
    flags = ["--max-codebook-size", "64", "--max-subtokens", "3", "--window", "48", "--train-bytes", "None", "--batch-size", "4",
             "--encoder-hidden", "16", "--encoder-layers", "1", "--encoder-heads", "2", "--eval-every", "0", "--checkpoint-every", "0",
             "--lr", "1e-2", "--encoder-lr", "1e-2", "--warmup-steps", "0", "--warm-steps", "3", "--warm-lr", "1e-2"]
    common = ["zip2zip", "train", "--model", str(base), "--train", str(text), *flags]
    single = subprocess.run([sys.executable, "-m", "retok.cli", *common, "--out", str(tmp_path / "one")], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    double = subprocess.run([*two_process_launcher(module="retok.cli"), *common, "--out", str(tmp_path / "two")], capture_output=True, text=True)
    assert double.returncode == 0, (double.stdout + double.stderr)[-3000:]
    assert "2 process(es)" in double.stdout + double.stderr
    one, two = (json.loads((tmp_path / run / "zip2zip_history.json").read_text()) for run in ("one", "two"))
    losses = [[(h["stage"], h["loss"]) for h in history if "loss" in h] for history in (one, two)]
    assert [s for s, _ in losses[0]] == [s for s, _ in losses[1]] and {s for s, _ in losses[0]} == {"warm", "lora"}
    assert max(abs(a - b) for (_, a), (_, b) in zip(*losses)) < 1e-4


def test_warm_only_saves_the_zero_shot_model_with_its_plain_weights(tmp_path, tokenizer):
    from safetensors.torch import load_file

    from hypernet.zip2zip.model import Zip2ZipLM

    base = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    run = train(base, ENGLISH * 8, tmp_path / "z", Zip2ZipTrainConfig(**{**TINY.__dict__, "warm_only": True}), progress=False,
                log=lambda _: None)
    assert run.finished and {h["stage"] for h in run.history} == {"warm"}
    a, b = load_file(base / "model.safetensors"), load_file(run.out / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the LM untouched
    assert Zip2ZipLM.from_pretrained(run.out).input_encoder.out.weight.abs().sum() > 0


def test_warm_only_without_a_warm_start_is_refused():
    from retok.errors import RetokError

    with pytest.raises(RetokError, match="warm_only trains the hyper-encoders alone"):
        Zip2ZipTrainConfig(warm_only=True, warm_steps=0)


def test_a_full_run_keeps_the_warm_start_alone_which_loads_onto_the_base_model(tmp_path, tokenizer):
    from safetensors.torch import load_file

    from hypernet.zip2zip.model import ENCODERS, Zip2ZipLM
    from hypernet.zip2zip.train import WARM_FOLDER

    base = tmp_path / "base"
    tiny_llama(len(tokenizer)).save_pretrained(base)
    tokenizer.save_pretrained(base)
    quiet = {"progress": False, "log": lambda _: None}
    full = train(base, ENGLISH * 8, tmp_path / "full", TINY, **quiet)
    alone = train(base, ENGLISH * 8, tmp_path / "alone", Zip2ZipTrainConfig(**{**TINY.__dict__, "warm_only": True}), **quiet)
    a, b = load_file(full.out / WARM_FOLDER / ENCODERS), load_file(alone.out / ENCODERS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(load_file(full.out / ENCODERS)["input_encoder.out.weight"], a["input_encoder.out.weight"])  # LoRA stage moved on
    assert Zip2ZipLM.from_pretrained(full.out / WARM_FOLDER, model=base).positions == TINY.positions == "base"  # the settings travel with the encoders
