"""Invariants of retok.vocab.train: what a trained tokenizer inherits, and how it behaves."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from retok.errors import RetokError
from retok.testing import CHAT_TEMPLATE, ENGLISH, GERMAN, SPECIAL_ROLES, SPECIAL_TOKENS, tiny_tokenizer
from retok.vocab.train import save_tokenizer, train_tokenizer

VOCAB = 350
CORPUS = GERMAN * 20 + [
    "Größenänderung: Ändern Sie die Spaltenbreite über Format - Spalten - Breite.",
    "Die Funktion SUMME addiert 3, 14 und 1592 zu 1609.",
    "Übersicht: Datei - Öffnen, Datei - Speichern unter, Extras - Optionen.",
]
# Characters never seen in training: emoji, CJK, Greek, a tab and a double newline.
UNSEEN = "Grüße aus Köln 😀 — 中文 und Ωmega\tTab\n\nÄrger über Öl?"
MESSAGES = [
    {"role": "system", "content": "Du bist ein hilfreicher Assistent."},
    {"role": "user", "content": "Wie füge ich ein Diagramm ein?"},
    {"role": "assistant", "content": "Wählen Sie Einfügen - Diagramm."},
]
KINDS = ["bpe", "unigram"]


@pytest.fixture(scope="module")
def source():
    return tiny_tokenizer(ENGLISH, vocab_size=VOCAB)


@pytest.fixture(scope="module")
def trained(source):
    return {kind: train_tokenizer(CORPUS, vocab_size=VOCAB, like=source, kind=kind, progress=False) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_specials_keep_their_ids_roles_and_chat_template(source, trained, kind):
    new = trained[kind]
    assert new.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS)))) == SPECIAL_TOKENS
    for role in SPECIAL_ROLES:
        assert getattr(new, role) == getattr(source, role)
        assert getattr(new, f"{role}_id") == getattr(source, f"{role}_id")
    assert set(new.all_special_tokens) == set(source.all_special_tokens)
    assert new.chat_template == CHAT_TEMPLATE
    rendered = new.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert rendered == source.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    ids = new.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=False)
    assert ids.count(new.convert_tokens_to_ids("<|im_start|>")) == len(MESSAGES) + 1
    assert new.decode(ids) == rendered
    assert new.model_max_length == source.model_max_length


@pytest.mark.parametrize("kind", KINDS)
def test_vocab_has_vocab_size_entries_and_byte_level_round_trips_unseen_text(trained, kind):
    new = trained[kind]
    # BPE stops early only when no pair is seen min_frequency times; unigram aims at vocab_size
    # and reaches it when the corpus has enough candidate pieces (it does here).
    assert len(new) == new.backend_tokenizer.get_vocab_size() == VOCAB
    for text in [*GERMAN, UNSEEN, " führendes Leerzeichen", "ÄÖÜäöüß"]:
        ids = new.encode(text, add_special_tokens=False)
        assert new.decode(ids) == text
        assert new.unk_token_id not in ids  # every byte is a token: nothing maps to unk


def test_bpe_stops_below_vocab_size_when_the_corpus_runs_out_of_pairs(source):
    new = train_tokenizer(["abc abc"], vocab_size=1000, like=source, progress=False)
    assert len(SPECIAL_TOKENS) + 256 < len(new) < 1000


@pytest.mark.parametrize("kind", KINDS)
def test_german_tokenizer_needs_fewer_tokens_for_german_than_english_one(source, trained, kind):
    german = "\n".join(GERMAN)
    n_new = len(trained[kind].encode(german, add_special_tokens=False))
    n_old = len(source.encode(german, add_special_tokens=False))
    assert len(trained[kind]) == len(source)
    assert n_new < 0.8 * n_old


@pytest.mark.parametrize("kind", KINDS)
def test_training_twice_gives_the_same_vocab(source, trained, kind):
    again = train_tokenizer(CORPUS, vocab_size=VOCAB, like=source, kind=kind, progress=False)
    assert again.get_vocab() == trained[kind].get_vocab()
    text = "\n".join(GERMAN) + UNSEEN
    assert again.encode(text) == trained[kind].encode(text)
    if kind == "bpe":  # unigram scores may differ in the last bits (see _canonical_unigram)
        assert again.backend_tokenizer.to_str() == trained[kind].backend_tokenizer.to_str()


def test_corpus_file_gives_the_same_tokenizer_as_its_lines(source, trained, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n\n", encoding="utf-8")
    from_file = train_tokenizer(path, vocab_size=VOCAB, like=source, progress=False)
    assert from_file.get_vocab() == trained["bpe"].get_vocab()


def test_like_can_be_a_folder(source, trained, tmp_path):
    source.save_pretrained(tmp_path / "src")
    new = train_tokenizer(CORPUS, vocab_size=VOCAB, like=str(tmp_path / "src"), progress=False)
    assert new.get_vocab() == trained["bpe"].get_vocab()


def test_extra_and_model_specific_special_tokens_are_inherited(source, tmp_path):
    like = PreTrainedTokenizerFast(
        tokenizer_object=source.backend_tokenizer, extra_special_tokens=["<|tool|>"], image_token="<|image|>", **SPECIAL_ROLES
    )
    new = train_tokenizer(CORPUS, vocab_size=VOCAB, like=like, progress=False)
    in_source_order = sorted(["<|tool|>", "<|image|>"], key=like.convert_tokens_to_ids)
    assert new.convert_ids_to_tokens([3, 4]) == in_source_order
    assert new.extra_special_tokens == ["<|tool|>"]
    assert new.image_token == "<|image|>"
    loaded = AutoTokenizer.from_pretrained(save_tokenizer(new, tmp_path / "tok"))
    assert (loaded.extra_special_tokens, loaded.image_token_id) == (["<|tool|>"], new.image_token_id)


def test_inherited_pipeline_is_a_copy_not_shared(source, trained):
    src = json.loads(source.backend_tokenizer.to_str())
    new = json.loads(trained["bpe"].backend_tokenizer.to_str())
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        assert new[key] == src[key]
    assert trained["bpe"].backend_tokenizer is not source.backend_tokenizer


# --- Sources with other layouts ------------------------------------------------------------


def _llama2_like() -> PreTrainedTokenizerFast:
    """A SentencePiece-style BPE: a normalizer writes ▁ for spaces, byte fallback, <s> added by the post-processor."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator(ENGLISH, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.mark.parametrize("kind", KINDS)
def test_sentencepiece_source_gets_byte_fallback_and_no_cross_word_pieces(kind):
    source = _llama2_like()
    new = train_tokenizer(CORPUS, vocab_size=500, like=source, kind=kind, progress=False)
    backend = json.loads(new.backend_tokenizer.to_str())
    assert backend["normalizer"] is None  # the ▁-writing normalizer moved into a Metaspace pre-tokenizer
    assert backend["pre_tokenizer"]["type"] == "Metaspace"
    assert backend["pre_tokenizer"]["prepend_scheme"] == "first"
    assert backend["model"]["byte_fallback"] is True
    # The Llama-2 layout: specials, then <0x00>..<0xFF>, then the learned pieces.
    assert new.convert_ids_to_tokens([0, 1, 2, 3, 258]) == ["<unk>", "<s>", "</s>", "<0x00>", "<0xFF>"]
    assert len(new) <= 500
    assert not [t for t in new.get_vocab() if "▁" in t[1:]]  # no piece spans two words
    for text in [*GERMAN, UNSEEN]:
        ids = new.encode(text)
        assert ids[0] == new.bos_token_id == 1  # the inherited post-processor still adds <s>
        assert new.unk_token_id not in ids
        assert new.decode(ids, skip_special_tokens=True) == text


@pytest.mark.parametrize("kind", KINDS)
def test_post_processor_follows_specials_moved_to_the_lowest_ids(kind):
    # Llama-3 style: the specials come after the learned vocabulary in the source.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(ENGLISH, trainer=trainer)
    source = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    bos_old = source.bos_token_id
    source.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos_old)]
    )
    assert bos_old >= 256
    new = train_tokenizer(CORPUS, vocab_size=VOCAB, like=source, kind=kind, progress=False)
    assert new.unk_token is None
    assert new.convert_ids_to_tokens([0, 1]) == ["<|begin_of_text|>", "<|eot_id|>"]
    ids = new.encode(UNSEEN)
    assert ids[0] == new.bos_token_id == 0
    assert new.decode(ids, skip_special_tokens=True) == UNSEEN


# --- Errors ---------------------------------------------------------------------------------


def test_too_small_vocab_size_says_the_minimum(source):
    with pytest.raises(RetokError, match=r"3 inherited special tokens \+ 256 byte tokens = 259.*vocab_size >= 260"):
        train_tokenizer(CORPUS, vocab_size=259, like=source, progress=False)


def test_unknown_kind_lists_the_allowed_kinds(source):
    with pytest.raises(RetokError, match="unknown tokenizer kind 'wordpiece'; allowed kinds: bpe, unigram"):
        train_tokenizer(CORPUS, vocab_size=VOCAB, like=source, kind="wordpiece")


def test_missing_corpus_file_is_an_error(source, tmp_path):
    with pytest.raises(RetokError, match="corpus file .* does not exist"):
        train_tokenizer(tmp_path / "nope.txt", vocab_size=VOCAB, like=source)


def test_non_utf8_corpus_file_is_an_error(source, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Größe und Übersicht\n".encode("latin-1"))
    with pytest.raises(RetokError, match="not valid UTF-8"):
        train_tokenizer(path, vocab_size=VOCAB, like=source)


@pytest.mark.parametrize("corpus", ["file", [], ["", "  \n"]])
def test_empty_corpus_is_an_error(source, tmp_path, corpus):
    if corpus == "file":
        corpus = tmp_path / "empty.txt"
        corpus.write_text("\n \n", encoding="utf-8")
    with pytest.raises(RetokError, match="empty"):
        train_tokenizer(corpus, vocab_size=VOCAB, like=source)


def test_text_passed_as_str_is_an_error_that_says_to_pass_a_list(source):
    with pytest.raises(RetokError, match="pass in-memory text as a list of strings"):
        train_tokenizer("\n".join(GERMAN), vocab_size=VOCAB, like=source)


def test_source_that_cannot_be_loaded_is_an_error(tmp_path):
    with pytest.raises(RetokError, match="cannot load the tokenizer from .*the folder does not exist"):
        train_tokenizer(CORPUS, vocab_size=VOCAB, like=tmp_path / "no-such-tokenizer")
    with pytest.raises(RetokError, match="like must be a transformers tokenizer"):
        train_tokenizer(CORPUS, vocab_size=VOCAB, like=42)


def test_slow_source_tokenizer_is_an_error():
    from transformers import ByT5Tokenizer  # a pure-Python tokenizer that needs no files

    with pytest.raises(RetokError, match="not a fast .tokenizers-backed. one"):
        train_tokenizer(CORPUS, vocab_size=VOCAB, like=ByT5Tokenizer())


# --- Saving ---------------------------------------------------------------------------------


def test_saved_tokenizer_loads_with_autotokenizer_unchanged(trained, tmp_path):
    new = trained["bpe"]
    out = save_tokenizer(new, tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(out)
    text = "\n".join(GERMAN) + UNSEEN
    assert loaded.encode(text) == new.encode(text)
    assert loaded.get_vocab() == new.get_vocab()
    assert loaded.special_tokens_map == new.special_tokens_map
    assert loaded.chat_template == new.chat_template
    assert loaded.apply_chat_template(MESSAGES, return_dict=False) == new.apply_chat_template(MESSAGES, return_dict=False)


def test_saving_into_an_existing_folder_needs_overwrite_and_leaves_it_unchanged(trained, tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RetokError, match="already exists.*overwrite"):
        save_tokenizer(trained["bpe"], out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temporary folder left behind
    save_tokenizer(trained["bpe"], out, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert AutoTokenizer.from_pretrained(out).get_vocab() == trained["bpe"].get_vocab()
