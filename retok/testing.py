"""Tiny in-process fixtures for tests, notebooks and ``--tiny`` recipes: no network, seconds to build.

The tokenizers imitate SmolLM2's layout (byte-level BPE, ``<|endoftext|>``, ``<|im_start|>``,
``<|im_end|>`` at ids 0-2, a ChatML template) so that code paths exercised here are the ones
the real model takes.
"""

from __future__ import annotations

from collections.abc import Iterable

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


#: word pairs of ENGLISH / GERMAN for tiny dictionary tests
DICTIONARY = [
    ("house", "Haus"), ("garden", "Garten"), ("summer", "Sommer"), ("table", "Tabelle"), ("cells", "Zellen"),
    ("document", "Dokument"), ("format", "Format"), ("dialog", "Dialog"), ("options", "Optionen"), ("text", "Text"),
    ("number", "Zahl"), ("formula", "Formel"), ("fox", "Fuchs"), ("dog", "Hund"), ("menu", "Menü"), ("small", "klein"),
]


def tiny_method_options(folder, english_tokenizer: PreTrainedTokenizerBase, german_tokenizer: PreTrainedTokenizerBase) -> dict[str, dict]:
    """Options that let every registered method run on the tiny fixtures: fastText models trained in seconds.

    Returns ``{method: options}`` (methods that need nothing external are absent). ``folder`` is
    a writable directory for the vectors and the dictionary.
    """
    from pathlib import Path

    from .static import train_fasttext
    from .initializers.focus import token_level_lines

    folder = Path(folder)
    small = {"dim": 16, "epochs": 5, "min_count": 1, "bucket": 5000, "threads": 1, "cache": False, "progress": False}
    en = train_fasttext(ENGLISH * 30, out=folder / "en.bin", **small)
    de = train_fasttext(GERMAN * 30, out=folder / "de.bin", **small)
    lines = token_level_lines(german_tokenizer, "\n".join(GERMAN * 30))
    tokens = train_fasttext(lines, words="as-is", out=folder / "de-tokens.bin", **small)
    dictionary = folder / "en-de.tsv"
    dictionary.write_text("".join(f"{s}\t{t}\n" for s, t in DICTIONARY), encoding="utf-8")
    words = {"source_vectors": str(en), "target_vectors": str(de), "dictionary": str(dictionary)}
    return {"wechsel": words, "focus": {"fasttext_model": str(tokens)}, "tokenadapt-fasttext": {**words, "aux": "fasttext"}}
