"""The ZeTT hypernetwork (package ``hypernet``): identity at init, the batches it trains on, save/load, resume, CLI."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

import hypernet
from hypernet.zett.config import Architecture, TrainConfig
from hypernet.zett.data import IGNORE, MergeExamples, SampledBatches, TextStream
from hypernet.zett.model import Hypernet
from hypernet.zett.sampling import ALPHABET, sample_vocab, substring_counts, token_bytes, unigram_tokenizer
from retok import RetokError, init_embeddings
from retok.cli import main
from retok.transfer.embeddings import TokenEmbeddings
from retok.transfer.initializers.combine import pool_pieces
from retok.transfer.initializers.subword import merge_triples
from retok.vocab.pieces import pad_pieces
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer
from retok.vocab.canonical import CanonicalVocab

from conftest import TINY_HYPERNET

TEXT = "\n".join((GERMAN + ENGLISH) * 20)


def random_net(tie: bool, *, dim: int = 12, seed: int = 0, **arch) -> tuple[Hypernet, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    table_in = torch.randn(50, dim, generator=g)
    table_out = None if tie else torch.randn(50, dim, generator=g)
    torch.manual_seed(seed)
    net = Hypernet(Architecture(dim=dim, untied=not tie, hidden=16, heads=2, **arch), mean_in=table_in.mean(0), std_in=table_in.std(0),
                   mean_out=None if tie else table_out.mean(0), std_out=None if tie else table_out.std(0))
    return net, table_in, table_out


PIECES = pad_pieces([[1, 2], [3], [4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16, 17, 18], [2, 2, 2]])


def test_untrained_hypernet_is_fvt_exactly(tie):
    net, table_in, table_out = random_net(tie)
    rows_in, rows_out = net(table_in, table_out, PIECES)
    assert torch.equal(rows_in, pool_pieces(table_in, PIECES))  # the mean over *all* pieces, past max_pieces too
    if not tie:
        assert torch.equal(rows_out, pool_pieces(table_out, PIECES))


def test_the_zero_initialized_correction_trains(tie):
    net, table_in, table_out = random_net(tie)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    for _ in range(3):
        rows_in, rows_out = net(table_in, table_out, PIECES)
        loss = ((rows_in - 1) ** 2).mean() + (0 if rows_out is None else ((rows_out - 1) ** 2).mean())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    after, _ = net(table_in, table_out, PIECES)
    assert (after - pool_pieces(table_in, PIECES)).abs().max() > 1e-3
    rows_in, _ = net(table_in, table_out, PIECES)  # and the layers below the head receive gradients once it is non-zero
    rows_in.sum().backward()
    assert net.blocks[0].qkv.weight.grad.abs().sum() > 0


def test_a_tokens_row_does_not_depend_on_the_other_tokens_in_the_batch(tie):
    net, table_in, table_out = random_net(tie)
    torch.nn.init.normal_(net.head_in.weight)  # a non-zero correction, so the transformer's output shows
    together, _ = net(table_in, table_out, PIECES)
    alone = torch.cat([net(table_in, table_out, PIECES[i : i + 1])[0] for i in range(len(PIECES))])
    assert torch.allclose(together, alone, atol=1e-5)
    chunked, _ = net.predict(table_in, table_out, PIECES, chunk=2)
    assert torch.allclose(chunked, together.detach(), atol=1e-5)


def test_save_and_load_round_trip(tmp_path, tie):
    net, table_in, table_out = random_net(tie)
    torch.nn.init.normal_(net.head_in.weight)
    net.source = {"name": "m", "fingerprint": "f"}
    net.save_pretrained(tmp_path / "hn")
    loaded = Hypernet.from_pretrained(tmp_path / "hn")
    assert torch.equal(loaded(table_in, table_out, PIECES)[0], net(table_in, table_out, PIECES)[0])
    config = json.loads((tmp_path / "hn" / "hypernet_config.json").read_text())
    assert config["format"] == 1 and config["retok_version"] and config["source"]["name"] == "m"
    with pytest.raises(RetokError, match="exists"):
        net.save_pretrained(tmp_path / "hn")


def test_a_folder_that_is_not_a_hypernetwork_is_refused(tmp_path):
    with pytest.raises(RetokError, match="not a hypernetwork folder"):
        Hypernet.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------- sampling and batches


def test_substring_counts_stay_inside_pretokens():
    counts = substring_counts(["ab ab"])
    assert counts == Counter({"ab": 2, "Ġa": 1, "Ġab": 1})


def test_sampled_tokenizer_covers_every_byte_and_round_trips():
    vocab = sample_vocab(substring_counts(GERMAN), size=300, rng=np.random.default_rng(0))
    assert len(vocab) <= 300 and {p for p, _ in vocab} >= set(ALPHABET)
    tokenizer = unigram_tokenizer(vocab)
    text = "Öffnen Sie die Datei – 3 µm"
    assert tokenizer.decode(tokenizer.encode(text).ids) == text
    again = sample_vocab(substring_counts(GERMAN), size=300, rng=np.random.default_rng(0))
    assert again == vocab


def test_merge_examples_are_the_tokens_own_bytes_in_two_or_more_pieces(english_tokenizer):
    vocab = CanonicalVocab.of(english_tokenizer)
    examples = MergeExamples(merge_triples(english_tokenizer, len(vocab)), batch=64, max_pieces=4, expand=0.7, seed=0)
    pieces, targets = examples.at(3)
    assert torch.equal(pieces, examples.at(3)[0])
    lengths = (pieces >= 0).sum(1)
    assert lengths.min() >= 2 and lengths.max() <= 4 and lengths.float().mean() > 2
    for row, target in zip(pieces.tolist(), targets.tolist()):
        assert b"".join(vocab.keys[i] for i in row if i >= 0) == vocab.keys[target]


def test_sampled_batches_index_their_candidates_and_are_pure_in_the_step(english_tokenizer):
    vocab = CanonicalVocab.of(english_tokenizer)
    batches = SampledBatches([TextStream("t", TEXT)], vocab, batch_size=2, seq_len=16, candidates=64, sampled_vocab=400,
                             stats_batches=2, noise_mu=-11.5, noise_sigma=4.0, seed=0)
    batch = batches.at(5)
    copy, pieces, ids = batch["copy"].value, batch["pieces"].value, batch["ids"]
    assert len(copy) + len(pieces) >= 64 or (ids[:, 1:] != IGNORE).any()
    assert (ids[:, 0] == len(copy) + len(pieces)).all()
    targets = ids[:, 1:][ids[:, 1:] != IGNORE]
    assert targets.min() >= 0 and targets.max() < len(copy) + len(pieces)
    assert not any(vocab.keys[i] is None for i in copy.tolist())  # copies are regular source tokens
    assert torch.equal(SampledBatches([TextStream("t", TEXT)], vocab, batch_size=2, seq_len=16, candidates=64, sampled_vocab=400,
                                      stats_batches=2, noise_mu=-11.5, noise_sigma=4.0, seed=0).at(5)["ids"], ids)


def test_token_bytes_inverts_the_byte_level_alphabet():
    assert token_bytes("Ġdie") == b" die" and token_bytes("Ã¶") == "ö".encode()


# ----------------------------------------------------------------------------- training


@pytest.fixture
def saved(tmp_path, english_tokenizer, tie):
    folder = tmp_path / "model"
    tiny_llama(len(english_tokenizer), tie=tie).save_pretrained(folder)
    english_tokenizer.save_pretrained(folder)
    (tmp_path / "train.txt").write_text(TEXT + "\n", encoding="utf-8")
    return folder, tmp_path / "train.txt"


def tiny(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY_HYPERNET, **changes})


def weights(folder) -> dict[str, torch.Tensor]:
    return Hypernet.from_pretrained(folder).state_dict()


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_another_seed_differs(saved, tmp_path):
    model, text = saved
    quiet = {"progress": False, "log": lambda line: None}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        hypernet.train(model, text, tmp_path / name, tiny(seed=seed), **quiet)
    assert same(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not same(weights(tmp_path / "a"), weights(tmp_path / "c"))
    assert (tmp_path / "a" / "stage1" / "hypernet.safetensors").exists()
    assert not (tmp_path / "a.partial").exists()


@pytest.mark.parametrize("stop", [2, 4], ids=["in-stage1", "in-stage2"])
def test_interrupted_training_resumes_to_the_same_weights(saved, tmp_path, stop):
    model, text = saved
    quiet = {"progress": False, "log": lambda line: None}
    hypernet.train(model, text, tmp_path / "whole", tiny(stage1_steps=3, steps=3), **quiet)
    stopped = hypernet.train(model, text, tmp_path / "cut", tiny(stage1_steps=3, steps=3, checkpoint_every=1), stop_after=stop, **quiet)
    assert not stopped.finished and not (tmp_path / "cut").exists()
    with pytest.raises(RetokError, match="other settings"):
        hypernet.train(model, text, tmp_path / "cut", tiny(stage1_steps=3, steps=3, checkpoint_every=1, lr=1e-2), **quiet)
    hypernet.train(model, text, tmp_path / "cut", tiny(stage1_steps=3, steps=3, checkpoint_every=1), **quiet)
    assert same(weights(tmp_path / "whole"), weights(tmp_path / "cut"))


def test_a_source_without_merges_needs_stage1_steps_0(tmp_path):
    from retok.testing import tiny_wordpiece_tokenizer

    tok = tiny_wordpiece_tokenizer(ENGLISH)
    tiny_llama(len(tok)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "t.txt").write_text(TEXT + "\n", encoding="utf-8")
    with pytest.raises(RetokError, match="WordPiece model without merges; pass --stage1-steps 0"):
        hypernet.train(tmp_path / "m", tmp_path / "t.txt", tmp_path / "hn", tiny(), progress=False)


def test_bad_training_inputs_are_refused_before_training(saved, tmp_path):
    model, text = saved
    (tmp_path / "small.txt").write_text("Zu wenig Text.\n", encoding="utf-8")
    with pytest.raises(RetokError, match="characters"):
        hypernet.train(model, tmp_path / "small.txt", tmp_path / "hn", tiny(), progress=False)
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "x").write_text("keep me")
    with pytest.raises(RetokError, match="overwrite"):
        hypernet.train(model, text, tmp_path / "exists", tiny(), progress=False)
    assert (tmp_path / "exists" / "x").read_text() == "keep me"
    with pytest.raises(RetokError, match="divisible"):
        Architecture(hidden=30, heads=4)


def test_hypernet_rows_for_a_new_tokenizer_start_near_fvt_and_are_reported(saved, tmp_path, hypernet_for, german_tokenizer):
    model, _ = saved
    from retok.loading import load_model, load_tokenizer

    source = TokenEmbeddings.from_model(load_model(model), load_tokenizer(model))
    hn = hypernet_for(model)
    got = init_embeddings(source, german_tokenizer, "hypernet", hypernet=hn)
    fvt = init_embeddings(source, german_tokenizer, "fvt")
    assert got.report.counts["hypernet"] == fvt.report.counts["fvt"] > 0
    assert got.report.details["hypernet"] == hn
    assert not torch.equal(got.embeddings.input, fvt.embeddings.input)  # trained: the correction is not zero
    assert torch.allclose(got.embeddings.input, fvt.embeddings.input, atol=0.5)  # ...but a few steps move it little


def test_a_hypernetwork_for_another_model_is_refused(hypernet_for, english_tokenizer, german_tokenizer):
    hn = hypernet_for(tiny_llama(len(english_tokenizer), seed=0), english_tokenizer)
    other = TokenEmbeddings.from_model(tiny_llama(len(english_tokenizer), seed=1), english_tokenizer)
    with pytest.raises(RetokError, match="was trained for"):
        init_embeddings(other, german_tokenizer, "hypernet", hypernet=hn)
    with pytest.raises(RetokError, match="needs the hypernetwork folder"):
        init_embeddings(other, german_tokenizer, "hypernet")


def test_tokens_the_source_cannot_express_get_reported_fallback_rows(tmp_path):
    from hypernet.io import source_identity
    from retok.testing import tiny_wordpiece_tokenizer

    source_tok = tiny_wordpiece_tokenizer(ENGLISH)  # no byte fallback: "漢" is nowhere in it
    source = TokenEmbeddings.from_model(tiny_llama(len(source_tok)), source_tok)
    net = Hypernet(Architecture(dim=source.dim, hidden=16, heads=2), mean_in=source.input.mean(0), std_in=source.input.std(0))
    torch.nn.init.normal_(net.head_in.weight)  # a hypernetwork that does change rows
    net.source = source_identity("tiny", source.input, None)
    net.save_pretrained(tmp_path / "hn")
    target = tiny_tokenizer(["漢字漢字 漢字"] * 5 + GERMAN)
    result = init_embeddings(source, target, "hypernet", hypernet=str(tmp_path / "hn"))
    fvt = init_embeddings(source, target, "fvt")
    assert result.report.counts["fallback-mean"] == fvt.report.counts["fallback-mean"] > 0
    from retok.vocab.pieces import piece_counts
    from retok.vocab.canonical import VocabAlignment

    alignment = VocabAlignment.build(source_tok, target)
    empty = [alignment.new[i] for i in (piece_counts(alignment.new_pieces) == 0).nonzero().squeeze(1).tolist()]
    assert empty and torch.equal(result.embeddings.input[empty], fvt.embeddings.input[empty])  # the mean row, not a guess
    assert torch.isfinite(result.embeddings.input).all()
    assert result.report.counts["hypernet"] > 0


# ----------------------------------------------------------------------------- command line


def test_cli_trains_then_transplants_with_the_hypernetwork(saved, tmp_path, german_tokenizer, capsys):
    model, text = saved
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_HYPERNET.items()]
    assert main(["train-hypernet", "--model", str(model), "--train", str(text), "--out", str(tmp_path / "hn"), *flags]) == 0
    german_tokenizer.save_pretrained(tmp_path / "de")
    out = tmp_path / "out"
    assert main(["transplant", "--model", str(model), "--tokenizer", str(tmp_path / "de"), "--method", "hypernet",
                 "--hypernet", str(tmp_path / "hn"), "--out", str(out)]) == 0
    config = json.loads((out / "retok_config.json").read_text())
    assert config["method"] == "hypernet" and config["report"]["counts"]["hypernet"] > 0
    capsys.readouterr()
    assert main(["transplant", "--model", str(model), "--tokenizer", str(tmp_path / "de"), "--method", "hypernet",
                 "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--hypernet HN_DIR" in err and not (tmp_path / "o2").exists()
    assert main(["train-hypernet", "--model", str(model), "--train", str(text), "--out", str(tmp_path / "hn")]) == 2
    assert "overwrite" in capsys.readouterr().err


def test_finetuned_variant_takes_the_base_models_hypernetwork(saved, tmp_path, hypernet_for, german_tokenizer):
    from retok import transplant
    from retok.loading import load_model

    base, _ = saved
    hn = hypernet_for(base)
    ft = load_model(base)
    with torch.no_grad():
        for p in ft.parameters():
            p.add_(0.01 * torch.randn_like(p))
    with pytest.raises(RetokError, match="was trained for"):
        transplant(ft, german_tokenizer, "hypernet", hypernet=hn, old_tokenizer=base)
    result = transplant(ft, german_tokenizer, "hypernet", hypernet=hn, old_tokenizer=base, base_model=base)
    expected = transplant(load_model(base), german_tokenizer, "hypernet", hypernet=hn)
    assert torch.equal(result.model.get_input_embeddings().weight, expected.model.get_input_embeddings().weight)


@pytest.mark.slow
def test_two_processes_train_the_same_hypernetwork_as_one(saved, tmp_path):
    """DDP over two CPU processes (gloo, through torchrun as in test_finetune) reproduces the single-process weights."""
    import subprocess
    import sys

    from retok.testing import two_process_launcher

    model, text = saved
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_HYPERNET.items()]
    common = ["train-hypernet", "--model", str(model), "--train", str(text), *flags]
    single = subprocess.run([sys.executable, "-m", "retok.cli", *common, "--out", str(tmp_path / "one")], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    double = subprocess.run([*two_process_launcher(module="retok.cli"), *common, "--out", str(tmp_path / "two")], capture_output=True, text=True)
    assert double.returncode == 0, (double.stdout + double.stderr)[-3000:]
    assert "2 process(es)" in double.stdout + double.stderr
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys() and all(torch.allclose(one[k], two[k], atol=1e-5) for k in one)
    assert not same(one, Hypernet.from_pretrained(tmp_path / "one" / "stage1").state_dict())  # stage 2 did train


@pytest.mark.slow
@pytest.mark.parametrize("tie", [True], ids=["tied"])  # the layout does not matter here; stop-and-resume covers both
def test_training_killed_with_sigkill_mid_run_resumes_to_the_same_weights(saved, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    model, text = saved
    settings = {**TINY_HYPERNET, "stage1_steps": 400, "steps": 4, "checkpoint_every": 5}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    command = [sys.executable, "-m", "retok.cli", "train-hypernet", "--model", str(model), "--train", str(text), *flags]
    whole = subprocess.run([*command, "--out", str(tmp_path / "whole")], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    victim = subprocess.Popen([*command, "--out", str(tmp_path / "cut")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "cut.partial" / "stage1" / "state.pt"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere in the middle of a later step
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "cut").exists(), "the run finished before it could be killed; make it longer"
    resumed = subprocess.run([*command, "--out", str(tmp_path / "cut")], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from step" in resumed.stdout + resumed.stderr
    assert same(weights(tmp_path / "whole"), weights(tmp_path / "cut"))


def test_an_untrained_hypernetwork_transplants_exactly_like_fvt(tmp_path, english_model, english_tokenizer, german_tokenizer):
    from hypernet.io import source_identity

    source = TokenEmbeddings.from_model(english_model, english_tokenizer)
    arch = Architecture(dim=source.dim, untied=not source.tied, hidden=16, heads=2, max_pieces=2)
    net = Hypernet(arch, mean_in=source.input.mean(0), std_in=source.input.std(0),
                   mean_out=None if source.tied else source.output.mean(0), std_out=None if source.tied else source.output.std(0))
    net.source = source_identity("tiny", source.input, source.output)
    net.save_pretrained(tmp_path / "hn")
    got = init_embeddings(source, german_tokenizer, "hypernet", hypernet=str(tmp_path / "hn"), chunk=7)
    fvt = init_embeddings(source, german_tokenizer, "fvt")
    assert torch.equal(got.embeddings.input, fvt.embeddings.input)
    if not source.tied:
        assert torch.equal(got.embeddings.output, fvt.embeddings.output)


@pytest.mark.slow
def test_default_training_text_is_the_demo_corpus_training_paragraphs_only():
    from hypernet.zett.training import read_streams
    from retok.data import is_held_out

    streams = read_streams(None)
    assert [s.name.split(" ")[0] for s in streams] == ["lohelp:en", "lohelp:de"]
    for stream in streams:
        lines = stream.text.split("\n")
        assert len(stream.text) > 1_000_000 and not any(is_held_out(line) for line in lines)


def test_damaged_hypernetwork_weights_are_named_in_one_line(tmp_path, saved, german_tokenizer, capsys):
    from hypernet.io import source_identity

    model, _ = saved
    source = TokenEmbeddings.from_model(tiny_llama(len(german_tokenizer)), german_tokenizer)
    net = Hypernet(Architecture(dim=source.dim, hidden=16, heads=2), mean_in=source.input.mean(0), std_in=source.input.std(0))
    net.source = source_identity("tiny", source.input, None)  # the weights are refused before the source is compared
    net.save_pretrained(tmp_path / "hn")
    data = (tmp_path / "hn" / "hypernet.safetensors").read_bytes()
    (tmp_path / "hn" / "hypernet.safetensors").write_bytes(data[: len(data) // 2])
    german_tokenizer.save_pretrained(tmp_path / "de")
    capsys.readouterr()
    assert main(["transplant", "--model", str(model), "--tokenizer", str(tmp_path / "de"), "--method", "hypernet",
                 "--hypernet", str(tmp_path / "hn"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hypernet.safetensors is damaged (truncated" in err[0], err
    assert not (tmp_path / "out").exists()
