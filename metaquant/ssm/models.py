"""Evidence models from an effect table: intensity and belief per model and property.

In the data-strategy adaptation of SSM (del Rey et al., arXiv 2505.00816) an
*evidence model* is one study's results for one precision configuration; it
carries, per property, an intensity label and a belief.  Two kinds of rows
are accepted:

*Summary rows* (the shipped ``ssm2025`` dataset, the replication package's
``effects.json``): each row already is one evidence model × property, with
``RI = pct`` (the mean relative improvement), ``IQR = pct_iqr`` and the
study belief ``B = study_belief``.

*Unit rows* (a baseline/quantized pair per experimental unit, e.g. one model
on one task, as in a user's measurement file, or one ``yi`` per unit): rows
are grouped by study × ``quant_precision`` × property, the grouping of the
replication package's ``compute_effects_by_precision``; for the group

.. math::

    RI = \\frac1n \\sum_i RI_i, \\qquad
    IQR = \\operatorname{round}(Q_3 - Q_1, 3),

with ``RI_i = pct`` of unit ``i`` and the quantiles taken as polars'
``interpolation="nearest"`` (:func:`metaquant.ssm.belief.quantile_nearest`).

A row is a summary row when the table says so (a ``form`` column, present
when an :class:`~metaquant.evidence.io.Evidence` is passed) or, in a bare effect
table, when it carries a spread of the improvement (``pct_iqr`` or
``pct_sd``); other rows are unit rows.  A group of one unit row gives the
same evidence model as a summary row without spread (``IQR = 0``, no
discount).

The label is :func:`metaquant.scale.label_from_pct` of ``RI`` (rounded to
3 dp, as the replication package labels its rounded ``improvement``) with the
property's cut-points; the belief is described in :mod:`metaquant.ssm.belief`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence import schema
from ..evidence.effects import compute_effects
from ..evidence.io import Evidence
from ..scale import label_name
from . import belief as _b
from .intensity import Thresholds, intensity, validate_override, written_code

#: Columns of the evidence-model table, in order.
MODEL_COLUMNS = (
    "study", "comparison", "property", "metric_class", "order", "n_units", "pct", "sd", "iqr",
    "discount", "study_belief", "n_study_models", "split_belief", "belief", "label_code", "label",
    "source_file", "source_rows", "note",
    "alpha_n", "alpha_v", "discount_factor", "p_value", "intensity", "rules",
)  # fmt: skip

_MISSING_B = ("study {s} has no study belief; add a study_belief column or pass study_belief={{...}} / "
              "--study-belief FILE (CSV study,study_belief)")


def as_effect_table(table: Evidence | pd.DataFrame) -> pd.DataFrame:
    """The effect table of ``table`` with a ``form`` column (``"summary"`` or ``"units"``).

    Accepts an :class:`~metaquant.evidence.io.Evidence`, a validated evidence frame
    (with ``form``), or an effect table (:func:`metaquant.evidence.effects.compute_effects`).
    """
    if isinstance(table, Evidence):
        tab = compute_effects(table)
        tab["form"] = np.where(table.data["form"].to_numpy() == "summary", "summary", "units")
        return tab
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"expected an effect table or Evidence, got {type(table).__name__}")
    if "pct" not in table.columns and "form" in table.columns:
        tab = compute_effects(table)
        tab["form"] = np.where(table["form"].to_numpy() == "summary", "summary", "units")
        return tab
    missing = [c for c in ("study", "comparison", "property", "pct") if c not in table.columns]
    if missing:
        raise InputError("not an effect table", column=missing[0],
                         expected="the output of metaquant.compute_effects (or an Evidence)")
    tab = table.reset_index(drop=True).copy()
    if "form" in tab.columns:
        tab["form"] = np.where(tab["form"].to_numpy() == "summary", "summary", "units")
    else:
        spread = np.zeros(len(tab), dtype=bool)
        for c in ("pct_iqr", "pct_sd"):
            if c in tab.columns:
                spread |= np.isfinite(pd.to_numeric(tab[c], errors="coerce").to_numpy(dtype=float))
        tab["form"] = np.where(spread, "summary", "units")
    return tab


def _num(r: Mapping, c: str) -> float:
    v = r.get(c, np.nan)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return np.nan
    return v


def _row_err(r: Mapping, msg: str, column: str, expected: str | None = None) -> InputError:
    row = r.get("source_row")
    return InputError(msg, path=r.get("source_file"), row=None if row is None else int(row), column=column,
                      expected=expected)


def _study_beliefs(tab: pd.DataFrame, override: Mapping[str, float] | None) -> dict[str, float]:
    override = dict(override or {})
    for s, b in override.items():
        try:
            ok = 0.0 <= float(b) <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(f"study belief {b!r} for study {s!r} is not a number in [0, 1]", column="study_belief")
    out: dict[str, float] = {}
    first: dict[str, Mapping] = {}
    for r in tab.to_dict("records"):
        s = str(r["study"])
        first.setdefault(s, r)
        if s in override:
            out[s] = float(override[s])
            continue
        b = _num(r, "study_belief")
        if not np.isfinite(b):
            continue
        if s in out and not np.isclose(out[s], b, rtol=0, atol=1e-12):
            raise _row_err(r, f"study {s} has two study beliefs ({out[s]:g} and {b:g})", "study_belief",
                           "one study belief per study")
        out.setdefault(s, b)
    for s, r in first.items():
        if s not in out:
            raise InputError(_MISSING_B.format(s=s), path=r.get("source_file"), column="study_belief")
    return out


def _groups(tab: pd.DataFrame, rounding: bool) -> list[dict]:
    """One entry per evidence model × property, in order of first appearance."""
    entries: dict[tuple, dict] = {}
    for i, r in enumerate(tab.to_dict("records")):
        prop = schema.get_property(r["property"]).name
        if r["form"] == "summary":
            key = ("summary", r["comparison"], prop, i)
            model_id = str(r["comparison"])
        else:
            qp = r.get("quant_precision")
            has_qp = qp is not None and not (isinstance(qp, float) and np.isnan(qp)) and str(qp) != ""
            model_id = f"{r['study']}|{qp}" if has_qp else str(r["comparison"])
            key = ("units", str(r["study"]), model_id, prop)
        e = entries.setdefault(key, {"study": str(r["study"]), "comparison": model_id, "property": prop,
                                     "form": r["form"], "rows": [], "first": i})
        e["rows"].append(r)
    out = []
    for e in entries.values():
        rows = e["rows"]
        pcts = np.array([_num(r, "pct") for r in rows], dtype=float)
        if not np.all(np.isfinite(pcts)):
            bad = rows[int(np.flatnonzero(~np.isfinite(pcts))[0])]
            raise _row_err(bad, "relative improvement is missing", "pct")
        note = []
        if e["form"] == "summary":
            r = rows[0]
            mean, sd, n = float(pcts[0]), _num(r, "pct_sd"), _num(r, "n_units")
            iqr = _num(r, "pct_iqr")
            if not np.isfinite(iqr):
                iqr = 0.0
                if np.isfinite(n) and n > 1:
                    note.append("IQR not reported: no dispersion discount")
        else:
            n = float(len(pcts))
            mean = float(pcts.mean())
            sd = float(pcts.std(ddof=1)) if len(pcts) > 1 else np.nan
            iqr = _b.iqr_nearest(pcts, rounding=rounding)
        e.update(pct=mean, sd=sd, n_units=n, iqr=iqr, note="; ".join(note))
        out.append(e)
    return out


def _checked_options(rules: str, discount: str | None, belief_split: str, thresholds: Thresholds):
    """The rule set and the discount after its default; an unknown option is an :class:`InputError`."""
    rs = _b.get_rules(rules)
    if discount is None:
        discount = rs.discount
    if discount not in _b.DISCOUNTS:
        raise InputError(f"unknown discount {discount!r}", expected=" or ".join(_b.DISCOUNTS))
    if belief_split not in _b.BELIEF_SPLITS:
        raise InputError(f"unknown belief split {belief_split!r}", expected=" or ".join(_b.BELIEF_SPLITS))
    validate_override(thresholds)
    return rs, discount


def _models_per_study(entries: list[dict]) -> dict[tuple[str, str], int]:
    """(study, property) -> number of evidence models the study gives to the property."""
    n_models: dict[tuple[str, str], int] = {}
    for e in entries:
        n_models[(e["study"], e["property"])] = n_models.get((e["study"], e["property"]), 0) + 1
    return n_models


def _discount_of(e: dict, discount: str, rounding: bool) -> tuple[float, float, float]:
    """``(d, α_n, α_v)`` of one evidence model; under ``v1`` and ``none`` ``α_n`` is NaN and ``α_v = 1 - d``."""
    mean, iqr = e["pct"], e["iqr"]
    if discount == "v1":
        d = _b.discount_v1(iqr, mean, rounding=rounding)
    elif discount == "v2":
        r0 = e["rows"][0]
        n, sd = e["n_units"], e["sd"]
        if not np.isfinite(n):
            raise _row_err(r0, "discount v2 needs the number of units behind the improvement", "n_units",
                           "n_units (or use --discount v1)")
        if n > _b.V2_CUTOFF and not np.isfinite(sd):
            raise _row_err(r0, f"discount v2 needs the spread of the improvement over its {n:g} units",
                           "improvement_sd", "improvement_sd (or use --discount v1)")
        a_n, a_v = _b.reliability_v2(n, sd if np.isfinite(sd) else 0.0, mean, rounding=rounding)
        return 1.0 - a_n * a_v, a_n, a_v
    else:
        d = 0.0
    return d, np.nan, 1.0 - d


def _model_row(e: dict, prop, b: float, n_study: int, position: dict[str, int], *, discount: str,
               belief_split: str, rounding: bool, thresholds: Thresholds, rs) -> dict:
    """One row of :func:`evidence_models`; counts the model in ``position`` (its order within the property)."""
    b_split = _b.split_study_belief(b, n_study, belief_split)
    mean, iqr = e["pct"], e["iqr"]
    d, a_n, a_v = _discount_of(e, discount, rounding)
    if discount == "v2":  # B' = B α_n α_v (the follow-up's discounted_belief)
        s = b_split * a_n * a_v
    else:
        s = b_split * (1.0 - d)
    s = _b.round3(s) if rounding else float(s)
    factor = (1.0 - d) if discount != "v2" else a_n * a_v
    pct_for_label = _b.round3(mean) if rounding else mean
    code = intensity(pct_for_label, prop.name, thresholds)
    position[prop.name] = position.get(prop.name, 0) + 1
    return {
        "study": e["study"],
        "comparison": e["comparison"],
        "property": prop.name,
        "metric_class": prop.metric_class,
        "order": position[prop.name],
        "n_units": e["n_units"],
        "pct": mean,
        "sd": e["sd"],
        "iqr": iqr,
        "discount": float(d),
        "study_belief": float(b),
        "n_study_models": n_study,
        "split_belief": float(b_split),
        "belief": s,
        "label_code": code,
        "label": label_name(code),
        "source_file": e["rows"][0].get("source_file"),
        "source_rows": ",".join(str(int(r["source_row"])) for r in e["rows"] if r.get("source_row") is not None),
        "note": e["note"],
        "alpha_n": float(a_n),
        "alpha_v": float(a_v),
        "discount_factor": _b.round3(factor) if rounding else float(factor),
        "p_value": _b.round3(1.0 - factor) if rounding else float(1.0 - factor),
        "intensity": written_code(code, rs.notation),
        "rules": rs.name,
    }


def evidence_models(
    table: Evidence | pd.DataFrame,
    *,
    thresholds: Thresholds = None,
    discount: str | None = None,
    belief_split: str = "none",
    study_belief: Mapping[str, float] | None = None,
    rounding: bool = True,
    rules: str = "ssm2025",
) -> pd.DataFrame:
    """Intensity and belief of every evidence model × property.

    Parameters
    ----------
    table : Evidence or DataFrame
        An effect table (:func:`metaquant.compute_effects`) or the evidence.
    thresholds : 6 floats or mapping, optional
        Cut-point override (:func:`metaquant.ssm.intensity.thresholds_for`).
    discount : {"v1", "v2", "none"}, optional
        ``"v1"``: ``d = round(1 - exp(-0.1 |IQR/RI|), 3)`` (the paper);
        ``"v2"``: ``1 - d = α_n α_v`` (the follow-up); ``"none"``: ``d = 0``.
        Default: the rule set's (``v1`` for ``ssm2025``, ``v2`` for ``ssm2026``).
    belief_split : {"none", "equitable", "mass-preserving"}
        Share of the study belief per model when a study gives ``N`` models to
        a property: ``B``, ``B/N`` or ``1 - (1 - B)^(1/N)``.
    study_belief : mapping, optional
        Study -> ``B``; overrides the ``study_belief`` column.
    rounding : bool
        Round ``IQR``, ``d`` and the belief to 3 dp as the paper does.
    rules : {"ssm2025", "ssm2026"}
        Rule set (:data:`metaquant.ssm.belief.RULES`): the default discount
        and the notation of the ``intensity`` column.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MODEL_COLUMNS`: ``comparison`` is the evidence-model id,
        ``order`` its 1-based aggregation position within the property (file
        order), ``pct`` the mean RI (%), ``iqr``/``sd`` its spread over
        ``n_units`` units, ``discount`` ``d``, ``split_belief`` the study
        belief after the split, ``belief = split_belief · (1 - d)``, and
        ``label_code``/``label`` the intensity.  The extension's fields:
        ``alpha_n`` (sample-size reliability; NaN under ``v1``), ``alpha_v``
        (variability reliability, ``1 - d`` under ``v1``), ``discount_factor``
        ``= round(α_n α_v, 3)``, ``p_value = round(1 - α_n α_v, 3)`` (the
        undiscounted share, not a test statistic), ``intensity`` (the label
        in the rule set's notation) and ``rules``.

    Raises
    ------
    InputError
        A study without a study belief, an unknown option, or (``v2``) a row
        without the number of units or their spread.
    """
    rs, discount = _checked_options(rules, discount, belief_split, thresholds)
    tab = as_effect_table(table)
    if tab.empty:
        raise InputError("the effect table has no rows", expected="at least one effect")
    beliefs = _study_beliefs(tab, study_belief)
    entries = _groups(tab, rounding)
    n_models = _models_per_study(entries)
    position: dict[str, int] = {}
    rows = []
    for e in entries:
        prop = schema.get_property(e["property"])
        rows.append(_model_row(e, prop, beliefs[e["study"]], n_models[(e["study"], e["property"])], position,
                               discount=discount, belief_split=belief_split, rounding=rounding,
                               thresholds=thresholds, rs=rs))
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
