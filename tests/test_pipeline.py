"""retok.vocab.pipeline: one description of a tokenizer's pipeline, shared by vocab and tokenizer training.

The agreement tests run on every tokenizer builder in retok.testing (a new builder must say its
family in FAMILY_OF_FIXTURE) and check that vocab's view (the family behind canonical keys) and
tokenizer training's view (what a tokenizer trained ``like`` the source inherits) are the same.
"""

from __future__ import annotations

import inspect
import typing

import pytest
from transformers import PreTrainedTokenizerBase

from retok import testing
from retok.errors import RetokError
from retok.testing import GERMAN
from retok.vocab.pipeline import (
    BYTE_TOKENS,
    backend_json,
    byte_token_value,
    family_of,
    find_component,
    is_space_marker_step,
    mentions,
    pipeline_spec,
    writes_space_marker,
)
from retok.vocab.train import train_tokenizer
from retok.vocab.canonical import CanonicalVocab, byte_to_unicode, detect_family

FAMILY_OF_FIXTURE = {
    "tiny_tokenizer": "byte_level",  # SmolLM2-style byte-level BPE
    "tiny_metaspace_tokenizer": "metaspace",  # Llama-2-style: Metaspace pre-tokenizer + byte fallback
    "tiny_gemma_style_tokenizer": "metaspace",  # Gemma-style: Replace(" ", "▁") normalizer + byte fallback
    "tiny_wordpiece_tokenizer": "wordpiece",  # BERT-style
    "tiny_gpt2_tokenizer": "byte_level",  # GPT-2 regex, <|endoftext|> after the vocabulary, no pad
    "tiny_prefix_space_tokenizer": "byte_level",  # GPT-2 with ByteLevel(add_prefix_space=True)
    "tiny_llama3_tokenizer": "byte_level",  # Split(Llama-3 regex) + ByteLevel(use_regex=False), BOS by template, no pad
    "tiny_qwen2_tokenizer": "byte_level",  # NFC + Split(Qwen2 regex) + ByteLevel(use_regex=False), no bos
    "tiny_llama2_tokenizer": "metaspace",  # legacy Llama-2: Prepend("▁") + Replace(" ", "▁") normalizer + byte fallback
    "tiny_sentencepiece_bpe_tokenizer": "metaspace",  # Metaspace(prepend_scheme="always") + byte fallback
    "tiny_unigram_tokenizer": "metaspace",  # T5-style Unigram, Metaspace("always"), byte fallback, </s> by template
}
# What a tokenizer of each family holds: (<0xNN> byte fallback, byte-level symbols for text bytes, a ## continuation prefix).
TRAITS_OF_FAMILY = {
    "byte_level": (False, True, False),
    "metaspace": (True, False, False),
    "wordpiece": (False, False, True),
}
# The bytes of printable text: ASCII without controls, UTF-8 continuation bytes and the lead bytes up to
# planes 0-3 (0xF0: emoji, CJK extensions). Real byte-level vocabularies may lack the other byte symbols:
# SmolLM2 lacks 0xC0, 0xC1 and 0xF5-0xFF (never in UTF-8), 0xF1-0xF2 (planes 4-11, unassigned) and six controls.
TEXT_BYTES = [*range(0x20, 0x7F), *range(0x80, 0xC0), *range(0xC2, 0xF1)]
TEXT = "Format the Text in the Dialog"  # every letter is in GERMAN, so even WordPiece needs no [UNK]


def fixture_builders() -> dict[str, typing.Callable[[], PreTrainedTokenizerBase]]:
    """Every public function of retok.testing that builds a tokenizer from its defaults."""
    builders = {}
    for name, fn in inspect.getmembers(testing, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != testing.__name__:
            continue
        returns = typing.get_type_hints(fn).get("return")
        needs_nothing = all(p.default is not p.empty for p in inspect.signature(fn).parameters.values())
        if inspect.isclass(returns) and issubclass(returns, PreTrainedTokenizerBase) and needs_nothing:
            builders[name] = fn
    return builders


@pytest.fixture(scope="module")
def sources() -> dict[str, PreTrainedTokenizerBase]:
    return {name: build() for name, build in fixture_builders().items()}


@pytest.fixture(scope="module")
def trained(sources) -> dict[str, PreTrainedTokenizerBase]:
    return {name: train_tokenizer(GERMAN, vocab_size=400, like=tok, progress=False) for name, tok in sources.items()}


def traits(tokenizer: PreTrainedTokenizerBase) -> tuple[bool, bool, bool]:
    model = backend_json(tokenizer)["model"]
    vocab = tokenizer.get_vocab()
    return (
        bool(model.get("byte_fallback")) and all(t in vocab for t in BYTE_TOKENS),
        all(byte_to_unicode()[b] in vocab for b in TEXT_BYTES),
        model.get("continuing_subword_prefix") == "##",
    )


def test_every_fixture_tokenizer_has_a_known_family():
    assert set(fixture_builders()) == set(FAMILY_OF_FIXTURE)


@pytest.mark.parametrize("name", FAMILY_OF_FIXTURE)
def test_pipeline_spec_is_the_backend_json_without_the_vocabulary(name, sources, trained):
    for tokenizer in (sources[name], trained[name]):
        spec, full = pipeline_spec(tokenizer), backend_json(tokenizer)
        assert {k: v for k, v in spec.items() if k != "model"} == {k: full[k] for k in spec if k != "model"}
        assert spec["model"] == {k: full["model"][k] for k in spec["model"]} and "vocab" not in spec["model"]
        assert family_of(spec) == family_of(full)


@pytest.mark.parametrize("name", FAMILY_OF_FIXTURE)
def test_vocab_and_training_give_source_and_trained_tokenizer_the_same_family(name, sources, trained):
    source, new = sources[name], trained[name]
    assert detect_family(source) == CanonicalVocab.of(source).family == FAMILY_OF_FIXTURE[name]
    assert detect_family(new) == CanonicalVocab.of(new).family == FAMILY_OF_FIXTURE[name]


@pytest.mark.parametrize("name", FAMILY_OF_FIXTURE)
def test_training_inherits_what_the_family_implies(name, sources, trained):
    expected = TRAITS_OF_FAMILY[FAMILY_OF_FIXTURE[name]]
    assert traits(sources[name]) == expected
    assert traits(trained[name]) == expected


@pytest.mark.parametrize("name", FAMILY_OF_FIXTURE)
def test_canonical_keys_of_an_encoding_spell_the_text(name, sources, trained):
    text = TEXT.lower() if FAMILY_OF_FIXTURE[name] == "wordpiece" else TEXT  # BERT's normalizer lower-cases
    for tokenizer in (sources[name], trained[name]):
        vocab = CanonicalVocab.of(tokenizer)
        ids = tokenizer.encode(TEXT, add_special_tokens=False)
        # A word start is a leading space byte, so a prepended ▁ or a first WordPiece word adds one.
        assert b"".join(vocab.keys[i] for i in ids).decode().removeprefix(" ") == text


@pytest.mark.parametrize("name", FAMILY_OF_FIXTURE)
def test_trained_tokenizer_decodes_like_its_source(name, sources, trained):
    source, new = sources[name], trained[name]
    assert new.decode(new.encode(TEXT), skip_special_tokens=True) == source.decode(source.encode(TEXT), skip_special_tokens=True)


# --- Known answers on hand-written tokenizers JSON -----------------------------------------

BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
METASPACE = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}
REPLACE_SPACE = {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}


@pytest.mark.parametrize(
    ("spec", "family"),
    [
        pytest.param({"model": {"type": "BPE"}, "pre_tokenizer": BYTE_LEVEL}, "byte_level", id="byte-level-pre-tokenizer"),
        pytest.param(
            {"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split"}, BYTE_LEVEL]}},
            "byte_level", id="byte-level-inside-sequence",
        ),
        pytest.param({"model": {"type": "BPE"}, "normalizer": {"type": "NFC"}, "decoder": BYTE_LEVEL}, "byte_level", id="byte-level-decoder-only"),
        pytest.param({"model": {"type": "WordPiece"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}, "wordpiece", id="wordpiece"),
        pytest.param({"model": {"type": "WordPiece"}, "pre_tokenizer": METASPACE}, "wordpiece", id="wordpiece-before-metaspace"),
        pytest.param({"model": {"type": "BPE", "continuing_subword_prefix": "##"}}, "wordpiece", id="bpe-with-wordpiece-prefix"),
        pytest.param({"model": {"type": "BPE"}, "pre_tokenizer": METASPACE}, "metaspace", id="metaspace-pre-tokenizer"),
        pytest.param({"model": {"type": "Unigram"}, "decoder": METASPACE}, "metaspace", id="metaspace-decoder-only"),
        pytest.param({"model": {"type": "BPE", "byte_fallback": True}}, "metaspace", id="byte-fallback"),
        pytest.param({"model": {"type": "BPE"}, "normalizer": REPLACE_SPACE}, "metaspace", id="space-marker-normalizer"),
        pytest.param(
            {"model": {"type": "BPE"}, "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}]}},
            "metaspace", id="prepend-inside-sequence",
        ),
        pytest.param({"model": {"type": "BPE"}, "normalizer": {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}}, "plain", id="normalizer-removing-marker"),
        pytest.param({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Whitespace"}}, "plain", id="plain"),
    ],
)
def test_family_of_known_pipelines(spec, family):
    assert family_of(spec) == family


def test_sequence_parts_are_searched_at_any_depth():
    nested = {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]}]}
    assert mentions(nested, "ByteFallback") and not mentions(nested, "Strip") and not mentions(None, "Fuse")
    assert find_component({"type": "Sequence", "pretokenizers": [{"type": "Digits"}, METASPACE]}, "Metaspace") is METASPACE
    assert find_component(BYTE_LEVEL, "Metaspace") is None


def test_only_exact_space_marker_steps_are_the_ones_metaspace_reproduces():
    regex = {"type": "Replace", "pattern": {"Regex": r"\s"}, "content": "▁"}
    assert is_space_marker_step(REPLACE_SPACE) and is_space_marker_step({"type": "Prepend", "prepend": "▁"})
    assert not is_space_marker_step(regex) and writes_space_marker(regex)  # writes ▁, but not only for " "
    assert not writes_space_marker({"type": "Replace", "pattern": {"String": "▁"}, "content": " "})


@pytest.mark.parametrize(
    ("token", "value"),
    [("<0x00>", 0), ("<0xC3>", 0xC3), ("<0xff>", 255), ("<0x+1>", None), ("<0x 1>", None), ("<0xC3", None), ("0xC3>", None), ("<0x123>", None)],
)
def test_byte_token_value_parses_only_two_hex_digits(token, value):
    assert byte_token_value(token) == value


def test_byte_tokens_are_the_256_bytes_in_order():
    assert [byte_token_value(t) for t in BYTE_TOKENS] == list(range(256))


def test_slow_tokenizer_is_refused_with_how_to_fix():
    class Slow:
        pass

    with pytest.raises(RetokError, match=r"the source tokenizer is a Slow, not a fast .*use_fast=True"):
        backend_json(Slow(), what="the source tokenizer")  # type: ignore[arg-type]


@pytest.mark.slow
def test_real_smollm2_tokenizer_and_its_trained_copy_are_byte_level():
    from retok.assets.store import smollm2
    from retok.loading import load_tokenizer

    source = load_tokenizer(smollm2())
    new = train_tokenizer(GERMAN, vocab_size=400, like=source, progress=False)
    for tokenizer in (source, new):
        assert detect_family(tokenizer) == CanonicalVocab.of(tokenizer).family == "byte_level"
        assert traits(tokenizer) == TRAITS_OF_FAMILY["byte_level"]
        vocab = CanonicalVocab.of(tokenizer)
        assert b"".join(vocab.keys[i] for i in tokenizer.encode(TEXT, add_special_tokens=False)) == TEXT.encode()
