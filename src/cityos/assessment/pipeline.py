"""The assessment engine: one run of the composite-index pipeline (OECD/JRC Handbook, 2008).

``run(framework, panel, config)`` takes the year, denominates, imputes, screens, treats
outliers, normalises, weighs, aggregates bottom-up, scores and ranks every node, checks
coherence and, when ``uncertainty.runs`` > 0, runs the Monte Carlo — recording each step's
method, parameters and what it did (docs/assessment-method.md describes every step).

``config_for(framework, overrides)`` is the run config: the defaults, then the framework's
``method:``, then the overrides, each validated with errors that name the bad key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from pydantic import ValidationError

from cityos.assessment import (
    aggregate,
    coherence,
    denominate,
    impute,
    normalise,
    outliers,
    screen,
    structure,
    uncertainty,
    weighting,
)
from cityos.assessment.framework import Direction, Framework, Indicator
from cityos.assessment.panel import Panel, Unit
from cityos.assessment.result import (
    BoolArray,
    FloatArray,
    PipelineResult,
    StepRecord,
    Treatment,
    Uncertainty,
)
from cityos.assessment.runconfig import (
    ImputeMethod,
    NormaliseMethod,
    RunConfig,
    WeightMethod,
    explain,
)
from cityos.errors import InvalidInput

Progress = Callable[[int, int], None]
_RAW_UNITS = (NormaliseMethod.GOALPOSTS, NormaliseMethod.DISTANCE_TO_TARGET)


def config_for(framework: Framework, overrides: Mapping[str, Any] | None) -> RunConfig:
    """RunConfig() merged with ``framework.method``, then ``overrides`` (section by
    section). Raises InvalidInput listing every bad key (and valid method names)."""
    config = RunConfig()
    for source, data in (
        (f"the method of framework {framework.code}", framework.method),
        ("the run config", overrides),
    ):
        if not data:
            continue
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source} must be a mapping of settings, not {type(data).__name__}")
        try:
            config = config.merged(dict(data))
        except ValidationError as error:
            problems = explain(error)
            raise InvalidInput(f"{source}: " + "; ".join(problems), details=problems) from error
    return config


def run(
    framework: Framework,
    panel: Panel,
    config: RunConfig | None = None,
    *,
    progress: Progress | None = None,
) -> PipelineResult:
    """Assess ``panel``'s units on ``framework`` with ``config`` (default: config_for the
    framework). Raises InvalidInput / Unprocessable with a message saying what to fix."""
    cfg = config if config is not None else config_for(framework, None)
    tree = structure.build(framework)
    indicators = tree.indicators
    codes = [i.code for i in indicators]
    units = panel.units
    unit_codes = [u.code for u in units]
    steps: list[StepRecord] = []
    warnings: list[str] = []
    if cfg.uncertainty.runs:
        uncertainty.check_work(len(units), int(cfg.uncertainty.runs))

    year, year_index, values, step, no_data = _select(
        panel, codes, cfg.year, cfg.carry_forward, cfg.screen.min_unit_coverage
    )
    raw = np.array(values[year_index], copy=True)
    steps.append(step)
    warnings.extend(no_data)

    # Denomination.
    if cfg.denominate:
        values, step, lost = _denominate(panel, indicators, values, year_index)
        steps.append(step)
        warnings.extend(lost)
    else:
        steps.append(StepRecord("denominate", "skipped", {}, ("denominate: false",)))
    denominated = np.array(values[year_index], copy=True)

    # Imputation.
    groups = _groups(units, cfg.impute.group_by)
    imputed, notes = impute.impute(
        values, year_index, cfg.impute, groups, years=panel.years, codes=codes
    )
    steps.append(_step("impute", cfg.impute.method, cfg.impute.model_dump(mode="json"), notes))

    # Screening, on the coverage of the data as given: imputed cells do not count as data.
    kept_units, kept_ind, notes = screen.screen(
        denominated, cfg.screen, codes=codes, units=unit_codes
    )
    steps.append(_step("screen", "coverage", cfg.screen.model_dump(mode="json"), notes))
    kept_codes = [c for c, k in zip(codes, kept_ind, strict=True) if k]
    sub = imputed[np.ix_(kept_units, kept_ind)]

    # Outlier treatment.
    method = NormaliseMethod(cfg.normalise.method)
    logged_sub, treatments, notes = outliers.treat_with_notes(sub, cfg.outliers, kept_codes)
    # goalposts and targets are in raw units: they normalise the values before any log
    unlogged = _undo_logs(sub, logged_sub, treatments, notes, method)
    treated_sub = logged_sub
    if method in _RAW_UNITS:
        treated_sub, treatments, notes = unlogged
    steps.append(
        _step("outliers", cfg.outliers.method, cfg.outliers.model_dump(mode="json"), notes)
    )
    treated = _expand(treated_sub, kept_units, kept_ind)

    # Normalisation.
    kept_list = [i for i, k in zip(indicators, kept_ind, strict=True) if k]
    reference_row = _reference_row(cfg.normalise.reference_unit, unit_codes, kept_units)
    cache: dict[NormaliseMethod, FloatArray] = {}

    def normalised_kept(how: NormaliseMethod) -> FloatArray:
        """Kept units × every indicator (NaN for screened-out ones) by ``how``."""
        if how not in cache:
            block = normalise.normalise(
                unlogged[0] if how in _RAW_UNITS else logged_sub,
                how,
                higher_is_better=[i.direction is Direction.HIGHER for i in kept_list],
                goalposts=[i.goalposts for i in kept_list],
                targets=[i.target for i in kept_list],
                reference_row=reference_row,
                codes=kept_codes,
            )
            full = np.full((block.shape[0], len(codes)), np.nan)
            full[:, kept_ind] = block
            cache[how] = full
        return cache[how]

    methods = aggregate.methods_by_group(tree, cfg.aggregate)
    norm_kept, lifted = aggregate.lift_zero(normalised_kept(method), method, methods)
    normalised = np.full((len(units), len(codes)), np.nan)
    normalised[kept_units] = norm_kept
    flipped = [i.code for i in kept_list if i.direction is Direction.LOWER]
    turned = [f"lower is better, turned around: {_listing(flipped)}"] if flipped else []
    if lifted:
        turned.append(lifted)
    steps.append(_step("normalise", method, cfg.normalise.model_dump(mode="json"), turned))

    # Weights and aggregation.
    active = structure.active_nodes(tree, kept_ind)
    kept_unit_list = [u for u, k in zip(units, kept_units, strict=True) if k]
    plan = weighting.plan(tree, cfg.weights, kept_unit_list, active)
    weight_notes = list(plan.notes)
    weigh = None
    if plan.method is WeightMethod.PCA:

        def weigh(g: int, scores: FloatArray, current: FloatArray) -> FloatArray:
            found, why = weighting.pca_weights(scores)
            name = structure.label(tree.groups[g])
            if why:
                weight_notes.append(f"PCA undefined for {name} ({why}): equal weights")
            elif weighting.pca_is_always_equal(scores):
                weight_notes.append(
                    f"{name}: PCA weights of a two-indicator group are always equal"
                )
            return found

    complete = cfg.impute.method is ImputeMethod.NONE
    scores_kept, used = aggregate.aggregate_tree(
        norm_kept, tree, plan.matrix(), methods, weigh=weigh, complete=complete
    )
    node_weights = used if used.ndim == 1 else plan.nodes
    steps.append(
        _step("weights", cfg.weights.method, cfg.weights.model_dump(mode="json"), weight_notes)
    )
    steps.append(
        _step(
            "aggregate",
            cfg.aggregate.method,
            cfg.aggregate.model_dump(mode="json"),
            _aggregate_notes(tree, methods, kept_ind, imputed[kept_units], complete=complete),
        )
    )

    # Scores and ranks of every node, over the kept units.
    ranks_kept = uncertainty.rank_scores(scores_kept)
    scores = np.full((len(units), tree.n_nodes), np.nan)
    ranks = np.full((len(units), tree.n_nodes), np.nan)
    scores[kept_units] = scores_kept
    ranks[kept_units] = ranks_kept
    have = (~np.isnan(raw)).sum(axis=1)
    coverage = {u.code: (int(n), len(codes)) for u, n in zip(units, have, strict=True)}

    # Coherence.
    coh = coherence.coherence(normalised, tree, kept_units, kept_ind, cfg.coherence)
    kinds = [f.kind for f in coh.flags]
    steps.append(
        _step(
            "coherence",
            "pearson",
            cfg.coherence.model_dump(mode="json"),
            [
                f"{kinds.count('redundant')} redundant and {kinds.count('negative')} negative "
                "pairs of sibling indicators"
            ],
        )
    )

    # Uncertainty.
    unc: Uncertainty | None = None
    if cfg.uncertainty.runs > 0:
        root = tree.group_id(0)
        found, notes = uncertainty.analyse(
            structure=tree,
            normalised=normalised_kept,
            weights=used,
            node_weights=node_weights,
            aggregate=cfg.aggregate,
            nominal_ranks=ranks_kept[:, root],
            config=cfg.uncertainty,
            nominal_normalisation=method,
            active=active,
            progress=progress,
            complete=complete,
        )
        unc = found  # per kept unit, in unit order
        steps.append(
            _step("uncertainty", "monte_carlo", cfg.uncertainty.model_dump(mode="json"), notes)
        )
    else:
        steps.append(_step("uncertainty", "none", {"runs": 0}, ["uncertainty.runs is 0"]))

    return PipelineResult(
        framework=framework,
        config=cfg,
        year=year,
        units=units,
        indicators=tuple(codes),
        raw=raw,
        denominated=denominated,
        imputed=imputed,
        kept_units=kept_units,
        kept_indicators=kept_ind,
        treated=treated,
        normalised=normalised,
        treatments=treatments,
        weights=structure.weights_by_code(tree, node_weights),
        scores={code: scores[:, n] for n, code in enumerate(tree.codes)},
        ranks={code: ranks[:, n] for n, code in enumerate(tree.codes)},
        coverage=coverage,
        coherence=coh,
        uncertainty=unc,
        steps=tuple(steps),
        warnings=tuple(warnings),
        tier_weights={t: structure.weights_by_code(tree, w) for t, w in plan.tiers.items()},
    )


def _select(
    panel: Panel,
    codes: Sequence[str],
    wanted: int | None,
    carry_forward: int = 0,
    unit_coverage: float = 0.0,
) -> tuple[int, int, FloatArray, StepRecord, list[str]]:
    """The year, its index, the years × units × indicators values in framework order
    (empty columns for indicators the data lacks), the step record and the warnings.

    With ``carry_forward`` > 0, a cell empty in the assessed year takes the unit's latest
    earlier value at most that many years older (counted in the notes). Without a
    ``wanted`` year, the year is the latest one in which some unit has the coverage
    screening asks of a unit (so a few early figures for next year do not choose it), else
    the latest year with any value."""
    column_of = {code: j for j, code in enumerate(panel.indicators)}
    values = np.full((len(panel.years), len(panel.units), len(codes)), np.nan)
    warnings: list[str] = []
    for j, code in enumerate(codes):
        if code not in column_of:
            warnings.append(f"indicator {code} has no data")
            continue
        values[:, :, j] = panel.values[:, :, column_of[code]]
    year = (
        wanted if wanted is not None else _default_year(panel, values, carry_forward, unit_coverage)
    )
    if year not in panel.years:
        listed = ", ".join(str(y) for y in panel.years)
        raise InvalidInput(f"year {year} is not in the data; it has {listed}: choose one of them")
    year_index = panel.years.index(year)
    notes = [f"{len(panel.units):,} units × {len(codes):,} indicators for {year}"]
    if carry_forward:
        carried = _carry_forward(values, panel.years, year_index, carry_forward)
        notes.append(
            f"carried forward {carried:,} values from up to {carry_forward} years before {year}"
        )
    for j, code in enumerate(codes):
        if code in column_of and np.isnan(values[year_index, :, j]).all():
            warnings.append(f"indicator {code} has no data for {year}")
    params = {
        "year": year,
        "years": list(panel.years),
        "units": len(panel.units),
        "indicators": len(codes),
        "carry_forward": carry_forward,
    }
    return year, year_index, values, StepRecord("data", "panel", params, tuple(notes)), warnings


def _default_year(
    panel: Panel, values: FloatArray, carry_forward: int, unit_coverage: float
) -> int:
    """The latest year in which a unit reaches ``unit_coverage`` (see :func:`_select`)."""
    if values.shape[2]:
        for at in range(len(panel.years) - 1, -1, -1):
            trial = np.array(values, copy=True)
            _carry_forward(trial, panel.years, at, carry_forward)
            share = (~np.isnan(trial[at])).mean(axis=1)
            if share.size and share.max() >= max(unit_coverage, 1e-12):
                return panel.years[at]
    return panel.latest_year()


def _carry_forward(values: FloatArray, years: Sequence[int], at: int, limit: int) -> int:
    """Fill empty cells of year ``at`` in place from the latest earlier year within ``limit``
    years; return how many were filled."""
    target = values[at]
    before = int(np.isnan(target).sum())
    for k in range(at - 1, -1, -1):
        if years[at] - years[k] > limit:
            break
        empty = np.isnan(target)
        target[empty] = values[k][empty]
    return before - int(np.isnan(target).sum())


def _denominate(
    panel: Panel, indicators: Sequence[Indicator], values: FloatArray, year_index: int
) -> tuple[FloatArray, StepRecord, tuple[str, ...]]:
    columns = {code: panel.values[:, :, j] for j, code in enumerate(panel.indicators)}
    out, notes, lost = denominate.denominate(
        values, indicators, panel.units, columns=columns, year_index=year_index
    )
    params = {
        i.code: {"by": i.denominator.by, "per": i.denominator.per}
        for i in indicators
        if i.denominator is not None
    }
    notes = notes or ("no indicator has a denominator",)
    return out, StepRecord("denominate", "per denominator", params, notes), lost


def _step(step: str, method: Any, params: dict[str, Any], notes: Sequence[str]) -> StepRecord:
    return StepRecord(
        step=step, method=str(getattr(method, "value", method)), params=params, notes=tuple(notes)
    )


def _listing(names: Sequence[str], limit: int = 20) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _groups(units: Sequence[Unit], group_by: str | None) -> list[str | None]:
    """Each unit's group for group imputation: ``Unit.group`` by default, or ``group_by``
    (``group``, ``tier`` or a unit attribute)."""
    if group_by in (None, "group", "region"):  # importers put the region in Unit.group
        return [u.group for u in units]
    if group_by == "tier":
        return [u.tier for u in units]
    out: list[str | None] = []
    for u in units:
        value = u.attributes.get(str(group_by))
        out.append(None if value is None or value != value else f"{value:g}")
    return out


def _expand(block: FloatArray, rows: BoolArray, cols: BoolArray) -> FloatArray:
    out = np.full((rows.size, cols.size), np.nan)
    out[np.ix_(rows, cols)] = block
    return out


def _reference_row(code: str | None, unit_codes: Sequence[str], kept: BoolArray) -> int | None:
    """The reference unit's row among the kept units."""
    if code is None:
        return None
    if code not in unit_codes:
        raise InvalidInput(
            f"normalise.reference_unit: '{code}' is not one of the units; use one of "
            f"{_listing(list(unit_codes))}"
        )
    at = unit_codes.index(code)
    if not kept[at]:
        raise InvalidInput(
            f"normalise.reference_unit: '{code}' was screened out (too few values); choose "
            "another reference unit or lower screen.min_unit_coverage"
        )
    return int(kept[:at].sum())


def _undo_logs(
    before: FloatArray,
    treated: FloatArray,
    treatments: tuple[Treatment, ...],
    notes: tuple[str, ...],
    method: NormaliseMethod,
) -> tuple[FloatArray, tuple[Treatment, ...], tuple[str, ...]]:
    """Goalposts and targets are in raw units: keep log-transformed indicators untransformed."""
    logged = [j for j, t in enumerate(treatments) if t.action == "log"]
    if not logged:
        return treated, treatments, notes
    out = np.array(treated, copy=True)
    out[:, logged] = before[:, logged]
    items = list(treatments)
    for j in logged:
        t = items[j]
        items[j] = replace(
            t, action="none", points=0, skew_after=t.skew_before, kurtosis_after=t.kurtosis_before
        )
    names = [treatments[j].indicator for j in logged]
    kept_notes = [n for n in notes if not any(n.startswith(f"{c}: log") for c in names)]
    kept_notes.append(
        f"not log-transformed, as {method.value} normalisation works in raw units: "
        f"{_listing(names)}"
    )
    return out, tuple(items), tuple(kept_notes)


def _aggregate_notes(
    tree: structure.Structure,
    methods: Sequence[aggregate.Method],
    kept_ind: BoolArray,
    imputed_kept: FloatArray,
    *,
    complete: bool = False,
) -> list[str]:
    by_depth: dict[int, str] = {}
    for g, (m, p) in enumerate(methods):
        by_depth.setdefault(int(tree.depth[tree.group_id(g)]), aggregate.describe(m, p))
    notes = [
        "; ".join(f"depth {d}: {text}" for d, text in sorted(by_depth.items())),
    ]
    partial = int((np.isnan(imputed_kept[:, kept_ind]).any(axis=1)).sum())
    if partial and complete:
        notes.append(
            f"{partial:,} units miss some values: with impute.method none, a group in which "
            "a unit misses a value has no score for it"
        )
    elif partial:
        notes.append(
            f"{partial:,} units miss some values: their scores are computed from the "
            "indicators they have, weights renormalised (see coverage: N of M)"
        )
    return notes
