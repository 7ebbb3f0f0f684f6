"""The three engines side by side: SSM, Bayesian and frequentist pooling of one property.

For every property :func:`compare` runs

* the Structured Synthesis Method (:func:`metaquant.ssm.synthesize`): a label on the
  13-label scale and its belief ``Bel``;
* the Bayesian random-effects or multilevel model (PyMC by default,
  :func:`metaquant.api.fit_bayes`; the exact quadrature engine
  :func:`metaquant.bayes.fit_exact` under ``fast=True`` where it is the same
  model): the pooled relative improvement with its credible interval and the
  label read off the 13 zone probabilities with the same 0.75 rule, with its
  posterior probability.  Both model unknown sampling variances;
* the REML random-effects model (:func:`metaquant.api.fit_frequentist`): the
  pooled relative improvement with its confidence and prediction intervals and
  the label of its point estimate.  REML needs every sampling variance; the
  stated policy (``missing_vi="drop"`` by default) is applied and reported, and
  a property without any known variance is reported as *not estimable*.

and classifies how the labels relate (:func:`classify_labels`):

``same``
    identical label codes;
``adjacent``
    the labels share an atom (``WN-IF`` and ``IF``) or are two neighbouring
    atoms that together form one of the 13 labels (``WP`` and ``PO`` form
    ``WP-PO``);
``conflicting``
    anything further apart (``WN`` and ``IF-WP``).

The overall status of a property is the worst status over the pairs of
engines that gave a label.  Where the engines part, :func:`explain` names
the structural reasons that the data show: several dependent evidence models
of one study that Dempster's rule treats as independent sources, rows that
REML cannot pool for want of a sampling variance, SSM's belief saturating as
many agreeing models are combined, and heterogeneity that no single label
summarises.

References
----------
del Rey S, et al. Aggregating empirical evidence from data strategy studies: a case
on model quantization. ESEM 2025; arXiv:2505.00816.
Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat
Softw 2010;36(3).
Shafer G. A Mathematical Theory of Evidence. Princeton University Press, 1976.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import api, scale, schema
from .effects import MISSING_VI_POLICIES, for_property
from .errors import InputError

#: Seed used when none is given (the same as ``metaquant fit``).
DEFAULT_SEED = 20251123
#: Agreement statuses from closest to furthest.
STATUSES = ("same", "adjacent", "conflicting")
#: The engines compared.
ENGINES = ("ssm", "bayes", "frequentist")
_PAIR_NAMES = {("ssm", "bayes"): "ssm_bayes", ("ssm", "frequentist"): "ssm_frequentist",
               ("bayes", "frequentist"): "bayes_frequentist"}
_DISPLAY = {"ssm": "SSM", "bayes": "Bayes", "frequentist": "REML"}


# --------------------------------------------------------------------------
# Labels and their agreement
# --------------------------------------------------------------------------


def code_atoms(code: str) -> frozenset[str]:
    """Atoms of any label code the engines produce.

    Accepts the 13 labels (``"IF-WP"``), the whole frame ``"Θ"`` and the
    contiguous intervals of the Santos rule (``"WN..WP"``) or sets
    (``"{WN,WP}"``).
    """
    if code == "Θ":
        return scale.FRAME
    if ".." in code:
        a, b = code.split("..")
        i, j = scale.ATOMS.index(a), scale.ATOMS.index(b)
        return frozenset(scale.ATOMS[i : j + 1])
    if code.startswith("{") and code.endswith("}"):
        return frozenset(x.strip() for x in code[1:-1].split(","))
    return scale.label_atoms(code)


def classify_labels(a: str, b: str) -> str:
    """How two labels on SSM's scale relate: ``"same"``, ``"adjacent"`` or ``"conflicting"``.

    With ``A`` and ``B`` the atom sets of the labels,

    * ``same`` when ``A = B``;
    * ``adjacent`` when ``A ∩ B ≠ ∅`` (the labels overlap: ``WN-IF`` and
      ``IF``, neighbours on the 13-label scale, or ``WN-IF`` and ``IF-WP``),
      or when both are single atoms that are neighbours on the seven-point
      scale, so that ``A ∪ B`` is itself one of the 13 labels (``WP`` and
      ``PO`` make ``WP-PO``);
    * ``conflicting`` otherwise (``WN`` and ``IF-WP``: no common atom, and
      ``IF`` lies between them only as part of a pair).

    Examples
    --------
    >>> classify_labels("IF-WP", "IF-WP"), classify_labels("WN-IF", "IF"), classify_labels("WP", "PO")
    ('same', 'adjacent', 'adjacent')
    >>> classify_labels("WN", "IF-WP")
    'conflicting'
    """
    A, B = code_atoms(a), code_atoms(b)
    if A == B:
        return "same"
    if A & B:
        return "adjacent"
    if len(A) == 1 and len(B) == 1 and scale.label_code(A | B) in scale.LABELS:
        return "adjacent"
    return "conflicting"


def worst_status(statuses: Iterable[str]) -> str | None:
    """The furthest of several statuses (``None`` when there are none)."""
    s = [x for x in statuses if x is not None]
    return max(s, key=STATUSES.index) if s else None


# --------------------------------------------------------------------------
# Per-engine fits
# --------------------------------------------------------------------------


def _thresholds_for(prop: str, thresholds) -> tuple[float, ...]:
    """Cut-points for one property from ``None``, six numbers or a mapping (class/property -> six)."""
    from .ssm import thresholds_for

    return thresholds_for(prop, thresholds)


def models_per_study(table: pd.DataFrame) -> dict[str, int]:
    """Number of evidence models (rows) each study gives to one property, largest first."""
    counts = table.groupby("study", sort=False).size().sort_values(ascending=False, kind="stable")
    return {str(k): int(v) for k, v in counts.items()}


def fit_ssm(table: pd.DataFrame, *, thresholds=None, policy: str = "ef", belief_split: str = "none",
            discount: str = "v1") -> tuple[dict, Any]:
    """SSM synthesis of one property's table as a dict (plus the result object).

    A table the SSM engine cannot read (e.g. without study beliefs) gives
    ``label_code = None`` and the reason, so that the other engines can still
    be compared.
    """
    from . import ssm

    prop = str(table["property"].iloc[0])
    try:
        res = ssm.synthesize(table, prop, policy=policy, belief_split=belief_split, discount=discount,
                             thresholds=_thresholds_for(prop, thresholds))
    except InputError as exc:
        return {"label_code": None, "label": None, "belief": None, "available": False, "reason": str(exc)}, None
    d = api.clean(res.to_dict())
    d.update(available=True, policy=policy, belief_split=belief_split, n_studies=int(table["study"].nunique()),
             models_per_study=models_per_study(table))
    return d, res


def fit_reml(table: pd.DataFrame, *, missing_vi: str = "drop", thresholds=None, moderators: Sequence[str] = (),
             method: str = "reml") -> dict:
    """REML pooling of one property under a stated missing-variance policy.

    Returns :func:`metaquant.api.fit_frequentist`'s dict with ``estimable``
    and ``missing_vi`` added.  When no row has a known variance (or the
    policy refuses the rows without one) the dict says ``estimable: False``
    with the reason instead of raising.
    """
    prop = str(table["property"].iloc[0])
    k_total = len(table)
    n_known = int(table["vi_known"].astype(bool).sum())
    base = {"method": method.upper(), "missing_vi": missing_vi, "k_total": k_total, "k_known": n_known}
    if n_known == 0 and missing_vi == "drop":
        return {**base, "estimable": False, "k": 0, "label_code": None, "label": None, "pct": None,
                "reason": f"not estimable: none of the {k_total} rows has a known sampling variance"}
    try:
        out = api.fit_frequentist(table, method=method, moderators=list(moderators), missing_vi=missing_vi,
                                  thresholds=_thresholds_for(prop, thresholds))
    except InputError as exc:
        return {**base, "estimable": False, "k": 0, "label_code": None, "label": None, "pct": None,
                "reason": f"not estimable: {exc.message}"}
    out = api.clean(out)
    out.update(base, estimable=True)
    return out


def exact_applicable(table: pd.DataFrame) -> tuple[bool, str]:
    """Whether the exact (quadrature) engine fits the same model as the PyMC default.

    The exact engine fits the two-level random-effects model, with unknown
    sampling variances modelled by ``sigma_resid`` as in the MCMC models.  The
    PyMC default (``model="auto"``) is that same model when no study gives
    more than one row, and the multilevel model (comparisons nested in
    studies) otherwise; so the exact engine stands in for PyMC exactly when
    every study gives one row.
    """
    counts = table.groupby("study").size()
    if (counts > 1).any():
        s = counts.idxmax()
        return False, f"study {s} gives {int(counts.max())} rows (multilevel model)"
    return True, "one row per study (random-effects model)"


def fit_bayes(table: pd.DataFrame, *, method: str = "bayes", fast: bool = False, thresholds=None, priors=None,
              seed: int = DEFAULT_SEED, draws: int = 1000, tune: int = 1000, chains: int = 4, sampler: str = "pymc",
              progressbar: bool = False, moderators: Sequence[str] = (), model: str = "auto",
              unknown_vi: str = "model", missing_vi: str | None = None) -> tuple[dict, Any]:
    """Bayesian pooling of one property as a dict (plus the result object).

    ``method="exact"`` runs the quadrature engine (:func:`metaquant.bayes.fit_exact`,
    the random-effects model; rows of one study are treated as independent,
    which the result notes); ``method="bayes"`` runs the PyMC model
    (:func:`metaquant.bayes.fit`, multilevel where a study gives several rows),
    except that ``fast=True`` switches to the exact engine where
    :func:`exact_applicable` holds, i.e. where it is the same model.  Both
    model unknown sampling variances (``sigma_resid``); ``unknown_vi="drop"``
    makes the exact engine pool only the rows with a known variance instead.
    ``engine`` in the dict says which ran.  ``missing_vi`` is accepted for
    symmetry with :func:`fit_reml` and maps ``"drop"`` to ``unknown_vi="drop"``
    for the exact engine; the PyMC model always models unknown variances.
    """
    from . import bayes

    prop = str(table["property"].iloc[0])
    th = _thresholds_for(prop, thresholds)
    notes: list[str] = []
    engine = "exact" if method == "exact" else "pymc"
    if method not in api.BAYES_METHODS:
        raise InputError(f"unknown Bayesian method {method!r}", expected=" | ".join(api.BAYES_METHODS))
    if method == "bayes" and fast and not moderators:
        ok, why = exact_applicable(table)
        if ok:
            engine = "exact"
        else:
            notes.append(f"PyMC model used: {why}")
    if missing_vi == "drop":
        unknown_vi = "drop"
    if engine == "exact":
        if moderators:
            raise InputError("the exact engine fits the random-effects model without moderators",
                             expected="the PyMC model for meta-regression")
        n_known = int(table["vi_known"].astype(bool).sum())
        if unknown_vi == "drop" and n_known == 0:
            return {"engine": "exact", "label_code": None, "label": None, "label_probability": None,
                    "estimable": False, "k": 0,
                    "reason": f"not estimable: none of the {len(table)} rows has a known sampling variance"}, None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the drop note is kept in the result's warnings
            res = bayes.fit_exact(table, priors=priors, thresholds=th, unknown_vi=unknown_vi)
    else:
        res = api.fit_bayes(table, method="bayes", moderators=list(moderators), priors=priors, thresholds=th,
                            model=model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                            progressbar=progressbar)
    d = api.clean(res.to_dict())
    d.update(engine=engine, estimable=True)
    d["notes"] = notes
    return d, res


# --------------------------------------------------------------------------
# Explaining disagreement
# --------------------------------------------------------------------------


def _pct(v) -> str:
    return "NA" if v is None else f"{v:+.1f} %"


def explain(table: pd.DataFrame, ssm: Mapping, bayes: Mapping, frequentist: Mapping,
            pairs: Mapping[str, str | None]) -> list[str]:
    """Short reasons why the engines' labels part, from the structure of the data.

    Each reason is given only when the pair of engines it concerns disagrees
    and the data show its cause:

    * a Bayesian posterior too diffuse for any label (posterior probability
      of the selected label below 0.5), e.g. with a single study, where the
      between-study spread is not identified;
    * several evidence models of one study (Dempster's rule assumes
      independent sources, the Bayesian multilevel model and REML's weights
      do not count them as independent studies);
    * SSM's belief near 1 from many combined models while the posterior
      probability of the Bayesian label stays moderate (belief saturation);
    * REML pooling only the rows with a known variance;
    * when none of these applies, a wide Bayesian prediction interval
      (heterogeneous effects, which no single label summarises);
    * otherwise: the pooled mean lies in another zone than the label most of
      the evidence models carry (pooling averages effects, SSM combines
      labels).
    """
    out: list[str] = []
    ssm_part = any(pairs.get(p) not in (None, "same") for p in ("ssm_bayes", "ssm_frequentist"))
    reml_part = any(pairs.get(p) not in (None, "same") for p in ("ssm_frequentist", "bayes_frequentist"))
    mps = models_per_study(table)
    dependent = {s: n for s, n in mps.items() if n > 1}
    p_b = bayes.get("label_probability")
    if ssm_part and p_b is not None and p_b < 0.5 and bayes.get("label_code"):
        txt = (f"the Bayesian posterior is too diffuse for one label (P = {p_b:.2f} for {bayes['label_code']}; "
               f"95% CrI {_pct(bayes.get('pct_ci_low'))} to {_pct(bayes.get('pct_ci_high'))})")
        if len(mps) == 1:
            txt += ": with one study the between-study spread is not identified and its prior sets the width"
        out.append(txt)
    if ssm_part and dependent:
        s, n = next(iter(dependent.items()))
        txt = f"SSM treats the {n} dependent models of {s} as independent sources"
        rest = [f"{m} of {t}" for t, m in list(dependent.items())[1:]]
        if rest:
            txt += f" (and {', '.join(rest)})"
        out.append(txt)
    b_ssm, p_bayes = ssm.get("belief"), bayes.get("label_probability")
    n_models = ssm.get("n_models") or 0
    if ssm_part and b_ssm is not None and b_ssm >= 0.9 and n_models >= 5 and (p_bayes is None or p_bayes < b_ssm - 0.1):
        extra = f" vs posterior probability {p_bayes:.2f}" if p_bayes is not None else ""
        out.append(f"SSM belief saturates with many models (Bel {b_ssm:.2f} from {n_models} models{extra})")
    if reml_part and frequentist.get("estimable") and frequentist.get("k", 0) < frequentist.get("k_total", 0):
        out.append(f"REML pools only the {frequentist['k']} of {frequentist['k_total']} rows with a known variance")
    if not out and (ssm_part or pairs.get("bayes_frequentist") not in (None, "same")):
        lo, hi = bayes.get("pct_pi_low"), bayes.get("pct_pi_high")
        if lo is not None and hi is not None:
            th = schema.get_property(str(table["property"].iloc[0])).thresholds
            zl, zh = scale.label_from_pct(lo, th), scale.label_from_pct(hi, th)
            if scale.LABELS.index(zh) - scale.LABELS.index(zl) >= 4:
                out.append(f"effects are heterogeneous: the Bayesian prediction interval runs from {_pct(lo)} "
                           f"({zl}) to {_pct(hi)} ({zh})")
    if ssm_part and not out and ssm.get("label_code"):
        pooled = bayes.get("pct_mean") if bayes.get("pct_mean") is not None else frequentist.get("pct")
        out.append(f"pooling averages the effects ({_pct(pooled)}) while SSM combines the models' labels and "
                   f"selects {ssm['label_code']}")
    if not out and reml_part:
        out.append(f"REML's point estimate ({_pct(frequentist.get('pct'))}) and the Bayesian posterior "
                   f"({_pct(bayes.get('pct_mean'))}) fall in different zones")
    return out


def agreement(table: pd.DataFrame, ssm: Mapping, bayes: Mapping, frequentist: Mapping) -> dict:
    """Pairwise and overall agreement of the engines' labels with a short reason where they part."""
    codes = {"ssm": ssm.get("label_code"), "bayes": bayes.get("label_code"),
             "frequentist": frequentist.get("label_code")}
    pairs = {name: (classify_labels(codes[a], codes[b]) if codes[a] and codes[b] else None)
             for (a, b), name in _PAIR_NAMES.items()}
    status = worst_status(pairs.values())
    reasons = explain(table, ssm, bayes, frequentist, pairs) if status not in (None, "same") else []
    missing = [_DISPLAY[e] for e, c in codes.items() if not c]
    if status is None:
        status = "not comparable"
    return {"status": status, "reason": "; ".join(reasons), "reasons": reasons, "pairs": pairs,
            "engines_without_label": missing}


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class PropertyComparison:
    """The three engines on one property.

    Attributes
    ----------
    property : str
    ssm, bayes, frequentist : dict
        Each engine's results (JSON-ready); ``label_code`` is ``None`` where an
        engine gave no label, with ``reason``.
    agreement : dict
        ``status`` (same / adjacent / conflicting / not comparable),
        ``reason``, ``reasons`` and the pairwise statuses ``pairs``.
    table : DataFrame
        The property's effect table.
    objects : dict
        Engine result objects (``"ssm"``, ``"bayes"``) for plots; not serialised.
    """

    property: str
    ssm: dict
    bayes: dict
    frequentist: dict
    agreement: dict
    table: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    objects: dict = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return api.clean({"property": self.property, "ssm": self.ssm, "bayes": self.bayes,
                          "frequentist": self.frequentist, "agreement": self.agreement})

    def row(self) -> dict:
        """One flat row for :meth:`Comparison.summary`."""
        s, b, f = self.ssm, self.bayes, self.frequentist
        return {
            "property": self.property,
            "ssm_label": s.get("label_code"), "ssm_belief": s.get("belief"), "ssm_models": s.get("n_models"),
            "bayes_engine": b.get("engine"), "bayes_label": b.get("label_code"),
            "bayes_probability": b.get("label_probability"), "bayes_pct": b.get("pct_mean"),
            "bayes_pct_low": b.get("pct_ci_low"), "bayes_pct_high": b.get("pct_ci_high"),
            "reml_label": f.get("label_code"), "reml_pct": f.get("pct"), "reml_pct_low": f.get("pct_ci_low"),
            "reml_pct_high": f.get("pct_ci_high"), "reml_k": f.get("k"), "k_total": f.get("k_total"),
            "agreement": self.agreement["status"], "reason": self.agreement["reason"],
        }


@dataclass
class Comparison:
    """SSM, Bayesian and REML results for several properties.

    ``to_dict()`` is the JSON list printed by ``metaquant compare --format json``;
    ``summary()`` one flat row per property.
    """

    results: list[PropertyComparison]
    settings: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, prop: str) -> PropertyComparison:
        name = schema.get_property(prop).name
        for r in self.results:
            if r.property == name:
                return r
        raise KeyError(prop)

    def to_dict(self) -> list[dict]:
        return [r.to_dict() for r in self.results]

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.results])


def compare_property(
    table: pd.DataFrame,
    *,
    method_bayes: str = "bayes",
    fast: bool = False,
    missing_vi: str = "drop",
    thresholds=None,
    priors=None,
    seed: int = DEFAULT_SEED,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str = "pymc",
    progressbar: bool = False,
    policy: str = "ef",
    belief_split: str = "none",
) -> PropertyComparison:
    """SSM, Bayesian and REML pooling of one property's effect table.

    Parameters
    ----------
    table : DataFrame
        One property's rows of the effect table.
    method_bayes : {"bayes", "exact"}
        PyMC model (default) or the exact quadrature engine.
    fast : bool
        With ``method_bayes="bayes"``: the exact engine where
        :func:`exact_applicable` holds (the same model), PyMC elsewhere.
    missing_vi : {"drop", "impute-max", "impute-median", "refuse"}
        REML's policy for rows without a sampling variance, ``"drop"`` by
        default and stated in the output.  The Bayesian engines model unknown
        variances (``sigma_resid``) and pool every row.
    thresholds : six floats or mapping, optional
        SSM cut-points for every engine's label (default: the property's).
    priors : metaquant.bayes.Priors, optional
    seed, draws, tune, chains, sampler, progressbar
        MCMC settings of the PyMC model.
    policy, belief_split
        SSM selection rule and dependence split.

    Returns
    -------
    PropertyComparison
    """
    if method_bayes not in api.BAYES_METHODS:
        raise InputError(f"unknown Bayesian method {method_bayes!r}", expected=" | ".join(api.BAYES_METHODS))
    if missing_vi not in MISSING_VI_POLICIES:
        raise InputError(f"unknown policy for missing variances {missing_vi!r}",
                         expected=" | ".join(MISSING_VI_POLICIES))
    prop = schema.get_property(str(table["property"].iloc[0])).name
    ssm_d, ssm_obj = fit_ssm(table, thresholds=thresholds, policy=policy, belief_split=belief_split)
    bayes_d, bayes_obj = fit_bayes(table, method=method_bayes, fast=fast, thresholds=thresholds, priors=priors,
                                   seed=seed, draws=draws, tune=tune, chains=chains, sampler=sampler,
                                   progressbar=progressbar)
    freq_d = fit_reml(table, missing_vi=missing_vi, thresholds=thresholds)
    agr = agreement(table, ssm_d, bayes_d, freq_d)
    return PropertyComparison(prop, ssm_d, bayes_d, freq_d, agr, table=table,
                              objects={"ssm": ssm_obj, "bayes": bayes_obj})


def compare(
    data: Any = "ssm2025",
    properties: Sequence[str] | str | None = None,
    *,
    measure: str = "ROM",
    include_confounded: bool = False,
    **kw,
) -> Comparison:
    """Compare SSM, Bayesian and REML pooling for one, several or all properties.

    Parameters
    ----------
    data : str, path, list or DataFrame
        A shipped dataset name, file(s), or an effect table
        (:func:`metaquant.compute_effects`).
    properties : str or sequence of str, optional
        Properties to compare; ``None`` for every property in the data.
    measure, include_confounded
        As :func:`metaquant.api.effect_table`.
    **kw
        Passed to :func:`compare_property`.

    Returns
    -------
    Comparison
    """
    if isinstance(data, pd.DataFrame) and "yi" in data.columns:
        table = data
    else:
        table = api.effect_table(data, measure=measure, include_confounded=include_confounded)
    if properties is None:
        props = list(dict.fromkeys(table["property"]))
    elif isinstance(properties, str):
        props = [properties]
    else:
        props = list(properties)
    results = [compare_property(for_property(table, p), **kw) for p in props]
    settings = {k: v for k, v in kw.items() if k != "priors"}
    settings.setdefault("missing_vi", "drop")
    settings.setdefault("method_bayes", "bayes")
    return Comparison(results, settings=api.clean(settings))


def format_table(comp: Comparison) -> str:
    """Plain-text table of a comparison (what ``metaquant compare`` prints)."""

    def iv(lo, hi):
        return "" if lo is None or hi is None else f"[{lo:+.1f}, {hi:+.1f}]"

    def num(v, f):
        return "NA" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, f)

    rows = []
    for r in comp:
        s, b, f = r.ssm, r.bayes, r.frequentist
        ssm_txt = f"{s['label_code']} (Bel {num(s.get('belief'), '.2f')})" if s.get("label_code") else "n/a"
        if b.get("label_code"):
            bayes_txt = (f"{b['label_code']} (P {num(b.get('label_probability'), '.2f')}) "
                         f"{num(b.get('pct_mean'), '+.1f')} % {iv(b.get('pct_ci_low'), b.get('pct_ci_high'))}"
                         f"{' exact' if b.get('engine') == 'exact' else ''}")
        else:
            bayes_txt = "not estimable"
        if f.get("estimable"):
            reml_txt = (f"{f['label_code']} {num(f.get('pct'), '+.1f')} % "
                        f"{iv(f.get('pct_ci_low'), f.get('pct_ci_high'))} k={f['k']}/{f['k_total']}")
        else:
            reml_txt = f"not estimable (k=0/{f['k_total']})"
        rows.append((r.property, ssm_txt, bayes_txt, reml_txt, r.agreement["status"]))
    head = ("property", "SSM label (belief)", "Bayes label (P) pooled % [95% CrI]",
            f"REML % [95% CI] label (missing_vi={comp.settings.get('missing_vi', 'drop')})", "agreement")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(x[i]).ljust(widths[i]) for i in range(len(head))).rstrip() for x in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.property}: {r.agreement['reason']}" for r in comp if r.agreement.get("reason")]
    if notes:
        lines += ["", "where they part:", *notes]
    return "\n".join(lines)


__all__ = [
    "DEFAULT_SEED", "ENGINES", "STATUSES", "Comparison", "PropertyComparison", "agreement", "classify_labels",
    "code_atoms", "compare", "compare_property", "exact_applicable", "explain", "fit_bayes", "fit_reml", "fit_ssm",
    "format_table", "models_per_study", "worst_status",
]
