"""What the donor methods share: the shared tokens seen from both models, and the blend with the subword prior.

A donor method (``omp``, ``linear``) learns, from the tokens both vocabularies share, how the
donor's space relates to the base model's, and carries every new token's donor row across. This
module builds that view once (:func:`donor_view`) and finishes a method's estimate the same way for
all of them (:func:`finish_rows`):

* shared tokens = the regular tokens the canonical alignment copies (``exact`` and ``canonical``
  matches; specials are left out, their rows are atypical), restricted to ids that have a donor row;
* the LM head is handled apart from the input table: donor head rows (the donor's input rows when
  its head is tied) against the base's head rows; a tied base has only the input table;
* the estimate is blended with a subword prior (``prior``: none, fvt or compose; ``prior_weight``),
  so a weak donor view degrades gracefully towards what retok does without one;
* a new token without a donor row (a donor whose tokenizer has ids beyond its embedding rows) takes
  the prior (FVT when ``prior`` is none) and is counted as ``fallback-prior-no-donor-row``.

This module is shared machinery, not a method: method files import it, never each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from retok.errors import RetokError
from retok.transfer.donor import Donor
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from .base import NewRows
from .combine import Tables, blend_tables, put_rows
from .subword import prior_rows

DonorPrior = Literal["none", "fvt", "compose"]
SHARED_KINDS = ("exact", "canonical")


@dataclass(frozen=True, kw_only=True)
class DonorPriorOptions:
    """How a donor method's estimate is blended with retok's subword prior."""

    prior: DonorPrior = field(default="compose", metadata={"help": "subword estimate blended with the donor estimate: none, fvt or compose"})
    prior_weight: float = field(default=0.3, metadata={"help": "weight of the subword prior in the blend (0 = the donor estimate alone)", "min": 0.0, "max": 1.0})


@dataclass(frozen=True)
class DonorView:
    """The shared tokens as rows of both models, and the donor rows of the new tokens.

    atoms_in (S, d'): donor input rows of the S shared tokens; base_in (S, d): the base's rows of the same tokens
    atoms_out (S, d'), base_out (S, d): the same for the LM heads; None when the base's head is tied
    new_in (N', d'), new_out (N', d') | None: donor rows of the new tokens that have one
    has_row (N,) bool over ``alignment.new``: which new tokens have a donor row (N' of them)
    """

    atoms_in: torch.Tensor
    base_in: torch.Tensor
    atoms_out: torch.Tensor | None
    base_out: torch.Tensor | None
    new_in: torch.Tensor
    new_out: torch.Tensor | None
    has_row: torch.Tensor
    details: dict[str, Any]


def shared_ids(alignment: VocabAlignment, donor_rows: int, source_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(target ids (S,), source ids (S,)) of the regular tokens both vocabularies share and both matrices hold."""
    pairs = [(t, s) for t, s in alignment.matches.items() if alignment.kinds[t] in SHARED_KINDS and t < donor_rows and s < source_rows]
    if not pairs:
        raise RetokError(
            "the donor and the model share no regular tokens (no exact or canonical match with a donor row), so a donor "
            "method has nothing to learn the relation between the two spaces from; use a method without a donor (fvt, compose)"
        )
    tgt, src = zip(*sorted(pairs))
    return torch.tensor(tgt, dtype=torch.long), torch.tensor(src, dtype=torch.long)


def donor_view(source: TokenEmbeddings, alignment: VocabAlignment, donor: Donor) -> DonorView:
    """Gather the rows a donor method needs (see :class:`DonorView`)."""
    tgt, src = shared_ids(alignment, donor.rows, source.input.shape[0])
    new = torch.tensor(alignment.new, dtype=torch.long)
    has_row = new < donor.rows
    with_row = new[has_row]
    donor_in, donor_out = donor.embeddings.input, donor.output_rows()
    untied = source.output is not None
    details = {
        "donor": donor.name,
        "donor_hidden_size": int(donor_in.shape[1]),
        "donor_rows": donor.rows,
        "donor_head": "tied" if donor.embeddings.output is None else "untied",
        "shared_tokens": len(tgt),
        "new_without_donor_row": int((~has_row).sum()),
    }
    return DonorView(
        atoms_in=donor_in[tgt],
        base_in=source.input[src],
        atoms_out=donor_out[tgt] if untied else None,
        base_out=source.output[src] if untied else None,
        new_in=donor_in[with_row],
        new_out=donor_out[with_row] if untied else None,
        has_row=has_row,
        details=details,
    )


def finish_rows(
    source: TokenEmbeddings, alignment: VocabAlignment, view: DonorView, estimate: Tables, options: DonorPriorOptions, *, label: str, details: dict[str, Any]
) -> NewRows:
    """The method's rows for every id in ``alignment.new``: its ``estimate`` (N', d) blended with the prior where there is a donor row, the prior elsewhere."""
    weight = options.prior_weight if options.prior != "none" else 0.0
    missing = not bool(view.has_row.all())
    extra: dict[str, Any] = {}
    if weight > 0 or missing:
        prior = prior_rows(source, alignment, "fvt" if options.prior == "none" else options.prior)
        extra = prior.details
        rows: Tables = (prior.input.clone(), None if prior.output is None else prior.output.clone())
        has = view.has_row.nonzero().squeeze(1)
        if weight > 0:
            estimate = blend_tables(estimate, (prior.input[has], None if prior.output is None else prior.output[has]), weight)
        put_rows(rows, has, estimate)
    else:
        rows = estimate
    named = f"{label}+{options.prior}" if weight > 0 else label
    provenance = [named if h else "fallback-prior-no-donor-row" for h in view.has_row.tolist()]
    return NewRows(rows[0], rows[1], provenance, {**view.details, **details, **extra})


__all__ = ["DonorPrior", "DonorPriorOptions", "DonorView", "donor_view", "finish_rows", "shared_ids"]
