import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from retok.errors import RetokError
from retok.testing import GERMAN
from retok.vocab.canonical import CanonicalVocab, VocabAlignment, byte_to_unicode, token_key


@pytest.mark.parametrize(
    ("token", "family", "key"),
    [
        ("Ġthe", "byte_level", b" the"),
        ("the", "byte_level", b"the"),
        ("Ã¤", "byte_level", "ä".encode()),
        ("Ã", "byte_level", b"\xc3"),  # half of a UTF-8 sequence
        ("▁the", "metaspace", b" the"),
        ("<0xC3>", "metaspace", b"\xc3"),
        ("##ing", "wordpiece", b"ing"),
        ("play", "wordpiece", b" play"),
    ],
)
def test_token_keys_are_the_bytes_the_token_stands_for(token, family, key):
    assert token_key(token, family) == key


def test_byte_map_is_a_bijection_over_all_bytes():
    table = byte_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[0x20] == "Ġ"


def sentencepiece_style(words: dict[str, int]) -> PreTrainedTokenizerFast:
    """A hand-built SentencePiece-style BPE (▁ marker, byte fallback) with a known vocabulary."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{b:02X}>": 3 + b for b in range(256)}}
    for word in words:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tok.decoder = decoders.Metaspace(prepend_scheme="first")
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def test_byte_level_and_sentencepiece_tokens_match_canonically(english_tokenizer):
    sp = sentencepiece_style({"▁the": 0, "the": 0, "ä": 0})
    alignment = VocabAlignment.build(english_tokenizer, sp)
    vocab = sp.get_vocab()
    src = english_tokenizer.get_vocab()
    assert alignment.matches[vocab["▁the"]] == src["Ġthe"] and alignment.kinds[vocab["▁the"]] == "canonical"
    assert alignment.matches[vocab["<0xC3>"]] == src["Ã"]  # byte tokens map by byte value
    assert alignment.matches[vocab["</s>"]] == english_tokenizer.eos_token_id  # specials by role
    assert alignment.kinds[vocab["</s>"]] == "special-role"


def test_same_tokenizer_aligns_every_row_to_itself(english_tokenizer):
    alignment = VocabAlignment.build(english_tokenizer, english_tokenizer)
    assert alignment.new == [] and alignment.unmatched_specials == []
    assert all(t == s for t, s in alignment.matches.items())
    assert len(alignment.matches) == len(english_tokenizer)


def test_report_counts_partition_the_target_vocabulary(english_tokenizer, german_tokenizer):
    report = VocabAlignment.build(english_tokenizer, german_tokenizer).report()
    parts = ["special-role", "special-string", "exact", "canonical", "new", "unmatched_specials", "unused_ids"]
    assert sum(report[k] for k in parts) == report["target_size"] == len(german_tokenizer)
    assert report["new"] > 0 and report["exact"] > 0


def test_byte_level_pieces_cover_partial_utf8(english_tokenizer):
    vocab = CanonicalVocab.of(english_tokenizer)
    for text in [" wählen", "\xc3".encode("latin-1").decode("latin-1"), " 日本"]:
        key = text.encode("utf-8")
        pieces = vocab.pieces(key)
        assert b"".join(vocab.keys[i] for i in pieces) == key
    assert b"".join(vocab.keys[i] for i in vocab.pieces(b"\xc3")) == b"\xc3"


def test_sentencepiece_pieces_use_byte_fallback_for_unknown_text():
    sp = CanonicalVocab.of(sentencepiece_style({"▁": 0, "t": 0, "h": 0, "e": 0}))
    pieces = sp.pieces(" the ä".encode())
    assert b"".join(sp.keys[i] for i in pieces) == " the ä".encode()


def test_slow_tokenizer_is_refused():
    class Slow:
        pass

    with pytest.raises(RetokError, match="not a fast"):
        CanonicalVocab.of(Slow())  # type: ignore[arg-type]


def test_special_role_wins_over_string_and_priority_is_bos_first(english_tokenizer):
    vocab = CanonicalVocab.of(english_tokenizer)
    assert vocab.roles == {"bos_token": 1, "eos_token": 2, "unk_token": 0, "pad_token": 2}
    assert set(vocab.specials) == {0, 1, 2}
    assert GERMAN  # fixture corpus is non-empty
