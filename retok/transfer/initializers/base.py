"""The initializer contract: a config dataclass, a pure function, a registration line.

A method computes rows only for the tokens it must estimate (``alignment.new``). Everything
else is shared and enforced here, so every method behaves the same on it:

* rows of canonically matching tokens are copied from the source (input and output);
* special tokens are copied by role or string; a special token with no source counterpart gets
  the mean of the source embeddings (never a method's guess);
* ids the tokenizer does not use get the mean as well.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import torch

from retok._registry import Registry
from retok.errors import RetokError
from retok.options import Checked, config_from_options
from retok.transfer.embeddings import TokenEmbeddings
from retok.vocab.canonical import VocabAlignment
from retok.transfer.padding import find_padding, padded_rows, padding_rows
from retok.vocab.pieces import piece_counts
from .combine import pool_pieces, row_mean_std

if TYPE_CHECKING:
    from retok.transfer.donor import Donor


@dataclass(frozen=True, kw_only=True)
class InitConfig(Checked):
    """Options shared by every method. Subclasses add their own fields with ``metadata={"help": ..., "min": ...}``.

    Declared ranges (``min``/``max`` inclusive, ``above``/``below`` exclusive) are checked when the
    config is built (:mod:`retok.options`), whether it comes from the CLI or from Python.
    """

    method: ClassVar[str] = ""
    spec: ClassVar[MethodSpec]  # set by @register_initializer: a config object knows its method without a lookup
    seed: int = field(default=0, metadata={"help": "seed of the local random generator (same seed, same matrix)", "min": 0, "max": 2**31 - 3})

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "options": self.options()}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> InitConfig:
        """Rebuild a config from :meth:`to_dict` output; dispatches on ``data["method"]``."""
        return make_config(data["method"], **data.get("options", {}))


C = TypeVar("C", bound=InitConfig)


@dataclass(frozen=True)
class NewRows:
    """What a method returns for the ids in ``alignment.new``, in that order.

    input:  (N, d) rows for the input embeddings
    output: (N, d) rows for an untied LM head, or None when the source head is tied
    provenance: a label per row (e.g. "fvt", "fallback-mean"); counted in the report
    details: method-specific facts for the report (e.g. the dictionary alignment's P@1)
    """

    input: torch.Tensor
    output: torch.Tensor | None
    provenance: list[str]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodSpec(Generic[C]):
    name: str
    fn: Callable[[TokenEmbeddings, VocabAlignment, C], NewRows]
    config_cls: type[C]
    pretty_name: str
    paper: str
    summary: str
    #: the method reads a donor model (:class:`retok.transfer.donor.Donor`): ``fn(source, alignment, config, donor)``
    needs_donor: bool = False
    #: the method reads the source in its own dtype and computes in float32 blocks (a bfloat16 source is never
    #: copied whole to float32); the others get :meth:`TokenEmbeddings.float`
    streams: bool = False


@dataclass(frozen=True)
class InitReport:
    """How each target row was made: counts per label, plus the alignment counts."""

    method: str
    counts: dict[str, int]
    alignment: dict[str, int]
    new_token_ids: list[int] = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)
    #: which row each special token of the new tokenizer got (:meth:`retok.vocab.VocabAlignment.special_rows`)
    specials: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"method": self.method, "counts": self.counts, "alignment": self.alignment, "specials": self.specials}
        return {**out, "details": self.details} if self.details else out

    def __str__(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        return f"{self.method}: {parts}"


@dataclass(frozen=True)
class InitResult:
    embeddings: TokenEmbeddings
    report: InitReport


INITIALIZERS: Registry[MethodSpec] = Registry("initializer")
COPY_BLOCK = 16384  # matched rows copied per block


def register_initializer(
    name: str, *, config: type[C], pretty_name: str, paper: str, needs_donor: bool = False, streams: bool = False
) -> Callable:
    """Decorator: register ``fn(source, alignment, config) -> NewRows`` under ``name``.

    With ``needs_donor=True`` the function is ``fn(source, alignment, config, donor)``: it also reads the
    embeddings of a donor model whose tokenizer is the target tokenizer (:mod:`retok.transfer.donor`).
    With ``streams=True`` it is given the source in its stored dtype (see :attr:`MethodSpec.streams`).
    """
    if not (isinstance(config, type) and issubclass(config, InitConfig)):
        raise TypeError(f"config for initializer {name!r} must be an InitConfig subclass, got {config!r}")

    def wrap(fn: Callable[[TokenEmbeddings, VocabAlignment, C], NewRows]) -> Callable:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        spec = INITIALIZERS.add(name, MethodSpec(name, fn, config, pretty_name, paper, summary, needs_donor, streams))
        config.method, config.spec = name, spec
        return fn

    return wrap


def make_config(method: str, **options: Any) -> InitConfig:
    """``make_config("fvt", seed=1)`` -> ``FVTConfig(seed=1)``, with did-you-mean errors."""
    return config_from_options(INITIALIZERS.get(method).config_cls, options)


def resolve_config(method: str | InitConfig, options: dict[str, Any]) -> InitConfig:
    """The config for ``method``: a name is looked up once, here at the edge; a config object is taken as it is."""
    if isinstance(method, InitConfig):
        if options:
            raise RetokError(
                f"pass either a config object or options, not both (got {type(method).__name__} and {sorted(options)})"
            )
        if "spec" not in type(method).__dict__:
            raise RetokError(
                f"{type(method).__name__} is not the config of a registered initializer; "
                "register it with @register_initializer(name, config=...) or pass a method name"
            )
        return method
    if not isinstance(method, str):
        raise RetokError(f"method must be a name such as 'fvt' or an InitConfig; got {type(method).__name__}")
    return make_config(method, **options)


def check_donor_use(spec: MethodSpec, has_donor: bool) -> None:
    """Raise unless a donor is given exactly when ``spec`` reads one (checked before any loading)."""
    donor_methods = ", ".join(n for n in INITIALIZERS.names() if getattr(INITIALIZERS.loaded(n), "needs_donor", False))
    if spec.needs_donor and not has_donor:
        raise RetokError(
            f"method {spec.name!r} reads a donor model: pass donor= (CLI: --donor DIR), the model whose tokenizer is "
            "the new tokenizer, or pick a method without a donor (fvt, compose, tokenadapt, ...)"
        )
    if has_donor and not spec.needs_donor:
        raise RetokError(f"method {spec.name!r} does not use a donor; drop donor= (--donor) or pick a donor method ({donor_methods})")


def source_statistics(source: TokenEmbeddings, alignment: VocabAlignment) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-dimension mean and std of the source rows of regular (non-special, used) tokens.

    Returns mean_in (d,), std_in (d,), mean_out (d,) | None, std_out (d,) | None.
    """
    ids = torch.tensor([i for i, k in enumerate(alignment.source.keys) if k is not None], dtype=torch.long)
    if ids.numel() == 0:
        raise RetokError("the source tokenizer has no regular tokens to take statistics from")
    key = ("statistics", ids.numel(), hash(ids.numpy().tobytes()))
    if key not in source.memo:  # once per source: a memory-mapped source is read whole only here
        mean_in, std_in = row_mean_std(source.input, ids)
        mean_out, std_out = (None, None) if source.output is None else row_mean_std(source.output, ids)
        source.memo[key] = (mean_in, std_in, mean_out, std_out)
    return source.memo[key]


def gaussian_rows(source: TokenEmbeddings, alignment: VocabAlignment, n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n rows ~ N(mean_d, std_d) of the regular source rows -> input (n, d), output (n, d) or None.

    The ``gaussian`` baseline, and the random fallback of WECHSEL and FOCUS; a local generator
    seeded with ``seed``, so the same seed gives the same rows.
    """
    generator = torch.Generator().manual_seed(seed)
    mean_in, std_in, mean_out, std_out = source_statistics(source, alignment)
    rows_in = mean_in + std_in * torch.randn(n, source.dim, generator=generator)
    rows_out = None
    if mean_out is not None:
        rows_out = mean_out + std_out * torch.randn(n, source.dim, generator=generator)
    return rows_in, rows_out


def init_embeddings(
    source: TokenEmbeddings,
    target_tokenizer: Any,
    method: str | InitConfig = "fvt",
    *,
    alignment: VocabAlignment | None = None,
    donor: Donor | None = None,
    **options: Any,
) -> InitResult:
    """Compute embeddings for ``target_tokenizer`` from ``source``. Pure: touches no model.

    Args:
        source: the source tokenizer and its E_in (V_s, d) [and E_out (V_s, d)].
        target_tokenizer: the new tokenizer.
        method: a registry name (``retok methods`` lists them) or a config object.
        alignment: a precomputed :class:`VocabAlignment` of the two tokenizers (optional).
        donor: for a donor method (``omp``, ``linear``): a model that already uses ``target_tokenizer``
            (:class:`retok.transfer.donor.Donor`); refused for the other methods.
        **options: the method's options, e.g. ``seed=1``.

    Returns:
        InitResult with E_t (V_t, d) [and the untied head rows] and a report.
    """
    config = resolve_config(method, options)
    spec = config.spec
    check_donor_use(spec, donor is not None)
    alignment = alignment or VocabAlignment.build(source.tokenizer, target_tokenizer)
    stored = source.dtype  # the new rows are kept in the source's dtype; every method computes in float32
    view = source if spec.streams else source.float()
    size, dim = len(alignment.target), source.dim
    mean_in, _, mean_out, _ = source_statistics(view, alignment)
    e_in = mean_in.to(stored).expand(size, dim).clone()
    e_out = None if source.output is None else mean_out.to(stored).expand(size, dim).clone()
    labels: Counter[str] = Counter()
    details: dict[str, Any] = {}
    if alignment.matches:
        tgt = torch.tensor(list(alignment.matches), dtype=torch.long)
        src = torch.tensor(list(alignment.matches.values()), dtype=torch.long)
        for start in range(0, len(tgt), COPY_BLOCK):  # in blocks: no full-size gathered copy of a 128k-row matrix
            block = slice(start, start + COPY_BLOCK)
            e_in[tgt[block]] = source.input[src[block]].to(stored)
            if e_out is not None:
                e_out[tgt[block]] = source.output[src[block]].to(stored)
        labels.update(alignment.kinds.values())
    labels["special-mean"] += len(alignment.unmatched_specials)
    labels["unused-mean"] += len(alignment.unused)
    if alignment.new:
        rows = spec.fn(view, alignment, config, donor) if spec.needs_donor else spec.fn(view, alignment, config)
        if rows.input.shape != (len(alignment.new), dim):
            raise RuntimeError(f"initializer {spec.name} returned {tuple(rows.input.shape)}, expected {(len(alignment.new), dim)}")
        new = torch.tensor(alignment.new, dtype=torch.long)
        e_in[new] = rows.input.to(stored)
        if e_out is not None:
            if rows.output is None:
                raise RuntimeError(f"initializer {spec.name} returned no output rows for an untied head")
            e_out[new] = rows.output.to(stored)
        labels.update(rows.provenance)
        details = rows.details
    bias = None if source.output_bias is None else bias_rows(source.output_bias, alignment)
    padding = find_padding(source.rows, len(alignment.source))
    extra = padded_rows(padding, size) - size
    if extra > 0:
        e_in = torch.cat([e_in, padding_rows(source.input[padding.used :].to(stored), extra)])
        if e_out is not None:
            e_out = torch.cat([e_out, padding_rows(source.output[padding.used :].to(stored), extra)])
        if bias is not None:
            bias = torch.cat([bias, padding_rows(source.output_bias[padding.used :], extra)])
        labels["padding"] += extra
        details = {**details, "padding": {"rows": size + extra, "ids": size, "multiple": padding.multiple}}
    report = InitReport(
        method=spec.name,
        counts={k: v for k, v in labels.items() if v},
        alignment=alignment.report(),
        new_token_ids=list(alignment.new) + list(alignment.unmatched_specials),
        details=details,
        specials=alignment.special_rows(),
    )
    return InitResult(TokenEmbeddings(alignment.target.tokenizer, e_in, e_out, bias), report)


def bias_rows(bias: torch.Tensor, alignment: VocabAlignment) -> torch.Tensor:
    """The LM head bias for the target ids: (V_s,) -> (V_t,), in the bias's dtype.

    A vocabulary-indexed tensor gets rows like the head: copied for matched ids, the mean of the pieces'
    biases for a new token (FVT on a one-column table), the mean bias for the rest.
    """
    regular = [i for i, k in enumerate(alignment.source.keys) if k is not None]
    fill = bias[regular].float().mean() if regular else bias.float().mean()
    out = fill.expand(len(alignment.target)).clone()
    if alignment.matches:
        out[torch.tensor(list(alignment.matches))] = bias[torch.tensor(list(alignment.matches.values()))].float()
    if alignment.new:
        pieces = alignment.new_pieces
        pooled = pool_pieces(bias.float()[:, None], pieces)[:, 0]
        has = piece_counts(pieces) > 0
        new = torch.tensor(alignment.new)
        out[new[has]] = pooled[has]
    return out.to(bias.dtype)
