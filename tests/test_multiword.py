"""Multi-word entries: the growth's rounds replay on new text, multi-word batches, and a hypernetwork trained to make such entries win."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import hypernet
from hypernet.zett.config import TrainConfig
from hypernet.zett.data import IGNORE, SampledBatches, TextStream
from hypernet.zett.model import Hypernet
from hypernet.zett.multiword import GrownBatches, grow_from_text
from retok.errors import RetokError
from retok.loading import load_model
from retok.testing import ENGLISH, tiny_llama, tiny_tokenizer
from retok.vocab.canonical import CanonicalVocab
from retok.vocab.growth import SEP, corpus_array, grow_vocabulary, replay_merges

from conftest import TINY_HYPERNET

MULTIWORD = dict(TINY_HYPERNET, stage1_steps=0, steps=40, batch_size=4, seq_len=32, hidden=32, lr=3e-3, warmup_steps=2,
                 multiword=1.0, multiword_size=3000, multiword_negatives=256)


PHRASES = ["click the", "choose format", "select cells", "the file", "open the", "insert table", "undo icon", "lazy dog",
           "quick brown", "you want"]
# read as pieces, only an entry's first position is a target: fewer targets per step, so more steps at a higher rate
FEED_SETTINGS = {"rows": {"multiword_feed": "rows", "steps": 60}, "pieces": {"multiword_feed": "pieces", "steps": 80, "lr": 2e-2}}


def phrase_lines(n: int, seed: int) -> list[str]:
    """Lines of eight two-word phrases in seeded order: each phrase is a multi-word entry the text always continues."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(PHRASES) for _ in range(8)) for _ in range(n)]


def phrases(n: int, seed: int) -> list[str]:
    """Lines of three tiny-corpus sentences in seeded order: the same phrases recur, so entries span words."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(ENGLISH, 3)) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiword")
    tok = tiny_tokenizer()
    tiny_llama(len(tok), tie=True).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    (root / "train.txt").write_text("\n".join(phrases(400, 0)) + "\n", encoding="utf-8")
    return root, tok


def test_replayed_rounds_reproduce_a_hand_made_growth():
    keys = [b"a", b"b", b"c"]
    grown = grow_vocabulary(np.array([0, 1, 2, 0, 1, 2, SEP, 0, 1]), keys, 5, min_count=2, min_round=1, progress=False)
    assert grown.pieces()[3:].tolist() == [[0, 1, -1], [0, 1, 2]]  # round 1: "ab" (3 times), round 2: "ab"+"c"
    assert replay_merges(np.array([0, 1, 2, 2, 0, 1]), grown.merges, grown.round_ends, len(grown)).tolist() == [4, 2, 3]


def test_segmenting_new_text_is_lossless_and_shorter(corpus):
    _, tok = corpus
    grown = grow_from_text(tok, ["\n".join(phrases(400, 0))], CanonicalVocab.of(tok).keys, size=3000, progress=False)
    pieces = grown.pieces()
    for line in phrases(5, 1):
        ids = tok(line, add_special_tokens=False)["input_ids"]
        cut = grown.segment(corpus_array([ids])[:-1])
        assert [int(i) for e in cut for i in pieces[e] if i >= 0] == ids
        assert len(cut) < len(ids)
        assert (cut >= grown.base_size).any()


def windows_and_growth(tok) -> tuple[SampledBatches, object]:
    """The ZeTT windows of the phrase text and the vocabulary grown from it."""
    canonical = CanonicalVocab.of(tok)
    text = "\n".join(phrases(400, 0))
    windows = SampledBatches([TextStream("t", text)], canonical, batch_size=4, seq_len=32, candidates=64, sampled_vocab=400,
                             stats_batches=2, noise_mu=-11.5, noise_sigma=4.0, seed=0)
    return windows, grow_from_text(tok, [text], canonical.keys, size=3000, progress=False)


def test_multiword_batches_hold_the_whole_base_vocabulary_every_target_and_are_pure_in_the_step(corpus):
    _, tok = corpus
    windows, grown = windows_and_growth(tok)
    batches = GrownBatches(windows, tok, grown, negatives=128, seed=0)
    batch = batches.at(3)
    base = grown.base_size
    assert torch.equal(batch["copy"].value, torch.arange(base))
    pieces, ids = batch["pieces"].value, batch["ids"]
    bos = base + len(pieces)
    assert (ids[:, 0] == bos).all()
    real = ids[:, 1:][ids[:, 1:] != IGNORE]
    assert int(real.max()) < bos and (real >= base).any()
    rows = batches.rows(3)
    for r, row in enumerate(rows):  # every target decodes to its entry's pieces
        for j, entry in enumerate(row):
            want = grown.pieces()[entry]
            got = int(ids[r, 1 + j])
            have = [got] if got < base else [int(i) for i in pieces[got - base] if i >= 0]
            assert have == [int(i) for i in want if i >= 0]
    again = batches.at(3)
    assert torch.equal(again["ids"], ids) and torch.equal(again["pieces"].value, pieces)


def test_multiword_batches_read_as_pieces_put_each_entry_where_its_first_piece_begins(corpus):
    _, tok = corpus
    windows, grown = windows_and_growth(tok)
    batch = GrownBatches(windows, tok, grown, negatives=128, seed=0, feed="pieces").at(2)
    ids, targets, pieces, base = batch["ids"], batch["targets"], batch["pieces"].value, grown.base_size
    inputs = ids[:, 1:][ids[:, 1:] != IGNORE]
    assert int(inputs.max()) < base  # the model reads base tokens only
    assert (targets >= base).any()
    for r, t in (targets != IGNORE).nonzero().tolist():
        target = int(targets[r, t])
        want = [target] if target < base else [int(i) for i in pieces[target - base] if i >= 0]
        assert ids[r, 1 + t : 1 + t + len(want)].tolist() == want


def full_softmax_stats(lm, table: torch.Tensor, net: Hypernet, grown, tok, lines: list[str], feed: str) -> tuple[float, float]:
    """(bits per byte, share of positions whose top-1 over all entries is new) of ``lines`` cut into entries, rows from ``net``."""
    rows, _ = net.predict(table, None, torch.from_numpy(grown.pieces()[grown.base_size :]))
    every = torch.cat([table, rows])
    bits = new = positions = n_bytes = 0
    separator = tok.convert_tokens_to_ids(tok.eos_token)
    lengths = (grown.pieces() >= 0).sum(1)
    for line in lines:
        ids = tok(line, add_special_tokens=False)["input_ids"]
        entries = grown.segment(np.asarray(ids)).tolist()
        with torch.no_grad():
            if feed == "rows":
                h = lm.base_model(inputs_embeds=every[[separator] + entries[:-1]][None]).last_hidden_state[0]
            else:  # the model reads base tokens; the state before each entry's first piece predicts it
                states = lm.base_model(inputs_embeds=table[[separator] + ids[:-1]][None]).last_hidden_state[0]
                h = states[torch.from_numpy(np.cumsum([0] + [int(lengths[e]) for e in entries[:-1]]))]
        logits = h @ every.T
        bits -= float(torch.log_softmax(logits, -1)[torch.arange(len(entries)), entries].sum()) / np.log(2)
        new += int((logits.argmax(-1) >= grown.base_size).sum())
        positions += len(entries)
        n_bytes += len(line.encode())
    return bits / n_bytes, new / positions


@pytest.mark.parametrize("feed", ["rows", "pieces"])
def test_a_hypernetwork_trained_on_multiword_steps_makes_multiword_entries_win_where_fvt_rows_do_not(corpus, tmp_path, feed):
    root, tok = corpus
    (tmp_path / "train.txt").write_text("\n".join(phrase_lines(400, 0)) + "\n", encoding="utf-8")
    size = len(tok) + 30  # the ten phrases and a few more
    config = TrainConfig(**{**MULTIWORD, "multiword_size": size, **FEED_SETTINGS[feed]})
    result = hypernet.train(root / "model", tmp_path / "train.txt", tmp_path / "hn", config, progress=False, log=lambda line: None)
    grown = grow_from_text(tok, ["\n".join(phrase_lines(400, 0))], CanonicalVocab.of(tok).keys, size=size, progress=False)
    lm = load_model(root / "model")
    table = lm.get_input_embeddings().weight.detach()
    trained = result.hypernet
    fvt = Hypernet(trained.arch, mean_in=trained.mean_in, std_in=trained.std_in)  # zero correction: FVT exactly
    held_out = phrase_lines(20, 7)
    fvt_bpb, fvt_new = full_softmax_stats(lm, table, fvt, grown, tok, held_out, feed)
    bpb, new = full_softmax_stats(lm, table, trained, grown, tok, held_out, feed)
    assert bpb < fvt_bpb
    assert new > fvt_new + 0.2


def test_init_continues_from_a_hypernetwork_and_refuses_another_architecture(corpus, tmp_path):
    root, _ = corpus
    quiet = {"progress": False, "log": lambda line: None}
    first = hypernet.train(root / "model", root / "train.txt", tmp_path / "a", TrainConfig(**TINY_HYPERNET), **quiet)
    same = hypernet.train(root / "model", root / "train.txt", tmp_path / "b",
                          TrainConfig(**dict(TINY_HYPERNET, stage1_steps=0, steps=0, init=str(tmp_path / "a"))), **quiet)
    assert all(torch.equal(a, b) for a, b in zip(first.hypernet.state_dict().values(), same.hypernet.state_dict().values()))
    with pytest.raises(RetokError, match="another architecture: hidden 16"):
        hypernet.train(root / "model", root / "train.txt", tmp_path / "c",
                       TrainConfig(**dict(TINY_HYPERNET, hidden=32, stage1_steps=0, init=str(tmp_path / "a"))), **quiet)


def test_building_multiword_rows_with_a_hypernetwork_never_trained_for_them_warns_with_the_consequence(corpus, tmp_path):
    import warnings

    from retok.adaptive.large_vocab.build import LargeVocabConfig, build_large_vocab

    root, tok = corpus
    quiet = {"progress": False, "log": lambda line: None}
    plain = hypernet.train(root / "model", root / "train.txt", tmp_path / "plain", TrainConfig(**TINY_HYPERNET, multiword=0.0), **quiet).out
    multi = hypernet.train(root / "model", root / "train.txt", tmp_path / "multi", TrainConfig(**dict(MULTIWORD, steps=2)), **quiet).out
    config = {"size": len(tok) + 300, "predictor": "hypernet", "index": "hnsw"}
    with pytest.warns(UserWarning, match="without multi-word steps .* distinct 4-grams"):  # the default trains them
        build_large_vocab(root / "model", tmp_path / "a", corpus=[root / "train.txt"], progress=False,
                          config=LargeVocabConfig(**config, hypernet=str(plain)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        build_large_vocab(root / "model", tmp_path / "b", corpus=[root / "train.txt"], progress=False,
                          config=LargeVocabConfig(**config, hypernet=str(multi)))
