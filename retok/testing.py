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


# More tokenizer families (issue 26): the pre-tokenizers, special-token layouts and post-processors of the real
# tokenizers users transfer from and to, rebuilt in-process on a tiny corpus. Each imitates the tokenizer.json of
# the family it names (components, where the specials sit, which roles are set), not its vocabulary.

#: Llama-3's split regex (digits in groups of up to three, case-insensitive contractions)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: Qwen2's split regex (Llama-3's with single digits)
QWEN2_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
#: Llama-3's chat template, shortened (no tools, no date)
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' "
    "+ message['content'] + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def _byte_level_bpe(corpus: Iterable[str], pre_tokenizer: Any, *, vocab_size: int, normalizer: Any = None, specials_at_end: list[str]) -> Tokenizer:
    """A byte-level BPE of ``vocab_size`` learned entries (all 256 byte symbols among them), then ``specials_at_end``.

    The specials get the ids after the learned vocabulary, as in GPT-2 (50256), Llama-3 (128000+) and Qwen2 (151643+).
    """
    tok = Tokenizer(models.BPE())
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre_tokenizer, decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(corpus), trainer=trainer)
    tok.add_special_tokens(list(specials_at_end))
    return tok


def _split(regex: str) -> Any:
    from tokenizers import Regex

    return pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False)


def tiny_gpt2_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """GPT-2-style: ``ByteLevel`` with the GPT-2 regex, one special ``<|endoftext|>`` (bos, eos and unk) after the vocabulary, no pad token.

    Also the layout of StarCoder, GPT-NeoX-style and OPT-style base tokenizers: nothing to pad with, no template.
    """
    from tokenizers import processors

    tok = _byte_level_bpe(corpus, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), vocab_size=vocab_size, specials_at_end=["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    eot = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=eot, eos_token=eot, unk_token=eot)


def tiny_prefix_space_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """GPT-2 loaded with ``add_prefix_space=True`` (RoBERTa/BART-style use): ``ByteLevel(add_prefix_space=True)``, so a text's first word gets ``Ġ`` like every other."""
    from tokenizers import processors

    tok = _byte_level_bpe(corpus, pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), vocab_size=vocab_size, specials_at_end=["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    eot = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=eot, eos_token=eot, unk_token=eot, add_prefix_space=True)


def llama3_specials(reserved: int = 248) -> list[str]:
    """Llama-3.1's special tokens in id order: the 8 named ones and ``reserved`` ``<|reserved_special_token_N|>``
    (the default gives the real 256: reserved 0, 1 and 2 between the named ones, 3-247 after them)."""
    named = ["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<|start_header_id|>",
             "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    reserved_tokens = [f"<|reserved_special_token_{i}|>" for i in range(reserved)]
    if reserved < 3:
        return named + reserved_tokens
    return [*named[:2], *reserved_tokens[:2], named[2], reserved_tokens[2], *named[3:], *reserved_tokens[3:]]


def tiny_llama3_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300, reserved: int = 0) -> PreTrainedTokenizerBase:
    """Llama-3(.1)-style base tokenizer: ``Split(LLAMA3_REGEX)`` + ``ByteLevel(use_regex=False)``, BOS added by a
    ``TemplateProcessing`` post-processor, no pad token, chat template; the specials after the vocabulary: the 8
    named ones, and with ``reserved=248`` Llama-3.1's full 256 (:func:`llama3_specials`: ``reserved``
    ``<|reserved_special_token_N|>`` among them).
    """
    from tokenizers import processors

    pre = pre_tokenizers.Sequence([_split(LLAMA3_REGEX), pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    specials = llama3_specials(reserved)
    tok = _byte_level_bpe(corpus, pre, vocab_size=vocab_size, specials_at_end=specials)
    bos = "<|begin_of_text|>"
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]),
    ])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token="<|end_of_text|>")
    fast.chat_template = LLAMA3_CHAT_TEMPLATE
    return fast


def tiny_qwen2_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 300) -> PreTrainedTokenizerBase:
    """Qwen2(.5)-Instruct-style: ``NFC`` normalizer, ``Split(QWEN2_REGEX)`` + ``ByteLevel(use_regex=False)``, no bos token,
    eos ``<|im_end|>``, pad ``<|endoftext|>``, ChatML; the specials after the vocabulary, then two added tokens that
    are not special (``<tool_call>``, ``</tool_call>``, as in Qwen2.5).
    """
    from tokenizers import AddedToken, normalizers, processors

    pre = pre_tokenizers.Sequence([_split(QWEN2_REGEX), pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok = _byte_level_bpe(corpus, pre, vocab_size=vocab_size, normalizer=normalizers.NFC(), specials_at_end=SPECIAL_TOKENS)
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False), AddedToken("</tool_call>", special=False, normalized=False)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama2_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """Llama-2 (legacy) / Mistral-7B-v0.1 / Phi-3-style SentencePiece BPE: the dummy prefix and ``▁`` written by the
    normalizer ``Prepend("▁")`` + ``Replace(" ", "▁")`` (no pre-tokenizer), byte fallback, ``<s>`` added by the
    post-processor, no pad token.
    """
    from tokenizers import normalizers, processors

    decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    # Learned word by word, as SentencePiece does (its pieces never cross a word start), then given the legacy pipeline.
    tok = _byte_fallback_bpe(
        corpus, ["<unk>", "<s>", "</s>"], unk="<unk>", vocab_size=vocab_size,
        normalizer=None, pre_tokenizer=pre_tokenizers.Metaspace(prepend_scheme="always"), decoder=decoder,
    )
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = None
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_sentencepiece_bpe_tokenizer(
    corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 400, prepend_scheme: str = "always"
) -> PreTrainedTokenizerBase:
    """SentencePiece BPE with byte fallback behind ``Metaspace(prepend_scheme=...)`` with the Metaspace decoder:
    ``"always"`` (a dummy prefix before every text: older conversions, ``Metaspace()``'s default), ``"first"``
    or ``"never"`` (no dummy prefix). Specials ``<unk>``, ``<s>``, ``</s>``, ``<s>`` added by the post-processor.
    (:func:`tiny_metaspace_tokenizer` is ``"first"`` with the Llama-2 decoder sequence.)
    """
    from tokenizers import processors

    metaspace = dict(replacement="\u2581", prepend_scheme=prepend_scheme, split=True)
    tok = _byte_fallback_bpe(
        corpus, ["<unk>", "<s>", "</s>"], unk="<unk>", vocab_size=vocab_size, normalizer=None,
        pre_tokenizer=pre_tokenizers.Metaspace(**metaspace),
        decoder=decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(**metaspace)]),
    )
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def tiny_unigram_tokenizer(corpus: Iterable[str] = ENGLISH, *, vocab_size: int = 400, byte_fallback: bool = True) -> PreTrainedTokenizerBase:
    """T5/ALBERT-style SentencePiece Unigram: ``Metaspace(prepend_scheme="always")``, ``<pad>``, ``</s>``, ``<unk>`` at ids
    0-2, no bos, ``</s>`` appended by the post-processor. ``byte_fallback=True``: the 256 ``<0xNN>`` pieces follow
    the specials (scored below every learned piece) and unseen characters become bytes; ``False``: they become ``<unk>``
    (T5 itself).
    """
    import json

    from tokenizers import processors

    from .vocab.pipeline import BYTE_TOKENS

    specials = ["<pad>", "</s>", "<unk>"]
    metaspace = dict(replacement="\u2581", prepend_scheme="always", split=True)
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(**metaspace)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(**metaspace)]) if byte_fallback else decoders.Metaspace(**metaspace)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size - (256 if byte_fallback else 0), special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    if byte_fallback:
        doc = json.loads(tok.to_str())
        pieces = doc["model"]["vocab"]
        floor = min(score for _, score in pieces[len(specials):]) - 10.0
        learned = [p for p in pieces[len(specials):] if p[0] not in BYTE_TOKENS]
        doc["model"]["vocab"] = pieces[: len(specials)] + [[b, floor] for b in BYTE_TOKENS] + learned
        doc["model"]["byte_fallback"] = True
        doc["model"]["unk_id"] = 2
        tok = Tokenizer.from_str(json.dumps(doc))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def saved_tensors(folder: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Every tensor of a saved folder's ``*.safetensors`` (all shards) as ``(dtype, shape, raw bytes)``, by name.

    Raw bytes, so that comparing two folders tells ``-0.0`` from ``0.0`` and a changed dtype from a changed value.
    """
    from safetensors import safe_open

    out = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(path, "pt") as f:
            for name in f.keys():
                t = f.get_tensor(name)
                out[name] = (str(t.dtype), tuple(t.shape), t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return out


def two_process_launcher(*, module: str | None = None) -> list[str]:
    """The argv prefix that runs a command as two DDP processes on the CPU, on a free rendezvous port.

    accelerate 1.15 launches several CPU processes only through torchrun (``--multi_gpu``) or MPI;
    ``--cpu --num_processes 2`` alone starts one process. On a machine without GPUs the torchrun route
    gives a gloo process group on the CPU. ``module``: run ``python -m module`` (else a script path follows).
    """
    import socket
    import sys

    with socket.socket() as s:  # a free port, so parallel or repeated runs do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port), *(["-m", module] if module else [])]

