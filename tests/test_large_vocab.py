"""Large vocabularies: grown entries keep their bytes, faiss retrieval agrees with exact scoring, builds resume, bad folders are refused."""

import json
import random

import numpy as np
import pytest
import torch

from retok.errors import RetokError
from retok.adaptive.large_vocab.build import INPUT_FILE, LargeVocabConfig, QueryGeometry, build_large_vocab, estimate_size
from retok.adaptive.large_vocab.decode import LargeVocab
from retok.adaptive.large_vocab.score import log_normaliser, score_text
from retok.testing import ENGLISH, tiny_llama, tiny_tokenizer
from retok.vocab.canonical import CanonicalVocab
from retok.vocab.growth import SEP, corpus_array, grow_vocabulary, take_non_overlapping

SIZE = 5000


def synthetic_lines(n=3000, seed=0):
    """Seeded lines of words from the tiny corpus: enough repeated n-grams for thousands of entries."""
    words = " ".join(ENGLISH).split()
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(6, 14))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lv")
    tok = tiny_tokenizer()
    model = tiny_llama(len(tok), tie=True, hidden=32)
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(synthetic_lines()) + "\n")
    return folder, model, tok, corpus


@pytest.fixture(scope="module")
def built(tiny_setup):
    folder, model, tok, corpus = tiny_setup
    config = LargeVocabConfig(size=SIZE, chunk=1500, index="ivf", nlist=16, nprobe=16)  # nprobe = nlist: exhaustive
    out = build_large_vocab(folder / "model", folder / "vocab", corpus=[corpus], config=config, progress=False)
    return LargeVocab.load(out, model)


def test_grown_entries_concatenate_their_pieces_and_have_unique_bytes(tiny_setup):
    _, _, tok, _ = tiny_setup
    vocab = CanonicalVocab.of(tok)
    ids = tok(synthetic_lines(500), add_special_tokens=False)["input_ids"]
    grown = grow_vocabulary(corpus_array(ids), vocab.keys, 1500, progress=False)
    pieces = grown.pieces()
    assert len(grown) == 1500 and (pieces[: grown.base_size, 0] == np.arange(grown.base_size)).all()
    strings = [b"".join(vocab.keys[i] for i in row if i >= 0) for row in pieces[grown.base_size :]]
    assert len(set(strings)) == len(strings)  # no duplicate entry
    for e in range(grown.base_size, len(grown)):
        u, v = grown.left[e - grown.base_size], grown.right[e - grown.base_size]
        both = [i for i in np.concatenate([pieces[u], pieces[v]]) if i >= 0]
        assert list(pieces[e][pieces[e] >= 0]) == both
    assert (grown.counts >= 2).all() and grown.lengths.max() <= 16


def test_growth_stops_when_no_pair_is_frequent_enough(tiny_setup):
    _, _, tok, _ = tiny_setup
    vocab = CanonicalVocab.of(tok)
    ids = tok(ENGLISH[:2], add_special_tokens=False)["input_ids"]
    grown = grow_vocabulary(corpus_array(ids), vocab.keys, 10_000, progress=False)
    assert grown.exhausted and len(grown) < 10_000


def test_non_overlapping_takes_every_other_pair_of_a_run():
    hit = np.array([1, 1, 1, 0, 1, 0, 1, 1], dtype=bool)
    assert take_non_overlapping(hit).tolist() == [1, 0, 1, 0, 1, 0, 1, 0]


def test_query_geometry_keeps_every_logit_up_to_a_per_query_constant():
    g = torch.Generator().manual_seed(0)
    rows, queries = torch.randn(200, 8, generator=g), torch.randn(50, 8, generator=g) * torch.linspace(0.1, 5, 8)
    geometry = QueryGeometry.fit(queries.numpy(), rows.numpy().mean(0))
    mapped = torch.from_numpy(geometry.rows(rows.numpy())) @ geometry.queries(queries).T
    shift = (queries @ rows.T).T - mapped
    torch.testing.assert_close(shift, shift[:1].expand_as(shift), rtol=1e-4, atol=1e-3)


def test_faiss_restricted_top1_equals_exact_top1_when_every_cell_is_probed(built):
    g = torch.Generator().manual_seed(1)
    h = torch.randn(64, built.info["dim"], generator=g)
    assert built.size == SIZE
    assert torch.equal(built.best(h, k=8), built.best(h, exact=True))
    text = " ".join(synthetic_lines(40, seed=9))
    states = built.hidden_states(text, window=64, max_positions=256)
    assert built.top1_agreement(states, k=8)["agreement"] == 1.0


def test_candidates_are_scored_exactly(built):
    h = torch.randn(3, built.info["dim"])
    ids = built.candidates(h, k=5)
    want = torch.stack([built.output_rows[i] @ h[q] for q, i in enumerate(ids)])
    prior = torch.stack([torch.tensor([float(built.base_bias[e]) if e < built.base_size else 0.0 for e in row]) for row in ids.tolist()])
    torch.testing.assert_close(built.scores(h, ids), want + prior)
    exact = built.exact_logits(h)
    torch.testing.assert_close(exact.gather(1, ids), want + prior)


def test_the_base_prior_is_the_log_share_of_each_tokens_occurrences_left_unmerged():
    from retok.adaptive.large_vocab.build import base_bias

    corpus = np.array([0, 1, 0, 1, 2, SEP, 0, 2])  # "ab" merges twice; a stays alone once, c never merges
    grown = grow_vocabulary(corpus, [b"a", b"b", b"c"], 4, min_count=2, min_round=1, progress=False)
    bias = base_bias(corpus, grown.merges, grown.round_ends, len(grown), 3)
    np.testing.assert_allclose(bias, np.log([(1 + 1) / (3 + 1), (0 + 1) / (2 + 1), 1.0]), rtol=1e-6)


def test_a_built_folder_carries_its_prior_which_decoding_adds_times_its_weight(tiny_setup, built):
    _, model, _, _ = tiny_setup
    assert (built.folder / "base_bias.npy").is_file() and float(built.base_bias.abs().sum()) == 0
    full, half = (LargeVocab.load(built.folder, model, prior=w) for w in (1.0, 0.5))
    assert float(full.base_bias.abs().sum()) > 0
    torch.testing.assert_close(half.base_bias, 0.5 * full.base_bias)
    h = torch.randn(2, built.info["dim"])
    torch.testing.assert_close(full.exact_logits(h) - built.exact_logits(h),
                               torch.cat([full.base_bias, torch.zeros(built.size - built.base_size)]).expand(2, -1))


@pytest.mark.parametrize("weight", [-0.1, 1.5, True, "1"])
def test_a_prior_weight_outside_zero_to_one_is_refused(tiny_setup, built, weight):
    _, model, _, _ = tiny_setup
    with pytest.raises(RetokError, match="prior must be a weight"):
        LargeVocab.load(built.folder, model, prior=weight)


def test_restricted_and_exact_generation_agree_and_report_their_entries(built):
    exact = built.generate("Select the cells", max_new_tokens=12, exact=True, stop_at_eos=False)
    fast = built.generate("Select the cells", max_new_tokens=12, k=8, stop_at_eos=False)
    assert exact.entries == fast.entries and len(fast.entries) == 12
    assert fast.text == b"".join(built.entry_bytes(e) for e in fast.entries).decode("utf-8", errors="replace")
    assert 0 <= fast.new_share <= 1 and fast.bytes_per_token > 0


def test_streamed_text_adds_up_to_the_generated_text(built):
    pieces = []
    out = built.generate("Open the", max_new_tokens=10, k=8, stop_at_eos=False, on_text=pieces.append)
    data = b"".join(built.entry_bytes(e) for e in out.entries)
    assert "".join(pieces) == data.decode("utf-8", errors="ignore")


def test_k_larger_than_the_vocabulary_is_refused(built):
    with pytest.raises(RetokError, match=f"larger than the vocabulary \\({SIZE} entries\\)"):
        built.generate("Open", k=SIZE + 1)


def test_an_index_built_for_other_rows_is_refused(tiny_setup, built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built.folder, copy)
    rows = np.load(copy / INPUT_FILE, mmap_mode="r+")
    rows[0] += 1.0  # row 0 is in the digest sample
    rows.flush()
    with pytest.raises(RetokError, match="built for other embeddings"):
        LargeVocab.load(copy, built.model)


def test_a_half_written_folder_is_refused(built, tmp_path):
    import shutil

    copy = tmp_path / "half"
    shutil.copytree(built.folder, copy)
    (copy / "index" / "index.faiss").write_bytes(b"not an index")
    with pytest.raises(RetokError, match="damaged or half-written"):
        LargeVocab.load(copy, built.model)
    (copy / "large_vocab.json").unlink()
    with pytest.raises(RetokError, match="not a large-vocabulary folder"):
        LargeVocab.load(copy, built.model)


def test_a_build_larger_than_memory_is_refused_before_any_work(tiny_setup, monkeypatch, tmp_path):
    folder, _, _, corpus = tiny_setup
    monkeypatch.setattr("retok.adaptive.large_vocab.build.available_memory", lambda: 1000)
    with pytest.raises(RetokError, match="GiB of memory.*--ivf-codes sq8"):
        build_large_vocab(folder / "model", tmp_path / "out", corpus=[corpus], config=LargeVocabConfig(size=SIZE), progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_estimate_grows_with_size_and_shrinks_with_sq8():
    flat = estimate_size(1_000_000, 576, tied=True, config=LargeVocabConfig())
    sq8 = estimate_size(1_000_000, 576, tied=True, config=LargeVocabConfig(ivf_codes="sq8"))
    assert 2e9 < flat.index_bytes < 2.6e9 and sq8.index_bytes < flat.index_bytes / 3


def test_a_corpus_too_small_for_the_size_says_how_many_entries_it_supports(tiny_setup, tmp_path):
    folder, _, _, _ = tiny_setup
    small = tmp_path / "small.txt"
    small.write_text("\n".join(ENGLISH) + "\n")
    with pytest.raises(RetokError, match="supports only .* entries at min_count 2"):
        build_large_vocab(folder / "model", tmp_path / "out", corpus=[small], config=LargeVocabConfig(size=SIZE), progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_an_interrupted_build_resumes_to_the_same_folder(tiny_setup, built, tmp_path, monkeypatch):
    folder, model, _, corpus = tiny_setup
    config = LargeVocabConfig(size=SIZE, chunk=1500, index="ivf", nlist=16, nprobe=16)
    from retok.index import NeighbourIndex

    calls = {"n": 0}
    original = NeighbourIndex.add

    def failing_add(self, vectors):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, vectors)

    monkeypatch.setattr(NeighbourIndex, "add", failing_add)
    with pytest.raises(KeyboardInterrupt):
        build_large_vocab(folder / "model", tmp_path / "again", corpus=[corpus], config=config, progress=False)
    assert json.loads((tmp_path / "again.partial" / "index.json").read_text())["done"] == 1500
    monkeypatch.setattr(NeighbourIndex, "add", original)
    out = build_large_vocab(folder / "model", tmp_path / "again", corpus=[corpus], config=config, progress=False)
    again = LargeVocab.load(out, model)
    assert torch.equal(again.input_rows, built.input_rows)
    h = torch.randn(16, built.info["dim"])
    assert torch.equal(again.best(h, k=8), built.best(h, k=8))


# ----------------------------------------------------------------------------- the command line


def test_cli_builds_generates_and_evaluates_dynamic_prefill(tiny_setup, tmp_path, capsys):
    from retok.cli import main

    folder, _, _, corpus = tiny_setup
    out = tmp_path / "lv"
    assert main(["large-vocab", "build", "--model", str(folder / "model"), "--train", str(corpus), "--out", str(out),
                 "--size", "3000", "--index", "ivf", "--nlist", "8", "--nprobe", "8"]) == 0
    assert "built 3,000 entries (ivf index)" in capsys.readouterr().out
    assert main(["large-vocab", "generate", "--model", str(out), "--prompt", "Open the", "--max-new-tokens", "5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Open the") and "5 tokens" in captured.err and "median step" in captured.err
    held = tmp_path / "held.txt"
    held.write_text("\n".join(synthetic_lines(60, seed=5)) + "\n")
    assert main(["dynamic", "eval", "--model", str(folder / "model"), "--text", str(held), "--reduction", "0,0.2",
                 "--window", "64", "--batch-size", "4", "--predictor", "fvt"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("reduction target 0%: achieved 0.0%") and lines[1].startswith("reduction target 20%")
    for feed in ("rows", "pieces"):
        assert main(["large-vocab", "score", "--model", str(out), "--text", str(held), "--window", "64", "--feed", feed]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("base vocabulary: ") and lines[1].startswith("3,000 entries: ") and "bits per byte" in lines[1]


@pytest.mark.parametrize("argv, message", [
    (["large-vocab", "build", "--model", "M", "--out", "O", "--size", "0"], "(--size) must be >= 1"),
    (["large-vocab", "build", "--model", "M", "--out", "O", "--index", "flat"], "index"),
    (["large-vocab", "generate", "--model", "nowhere", "--prompt", "x"], "not a large-vocabulary folder"),
    (["large-vocab", "generate", "--model", "nowhere", "--prompt", "x", "--k", "0"], "--k"),
    (["dynamic", "eval", "--model", "M", "--text", "T", "--reduction", "1.5"], "--reduction"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, capsys):
    from retok.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_an_empty_prompt_generates_from_the_document_separator_as_zip2zip_does(built):
    empty = built.generate("", max_new_tokens=6, k=8, stop_at_eos=False)
    assert len(empty.entries) == 6
    assert empty.entries == built.generate("", max_new_tokens=6, exact=True, stop_at_eos=False).entries


def test_generation_scores_the_base_vocabulary_by_default(built):
    default = built.generate("Open the", max_new_tokens=8, k=2, stop_at_eos=False)
    assert default.entries == built.generate("Open the", max_new_tokens=8, k=2, include_base=True, stop_at_eos=False).entries


def test_the_cli_includes_the_base_vocabulary_unless_told_not_to():
    from retok.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["large-vocab", "generate", "--model", "lv", "--prompt", "x"]).include_base is True
    assert parser.parse_args(["large-vocab", "generate", "--model", "lv", "--prompt", "x", "--no-include-base"]).include_base is False


@pytest.mark.parametrize("name", ["input_rows.npy", "pieces.npy", "large_vocab.json"])
def test_a_damaged_file_in_a_large_vocabulary_folder_is_named_in_one_line(built, tmp_path, name, capsys):
    import shutil

    from retok.cli import main

    copy = tmp_path / "lv"
    shutil.copytree(built.folder, copy)
    data = (copy / name).read_bytes()
    (copy / name).write_bytes(data[: len(data) // 2])
    assert main(["large-vocab", "generate", "--model", str(copy), "--prompt", "Open the"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{name} is damaged" in err[0] and "retok large-vocab build" in err[0], err


def test_the_normaliser_in_chunks_is_the_full_logsumexp():
    g = torch.Generator().manual_seed(2)
    h, rows = torch.randn(5, 8, generator=g), torch.randn(1000, 8, generator=g)
    torch.testing.assert_close(log_normaliser(h, rows, chunk=97), torch.logsumexp(h @ rows.T, dim=1))


def test_base_vocabulary_scoring_is_the_models_own_log_softmax(built):
    from retok.eval import document_separator

    line = synthetic_lines(1, seed=4)[0]
    got = score_text(built, line, merged=False)
    ids = built.tokenizer(line, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = built.model(torch.tensor([[document_separator(built.tokenizer)] + ids[:-1]])).logits[0]
    bits = -float(torch.log_softmax(logits.float(), -1)[torch.arange(len(ids)), ids].sum()) / np.log(2)
    assert got.tokens == len(ids) and got.bytes == len(line.encode()) and got.new_tokens == 0
    assert got.bits == pytest.approx(bits, rel=1e-4)


def test_large_vocabulary_scoring_cuts_the_same_bytes_into_fewer_entries(built):
    text = "\n".join(synthetic_lines(30, seed=5))
    base, large = score_text(built, text, merged=False, window=32), score_text(built, text, merged=True, window=32)
    assert large.bytes == base.bytes and large.windows == base.windows
    assert large.tokens < base.tokens and large.new_tokens > 0
    assert np.isfinite(large.bits) and large.bits > 0


def test_batched_generation_continues_each_prompt_as_it_would_alone(built):
    prompts = ["Select the cells", "Click", "The quick brown fox jumps over"]
    together = built.generate_batch(prompts, max_new_tokens=8, k=8)
    alone = [built.generate(p, max_new_tokens=8, k=8, stop_at_eos=False) for p in prompts]
    assert [g.entries for g in together] == [g.entries for g in alone]
    base = built.generate_batch(prompts, max_new_tokens=4, base_only=True)
    assert all(e < built.base_size for g in base for e in g.entries)


def test_entries_read_as_pieces_see_the_models_own_states(built):
    line = synthetic_lines(1, seed=6)[0]
    ids = built.tokenizer(line, add_special_tokens=False)["input_ids"]
    entries, h = built.entry_states(ids, feed="pieces")
    from retok.eval import document_separator

    with torch.no_grad():  # the model on base tokens from the separator, its own embeddings
        ids_in = torch.tensor([[document_separator(built.tokenizer)] + ids[:-1]])
        base_states = built.model.base_model(input_ids=ids_in).last_hidden_state[0]
    starts = np.cumsum([0] + [len(built.entry_ids(e)) for e in entries[:-1]])
    assert len(entries) < len(ids)
    torch.testing.assert_close(h, base_states[torch.from_numpy(starts)], rtol=1e-4, atol=1e-4)
    fed = built.generate("Select the cells", max_new_tokens=6, feed="pieces", stop_at_eos=False)
    assert len(fed.entries) == 6
    with pytest.raises(RetokError, match="feed must be one of"):
        built.generate("x", feed="ids")


def test_extensions_of_the_best_base_tokens_are_scored_beside_the_index_candidates(tiny_setup, built):
    folder, model, _, _ = tiny_setup
    lv = LargeVocab.load(built.folder, model, prefix=2, prefix_cap=5)
    first = np.asarray(lv.pieces[:, 0])
    base_ids = torch.tensor([[int(first[lv.base_size]), int(first[lv.base_size + 7])]])
    more = lv.extensions(base_ids)[0]
    more = more[more >= 0]
    assert 0 < len(more) <= 10 and all(int(first[e]) in base_ids[0].tolist() and e >= lv.base_size for e in more.tolist())
    h = torch.randn(2, lv.info["dim"])
    ids, logits = lv.restricted(h, k=4, include_base=True)
    top = (h @ lv.output_rows[: lv.base_size].T).topk(2, dim=1).indices
    for q in range(2):
        wanted = lv.extensions(top[q : q + 1])[0]
        assert set(wanted[wanted >= 0].tolist()) <= set(ids[q].tolist())
    torch.testing.assert_close(logits[ids >= 0], lv.scores(h, ids)[ids >= 0])
    with pytest.raises(RetokError, match="prefix must be"):
        LargeVocab.load(built.folder, model, prefix=-1)


def test_calibrating_an_older_folder_recomputes_the_prior_its_build_wrote(tiny_setup, built, tmp_path):
    import shutil

    from retok.adaptive.large_vocab.build import calibrate

    _, _, _, corpus = tiny_setup
    old = tmp_path / "old"
    shutil.copytree(built.folder, old)
    (old / "base_bias.npy").unlink()
    calibrate(old, [corpus], progress=False)
    np.testing.assert_array_equal(np.load(old / "base_bias.npy"), np.load(built.folder / "base_bias.npy"))
