"""The batches a hypernetwork trains on, each a pure function of (seed, step), so that resume is exact.

* :class:`MergeExamples` (stage 1, and the auxiliary loss of stage 2): a source token ``t`` of a
  BPE merge ``a + b -> t`` written as its merge history without itself, ``[a, b]``, where each
  piece that is itself a merge product is split into its parents with probability ``expand``
  (so the decompositions are as long as those of real new tokens, not always two pieces). The
  target is ``t``'s own row: the hypernetwork learns composition in the model's own space.
* :class:`SampledBatches` (stage 2, the ZeTT objective): windows of training text, tokenized by
  a Unigram tokenizer sampled (:mod:`hypernet.zett.sampling`) from the substring counts of the last
  ``stats_batches`` batches of the same file, and the candidate set of the step's softmax: the
  batch's tokens plus uniformly sampled negatives from the sampled vocabulary. A candidate that
  exists in the source vocabulary (by canonical bytes) is copied, as it is at transplant time;
  every other candidate is given by its pieces under the source tokenizer.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from retok.errors import RetokError
from retok.training.trainer import Replicated
from retok.vocab.canonical import CanonicalVocab
from retok.vocab.pieces import pad_pieces

from .sampling import sample_vocab, substring_counts, token_bytes, unigram_tokenizer

IGNORE = -100  # cross-entropy target of padding
AUX_OFFSET = 1 << 30  # stage 2's auxiliary examples are drawn from steps stage 1 never reaches
CHARS_PER_TOKEN = 6  # window length in characters per wanted token (short windows are padded, never wrapped)
STREAM_STEP, STREAM_WINDOWS, STREAM_VOCAB, STREAM_NEGATIVES = 1, 2, 3, 4  # independent random streams per step


def step_rng(seed: int, stream: int, step: int) -> np.random.Generator:
    """The generator of one random stream at one step (negative steps are valid: the stats of step 0 look back)."""
    return np.random.default_rng([seed, stream, step + 2**20])


class MergeExamples:
    """Stage-1 examples from a BPE source's merges: ``at(step)`` -> pieces (K, L) and target ids (K,)."""

    def __init__(self, triples: torch.Tensor, *, batch: int, max_pieces: int, expand: float, seed: int) -> None:
        if len(triples) == 0:
            raise RetokError("the source tokenizer has no BPE merges to learn composition from; use --stage1-steps 0")
        self.triples = triples.tolist()
        self.parents = {}
        for a, b, t in self.triples:
            self.parents.setdefault(t, (a, b))
        self.batch, self.max_pieces, self.expand, self.seed = batch, max_pieces, expand, seed

    def split(self, pieces: list[int], rng: np.random.Generator) -> list[int]:
        out: list[int] = []
        for i, piece in enumerate(pieces):
            room = self.max_pieces - len(out) - (len(pieces) - i)
            if room > 0 and piece in self.parents and rng.random() < self.expand:
                out.extend(self.split(list(self.parents[piece]), rng) if room > 1 else self.parents[piece])
            else:
                out.append(piece)
        return out[: self.max_pieces] if len(out) > self.max_pieces else out

    def at(self, step: int, *, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        rng = step_rng(self.seed, STREAM_STEP, step)
        chosen = rng.integers(0, len(self.triples), size or self.batch)
        pieces, targets = [], []
        for k in chosen.tolist():
            a, b, t = self.triples[k]
            pieces.append(self.split([a, b], rng))
            targets.append(t)
        return pad_pieces(pieces), torch.tensor(targets, dtype=torch.long)


@dataclass(frozen=True)
class TextStream:
    """One training file as a single string, and where its windows may start."""

    name: str
    text: str


class SampledBatches:
    """Stage-2 batches: ``at(step)`` -> dict of ``ids`` (B, T+1) and the Replicated candidate set (see the module docstring).

    ``ids[:, 0]`` is the BOS position, index ``C`` (the number of candidates) in the candidate
    space; the rest are candidate indices, ``IGNORE`` after a short window's last token.
    """

    def __init__(self, streams: list[TextStream], source: CanonicalVocab, *, batch_size: int, seq_len: int, candidates: int,
                 sampled_vocab: int, stats_batches: int, noise_mu: float, noise_sigma: float, seed: int,
                 merges: MergeExamples | None = None, aux_batch: int = 0) -> None:
        self.streams, self.source = streams, source
        self.batch_size, self.seq_len, self.candidates = batch_size, seq_len, candidates
        self.sampled_vocab, self.stats_batches = sampled_vocab, stats_batches
        self.noise_mu, self.noise_sigma, self.seed = noise_mu, noise_sigma, seed
        self.merges, self.aux_batch = merges, aux_batch
        self.window = seq_len * CHARS_PER_TOKEN
        self._counts: OrderedDict[int, Counter[str]] = OrderedDict()
        self._pieces: dict[bytes, list[int]] = {}
        for stream in streams:
            if len(stream.text) < 2 * self.window:
                raise RetokError(
                    f"training text {stream.name} has {len(stream.text)} characters; windows of {seq_len} tokens need at least "
                    f"{2 * self.window}; pass more text (--train) or a smaller --seq-len"
                )

    def windows(self, step: int) -> list[str]:
        stream = self.streams[step % len(self.streams)]
        rng = step_rng(self.seed, STREAM_WINDOWS, step)
        out = []
        for start in rng.integers(0, len(stream.text) - self.window, self.batch_size).tolist():
            space = stream.text.find(" ", start, start + 64)  # start at a word, as a document would
            start = space if space >= 0 else start
            out.append(stream.text[start : start + self.window])
        return out

    def counts(self, step: int) -> Counter[str]:
        if step not in self._counts:
            self._counts[step] = substring_counts(self.windows(step))
            while len(self._counts) > self.stats_batches * len(self.streams) + 1:
                self._counts.popitem(last=False)
        return self._counts[step]

    def tokenizer_at(self, step: int) -> tuple[Any, list[str]]:
        """The step's sampled tokenizer and its vocabulary, from the counts of this and the previous batches of the same file."""
        total: Counter[str] = Counter()
        for k in range(self.stats_batches):
            total.update(self.counts(step - k * len(self.streams)))
        vocab = sample_vocab(total, size=self.sampled_vocab, rng=step_rng(self.seed, STREAM_VOCAB, step),
                             noise_mu=self.noise_mu, noise_sigma=self.noise_sigma)
        return unigram_tokenizer(vocab), [piece for piece, _ in vocab]

    def pieces_of(self, key: bytes) -> list[int]:
        if key not in self._pieces:
            self._pieces[key] = self.source.pieces(key)
        return self._pieces[key]

    def at(self, step: int) -> dict[str, Any]:
        tokenizer, vocab = self.tokenizer_at(step)
        rows = [e.tokens[: self.seq_len] for e in tokenizer.encode_batch(self.windows(step))]
        chosen = list(dict.fromkeys(t for row in rows for t in row))  # the batch's tokens, in order of appearance
        want = self.candidates - len(chosen)
        if want > 0:
            seen = set(chosen)
            rng = step_rng(self.seed, STREAM_NEGATIVES, step)
            order = rng.permutation(len(vocab))
            chosen += [vocab[i] for i in order[: want + len(seen)].tolist() if vocab[i] not in seen][:want]
        copy, new, new_pieces = [], [], []
        mean_row = len(self.source)  # index of the mean row appended to the source table (tokens nothing covers)
        for token in chosen:
            key = token_bytes(token)
            source_id = self.source.key_to_id.get(key)
            if source_id is not None:
                copy.append((token, source_id))
                continue
            pieces = self.pieces_of(key)
            if pieces:
                new.append(token)
                new_pieces.append(pieces)
            else:
                copy.append((token, mean_row))
        index = {token: i for i, (token, _) in enumerate(copy)}
        index.update({token: len(copy) + i for i, token in enumerate(new)})
        bos = len(index)
        ids = torch.full((self.batch_size, self.seq_len + 1), IGNORE, dtype=torch.long)
        ids[:, 0] = bos
        for r, row in enumerate(rows):
            ids[r, 1 : 1 + len(row)] = torch.tensor([index[t] for t in row], dtype=torch.long)
        batch: dict[str, Any] = {
            "ids": ids,
            "copy": Replicated(torch.tensor([i for _, i in copy], dtype=torch.long)),
            "pieces": Replicated(pad_pieces(new_pieces) if new_pieces else torch.full((0, 1), -1, dtype=torch.long)),
        }
        if self.merges is not None and self.aux_batch:
            aux_pieces, aux_targets = self.merges.at(AUX_OFFSET + step, size=self.aux_batch)  # not stage 1's examples
            batch["aux_pieces"], batch["aux_targets"] = Replicated(aux_pieces), Replicated(aux_targets)
        return batch


__all__ = ["IGNORE", "MergeExamples", "SampledBatches", "TextStream", "step_rng"]
