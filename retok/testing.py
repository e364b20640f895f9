"""Tiny in-process fixtures for tests, notebooks and ``--tiny`` recipes: no network, seconds to build.

The tokenizers imitate SmolLM2's layout (byte-level BPE, ``<|endoftext|>``, ``<|im_start|>``,
``<|im_end|>`` at ids 0-2, a ChatML template) so that code paths exercised here are the ones
the real model takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SPECIAL_ROLES = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"}
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

ENGLISH = [
    "The quick brown fox jumps over the lazy dog.",
    "Click the Undo icon if you do not like the result.",
    "Select the cells that you want to format and choose Format - Cells.",
    "The spreadsheet shows the sum of the selected values in the status bar.",
    "You can insert a chart into the document from the Insert menu.",
    "Press Enter to confirm the entry and move to the next cell.",
    "The house is small, but the garden is beautiful in summer.",
    "Open the dialog and choose the options that you need.",
    "Every table cell can hold text, a number or a formula.",
    "Save the document in a format that other programs can read.",
]
GERMAN = [
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Wenn Ihnen das Ergebnis nicht gefällt, klicken Sie auf das Symbol Rückgängig.",
    "Wählen Sie die Zellen aus, die Sie formatieren möchten, und wählen Sie Format - Zellen.",
    "Die Tabelle zeigt die Summe der ausgewählten Werte in der Statusleiste.",
    "Sie können ein Diagramm über das Menü Einfügen in das Dokument einfügen.",
    "Drücken Sie die Eingabetaste, um die Eingabe zu bestätigen.",
    "Das Haus ist klein, aber der Garten ist im Sommer wunderschön.",
    "Öffnen Sie den Dialog und wählen Sie die Optionen, die Sie benötigen.",
    "Jede Tabellenzelle kann Text, eine Zahl oder eine Formel enthalten.",
    "Speichern Sie das Dokument in einem Format, das andere Programme lesen können.",
]


def tiny_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer trained in-process on ``corpus``, with SmolLM2's specials and chat template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_ROLES)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama(vocab_size: int, *, tie: bool = True, hidden: int = 32, layers: int = 2, seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised Llama causal LM small enough for unit tests (eval mode, float32).

    ``tie=False`` gives an untied LM head with its own weights.
    """
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=tie,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def tiny_donor(tokenizer: PreTrainedTokenizerBase, *, hidden: int = 24, tie: bool = True, seed: int = 5) -> Any:
    """A :class:`retok.transfer.donor.Donor` for ``tokenizer``: a tiny Llama of its own hidden size that "speaks" it."""
    from .transfer.donor import Donor

    return Donor.of(tiny_llama(len(tokenizer), hidden=hidden, tie=tie, seed=seed), tokenizer, name="tiny-donor")


#: word pairs of ENGLISH / GERMAN for tiny dictionary tests
DICTIONARY = [
    ("house", "Haus"), ("garden", "Garten"), ("summer", "Sommer"), ("table", "Tabelle"), ("cells", "Zellen"),
    ("document", "Dokument"), ("format", "Format"), ("dialog", "Dialog"), ("options", "Optionen"), ("text", "Text"),
    ("number", "Zahl"), ("formula", "Formel"), ("fox", "Fuchs"), ("dog", "Hund"), ("menu", "Menü"), ("small", "klein"),
]


@dataclass(frozen=True)
class TinyVectors:
    """fastText models and a dictionary for the tiny ENGLISH / GERMAN fixtures (see :func:`tiny_vectors`)."""

    source: Path  # English word vectors (.bin)
    target: Path  # German word vectors (.bin)
    target_tokens: Path  # token-level German vectors for FOCUS: GERMAN tokenized by the German tokenizer
    dictionary: Path  # DICTIONARY as a source<TAB>target TSV

    def words(self) -> dict[str, str]:
        """The word-vector options of wechsel and tokenadapt's fasttext space."""
        return {"source_vectors": str(self.source), "target_vectors": str(self.target), "dictionary": str(self.dictionary)}


def tiny_vectors(folder: str | os.PathLike, german_tokenizer: PreTrainedTokenizerBase) -> TinyVectors:
    """Train the tiny fastText models into ``folder`` (seconds, no cache) and write the dictionary."""
    from .transfer.initializers.focus import token_level_lines
    from .transfer.static import train_fasttext

    folder = Path(folder)
    small = {"dim": 16, "epochs": 5, "min_count": 1, "bucket": 5000, "threads": 1, "cache": False, "progress": False}
    en = train_fasttext(ENGLISH * 30, out=folder / "en.bin", **small)
    de = train_fasttext(GERMAN * 30, out=folder / "de.bin", **small)
    lines = token_level_lines(german_tokenizer, "\n".join(GERMAN * 30))
    tokens = train_fasttext(lines, words="as-is", out=folder / "de-tokens.bin", **small)
    dictionary = folder / "en-de.tsv"
    dictionary.write_text("".join(f"{s}\t{t}\n" for s, t in DICTIONARY), encoding="utf-8")
    return TinyVectors(en, de, tokens, dictionary)


def byte_level(vocab: list[str], merges: list[tuple[str, str]]) -> PreTrainedTokenizerFast:
    """A byte-level BPE with an explicit vocabulary: ``<|endoftext|>`` at 0, then ``vocab`` in order (hand-sized cases)."""
    ids = {"<|endoftext|>": 0, **{t: i + 1 for i, t in enumerate(vocab)}}
    tok = Tokenizer(models.BPE(vocab=ids, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def rows_of(result: Any, tokenizer: PreTrainedTokenizerBase, tokens: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The input rows (and untied output rows, or None) of ``tokens`` in an :class:`~retok.transfer.initializers.InitResult`."""
    ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    out = result.embeddings.output
    return result.embeddings.input[ids], None if out is None else out[ids]


# Tokenizers of the other pipeline families, as tiny as tiny_tokenizer; tests/test_pipeline.py
# checks that vocab and tokenizer training read every tokenizer built here the same way.


def _byte_fallback_bpe(corpus: Iterable[str], specials: list[str], *, unk: str, vocab_size: int, normalizer, pre_tokenizer, decoder) -> Tokenizer:
    """A BPE trained behind ``normalizer``/``pre_tokenizer``, then given the Llama-2 byte-fallback layout.

    The 256 ``<0xNN>`` tokens are plain vocabulary entries right after the specials, as in
    Llama-2 and Gemma (a trainer cannot place them there, so they are inserted afterwards).
    """
    import json

    from .vocab.pipeline import BYTE_TOKENS

    tok = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True, unk_token=unk))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre_tokenizer, decoder
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 256, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(list(corpus), trainer=trainer)
    doc = json.loads(tok.to_str())
    ordered = [t for t, _ in sorted(doc["model"]["vocab"].items(), key=lambda kv: kv[1])]
    learned = [t for t in ordered[len(specials):] if t not in BYTE_TOKENS]
    doc["model"]["vocab"] = {t: i for i, t in enumerate(ordered[: len(specials)] + list(BYTE_TOKENS) + learned)}
    return Tokenizer.from_str(json.dumps(doc))


def tiny_metaspace_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """A Llama-2-style (non-legacy) BPE: a ``Metaspace`` pre-tokenizer writes ``▁``, byte fallback, ``<s>`` first."""
    from tokenizers import processors

    decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok = _byte_fallback_bpe(
        corpus, ["<unk>", "<s>", "</s>"], unk="<unk>", vocab_size=vocab_size,
        normalizer=None, pre_tokenizer=pre_tokenizers.Metaspace(prepend_scheme="first"), decoder=decoder,
    )
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_gemma_style_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """A Gemma-style BPE: only the normalizer ``Replace(" ", "▁")`` writes ``▁`` (no Metaspace anywhere), byte fallback."""
    from tokenizers import normalizers, processors

    decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok = _byte_fallback_bpe(
        corpus, ["<pad>", "<eos>", "<bos>", "<unk>"], unk="<unk>", vocab_size=vocab_size,
        normalizer=normalizers.Replace(" ", "\u2581"), pre_tokenizer=None, decoder=decoder,
    )
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>")


def tiny_wordpiece_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """A BERT-style WordPiece: lower-casing normalizer, ``##`` continuations, ``[CLS] ... [SEP]``."""
    from tokenizers import normalizers, processors

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(list(corpus), trainer=trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
