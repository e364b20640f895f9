"""Byte-span alignment of two tokenizations: hand-made cases, tokenizer families, chat templates, and the tiling property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from retok import RetokError
from retok.training.distill.chunks import align_conversation, align_texts, token_spans
from retok.testing import (
    ENGLISH, GERMAN, byte_level, tiny_gemma_style_tokenizer, tiny_metaspace_tokenizer, tiny_tokenizer, tiny_wordpiece_tokenizer,
)
from retok.vocab.canonical import CanonicalVocab

LETTERS = ["H", "e", "l", "o", "w", "r", "d", "Ġ"]


def chunk_texts(pair, side):
    """Each kept chunk's bytes as that side's tokens spell them."""
    spans = pair.teacher if side == "teacher" else pair.student
    chunks = pair.teacher_chunks if side == "teacher" else pair.student_chunks
    out = {}
    for k, s, e in zip(chunks, spans.starts, spans.ends):
        if k >= 0:
            out[int(k)] = out.get(int(k), b"") + pair.data[s:e]
    return [out[k] for k in sorted(out)]


@pytest.fixture(scope="module")
def families():
    corpus = GERMAN + ENGLISH
    return {"byte_level": tiny_tokenizer(corpus), "metaspace": tiny_metaspace_tokenizer(corpus),
            "gemma_style": tiny_gemma_style_tokenizer(corpus)}


def test_hand_made_pair_gives_the_minimal_co_terminating_chunks():
    teacher = byte_level(LETTERS + ["He", "Hel", "lo", "Ġw", "Ġwo", "Ġwor", "Ġworl", "Ġworld"],
                         [("H", "e"), ("He", "l"), ("l", "o"), ("Ġ", "w"), ("Ġw", "o"), ("Ġwo", "r"), ("Ġwor", "l"), ("Ġworl", "d")])
    student = byte_level(LETTERS + ["He", "Hel", "Hell", "Hello", "Ġw", "Ġwo", "Ġwor", "ld"],
                         [("H", "e"), ("He", "l"), ("Hel", "l"), ("Hell", "o"), ("Ġ", "w"), ("Ġw", "o"), ("Ġwo", "r"), ("l", "d")])
    assert teacher.tokenize("Hello world") == ["Hel", "lo", "Ġworld"]
    assert student.tokenize("Hello world") == ["Hello", "Ġwor", "ld"]
    pair = align_texts("Hello world", teacher, student, "unconstrained")
    assert [pair.chunk_text(k) for k in range(pair.n_chunks)] == [b"Hello", b" world"]
    assert pair.teacher_chunks.tolist() == [0, 0, 1]
    assert pair.student_chunks.tolist() == [0, 1, 1]


def test_space_chunks_end_in_front_of_whitespace_and_unconstrained_ones_are_finer(families):
    text = "Der schnelle Fuchs springt über den Hund."
    fine = align_texts(text, families["byte_level"], families["metaspace"], "unconstrained")
    coarse = align_texts(text, families["byte_level"], families["metaspace"], "space")
    assert coarse.n_chunks < fine.n_chunks
    assert set(coarse.cuts.tolist()) <= set(fine.cuts.tolist())
    for cut in coarse.cuts[1:-1]:
        assert text.encode()[cut : cut + 1].isspace()


@pytest.mark.parametrize("pair", [("byte_level", "metaspace"), ("metaspace", "gemma_style"), ("byte_level", "gemma_style"),
                                  ("byte_level", "byte_level")])
@pytest.mark.parametrize("kind", ["unconstrained", "space"])
@settings(max_examples=25, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abcdeürsnt ÄÖ.,\n😀€")), min_size=1, max_size=40))
def test_chunks_tile_the_text_exactly_in_both_tokenizations(families, pair, kind, text):
    aligned = align_texts(text, families[pair[0]], families[pair[1]], kind)
    chunks = [aligned.chunk_text(k) for k in range(aligned.n_chunks) if aligned.kept[k]]
    assert b"".join(chunks) == text.encode()
    assert chunk_texts(aligned, "teacher") == chunks
    assert chunk_texts(aligned, "student") == chunks


def test_the_tokenizers_own_word_start_space_is_not_part_of_the_text(families):
    vocab = CanonicalVocab.of(families["metaspace"])
    ids = families["metaspace"]("Der Hund", add_special_tokens=False)["input_ids"]
    assert vocab.keys[ids[0]].startswith(b" ")  # "▁Der": the dummy prefix
    spans = token_spans(vocab, ids, "Der Hund")
    assert spans.starts[0] == 0 and spans.ends[-1] == len("Der Hund")


def test_a_tokenizer_that_rewrites_the_text_is_refused():
    lower = tiny_wordpiece_tokenizer(ENGLISH)  # lower-cases
    with pytest.raises(RetokError, match="does not spell the text back"):
        align_texts("The Quick Fox", lower, tiny_tokenizer(ENGLISH))


def test_conversation_aligns_contents_across_two_chat_templates_and_never_across_messages(families):
    chatml = families["byte_level"]
    other = tiny_metaspace_tokenizer(GERMAN + ENGLISH)
    other.chat_template = "{% for m in messages %}<s>[{{ m['role'] }}] {{ m['content'] }}</s>{% endfor %}"
    messages = [{"role": "user", "content": "Hallo Welt"}, {"role": "assistant", "content": "Guten Tag, Fuchs!"}]
    pair = align_conversation(messages, chatml, other, "space")
    contents = b"".join(m["content"].encode() for m in messages)
    assert b"".join(pair.chunk_text(k) for k in range(pair.n_chunks)) == contents
    assert len(b"Hallo Welt") in pair.cuts.tolist()  # a message edge is always a cut
    assert chunk_texts(pair, "teacher") == chunk_texts(pair, "student")
    # template tokens (specials, role names) belong to no chunk
    specials = {chatml.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")}
    assert all(k == -1 for i, k in zip(pair.teacher.ids, pair.teacher_chunks) if i in specials)


def test_special_tokens_in_plain_text_take_no_bytes():
    tok = tiny_tokenizer(ENGLISH)
    vocab = CanonicalVocab.of(tok)
    sep = tok.convert_tokens_to_ids("<|endoftext|>")
    ids = [sep] + tok("The dog", add_special_tokens=False)["input_ids"]
    spans = token_spans(vocab, ids, "The dog")
    assert spans.widths[0] == 0 and np.sum(spans.widths) == len("The dog")
