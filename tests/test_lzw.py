"""retok.adaptive.lzw: the zip2zip LZW codec. Stored vectors from zip2zip-compression==0.3.4, properties, errors.

``tests/data/lzw_reference.json`` was written once by ``recipes/lzw_reference.py --write-vectors``
with the package; these tests need neither the package nor torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from retok.errors import RetokError
from retok.adaptive.lzw import (Codebook, LZWConfig, batch_decode, batch_encode, check_ids, compression_ratio, decode, encode,
                       encode_with_codebook)

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "data" / "lzw_reference.json").read_text(encoding="utf-8"))
FAST = settings(max_examples=150, deadline=None, database=None)  # no .hypothesis folder in the repo


# --------------------------------------------------------------------------------------------
# stored vectors (zip2zip-compression 0.3.4)


def test_vectors_were_made_with_the_pinned_package():
    assert VECTORS["package"] == "zip2zip-compression==0.3.4"
    assert (ROOT / "tests" / "data" / "lzw_reference.json").stat().st_size < 300_000


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_encode_equals_package_codes_and_codebook(case):
    config = LZWConfig.from_dict(case["config"])
    assert encode(case["ids"], config) == case["codes"]
    codes, book = encode_with_codebook(case["ids"], config)
    assert codes == case["codes"]
    assert [list(e) for e in book.entries] == case["entries"]
    decoder = Codebook(config)
    assert decoder.extend(case["codes"]) == case["ids"]
    assert decoder.entries == book.entries


@pytest.mark.parametrize("case", VECTORS["batches"], ids=lambda c: f"{c['padding']}-{c['truncation']}-{c['max_length']}")
def test_batch_encode_equals_package(case):
    config = LZWConfig.from_dict(case["config"])
    codes, mask = batch_encode(case["seqs"], config, padding=case["padding"], truncation=case["truncation"],
                               max_length=case["max_length"])
    assert codes == case["codes"]
    assert mask == case["mask"]  # the rows hold no real pad id, so the package's `code != pad` mask agrees


@pytest.mark.parametrize("case", VECTORS["online"], ids=[c["name"] for c in VECTORS["online"]])
def test_online_feed_installs_the_slots_the_package_manager_installs(case):
    book = Codebook(LZWConfig.from_dict(case["config"]))
    base = []
    for code, installed in zip(case["codes"], case["installed"]):
        base += book.feed(code)
        assert book.last_installed == installed
    assert base == case["stream"]
    assert [list(e) for e in book.entries] == case["entries"]


def test_worked_example_of_the_rust_tests():
    config = LZWConfig(27, 100, 5, pad_token_id=0)
    codes, book = encode_with_codebook([1, 2, 3, 4, 5] * 3, config)
    assert codes == [1, 2, 3, 4, 5, 27, 29, 31, 28, 30]
    assert book.to_dict() == {27: [1, 2], 28: [2, 3], 29: [3, 4], 30: [4, 5], 31: [5, 1], 32: [1, 2, 3],
                              33: [3, 4, 5], 34: [5, 1, 2], 35: [2, 3, 4]}


def test_cscsc_code_decodes_as_buffer_plus_its_first_id():
    config = LZWConfig(27, 100, 5)
    assert encode([1, 1, 1], config) == [1, 27]
    book = Codebook(config)
    book.feed(1)
    assert book.pending() == (1, 1)
    assert book.feed(27) == [1, 1]
    assert book.last_installed == [0] and book.entries == [(1, 1)]


# --------------------------------------------------------------------------------------------
# properties


@st.composite
def configs(draw, max_k=40):
    v0 = draw(st.integers(1, 12))
    disabled = draw(st.sets(st.integers(0, v0 - 1), max_size=min(3, v0 - 1)))
    pad = draw(st.one_of(st.none(), st.integers(0, v0 - 1)))
    return LZWConfig(v0, draw(st.integers(0, max_k)), draw(st.integers(2, 5)), frozenset(disabled), pad)


@st.composite
def streams(draw, max_k=40):
    config = draw(configs(max_k))
    alphabet = draw(st.integers(1, config.initial_vocab_size))
    ids = draw(st.lists(st.integers(0, alphabet - 1), max_size=150))
    return config, ids


def random_segmentation(ids, config, rnd):
    """Codes for ``ids`` that mix base ids, installed hyper ids and the pending id at random."""
    book = Codebook(config)
    v0 = config.initial_vocab_size
    codes, i = [], 0
    while i < len(ids):
        options = [ids[i]]
        options += [v0 + k for k, e in enumerate(book.entries) if tuple(ids[i:i + len(e)]) == e]
        pending = book.pending()
        if pending is not None and tuple(ids[i:i + len(pending)]) == pending:
            options.append(v0 + len(book))
        code = rnd.choice(options)
        codes.append(code)
        i += len(book.feed(code))
    return codes


@FAST
@given(streams())
def test_decode_inverts_encode(case):
    config, ids = case
    assert decode(encode(ids, config), config) == ids


@FAST
@given(streams())
def test_decoder_codebook_equals_encoder_codebook(case):
    config, ids = case
    codes, book = encode_with_codebook(ids, config)
    decoder = Codebook(config)
    decoder.extend(codes)
    assert decoder.entries == book.entries
    assert decoder.pending() == book.pending()


@FAST
@given(streams())
def test_feeding_one_code_at_a_time_builds_the_decode_codebook(case):
    config, ids = case
    codes, book = encode_with_codebook(ids, config)
    online = Codebook(config)
    installed = []
    base = []
    for code in codes:
        base += online.feed(code)
        installed += online.last_installed
    assert base == ids
    assert online.entries == book.entries
    assert installed == list(range(len(book)))  # each slot once, in order


@FAST
@given(streams(), st.randoms(use_true_random=False))
def test_any_valid_segmentation_decodes_to_the_same_ids_and_codebook(case, rnd):
    config, ids = case
    codes = random_segmentation(ids, config, rnd)
    book = Codebook(config)
    assert book.extend(codes) == ids
    assert book.entries == encode_with_codebook(ids, config)[1].entries


@FAST
@given(streams(), st.randoms(use_true_random=False))
def test_pending_is_exactly_the_entry_the_next_free_slot_installs(case, rnd):
    config, ids = case
    v0 = config.initial_vocab_size
    book = Codebook(config)
    for code in random_segmentation(ids, config, rnd) + [None]:
        pending = book.pending()
        trial = book.copy()
        if pending is None:
            with pytest.raises(RetokError):
                trial.feed(v0 + len(book))
        else:
            assert len(pending) <= config.max_subtokens and pending not in book.entries
            assert trial.feed(v0 + len(book)) == list(pending)
            assert trial.last_installed == [len(book)]
            assert trial.entries == book.entries + [pending]
        if code is not None:
            book.feed(code)


@FAST
@given(streams())
def test_canonical_codes_name_only_installed_or_pending_slots(case):
    config, ids = case
    v0 = config.initial_vocab_size
    book = Codebook(config)
    for code in encode(ids, config):
        if code >= v0 and code - v0 >= len(book):
            assert code == v0 + len(book) and book.pending() is not None
        book.feed(code)


@FAST
@given(st.integers(1, 12).flatmap(lambda v0: st.tuples(st.just(v0), st.lists(st.integers(0, v0 - 1), max_size=100))))
def test_k0_codes_equal_ids(case):
    v0, ids = case
    config = LZWConfig(v0, 0, 4)
    assert encode(ids, config) == ids
    codes, book = encode_with_codebook(ids, config)
    assert codes == ids and book.entries == [] and book.full and book.pending() is None


@FAST
@given(streams())
def test_no_entry_contains_a_disabled_id(case):
    config, ids = case
    _, book = encode_with_codebook(ids, config)
    assert not any(set(e) & config.disabled_ids for e in book.entries)
    if config.pad_token_id is not None:
        assert config.pad_token_id in config.disabled_ids


@FAST
@given(streams(max_k=200))
def test_entries_are_prefix_closed_distinct_and_2_to_m_long(case):
    config, ids = case
    _, book = encode_with_codebook(ids, config)
    entries = book.entries
    known = set(entries)
    assert len(known) == len(entries) <= config.max_codebook_size
    for e in entries:
        assert 2 <= len(e) <= config.max_subtokens
        assert len(e) == 2 or e[:-1] in known


@FAST
@given(streams(max_k=3))
def test_full_codebook_stops_growing_but_still_decodes(case):
    config, ids = case
    codes, book = encode_with_codebook(ids, config)
    assert len(book) <= config.max_codebook_size
    assert book.full == (len(book) == config.max_codebook_size)
    assert decode(codes, config) == ids
    assert all(c < config.hyper_vocab_size for c in codes)


@FAST
@given(streams(), st.integers(1, 30))
def test_truncation_keeps_a_prefix_of_the_full_encoding(case, max_length):
    config, ids = case
    codes, _ = batch_encode([ids], config, padding="do_not_pad", truncation=True, max_length=max_length)
    assert codes[0] == encode(ids, config)[:max_length]


@FAST
@given(configs(), st.lists(st.lists(st.integers(0, 3), max_size=40), min_size=1, max_size=4))
def test_batch_encode_left_pads_and_its_mask_counts_the_codes(config, seqs):
    config = LZWConfig(config.initial_vocab_size + 4, config.max_codebook_size, config.max_subtokens,
                       config.disabled_ids, 0 if config.pad_token_id is None else config.pad_token_id)
    codes, mask = batch_encode(seqs, config)
    width = max(len(encode(s, config)) for s in seqs)
    for seq, row, m in zip(seqs, codes, mask):
        real = encode(seq, config)
        assert len(row) == len(m) == width
        assert sum(m) == len(real) and m == [0] * (width - len(real)) + [1] * len(real)
        assert row == [config.pad_token_id] * (width - len(real)) + real
    assert batch_decode(codes, config, attention_mask=mask) == seqs


def test_mask_comes_from_lengths_not_from_the_pad_id():
    config = LZWConfig(10, 20, 3, pad_token_id=2)  # pad == a real EOS id
    codes, mask = batch_encode([[5, 6, 2], [2]], config)
    assert codes == [[5, 6, 2], [2, 2, 2]]
    assert mask == [[1, 1, 1], [0, 0, 1]]
    assert batch_decode(codes, config, attention_mask=mask) == [[5, 6, 2], [2]]
    assert batch_decode(codes, config) == [[5, 6, 2], []]  # without the mask a leading pad id is padding


def test_codebook_copy_is_independent():
    config = LZWConfig(5, 10, 3)
    book = Codebook(config)
    book.extend([1, 2])
    twin = book.copy()
    twin.extend([1, 2, 3])
    assert book.entries == [(1, 2)] and len(twin) > 1
    assert book.subtokens(5) == (1, 2) and book.subtokens(3) == (3,)


def test_config_round_trips_through_json_and_folds_pad_into_disabled():
    config = LZWConfig(100, 64, 4, disabled_ids=[5, 3], pad_token_id=0)
    assert config.disabled_ids == frozenset({0, 3, 5})
    assert config.hyper_vocab_size == 164
    d = json.loads(json.dumps(config.to_dict()))
    assert d["disabled_ids"] == [0, 3, 5]
    assert LZWConfig.from_dict(d) == config


class _FakeTokenizer:
    """Duck-typed HF tokenizer: 0 <pad>, 1 <s>, 2 </s>, ... and one added token."""

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "a": 3, "Ġ12": 4, "▁7": 5, "12a": 6, "Ġ": 7, "3": 8, "<|user|>": 9}
    all_special_ids = [0, 1, 2]
    pad_token_id = 0

    def __len__(self):
        return len(self.vocab)

    def get_added_vocab(self):
        return {"<|user|>": 9}

    def get_vocab(self):
        return dict(self.vocab)


def test_from_tokenizer_disables_specials_added_tokens_pad_and_optionally_digits():
    tok = _FakeTokenizer()
    config = LZWConfig.from_tokenizer(tok, max_codebook_size=16, max_subtokens=3)
    assert config.initial_vocab_size == 10 and config.disabled_ids == frozenset({0, 1, 2, 9})
    assert config.pad_token_id == 0 and config.max_codebook_size == 16 and config.max_subtokens == 3
    digits = LZWConfig.from_tokenizer(tok, vocab_size=16, protect_digits=True)
    assert digits.initial_vocab_size == 16
    assert digits.disabled_ids == frozenset({0, 1, 2, 9, 4, 5, 8})
    with pytest.raises(RetokError, match="smaller than the tokenizer"):
        LZWConfig.from_tokenizer(tok, vocab_size=5)


def test_accepts_tuples_ranges_and_array_like_ids():
    class ArrayLike:
        def tolist(self):
            return [1, 2, 1, 2, 1]

    config = LZWConfig(5, 10, 3)
    assert encode((1, 2, 1, 2, 1), config) == encode(range(1, 3), config) + [5, 1] == encode(ArrayLike(), config)
    assert check_ids((1, 2), config) == [1, 2]


def test_compression_ratio():
    assert compression_ratio(15, 10) == 1.5
    assert compression_ratio(0, 0) == 1.0
    with pytest.raises(RetokError):
        compression_ratio(3, 0)


def test_module_imports_neither_torch_nor_numpy():
    code = ("import sys; import retok.adaptive.lzw; "
            "bad = [m for m in ('torch', 'numpy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --------------------------------------------------------------------------------------------
# errors


def test_ids_outside_the_base_vocabulary_are_rejected_with_their_position():
    config = LZWConfig(49152, 2048, 4)
    ids = [5] * 12 + [50000, 7]
    with pytest.raises(RetokError, match=r"token id 50000 at position 12 is outside the base vocabulary 0\.\.49151"):
        encode(ids, config)
    with pytest.raises(RetokError, match="-1 at position 0"):
        encode([-1], config)
    with pytest.raises(RetokError, match="not an integer"):
        encode([1, 2.5, "x"], config)
    with pytest.raises(RetokError, match="sequence 1"):
        batch_encode([[1], [49152]], config, padding="do_not_pad")


@pytest.mark.parametrize("m", [0, 1, -3])
def test_max_subtokens_below_2_is_rejected(m):
    with pytest.raises(RetokError, match="max_subtokens must be at least 2"):
        LZWConfig(10, 10, m)


@pytest.mark.parametrize("kwargs, match", [
    ({"initial_vocab_size": 0}, "initial_vocab_size must be at least 1"),
    ({"max_codebook_size": -1}, "max_codebook_size must be >= 0"),
    ({"disabled_ids": [10]}, "disabled id 10 is outside"),
    ({"disabled_ids": [-1]}, "disabled id -1 is outside"),
    ({"pad_token_id": 10}, "pad_token_id 10 is outside"),
])
def test_bad_config_values_are_rejected(kwargs, match):
    args = {"initial_vocab_size": 10, "max_codebook_size": 5, "max_subtokens": 3, **kwargs}
    with pytest.raises(RetokError, match=match):
        LZWConfig(**args)


def test_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(RetokError, match="unknown"):
        LZWConfig.from_dict({"initial_vocab_size": 5, "max_codebook_size": 1, "max_subtokens": 2, "clear_code": 3})
    with pytest.raises(RetokError, match="missing"):
        LZWConfig.from_dict({"initial_vocab_size": 5})


@pytest.mark.parametrize("codes, match", [
    ([27], "next free slot"),              # nothing to extend yet (the package panics here)
    ([1, 28], "slot 1\\) is not installed"),  # not the next free slot (the package installs it anyway)
    ([1, 127], "outside 0..126"),            # past V0 + K
    ([1, 1, 28], "next free slot"),          # [1] + [1] is already entry 27, so 28 cannot be read yet
])
def test_unknown_hyper_ids_are_rejected(codes, match):
    with pytest.raises(RetokError, match=match):
        decode(codes, LZWConfig(27, 100, 5))


def test_subtokens_of_an_unknown_hyper_id_is_an_error():
    book = Codebook(LZWConfig(27, 100, 5))
    with pytest.raises(RetokError, match="not installed"):
        book.subtokens(27)
    with pytest.raises(RetokError, match="outside"):
        book.subtokens(500)


def test_batch_options_that_cannot_work_are_rejected():
    config = LZWConfig(10, 5, 3)  # no pad id
    with pytest.raises(RetokError, match="needs a pad id"):
        batch_encode([[1, 2]], config)
    assert batch_encode([[1, 2], [3]], config, padding="do_not_pad") == ([[1, 2], [3]], [[1, 1], [1]])
    with pytest.raises(RetokError, match="truncation needs max_length"):
        batch_encode([[1]], config, padding="do_not_pad", truncation=True)
    with pytest.raises(RetokError, match="padding must be one of"):
        batch_encode([[1]], config, padding="right")
