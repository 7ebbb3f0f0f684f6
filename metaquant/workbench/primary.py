"""The primary estimate of a property, chosen by one documented rule from the evidence's structure.

Several models answer the question "what does quantization do to this property?" -- the Bayesian
multilevel model, REML's multilevel model, a two-level model that treats every row as its own study,
the equal-effects model -- and they differ because they assume different things.  A reader needs one
answer and, for every other number, what it assumes.  :func:`primary_spec` is the rule (in this order):

1. **Known sampling covariance** (``rho`` / ``shared_baseline`` in the spec): the chosen model keeps it
   (the classical multilevel model and the PyMC model both take it; the exact engine does not).
2. **Unknown sampling variances** (any row without one): the Bayesian model, which estimates them
   (a residual scale); REML would have to drop or impute those rows.
3. **Few studies** (fewer than :data:`MIN_STUDIES_REML`): the Bayesian model with its priors, since
   REML's between-study variance is poorly estimated from few studies and its interval ignores that.
4. Otherwise (every variance known, enough studies): REML.

In each case the model is **multilevel** where a study gives several rows (rows nested in studies;
dependence) and random-effects otherwise.  The Bayesian random-effects model is computed by the exact
quadrature engine where it is the same model (:func:`metaquant.fitting.fast_spec`).

:func:`describe` names any other estimate by what it assumes and why it differs from the primary one;
:func:`estimate_name` is the short name a figure or table gives it.
"""

from __future__ import annotations

import pandas as pd

from ..evidence.nesting import nesting
from ..fitting import property_rows
from ..progress import plural
from ..spec import ENGINE_POLICIES, FitSpec, engine_of

#: Below this many studies the primary estimate is Bayesian: REML's tau² is poorly estimated from fewer.
MIN_STUDIES_REML = 10

__all__ = ["MIN_STUDIES_REML", "describe", "estimate_name", "is_primary", "primary_spec", "statement",
           "structure"]


def structure(rows: pd.DataFrame) -> dict:
    """What the rule reads from one property's rows.

    Returns
    -------
    dict
        ``k`` (rows), ``n_studies``, ``max_rows`` (most rows one study gives), ``max_study`` (that study),
        ``nested`` (a study gives several rows) and ``n_unknown`` (rows without a sampling variance).
    """
    n = nesting(rows)
    known = rows["vi_known"].astype(bool) if "vi_known" in rows else pd.to_numeric(rows["vi"], errors="coerce").notna()
    return {"k": n.k, "n_studies": n.n_studies, "max_rows": n.max_rows, "max_study": n.max_study, "nested": n.nested,
            "n_unknown": int((~known.to_numpy()).sum())}


def primary_spec(table: pd.DataFrame, prop: str, base: FitSpec | None = None) -> tuple[FitSpec, str]:
    """The primary estimate of ``prop`` and why, by the rule of this module's docstring.

    Parameters
    ----------
    table : DataFrame
        An effect table (rows of other properties are ignored).
    prop : str
        The property.
    base : FitSpec, optional
        What the user asked for besides the method (moderators, priors, level, cut-points, known sampling
        covariance); its ``method``, ``model`` and ``variance_policy`` are replaced.

    Returns
    -------
    (FitSpec, str)
        The spec of the primary estimate and the reason in words.
    """
    base = (base or FitSpec(prop)).replace(property=prop)
    s = structure(property_rows(table, base.property))
    model = "multilevel" if s["nested"] else "random-effects"
    why = []
    if s["n_unknown"]:
        why.append(f"{plural(s['n_unknown'], 'row')} of {s['k']} {'has' if s['n_unknown'] == 1 else 'have'} no "
                   "sampling variance: the Bayesian model estimates them, REML would drop or impute them")
        bayes = True
    elif s["n_studies"] < MIN_STUDIES_REML:
        why.append(f"{plural(s['n_studies'], 'study', 'studies')} (< {MIN_STUDIES_REML}): REML's tau² is poorly "
                   "estimated from so few, the Bayesian model carries its uncertainty through the priors")
        bayes = True
    else:
        why.append(f"every sampling variance known and {s['n_studies']} studies: REML")
        bayes = False
    if s["nested"]:
        why.append(f"rows nested in studies ({s['max_study']} gives {s['max_rows']}): multilevel")
    if base.known_cov:
        why.append("with the known sampling covariance given")
    method = "bayes" if bayes else "reml"
    policy = base.variance_policy if base.variance_policy in ENGINE_POLICIES[engine_of(method)]["accepts"] else None
    classical_only = {"robust": None, "wald": ()} if bayes else {}  # options the Bayesian engines do not take
    spec = base.replace(method=method, model="auto" if bayes else model, variance_policy=policy, **classical_only)
    return spec, "; ".join(why)


def _family(spec: FitSpec, s: dict) -> tuple[str, str]:
    """(``"bayes"`` or the classical method, the model actually fitted) of a spec on rows of structure ``s``."""
    if spec.engine in ("exact", "bma"):
        return "bayes" if spec.engine == "exact" else "bma", "random-effects"
    nested = s["nested"]
    if spec.engine == "bayes":
        model = "multilevel" if (spec.model == "multilevel" or (spec.model == "auto" and nested)) else "random-effects"
        return "bayes", model
    if spec.is_fixed:
        return "fe", "equal-effects"
    if spec.scale_moderators:  # rows independent, tau² by moderators (classical.rma_ls)
        return spec.method, "location-scale"
    model = spec.model
    if model == "auto":
        model = "multilevel" if nested and spec.method in ("reml", "ml") else "random-effects"
    return spec.method, model


def is_primary(spec: FitSpec, table: pd.DataFrame) -> bool:
    """Whether ``spec`` fits the same model as the primary estimate (the exact engine counts as Bayesian)."""
    rows = property_rows(table, spec.property)
    s = structure(rows)
    prim, _ = primary_spec(table, spec.property, spec)
    if spec.engine == "bma" or spec.known_cov != prim.known_cov:
        return False
    return _family(spec, s) == _family(prim, s)


def estimate_name(spec: FitSpec, table: pd.DataFrame) -> str:
    """The short name of an estimate: "Bayesian multilevel", "REML multilevel", "Bayesian random-effects (exact)"."""
    s = structure(property_rows(table, spec.property))
    fam, model = _family(spec, s)
    if fam == "bma":
        return "Bayesian model average (bias-adjusted)"
    if fam == "fe":
        return "equal-effects (FE)"
    if fam == "bayes":
        return f"Bayesian {model}" + (" (exact)" if spec.engine == "exact" else "")
    return f"{fam.upper()} {model}"


def describe(spec: FitSpec, table: pd.DataFrame) -> str:
    """An estimate named by what it assumes and why it can differ from the primary one.

    E.g. ``"REML multilevel: assumes known sampling variances; drops 13 rows without one; tau² from 5 studies"``.
    """
    rows = property_rows(table, spec.property)
    s = structure(rows)
    fam, model = _family(spec, s)
    parts = []
    if model in ("random-effects", "location-scale") and s["nested"]:
        parts.append(f"treats the {s['k']} rows of {plural(s['n_studies'], 'study', 'studies')} as independent "
                     "studies (one level)")
    if model == "equal-effects":
        parts.append("assumes one common effect (no heterogeneity)")
    if fam not in ("bayes",):
        if s["n_unknown"]:
            what = {"drop": "drops", "refuse": "refuses", "impute-max": "imputes the largest variance for",
                    "impute-median": "imputes the median variance for"}.get(spec.policy, spec.policy)
            parts.append(f"assumes known sampling variances; {what} {plural(s['n_unknown'], 'row')} without one")
        if fam not in ("fe", "bma") and s["n_studies"] < MIN_STUDIES_REML:
            parts.append(f"tau² estimated from {plural(s['n_studies'], 'study', 'studies')} without its uncertainty")
    elif s["n_unknown"]:
        parts.append(f"estimates the {plural(s['n_unknown'], 'unknown variance')} with a residual scale")
    if fam == "bma":
        parts.append("averages models with and without publication bias")
    return f"{estimate_name(spec, table)}: " + ("; ".join(parts) if parts else "same assumptions as the primary")


def statement(spec: FitSpec, table: pd.DataFrame, chosen: FitSpec | None = None) -> list[str]:
    """What ``fit`` says first: which estimate is primary and why or, for a ``chosen`` one that is not, one line
    naming it by its assumptions and the primary one with its reason."""
    prim, why = primary_spec(table, spec.property, spec)
    if chosen is not None and not is_primary(chosen, table):
        return [f"not the primary estimate: {describe(chosen, table)} (the primary is {estimate_name(prim, table)}: "
                f"{why})"]
    return [f"primary estimate: {estimate_name(prim, table)} ({why})"]
