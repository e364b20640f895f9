"""Invariants of retok.vocab.supertokens: BPE merges across word boundaries, and the tokenizer they make."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from retok.cli import main
from retok.errors import RetokError
from retok.vocab.supertokens import PHRASE_PATTERN, count_words, learn_merges, multi_word_tokens, phrase_pre_tokenizer
from retok.testing import CHAT_TEMPLATE, ENGLISH, GERMAN, SPECIAL_TOKENS, tiny_tokenizer
from retok.vocab.train import save_tokenizer, train_tokenizer

VOCAB = 600
FRACTION = 0.25  # 150 of the 600 entries are learned across words
CORPUS = GERMAN * 20
VARIED = [
    *GERMAN,
    "Grüße aus Köln 😀 — 中文 und Ωmega\tTab\n\nÄrger über Öl?",
    "  zwei führende Leerzeichen,  doppelte  Abstände und ein Ende mit Leerzeichen  ",
    "Zeile eins.\nZeile zwei: Wählen Sie Format - Zellen.\r\nZeile drei!",
    "Zahlen 3.14159 und 1000000, Klammern (so), Anführungszeichen \"so\" und it's",
    "<|im_start|>Wählen Sie<|im_end|> die Zellen aus",
]


@pytest.fixture(scope="module")
def source():
    return tiny_tokenizer(ENGLISH, vocab_size=350)


def _train(source, **options):
    options = {"vocab_size": VOCAB, "supertokens": True, "supertoken_fraction": FRACTION, **options}
    return train_tokenizer(CORPUS, like=source, progress=False, **options)


@pytest.fixture(scope="module")
def super_tokenizer(source):
    return _train(source)


def _tokens(tokenizer) -> list[str]:
    return list(tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False))


def test_count_words_counts_runs_of_non_whitespace_bytes():
    assert [count_words(t) for t in ["ĠSie", "enĠSieĠdie", "ĠĠ", "Ċ", ",ĠdieĠSie", "Ã¤"]] == [1, 3, 0, 0, 3, 1]


def test_learn_merges_known_answer_respects_max_words_and_frozen_ids():
    # "a b a" seen 3 times, "a b" once: ("a", " b") is seen 4 times, then ("a b", " a") 3 times.
    tokens = ["<s>", "a", "Ġa", "Ġb"]
    sequences, weights = [[1, 3, 2], [1, 3]], [3, 1]
    assert learn_merges(sequences, weights, tokens, n_new=5, max_words=3) == [(1, 3), (4, 2)]
    assert learn_merges(sequences, weights, tokens, n_new=5, max_words=2) == [(1, 3)]  # "a b a" is 3 words
    assert learn_merges(sequences, weights, tokens, n_new=5, max_words=3, min_frequency=4) == [(1, 3)]
    assert learn_merges([[0, 1]], [9], tokens, n_new=5, max_words=3, n_frozen=1) == []
    assert learn_merges([[1, 4, 3]], [9], [*tokens, "Ċ"], n_new=5, max_words=3) == []  # "a", "\n", " b"
    # Overlaps merge left to right, as the encoder does: "a a a" -> "aa a" -> "aaa".
    assert learn_merges([[1, 1, 1]], [1], ["<s>", "a"], n_new=5, max_words=4) == [(1, 1), (2, 1)]


def test_repetitive_corpus_learns_tokens_that_span_several_words(source, super_tokenizer):
    multi = multi_word_tokens(super_tokenizer)
    assert " Sie die" in multi and " das Dokument" in multi
    assert any(count_words(t) >= 3 for t in _tokens(super_tokenizer))
    plain = train_tokenizer(CORPUS, vocab_size=VOCAB, like=source, progress=False)
    assert multi_word_tokens(plain) == []
    german = "\n".join(GERMAN)
    assert len(super_tokenizer.encode(german)) < 0.7 * len(plain.encode(german))


@pytest.mark.parametrize("max_words", [2, 3])
def test_no_token_spans_more_than_max_words(source, max_words):
    tokens = _tokens(_train(source, max_words=max_words))
    assert max(count_words(t) for t in tokens) == max_words


def test_no_token_crosses_a_line_break_or_a_sentence_end(source):
    corpus = ["Wählen Sie Format.\nKlicken Sie auf OK. Dann Zellen", "Format.\r\nKlicken Sie! Dann"] * 30
    new = train_tokenizer(corpus, vocab_size=VOCAB, like=source, supertokens=True, supertoken_fraction=0.5, progress=False)
    tokens = _tokens(new)
    assert "KlickenĠSieĠaufĠOK." in tokens and "WÃ¤hlenĠSieĠFormat." in tokens  # phrases end at the mark
    for token in tokens:
        if "Ċ" in token or "č" in token:
            assert set(token) <= {"Ċ", "č", "Ġ"}, token  # line breaks only merge with whitespace (stage 1)
        for mark in ".!":
            assert f"{mark}Ġ" not in token, token


def test_decode_encode_round_trips_varied_text(super_tokenizer):
    for text in VARIED:
        ids = super_tokenizer.encode(text, add_special_tokens=False)
        assert super_tokenizer.decode(ids) == text


def test_encoder_applies_stage_two_merges_as_training_did(super_tokenizer):
    # Drop the stage-2 merges, encode, then apply them one after another to each phrase: the
    # result must be the full tokenizer's encoding (the trainer's model of the encoder holds).
    doc = json.loads(super_tokenizer.backend_tokenizer.to_str())
    merges = doc["model"]["merges"]
    n_stage2 = round(FRACTION * VOCAB)  # each stage-2 merge adds one entry
    assert len(super_tokenizer) == VOCAB
    doc["model"]["merges"] = merges[: len(merges) - n_stage2]
    stage1 = Tokenizer.from_str(json.dumps(doc))
    for text in CORPUS[:10]:
        encoding = stage1.encode(text, add_special_tokens=False)
        phrases: dict[int, list[str]] = {}
        for token, word in zip(encoding.tokens, encoding.word_ids):
            phrases.setdefault(word, []).append(token)
        expected = []
        for pieces in phrases.values():
            for a, b in merges[len(merges) - n_stage2 :]:
                out, i = [], 0
                while i < len(pieces):
                    if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == (a, b):
                        out.append(a + b)
                        i += 2
                    else:
                        out.append(pieces[i])
                        i += 1
                pieces = out
            expected.extend(pieces)
        assert super_tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).tokens == expected


def test_specials_keep_their_ids_and_chat_template(source, super_tokenizer):
    assert super_tokenizer.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS)))) == SPECIAL_TOKENS
    assert super_tokenizer.bos_token_id == source.bos_token_id and super_tokenizer.eos_token_id == source.eos_token_id
    assert super_tokenizer.chat_template == CHAT_TEMPLATE
    ids = super_tokenizer.encode("<|im_start|>Wählen Sie die Zellen<|im_end|>", add_special_tokens=False)
    assert ids[0] == 1 and ids[-1] == 2 and 1 not in ids[1:-1]
    assert len(super_tokenizer) == VOCAB


def test_saved_tokenizer_loads_with_plain_transformers_and_encodes_identically(super_tokenizer, tmp_path):
    loaded = AutoTokenizer.from_pretrained(save_tokenizer(super_tokenizer, tmp_path / "tok"))
    text = "\n".join(VARIED)
    assert loaded.encode(text) == super_tokenizer.encode(text)
    assert loaded.get_vocab() == super_tokenizer.get_vocab()
    assert loaded.decode(loaded.encode(text, add_special_tokens=False)) == text


def test_training_twice_gives_the_same_tokenizer(source, super_tokenizer):
    assert _train(source).backend_tokenizer.to_str() == super_tokenizer.backend_tokenizer.to_str()


def _sentencepiece_like() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.train_from_iterator(ENGLISH, trainer=trainers.BpeTrainer(vocab_size=150, special_tokens=["<unk>"], show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "unigram"}, "kind='unigram' is not supported, use kind='bpe'"),
        ({"max_words": 1}, "max_words must be an int >= 2"),
        ({"supertoken_fraction": 1.0}, r"supertoken_fraction must be a number in \(0, 1\)"),
        ({"vocab_size": 300}, "leaves 225 entries for the word-level stage, which needs more than 259"),
    ],
)
def test_unsupported_options_are_clear_errors(source, options, message):
    with pytest.raises(RetokError, match=message):
        _train(source, **options)


def test_sentencepiece_source_is_a_clear_error():
    with pytest.raises(RetokError, match="need a byte-level BPE source .* this source is SentencePiece-style"):
        train_tokenizer(CORPUS, vocab_size=VOCAB, like=_sentencepiece_like(), supertokens=True, progress=False)


def test_cli_supertokens_flag_trains_multi_word_tokens(source, tmp_path, capsys):
    corpus = tmp_path / "de.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    source.save_pretrained(tmp_path / "src")
    out = tmp_path / "tok"
    argv = ["train-tokenizer", "--corpus", str(corpus), "--vocab-size", str(VOCAB), "--like", str(tmp_path / "src")]
    argv += ["--out", str(out), "--supertokens", "--max-words", "2", "--supertoken-fraction", str(FRACTION)]
    assert main(argv) == 0
    assert "span several words" in capsys.readouterr().out
    loaded = AutoTokenizer.from_pretrained(out)
    assert multi_word_tokens(loaded)
    assert max(count_words(t) for t in _tokens(loaded)) == 2


def test_phrase_pre_tokenizer_replaces_the_word_split_and_keeps_digit_splitting():
    llama3 = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}| ?\p{L}+"}, "behavior": "Isolated", "invert": False},
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ],
    }
    parts = phrase_pre_tokenizer(llama3)["pretokenizers"]
    assert [p["type"] for p in parts] == ["Split", "Digits", "ByteLevel"]
    assert parts[0]["pattern"] == {"Regex": PHRASE_PATTERN} and parts[2]["use_regex"] is False
    gpt2 = phrase_pre_tokenizer({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True})
    assert [p["type"] for p in gpt2["pretokenizers"]] == ["Split", "ByteLevel"]
    assert gpt2["pretokenizers"][1]["use_regex"] is False


@pytest.mark.parametrize(
    ("pre_tokenizer", "message"),
    [
        ({"type": "Whitespace"}, r"this source has \['Whitespace'\]"),
        ({"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}, "add_prefix_space=False"),
    ],
)
def test_phrase_pre_tokenizer_refuses_what_it_cannot_split_losslessly(pre_tokenizer, message):
    with pytest.raises(RetokError, match=message):
        phrase_pre_tokenizer(pre_tokenizer)
