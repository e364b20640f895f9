"""retok's lm-eval tasks: what each one asks, how its items are built, which metric it reports.

:data:`TASKS` maps a task name to a :class:`TaskSpec`; :class:`Sources` holds the real local assets the builders read
(the LibreOffice help corpus and FreeDict eng-deu, both fetched once and cached), each loaded the first time a builder
asks for it. Adding a task is one :class:`TaskSpec` with a builder over :class:`Sources`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from retok.data import held_out_text, paragraphs

from . import items

if TYPE_CHECKING:
    from retok.assets import LoHelp

#: the cap on items of a task (the cloze would have thousands): about 2.5 points of standard error, a few
#: minutes per model on 2 CPU cores for all three choice tasks
MAX_ITEMS = 200


class Sources:
    """The real assets the task builders read, each loaded on first use (``lohelp``: a :class:`LoHelp` to use instead)."""

    def __init__(self, lohelp: LoHelp | None = None, dictionary: list[tuple[str, str]] | None = None, *, progress: bool = True) -> None:
        self._lohelp = lohelp
        self._dictionary = dictionary
        self.progress = progress

    @cached_property
    def lohelp(self) -> LoHelp:
        if self._lohelp is None:
            from retok import assets

            self._lohelp = assets.lohelp(progress=self.progress)
        return self._lohelp

    @cached_property
    def dictionary(self) -> list[tuple[str, str]]:
        """FreeDict eng-deu single-word pairs."""
        if self._dictionary is None:
            from retok.transfer.static.dictionary import freedict, read_pairs

            self._dictionary = read_pairs(freedict("eng-deu", progress=self.progress))
        return self._dictionary

    def paragraphs(self, lang: str) -> list[str]:
        with open(self.lohelp.text(lang), encoding="utf-8") as f:
            return paragraphs(f)

    @cached_property
    def german(self) -> list[str]:
        return self.paragraphs("de")

    @cached_property
    def german_counts(self) -> dict[str, int]:
        return dict(items.word_counts(self.german))

    @cached_property
    def german_words(self) -> set[str]:
        """The German side of the dictionary: the words a distractor may be."""
        return {d for _, d in self.dictionary}

    @cached_property
    def pairs(self) -> list[tuple[str, str]]:
        """The aligned en-de help paragraphs."""
        with open(self.lohelp.pairs("de"), encoding="utf-8") as f:
            return [tuple(line.rstrip("\n").split("\t", 1)) for line in f if line.strip()]  # type: ignore[misc]

    @cached_property
    def pages(self) -> list[str]:
        with open(self.lohelp.pair_pages("de"), encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]


@dataclass(frozen=True)
class TaskSpec:
    """One task: its lm-eval output type, the metric retok reports for it, and how its items are built."""

    name: str
    what: str
    output_type: Literal["loglikelihood_rolling", "multiple_choice"]
    metric: str
    build: Callable[[Sources], list[dict]]
    chance: float | None = None
    #: every metric lm-eval computes for the task (default: by output type); ``acc_mutual_info`` costs one more request per choice
    metrics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.metrics:
            default = ("word_perplexity", "byte_perplexity", "bits_per_byte") if self.output_type == "loglikelihood_rolling" else ("acc", "acc_norm")
            object.__setattr__(self, "metrics", default)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec for spec in (
        TaskSpec("retok_bpb_de", "rolling log-likelihood of the German held-out text (the 64 KiB `retok eval --heldout` scores, one document)",
                 "loglikelihood_rolling", "bits_per_byte", lambda s: items.rolling_docs(held_out_text(s.lohelp.text("de")))),
        TaskSpec("retok_bpb_en", "rolling log-likelihood of the English held-out text (64 KiB, one document)",
                 "loglikelihood_rolling", "bits_per_byte", lambda s: items.rolling_docs(held_out_text(s.lohelp.text("en")))),
        TaskSpec("retok_translate_en_de", "an English word -> its German translation among 4 German words of similar frequency and length (FreeDict)",
                 "multiple_choice", "acc", lambda s: items.translation_items(s.dictionary, s.pairs, s.german_counts, max_items=MAX_ITEMS), chance=0.25),
        TaskSpec("retok_parallel_en_de", "an English help paragraph -> its German translation among 4 German paragraphs of the same help page",
                 "multiple_choice", "acc_mutual_info", lambda s: items.parallel_items(s.pairs, s.pages, max_items=MAX_ITEMS), chance=0.25,
                 metrics=("acc", "acc_norm", "acc_mutual_info")),
        TaskSpec("retok_cloze_de", "a German help paragraph -> its last word among 4 German words of similar frequency and length",
                 "multiple_choice", "acc",
                 lambda s: items.cloze_items(s.german, s.german_counts, words=s.german_words, max_items=MAX_ITEMS), chance=0.25),
    )
}
#: lm-eval tags: ``--tasks retok`` runs every task, ``retok_choice`` the multiple-choice ones
TAGS = {"retok": list(TASKS), "retok_choice": [n for n, t in TASKS.items() if t.output_type == "multiple_choice"],
        "retok_bpb": [n for n, t in TASKS.items() if t.output_type == "loglikelihood_rolling"]}
