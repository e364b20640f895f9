"""Batch-level dynamic tokenization on tiny in-process fixtures: segments, merges, embeddings, the continuation protocol."""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from retok.adaptive.dynamic import (
    BOUNDARIES,
    continuation_bits_per_byte,
    continuation_nll,
    merge_batch,
    merge_texts,
    merged_embeddings,
    segment_ids,
    unit_key,
)
from retok.transfer.embeddings import TokenEmbeddings
from retok.errors import RetokError
from retok.eval import scoring_ids
from retok.vocab.pieces import pad_pieces
from retok.transfer.row_predictors import RowCache, make_predictor
from retok.testing import ENGLISH, GERMAN, tiny_gemma_style_tokenizer, tiny_llama, tiny_tokenizer
from retok.vocab.canonical import CanonicalVocab

TEXT = "\n".join(ENGLISH + GERMAN)


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer(ENGLISH + GERMAN)


@pytest.fixture(scope="module")
def vocab(tok):
    return CanonicalVocab.of(tok)


@pytest.fixture(scope="module")
def batch(tok):
    """Four 48-token windows of the tiny corpus, the shape of a merged batch of contexts."""
    ids = scoring_ids(tok, TEXT)
    return [ids[i * 60 : i * 60 + 48] for i in range(4)]


@pytest.fixture(scope="module")
def model(tok):
    return tiny_llama(len(tok))


@pytest.fixture(scope="module")
def predictor(model, tok):
    return make_predictor("fvt", TokenEmbeddings.from_model(model, tok))


def flat(units):
    return [i for unit in units for i in unit]


def unit_spans(vocab, units):
    """[start, end) byte offsets of each unit in the sequence's text."""
    spans, offset = [], 0
    for unit in units:
        n = sum(len(vocab.keys[i]) for i in unit)
        spans.append((offset, offset + n))
        offset += n
    return spans


def no_pair_left(segments, units):
    """No two neighbouring units share a segment (a unit's segment is its first base token's)."""
    for sg, row in zip(segments, units):
        firsts, offset = [], 0
        for unit in row:
            firsts.append(sg[offset])
            offset += len(unit)
        if any(a == b for a, b in zip(firsts, firsts[1:])):
            return False
    return True


def replay(sequences, segments, chosen):
    """Apply ``chosen`` merges naively (recounting every step), checking each was a most frequent valid pair."""
    units = [[((i,), s) for i, s in zip(seq, sg)] for seq, sg in zip(sequences, segments)]
    for left, right in chosen:
        counts = Counter((a[0], b[0]) for row in units for a, b in zip(row, row[1:]) if a[1] == b[1])
        assert counts[(left, right)] == max(counts.values()), f"{left}+{right} was not a most frequent pair"
        for r, row in enumerate(units):
            out, k = [], 0
            while k < len(row):
                if k + 1 < len(row) and (row[k][0], row[k + 1][0]) == (left, right) and row[k][1] == row[k + 1][1]:
                    out.append((left + right, row[k][1]))
                    k += 2
                else:
                    out.append(row[k])
                    k += 1
            units[r] = out
    return [[u for u, _ in row] for row in units]


# --------------------------------------------------------------------------- merges


@pytest.mark.parametrize("budget", [{"reduction": 0.0}, {"merges": 0}], ids=["reduction0", "merges0"])
def test_zero_budget_returns_the_base_ids(batch, vocab, budget):
    merged = merge_texts(vocab, batch, **budget)
    assert merged.units == [[(i,) for i in seq] for seq in batch]
    assert merged.merges == [] and merged.length == merged.base_length and merged.reduction == 0.0


def test_known_answer_with_first_seen_tie_break():
    # (1,2) and (2,3) tie at 2; (1,2) is seen first. Then (12,3) x2 beats (3,12) x1.
    merged = merge_batch([[1, 2, 3, 1, 2, 3]], [[0] * 6], merges=2)
    assert merged.merges == [((1,), (2,)), ((1, 2), (3,))]
    assert merged.units == [[(1, 2, 3), (1, 2, 3)]]


def test_overlapping_occurrences_merge_left_to_right():
    assert merge_batch([[7, 7, 7]], [[0, 0, 0]], merges=1).units == [[(7, 7), (7,)]]


def test_chosen_pair_is_the_most_frequent_across_the_batch():
    # Sequence 0 alone would merge (1, 2) (twice there, and first in batch order); across the batch (3, 4) wins, 1 + 3 times.
    sequences = [[1, 2, 5, 1, 2, 3, 4], [3, 4, 9, 3, 4, 8, 3, 4]]
    merged = merge_batch(sequences, [[0] * 7, [0] * 8], merges=1)
    assert merged.merges == [((3,), (4,))]
    assert merged.units[0] == [(1,), (2,), (5,), (1,), (2,), (3, 4)]


def test_pairs_across_a_segment_boundary_never_merge():
    merged = merge_batch([[1, 2, 1, 2, 1, 2]], [[0, 0, 1, 1, 2, 2]], merges=10)
    assert merged.merges == [((1,), (2,))] and merged.units == [[(1, 2)] * 3]


@pytest.mark.parametrize("reduction", [0.1, 0.3, 0.6])
def test_every_merge_is_a_most_frequent_pair(batch, vocab, reduction):
    segments = [segment_ids(vocab, seq) for seq in batch]
    merged = merge_batch(batch, segments, reduction=reduction)
    assert replay(batch, segments, [(a, b) for a, b in merged.merges]) == merged.units


@pytest.mark.parametrize("boundary", sorted(BOUNDARIES))
def test_units_concatenate_back_to_the_sequence(batch, vocab, boundary):
    merged = merge_texts(vocab, batch, boundary=boundary, reduction=0.5)
    assert [flat(row) for row in merged.units] == batch
    assert merged.length == sum(map(len, merged.units))


@pytest.mark.parametrize("reduction", [0.1, 0.4, 0.7, 0.95])
def test_reduction_target_is_met_or_no_pair_is_left(batch, vocab, reduction):
    segments = [segment_ids(vocab, seq) for seq in batch]
    merged = merge_batch(batch, segments, reduction=reduction)
    if merged.length > (1 - reduction) * merged.base_length:
        assert reduction > 0.5, "the tiny corpus has pairs enough for moderate targets"
        assert no_pair_left(segments, merged.units)
    else:
        assert merged.reduction >= reduction


def test_merges_n_applies_exactly_n_and_stops_when_pairs_run_out(batch, vocab):
    assert len(merge_texts(vocab, batch, merges=7).merges) == 7
    segments = [segment_ids(vocab, seq) for seq in batch]
    everything = merge_batch(batch, segments, merges=100_000)
    assert len(everything.merges) < 100_000 and no_pair_left(segments, everything.units)


def test_merging_is_deterministic(batch, vocab):
    a, b = merge_texts(vocab, batch, reduction=0.5), merge_texts(vocab, [list(s) for s in batch], reduction=0.5)
    assert a.merges == b.merges and a.units == b.units


# --------------------------------------------------------------------------- segments


def test_no_unit_crosses_a_pretoken(tok, vocab):
    ids = scoring_ids(tok, TEXT)
    units = merge_texts(vocab, [ids], boundary="pretokens", reduction=0.6).units[0]
    pre = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(TEXT)
    spans = [(len(TEXT[:a].encode()), len(TEXT[:b].encode())) for _, (a, b) in pre]
    for unit, (start, end) in zip(units, unit_spans(vocab, units)):
        assert any(s <= start and end <= e for s, e in spans), f"unit {unit_key(vocab, unit)!r} crosses a pre-token"


def test_word_units_hold_no_whitespace_after_a_non_whitespace(batch, vocab):
    merged = merge_texts(vocab, batch, boundary="word", reduction=0.6)
    keys = [unit_key(vocab, u) for row in merged.units for u in row if len(u) > 1]
    assert keys, "some merge happened"
    assert not [k for k in keys if re.search(rb"\S\s", k)]


def test_sentence_units_stop_at_sentence_ends_and_newlines(batch, vocab):
    merged = merge_texts(vocab, batch, boundary="sentence", reduction=0.8)
    keys = [unit_key(vocab, u) for row in merged.units for u in row if len(u) > 1]
    assert any(b" " in k.strip() for k in keys), "sentence units should span words"
    assert not [k for k in keys if re.search(rb"[.!?]\s|[^\n]\n", k)]


def test_sentence_segments_known_answer(tok, vocab):
    ids = tok.encode("Go. Now\nthen", add_special_tokens=False)
    segments = segment_ids(vocab, ids, "sentence")
    text_of = {}
    for i, s in zip(ids, segments):
        text_of[s] = text_of.get(s, b"") + vocab.keys[i]
    assert list(text_of.values()) == [b"Go.", b" Now", b"\nthen"]


def test_special_tokens_are_a_segment_of_their_own(tok, vocab):
    ids = tok.encode("the cells<|endoftext|>the cells", add_special_tokens=False)
    special = ids.index(tok.convert_tokens_to_ids("<|endoftext|>"))
    segments = segment_ids(vocab, ids, "sentence")
    assert segments.count(segments[special]) == 1
    merged = merge_batch([ids], [segments], merges=1000)
    assert (ids[special],) in merged.units[0]
    assert not [u for u in merged.units[0] if len(u) > 1 and ids[special] in u]


def test_pretokens_fall_back_to_words_without_a_pre_tokenizer():
    gemma = tiny_gemma_style_tokenizer()
    assert gemma.backend_tokenizer.pre_tokenizer is None
    vocab = CanonicalVocab.of(gemma)
    ids = gemma.encode(" ".join(ENGLISH[:3]), add_special_tokens=False)
    assert segment_ids(vocab, ids, "pretokens") == segment_ids(vocab, ids, "word")


# --------------------------------------------------------------------------- embeddings


def test_merged_embeddings_copy_base_rows_predict_merged_ones_and_count_hits(batch, vocab, model, predictor):
    units = [u for row in merge_texts(vocab, batch, reduction=0.4).units for u in row]
    table = model.get_input_embeddings().weight.detach()
    cache = RowCache(predictor)
    rows = merged_embeddings(units, table, vocab, cache)
    assert rows.shape == (len(units), table.shape[1]) and rows.dtype == table.dtype
    single = [k for k, u in enumerate(units) if len(u) == 1]
    merged = [k for k, u in enumerate(units) if len(u) > 1]
    assert torch.equal(rows[single], table[[units[k][0] for k in single]])
    expected, _ = predictor.predict(pad_pieces([units[k] for k in merged]))
    torch.testing.assert_close(rows[merged], expected.to(table.dtype))
    distinct = len({units[k] for k in merged})
    assert (cache.misses, cache.hits) == (distinct, len(merged) - distinct)
    merged_embeddings(units, table, vocab, cache)
    assert cache.misses == distinct and cache.hits == 2 * len(merged) - distinct


def test_a_merge_that_spells_a_base_token_takes_that_tokens_own_row(vocab, model, predictor):
    token, key = next((i, k) for i, k in enumerate(vocab.keys) if k and len(k) >= 3 and k[:1] in vocab.key_to_id and k[1:] in vocab.key_to_id)
    split = (vocab.key_to_id[key[:1]], vocab.key_to_id[key[1:]])  # another split of the same bytes
    table = model.get_input_embeddings().weight.detach()
    cache = RowCache(predictor)
    rows = merged_embeddings([split], table, vocab, cache)
    assert torch.equal(rows[0], table[token]) and cache.misses == 0


# --------------------------------------------------------------------------- evaluation


def plain_bits_per_byte(model, tok, text, window):
    """The unmerged model on the same continuations: a straightforward forward pass over each window's base ids."""
    ids = scoring_ids(tok, text)
    half, nll, n_bytes = window // 2, 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids) - window + 1, window):
            w = torch.tensor(ids[s : s + window])
            logits = model(input_ids=w[None, :-1]).logits[0]
            nll += float(F.cross_entropy(logits[half - 1 :].double(), w[half:], reduction="sum"))
            n_bytes += len(tok.decode(w[half:]).encode("utf-8"))
    return nll / math.log(2) / n_bytes


def test_reduction_zero_is_the_plain_model(tok, model, predictor):
    text = "\n".join(ENGLISH[:6])  # ASCII: every continuation decodes to its exact bytes
    result = continuation_bits_per_byte(model, tok, text, predictor, reduction=0.0, window=40, batch_size=3)
    assert result.windows >= 4 and result.merges == 0 and result.context_units == result.context_tokens
    assert result.bits_per_byte == pytest.approx(plain_bits_per_byte(model, tok, text, 40), abs=1e-5)


def tiny_gpt2(vocab_size: int):
    """GPT-2 has absolute position embeddings: a window fed at the wrong positions scores differently (RoPE would not notice)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=128)).eval()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_left_padding_gives_the_same_nll_as_one_window_at_a_time(batch, vocab, tok, model, arch):
    model = model if arch == "llama" else tiny_gpt2(len(tok))
    table = model.get_input_embeddings().weight.detach()
    merged = merge_texts(vocab, [w[:24] for w in batch], reduction=0.3)
    assert len({len(row) for row in merged.units}) > 1, "contexts of different lengths exercise the padding"
    cache = RowCache(make_predictor("fvt", TokenEmbeddings.from_model(model, tok)))
    contexts = [merged_embeddings(row, table, vocab, cache) for row in merged.units]
    continuations = torch.tensor([w[24:] for w in batch])
    with torch.inference_mode():
        together = continuation_nll(model, contexts, continuations)
        alone = torch.cat([continuation_nll(model, [c], continuations[b : b + 1]) for b, c in enumerate(contexts)])
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=0)


def test_dynamic_result_reports_the_achieved_reduction(tok, model, predictor):
    result = continuation_bits_per_byte(model, tok, TEXT, predictor, reduction=0.3, window=48, batch_size=4, max_windows=4)
    assert result.windows == 4 and result.target_reduction == 0.3
    assert result.reduction >= 0.3 and result.reduction == pytest.approx(1 - result.context_units / result.context_tokens)
    assert result.cache_misses > 0 and math.isfinite(result.bits_per_byte)
    assert result.to_dict()["predictor"] == "fvt" and result.to_dict()["boundary"] == "pretokens"


# --------------------------------------------------------------------------- errors


def test_unknown_boundary_suggests_the_closest(batch, vocab):
    with pytest.raises(RetokError, match="Did you mean 'pretokens'"):
        segment_ids(vocab, batch[0], "pretoken")


@pytest.mark.parametrize(
    ("budget", "message"),
    [({"reduction": 1.5}, r"reduction must be in \[0, 1\)"), ({}, "exactly one of"),
     ({"reduction": 0.2, "merges": 3}, "exactly one of"), ({"merges": -1}, "merges must be")],
)
def test_bad_merge_budget_raises(budget, message):
    with pytest.raises(RetokError, match=message):
        merge_batch([[1, 2]], [[0, 0]], **budget)


def test_bad_evaluation_inputs_raise(tok, model, predictor):
    with pytest.raises(RetokError, match=r"has \d+ tokens but a window needs 512"):
        continuation_bits_per_byte(model, tok, ENGLISH[0], predictor)
    with pytest.raises(RetokError, match="even number of tokens >= 4"):
        continuation_bits_per_byte(model, tok, TEXT, predictor, window=7)
    with pytest.raises(RetokError, match=r"reduction must be in \[0, 1\)"):
        continuation_bits_per_byte(model, tok, TEXT, predictor, reduction=1.5, window=32)
    with pytest.raises(RetokError, match="unknown merge boundary"):
        continuation_bits_per_byte(model, tok, TEXT, predictor, boundary="words", window=32)
    other = make_predictor("fvt", TokenEmbeddings.from_model(tiny_llama(len(tok) + 8), tok))
    with pytest.raises(RetokError, match="predictor was built over 308"):
        continuation_bits_per_byte(model, tok, TEXT, other, window=32)
