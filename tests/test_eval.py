"""Tests for retok.eval (bits per byte) and retok.measure."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from retok.errors import RetokError
from retok.eval import EvalResult, bits_per_byte, document_separator, markdown_table
from retok.measure import measure
from retok.testing import ENGLISH, GERMAN, tiny_llama, tiny_tokenizer

TEXT = "\n".join(GERMAN[:4] + ENGLISH[:3])


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer(ENGLISH + GERMAN)


class FixedLogits(torch.nn.Module):
    """A fake causal LM: the same logit vector (V,) at every position; records every input batch."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("row", logits.double())
        self.seen: list[torch.Tensor] = []

    def forward(self, input_ids: torch.Tensor, **kwargs) -> SimpleNamespace:
        self.seen.append(input_ids.clone())
        b, t = input_ids.shape
        return SimpleNamespace(logits=self.row.expand(b, t, -1).clone())  # (B, T, V)


def test_uniform_logits_give_log2_vocab_bits_per_token(tok):
    vocab = len(tok)
    r = bits_per_byte(FixedLogits(torch.zeros(vocab)), tok, TEXT, window=16, progress=False)
    expected = math.log2(vocab) * r.n_tokens / r.n_bytes
    assert r.n_bytes == len(TEXT.encode("utf-8"))
    assert r.bpb == pytest.approx(expected, rel=1e-9)
    assert r.nll_nats == pytest.approx(math.log(vocab) * r.n_tokens, rel=1e-9)


@pytest.mark.parametrize("window", [1, 3, 16, 50, 10_000])
def test_every_text_token_is_scored_exactly_once(tok, window):
    vocab = len(tok)
    row = torch.linspace(-2.0, 3.0, vocab)  # distinct log-probs, so the NLL identifies the targets
    model = FixedLogits(row)
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    r = bits_per_byte(model, tok, TEXT, window=window, batch_size=3, progress=False)

    rows = [seq for batch in model.seen for seq in batch.tolist()]
    assert sum(len(seq) for seq in rows) == r.n_tokens == len(ids)
    assert r.n_windows == len(rows) == math.ceil(len(ids) / window)
    offset = 0
    for seq in rows:
        assert seq[0] == 0  # <|endoftext|>
        assert seq[1:] == ids[offset : offset + len(seq) - 1]  # contiguous, non-overlapping
        assert len(seq) == min(window, len(ids) - offset)  # only the last window is short
        offset += len(seq)
    assert offset == len(ids)
    # The summed NLL is that of predicting each text token once with the fixed distribution.
    logp = torch.log_softmax(row.double(), dim=0)
    assert r.nll_nats == pytest.approx(-float(logp[ids].sum()), rel=1e-9)


def test_tiny_llama_bpb_is_finite_and_batch_size_does_not_change_it(tok):
    model = tiny_llama(len(tok))
    r1 = bits_per_byte(model, tok, TEXT, window=16, batch_size=1, progress=False)
    r4 = bits_per_byte(model, tok, TEXT, window=16, batch_size=4, progress=False)
    assert math.isfinite(r1.bpb) and r1.bpb > 0
    assert r1.tokens_per_byte == r1.n_tokens / r1.n_bytes
    assert r1.n_windows > 4  # several full batches plus a short last window
    assert r4.nll_nats == pytest.approx(r1.nll_nats, rel=1e-5)
    assert isinstance(r1, EvalResult) and r1.to_dict()["n_tokens"] == r1.n_tokens
    assert r1.seconds > 0 and r1.peak_rss_mb > 0


def test_bf16_model_scores_close_to_float32(tok):
    model = tiny_llama(len(tok))
    r32 = bits_per_byte(model, tok, TEXT, window=32, progress=False)
    r16 = bits_per_byte(model.to(torch.bfloat16), tok, TEXT, window=32, progress=False)
    assert r16.bpb == pytest.approx(r32.bpb, rel=2e-2)


def test_document_separator_picks_endoftext_for_tiny_tokenizer(tok):
    assert document_separator(tok) == 0
    assert document_separator(tok, "<|im_end|>") == 2
    assert document_separator(tok, 5) == 5


def _bare_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer with no separator candidate, no BOS and no EOS."""
    vocab = {"[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]")


def test_document_separator_errors_clearly_when_nothing_fits(tok):
    with pytest.raises(RetokError, match=r"cannot tell which token separates documents.*pass separator="):
        document_separator(_bare_tokenizer())
    with pytest.raises(RetokError, match=r"'<s>' is not a token of this tokenizer"):
        document_separator(tok, "<s>")
    with pytest.raises(RetokError, match=r"separator id 100000 is out of range"):
        document_separator(tok, 100_000)


def test_empty_text_raises(tok):
    with pytest.raises(RetokError, match="text to score is empty"):
        bits_per_byte(tiny_llama(len(tok)), tok, "", progress=False)


def test_non_round_tripping_tokenizer_raises_unless_not_strict():
    lossy = tiny_tokenizer(ENGLISH)
    lossy.backend_tokenizer.normalizer = normalizers.Lowercase()  # "The" decodes as "the"
    model = FixedLogits(torch.zeros(len(lossy)))
    with pytest.raises(RetokError, match=r"does not round-trip.*at character 0.*strict=False"):
        bits_per_byte(model, lossy, "The house", progress=False)
    r = bits_per_byte(model, lossy, "The house", strict=False, progress=False)
    assert r.n_bytes == len("The house")


def test_model_without_logits_for_tokenizer_ids_raises(tok):
    with pytest.raises(RetokError, match="do not belong together"):
        bits_per_byte(FixedLogits(torch.zeros(10)), tok, TEXT, progress=False)


def test_measure_reports_positive_seconds_and_peak_at_least_start():
    with measure() as m:
        block = torch.ones(4_000_000)  # 16 MB
        block.add_(1)
    assert m.seconds > 0
    assert m.peak_rss_mb >= m.start_rss_mb > 0
    assert m.peak_delta_mb == pytest.approx(m.peak_rss_mb - m.start_rss_mb)
    assert m.peak_cuda_mb is None or m.peak_cuda_mb >= 0


def test_markdown_table_formats_floats_and_rejects_unknown_keys():
    rows = [{"method": "fvt", "bpb": 1.23456, "n": 3}, {"method": "mean", "bpb": None}]
    table = markdown_table(rows, [("method", "Method"), ("bpb", "BPB"), ("n", "tokens")])
    assert table.splitlines() == [
        "| Method | BPB | tokens |",
        "|---|---:|---:|",
        "| fvt | 1.235 | 3 |",
        "| mean |  |  |",
    ]
    with pytest.raises(RetokError, match=r"no row has the column key\(s\) \['bbp'\]"):
        markdown_table(rows, [("bbp", "BPB")])
