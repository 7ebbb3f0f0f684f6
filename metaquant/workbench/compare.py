"""The three engines side by side: SSM, Bayesian and frequentist pooling of one property.

For every property :func:`compare` runs

* the Structured Synthesis Method (:func:`metaquant.ssm.synthesize`): a label on the
  13-label scale and its belief ``Bel``;
* the Bayesian random-effects or multilevel model (PyMC by default,
  :func:`metaquant.fitting.fit_table`; the exact quadrature engine
  :func:`metaquant.bayes.fit_exact` under ``fast=True`` where it is the same
  model): the pooled relative improvement with its credible interval and the
  label read off the 13 zone probabilities with the same 0.75 rule, with its
  posterior probability.  Both model unknown sampling variances;
* the REML random-effects model (:func:`metaquant.fitting.fit_table`): the
  pooled relative improvement with its confidence and prediction intervals and
  the label of its point estimate.  REML needs every sampling variance; the
  stated policy (``missing_vi="drop"`` by default) is applied and reported, and
  a property without any known variance is reported as *not estimable*.

With ``bias=True`` it also fits the bias-adjusted Bayesian model-averaged
ensemble (``FitSpec(method="bma")``, :mod:`metaquant.bayes.bma`, through
:func:`metaquant.fitting.fit_or_reason`) and reports whether the plain
random-effects label survives bias adjustment (:func:`bias_summary`).

Each engine's fit of each property is one independent :class:`Task`
(:func:`property_tasks`), run by :func:`metaquant.parallel.run_tasks`: one after
another, over local processes (``jobs=N``) or on a Dask cluster
(``scheduler=...``), with the same results in the same order whatever ran them;
:func:`assemble` reads a property's results into its :class:`PropertyComparison`.

It classifies how the labels relate (:func:`metaquant.scale.classify_labels`):

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import fitting, scale
from ..errors import InputError
from ..evidence import schema
from ..evidence.effects import for_property
from ..fitting import exact_applicable  # noqa: F401  (re-exported: compare.exact_applicable)
from ..outputs import json_safe
from ..parallel import run_tasks
from ..scale import classify_labels, worst_status
from ..spec import BAYES_METHODS, DEFAULT_SEED, FitSpec, RunSettings, split_options

#: Fewer studies than this make a cluster-robust interval unreliable; the table says so instead of printing it.
MIN_CLUSTERS = 4
#: The mark beside an MCMC number whose diagnostics failed, in every table and page.
MCMC_MARK = "[!]"
#: The engines compared.
ENGINES = ("ssm", "bayes", "frequentist")
_PAIR_NAMES = {("ssm", "bayes"): "ssm_bayes", ("ssm", "frequentist"): "ssm_frequentist",
               ("bayes", "frequentist"): "bayes_frequentist"}
_DISPLAY = {"ssm": "SSM", "bayes": "Bayes", "frequentist": "REML"}


# --------------------------------------------------------------------------
# Per-engine fits
# --------------------------------------------------------------------------


def _thresholds_for(prop: str, thresholds) -> tuple[float, ...]:
    """Cut-points for one property from ``None``, six numbers or a mapping (class/property -> six)."""
    from ..ssm import thresholds_for

    return tuple(thresholds_for(prop, thresholds))


def models_per_study(table: pd.DataFrame) -> dict[str, int]:
    """Number of evidence models (rows) each study gives to one property, largest first."""
    counts = table.groupby("study", sort=False).size().sort_values(ascending=False, kind="stable")
    return {str(k): int(v) for k, v in counts.items()}


def ssm_entry(table: pd.DataFrame, *, thresholds=None, policy: str = "ef", belief_split: str = "none",
            discount: str | None = None, rules: str = "ssm2025") -> tuple[dict, Any]:
    """SSM synthesis of one property's table as a dict (plus the result object).

    A table the SSM engine cannot read (e.g. without study beliefs) gives
    ``label_code = None`` and the reason, so that the other engines can still
    be compared.
    """
    prop = str(table["property"].iloc[0])
    th = None if thresholds is None else _thresholds_for(prop, thresholds)
    spec = FitSpec(prop, method="ssm", thresholds=th, selection=policy, belief_split=belief_split,
                   discount=discount, rules=rules)
    res = fitting.fit_or_reason(table, spec)
    if isinstance(res, fitting.NotPooled):
        return {"label_code": None, "label": None, "belief": None, "available": False, "reason": res.reason}, None
    d = json_safe(res.to_dict())
    d.update(available=True, policy=policy, belief_split=belief_split, rules=rules,
             n_studies=int(table["study"].nunique()),
             models_per_study=models_per_study(table))
    return d, res


def _engine_dict(res) -> dict:
    d = res.to_dict()
    d.setdefault("estimable", True)
    if d.get("estimable") is False:
        d["reason"] = f"not estimable: {res.reason}"
    return d


def classical_entry(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None) -> tuple[dict, Any]:
    """The classical fit of ``spec`` as a dict (``estimable: False`` with the reason where it cannot pool)."""
    res = fitting.fit_or_reason(table, spec, settings)
    d = _engine_dict(res)
    d.update(missing_vi=spec.policy, k_total=len(table), k_known=int(table["vi_known"].astype(bool).sum()))
    return d, res


def fit_reml(table: pd.DataFrame, *, missing_vi: str = "drop", thresholds=None,
             moderators: Sequence[str] = (), model: str = "auto") -> dict:
    """REML under a stated variance policy: :func:`classical_entry` with ``FitSpec(method="reml")``, as a dict.

    ``model="auto"`` nests comparisons in studies where a study gives several rows; ``"random-effects"``
    is metafor's ``rma.uni``.
    """
    prop = str(table["property"].iloc[0])
    th = None if thresholds is None else _thresholds_for(prop, thresholds)
    return classical_entry(table, FitSpec(prop, method="reml", variance_policy=missing_vi, thresholds=th,
                                        moderators=tuple(moderators), model=model))[0]


def fit_bayesian(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None, *,
                 fast: bool = False) -> tuple[dict, Any]:
    """The Bayesian fit of ``spec`` as a dict (plus the result object).

    With ``fast=True`` the exact engine stands in for PyMC where it is the same
    model (:func:`metaquant.fitting.fast_spec`).  ``engine`` in the dict says
    which ran: ``"pymc"`` (NUTS), ``"quadrature"`` (the same model by quadrature, the default where it
    reaches) or ``"exact"``.
    """
    notes = []
    if fast:
        spec, why = fitting.fast_spec(table, spec)
        notes = [why] if why else []
    res = fitting.fit_or_reason(table, spec, settings)
    d = _engine_dict(res)
    d["engine"] = ("exact" if spec.engine == "exact" else
                   "quadrature" if d.get("sampler") == "quadrature" else "pymc")
    d["notes"] = notes + list(d.get("notes") or [])
    return d, (None if isinstance(res, fitting.NotPooled) else res)


def fit_bias_adjusted(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None) -> tuple[dict, Any]:
    """The bias-adjusted model-averaged ensemble of ``spec`` (``method="bma"``) as a dict (plus the result object).

    The fit takes the one road (:func:`metaquant.fitting.fit_or_reason`), so its numbers are those of
    ``metaquant fit --method bma`` with the same spec and settings; ``estimable: False`` with the reason
    where the ensemble cannot be fitted (fewer than two rows with a known sampling variance).
    """
    if spec.engine != "bma":
        raise InputError(f"the bias-adjusted fit needs method='bma', got {spec.method!r}")
    res = fitting.fit_or_reason(table, spec, settings)
    d = _engine_dict(res)
    d.update(missing_vi=spec.policy, k_total=len(table))
    return d, (None if isinstance(res, fitting.NotPooled) else res)


def bias_summary(bma: Mapping | None) -> dict | None:
    """The label-survival reading of a bias-adjusted fit's dict (:func:`fit_bias_adjusted`), read, not recomputed.

    Returns ``None`` without a fit; otherwise ``estimable`` and, where estimable, the plain
    random-effects label and its probability (the known-variance model inside the ensemble),
    the ensemble's label, probability and model-averaged % with its 95 % credible interval,
    the inclusion Bayes factors of effect, heterogeneity and bias, ``survives`` (the fit's
    ``label_survives``), its ``verdict`` in words and ``ok``.
    """
    if bma is None:
        return None
    if bma.get("estimable") is False:
        return {"estimable": False, "reason": bma.get("reason")}
    plain, ens, inc = bma.get("label_plain") or {}, bma.get("label_ensemble") or {}, bma.get("inclusion") or {}
    survives = bool(bma.get("label_survives"))
    return {
        "estimable": True, "plain_label": plain.get("code"), "plain_selected": plain.get("selected"),
        "plain_probability": plain.get("probability"), "label": ens.get("code"), "selected": ens.get("selected"),
        "probability": ens.get("probability"), "pct": bma.get("pct"), "pct_ci_low": bma.get("pct_ci_low"),
        "pct_ci_high": bma.get("pct_ci_high"), "bias_bf": (inc.get("bias") or {}).get("bf"),
        "bias_posterior": (inc.get("bias") or {}).get("posterior"), "effect_bf": (inc.get("effect") or {}).get("bf"),
        "heterogeneity_bf": (inc.get("heterogeneity") or {}).get("bf"), "survives": survives,
        "verdict": "survives" if survives else "does not survive", "n_models": len(bma.get("members") or []),
        "k": bma.get("k"), "ok": bma.get("ok"),
    }


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
    b_code = bayes.get("label_code") or bayes.get("label_selected")
    if ssm_part and p_b is not None and (p_b < 0.5 or not bayes.get("label_code")) and b_code:
        txt = (f"the Bayesian posterior is too diffuse for one label (P = {p_b:.2f} for {b_code}; "
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
        Engine result objects (``"ssm"``, ``"bayes"``, ``"bma"``) for plots; not serialised.
    bma : dict, optional
        The bias-adjusted ensemble (``compare(..., bias=True)``, :func:`fit_bias_adjusted`):
        the ``to_dict()`` of ``metaquant fit --method bma``; ``None`` when not asked for.
    """

    property: str
    ssm: dict
    bayes: dict
    frequentist: dict
    agreement: dict
    table: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    objects: dict = field(repr=False, default_factory=dict)
    bma: dict | None = None
    primary: dict | None = None

    @property
    def bias(self) -> dict | None:
        """Whether the label survives bias adjustment (:func:`bias_summary`); ``None`` without the ensemble."""
        return bias_summary(self.bma)

    def to_dict(self) -> dict:
        d = {"property": self.property, "ssm": self.ssm, "bayes": self.bayes, "frequentist": self.frequentist,
             "agreement": self.agreement}
        if self.bma is not None:
            d.update(bma=self.bma, bias_adjustment=self.bias)
        if self.primary is not None:
            d["primary"] = self.primary
        return json_safe(d)

    def row(self) -> dict:
        """One flat row for :meth:`Comparison.summary`."""
        s, b, f = self.ssm, self.bayes, self.frequentist
        return {
            "property": self.property,
            "ssm_label": s.get("label_code"), "ssm_belief": s.get("belief"), "ssm_models": s.get("n_models"),
            "bayes_engine": b.get("engine"), "bayes_label": b.get("label_code"),
            "bayes_probability": b.get("label_probability"), "bayes_pct": b.get("pct", b.get("pct_mean")),
            "bayes_ok": b.get("ok"),
            "bayes_pct_low": b.get("pct_ci_low"), "bayes_pct_high": b.get("pct_ci_high"),
            "reml_model": f.get("model"), "reml_label": f.get("label_code"), "reml_pct": f.get("pct"),
            "reml_pct_low": f.get("pct_ci_low"), "reml_pct_high": f.get("pct_ci_high"),
            "reml_cr2_low": (f.get("robust") or {}).get("pct_ci_low"),
            "reml_cr2_high": (f.get("robust") or {}).get("pct_ci_high"), "reml_k": f.get("k"),
            "k_total": f.get("k_total"),
            "agreement": self.agreement["status"], "reason": self.agreement["reason"],
            **_bias_columns(self.bias),
        }


def _bias_columns(bias: dict | None) -> dict:
    """The flat columns of the bias adjustment in a summary row (none without the ensemble)."""
    if bias is None:
        return {}
    keys = ("plain_label", "plain_probability", "label", "probability", "pct", "pct_ci_low", "pct_ci_high",
            "bias_bf", "survives", "ok")
    return {f"bma_{k}": bias.get(k) for k in keys}


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


def _specs(prop: str, spec: FitSpec | None, settings: RunSettings | None, reml_policy: str, thresholds,
           options: dict) -> tuple[FitSpec, RunSettings, FitSpec]:
    """The Bayesian and classical specs of a comparison (legacy option names accepted)."""
    options = dict(options)
    if "method_bayes" in options:
        options["method"] = options.pop("method_bayes")
    reml_policy = options.pop("missing_vi", reml_policy)
    th = _thresholds_for(prop, thresholds)
    bspec, run = split_options(None, spec=(spec or FitSpec(prop)).replace(property=prop), settings=settings,
                               **options)
    if bspec.engine == "frequentist":
        raise InputError(f"the Bayesian side of a comparison cannot be {bspec.method!r}",
                         expected=" | ".join(BAYES_METHODS))
    bspec = bspec.replace(thresholds=th)
    fspec = FitSpec(prop, method="reml", variance_policy=reml_policy, thresholds=th, level=bspec.level,
                    robust="cr2", rho=bspec.rho, shared_baseline=bspec.shared_baseline)
    return bspec, run, fspec


@dataclass
class Task:
    """One engine's fit of one property in a comparison: an independent unit of work.

    ``key`` is ``(property, engine)`` with ``engine`` one of :data:`TASK_ENGINES`: ``"ssm"`` (SSM's
    ``options``: ``thresholds``, ``policy``, ``belief_split``, ``rules``), ``"bayes"`` (the Bayesian fit
    of ``spec``; ``options["fast"]``), ``"reml"`` (the classical fit) or ``"bma"`` (the bias-adjusted
    ensemble).  Picklable, so that it can run in another process or on a Dask worker.
    """

    key: tuple
    table: pd.DataFrame
    spec: FitSpec | None = None
    settings: RunSettings | None = None
    options: dict = field(default_factory=dict)


#: The engines of a comparison's tasks, in the order they run for one property.
TASK_ENGINES = ("ssm", "bayes", "reml", "bma")


def property_tasks(
    table: pd.DataFrame,
    *,
    spec: FitSpec | None = None,
    settings: RunSettings | None = None,
    fast: bool = False,
    reml_policy: str = "drop",
    thresholds=None,
    policy: str = "ef",
    belief_split: str = "none",
    rules: str = "ssm2025",
    bias: bool = False,
    **options,
) -> list[Task]:
    """The tasks of one property's comparison (the parameters of :func:`compare_property`), in order.

    A specification that cannot work (a classical method on the Bayesian side) is refused here, before
    any fit runs.
    """
    prop = schema.get_property(str(table["property"].iloc[0])).name
    bspec, run, fspec = _specs(prop, spec, settings, reml_policy, thresholds, options)
    tasks = [Task((prop, "ssm"), table, options=dict(thresholds=thresholds, policy=policy,
                                                     belief_split=belief_split, rules=rules)),
             Task((prop, "bayes"), table, bspec, run, options={"fast": fast}),
             Task((prop, "reml"), table, fspec, RunSettings(profile=False))]
    if bias:
        mspec = FitSpec(prop, method="bma", variance_policy=fspec.policy, thresholds=bspec.thresholds,
                        prior_mu_sd=bspec.prior_mu_sd, prior_tau=bspec.prior_tau, level=bspec.level,
                        min_probability=bspec.min_probability)
        tasks.append(Task((prop, "bma"), table, mspec, run))
    return tasks


def execute(task: Task) -> tuple[dict, Any]:
    """Run one task: the engine's dict and its result object (``None`` where the engine gave none)."""
    engine = task.key[-1]
    if engine == "ssm":
        return ssm_entry(task.table, **task.options)
    if engine == "bayes":
        return fit_bayesian(task.table, task.spec, task.settings, **task.options)
    if engine == "reml":
        return classical_entry(task.table, task.spec, task.settings)
    if engine == "bma":
        return fit_bias_adjusted(task.table, task.spec, task.settings)
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(TASK_ENGINES)}")


def assemble(tasks: Sequence[Task], results: Sequence[tuple[dict, Any]]) -> PropertyComparison:
    """One property's :class:`PropertyComparison` from its tasks (:func:`property_tasks`) and their results."""
    done = {t.key[-1]: (t, r) for t, r in zip(tasks, results, strict=True)}
    table, prop = tasks[0].table, tasks[0].key[0]
    (ssm_d, ssm_obj), (bayes_d, bayes_obj), (freq_d, freq_obj) = (done[e][1] for e in ("ssm", "bayes", "reml"))
    objects = {"ssm": ssm_obj, "bayes": bayes_obj, "frequentist": freq_obj}
    bma_d = None
    if "bma" in done:
        bma_d, objects["bma"] = done["bma"][1]
    return PropertyComparison(prop, ssm_d, bayes_d, freq_d, agreement(table, ssm_d, bayes_d, freq_d), table=table,
                              objects=objects, bma=bma_d,
                              primary=primary_of(table, done["bayes"][0].spec, done["reml"][0].spec, bayes_d))


class _PerProperty:
    """The ``progress`` of :func:`metaquant.parallel.run_tasks` that calls ``callback(property)`` once a
    property's last task is done (the tasks are told in order)."""

    def __init__(self, tasks: Sequence[Task], callback):
        self.total = len(tasks)
        self._last = {i: t.key[0] for i, t in enumerate(tasks)
                      if i + 1 == len(tasks) or tasks[i + 1].key[0] != t.key[0]}
        self._count, self._callback = 0, callback

    def done(self, unit: str = "") -> None:
        i, self._count = self._count, self._count + 1
        if i in self._last:
            self._callback(self._last[i])


def compare_properties(tables: Sequence[pd.DataFrame], *, jobs: int = 1, scheduler: str | None = None,
                       progress=None, **kw) -> list[PropertyComparison]:
    """The comparisons of several properties' tables, their engine fits run as independent tasks.

    Parameters
    ----------
    tables : sequence of DataFrame
        One property's effect table each.
    jobs, scheduler
        Where the tasks run (:func:`metaquant.parallel.run_tasks`): ``jobs=1`` in this process one after
        another, ``jobs=N`` over ``N`` local processes, ``scheduler`` on a Dask cluster.  The results are
        the same, in the same order.
    progress : callable, optional
        Called as ``progress(property)`` once each property's fits are done, in the order of ``tables``.
    **kw
        Passed to :func:`property_tasks` (the parameters of :func:`compare_property`).

    Returns
    -------
    list of PropertyComparison
    """
    groups = [property_tasks(t, **kw) for t in tables]
    tasks = [t for g in groups for t in g]
    results = run_tasks(tasks, jobs=jobs, scheduler=scheduler, fn=execute,
                        progress=None if progress is None else _PerProperty(tasks, progress))
    out, i = [], 0
    for g in groups:
        out.append(assemble(g, results[i:i + len(g)]))
        i += len(g)
    return out


def compare_property(
    table: pd.DataFrame,
    *,
    spec: FitSpec | None = None,
    settings: RunSettings | None = None,
    fast: bool = False,
    reml_policy: str = "drop",
    thresholds=None,
    policy: str = "ef",
    belief_split: str = "none",
    rules: str = "ssm2025",
    bias: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
    **options,
) -> PropertyComparison:
    """SSM, Bayesian and REML pooling of one property's effect table (and, with ``bias``, the bias-adjusted ensemble).

    Parameters
    ----------
    table : DataFrame
        One property's rows of the effect table.
    spec : FitSpec, optional
        The Bayesian fit (``method="bayes"``, PyMC, by default, or ``"exact"``;
        priors, model, variance policy).
    settings : RunSettings, optional
        MCMC settings of the PyMC model.
    fast : bool
        The exact engine where it is the same model as the PyMC default
        (:func:`metaquant.fitting.exact_applicable`), PyMC elsewhere.
    reml_policy : {"drop", "impute-max", "impute-median", "refuse"}
        REML's policy for rows without a sampling variance, ``"drop"`` by
        default and stated in the output.  The Bayesian engines model unknown
        variances unless ``spec`` says otherwise.
    thresholds : six floats or mapping, optional
        SSM cut-points for every engine's label (default: the property's).
    policy, belief_split, rules
        SSM selection rule, dependence split and rule set (``"ssm2025"``;
        ``"ssm2026"`` for the extension's discounts, see :mod:`metaquant.ssm`).
    bias : bool
        Also fit the bias-adjusted Bayesian model-averaged ensemble (``FitSpec(method="bma")``
        through :func:`metaquant.fitting.fit_or_reason`, with the Bayesian fit's priors and
        ``settings``, at most 2 chains, and REML's variance policy) and say whether the plain
        random-effects label survives bias adjustment (:attr:`PropertyComparison.bias`).  Slow:
        the ensemble samples about 24 models.
    jobs, scheduler
        Where the engines' fits run (:func:`compare_properties`); the same results either way.
    **options
        Fields of :class:`FitSpec` / :class:`RunSettings` for the Bayesian fit
        (``method``, ``draws``, ``seed``, ...); ``method_bayes`` and
        ``missing_vi`` (REML's policy) are accepted as older names.

    Returns
    -------
    PropertyComparison
    """
    return compare_properties([table], jobs=jobs, scheduler=scheduler, spec=spec, settings=settings, fast=fast,
                              reml_policy=reml_policy, thresholds=thresholds, policy=policy,
                              belief_split=belief_split, rules=rules, bias=bias, **options)[0]


def primary_of(table: pd.DataFrame, bspec: FitSpec, fspec: FitSpec, bayes: Mapping | None = None) -> dict:
    """Which column of a comparison is the primary estimate (:mod:`metaquant.workbench.primary`) and what the
    other columns assume.

    ``column`` is ``"bayes"``, ``"frequentist"`` or ``None`` (neither fits the primary model, e.g. the exact
    engine on nested rows); ``others`` maps each other column to :func:`~metaquant.workbench.primary.describe`.
    """
    from . import primary as pr

    if bayes is not None and bayes.get("engine") == "exact" and bspec.engine == "bayes":
        bspec = bspec.replace(method="exact")  # --fast ran the exact engine where it is the same model
    prim, why = pr.primary_spec(table, bspec.property, bspec)
    cols = {"bayes": bspec, "frequentist": fspec}
    column = next((c for c, sp in cols.items() if pr.is_primary(sp, table)), None)
    return {"name": pr.estimate_name(prim, table), "reason": why, "column": column,
            "others": {c: pr.describe(sp, table) for c, sp in cols.items() if c != column}}


def compare(
    data: Any = "ssm2025",
    properties: Sequence[str] | str | None = None,
    *,
    measure: str = "ROM",
    include_confounded: bool = False,
    progress=None,
    jobs: int = 1,
    scheduler: str | None = None,
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
    progress : callable, optional
        Called as ``progress(property)`` after each property.
    jobs, scheduler
        Where the per-property, per-engine fits run (:func:`compare_properties`): in this process, over
        ``jobs`` local processes or on the Dask scheduler at ``scheduler``; the same results in the same
        order either way.
    **kw
        Passed to :func:`compare_property`.

    Returns
    -------
    Comparison
    """
    table = fitting.effect_table(data, measure=measure, include_confounded=include_confounded)
    if "rules" not in kw and not isinstance(data, pd.DataFrame):
        from ..ssm import rules_for

        kw["rules"] = rules_for(data)
    props = fitting.properties_of(table, properties)
    results = compare_properties([for_property(table, p) for p in props], jobs=jobs, scheduler=scheduler,
                                 progress=progress, **kw)
    settings = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in kw.items()}
    settings.setdefault("missing_vi", settings.pop("reml_policy", "drop"))
    settings.setdefault("method_bayes", (kw.get("spec") or FitSpec(props[0] if props else "accuracy")).method
                        if not kw.get("method_bayes") else kw["method_bayes"])
    return Comparison(results, settings=json_safe(settings))


def format_comparison(comp: Comparison) -> str:
    """Plain-text table of a comparison (what ``metaquant compare`` prints)."""

    def iv(lo, hi):
        return "" if lo is None or hi is None else f"[{lo:+.1f}, {hi:+.1f}]"

    def num(v, f):
        return "NA" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, f)

    rows = []
    for r in comp:
        s, b, f = r.ssm, r.bayes, r.frequentist
        ssm_txt = f"{s['label_code']} (Bel {num(s.get('belief'), '.2f')})" if s.get("label_code") else "n/a"
        if b.get("estimable") is False:
            bayes_txt = "not estimable"
        else:
            lab = (f"{b['label_code']} (P {num(b.get('label_probability'), '.2f')})" if b.get("label_code")
                   else "no label")
            bayes_txt = (f"{lab} {num(b.get('pct', b.get('pct_mean')), '+.1f')} % "
                         f"{iv(b.get('pct_ci_low'), b.get('pct_ci_high'))}"
                         f"{' exact' if b.get('engine') == 'exact' else ''}"
                         f"{' ' + MCMC_MARK if b.get('ok') is False else ''}")
        if f.get("estimable"):
            rob = f.get("robust") or {}
            if rob and (rob.get("n_clusters") or 0) >= MIN_CLUSTERS:
                cr2 = f" CR2 {iv(rob.get('pct_ci_low'), rob.get('pct_ci_high'))}"
            else:
                cr2 = f" (CR2: {rob.get('n_clusters')} studies < {MIN_CLUSTERS})" if rob else ""
            ml = " multilevel" if f.get("model") == "multilevel" else ""
            if f.get("withheld_reason"):  # no finding from a fit whose checks failed (results.withhold)
                reml_txt = f"no label{cr2} k={f['k']}/{f['k_total']}{ml}"
            else:
                reml_txt = (f"{f['label_code']} {num(f.get('pct'), '+.1f')} % "
                            f"{iv(f.get('pct_ci_low'), f.get('pct_ci_high'))}{cr2} k={f['k']}/{f['k_total']}{ml}")
        else:
            reml_txt = f"not estimable (k=0/{f['k_total']})"
        rows.append((r.property, ssm_txt, bayes_txt, reml_txt, r.agreement["status"]))
    head = ("property", "SSM label (belief)", "Bayes label (P) pooled % [95% CrI]",
            f"REML % [95% CI] label (missing_vi={comp.settings.get('missing_vi', 'drop')})", "agreement")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(x[i]).ljust(widths[i]) for i in range(len(head))).rstrip() for x in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines = primary_lines(comp) + lines
    notes = [f"  {r.property}: {r.agreement['reason']}" for r in comp if r.agreement.get("reason")]
    if notes:
        lines += ["", "where they part:", *notes]
    missing = [f"  {r.property}: {r.ssm['reason']}" for r in comp
               if not r.ssm.get("label_code") and r.ssm.get("reason")]
    if missing:
        lines += ["", "SSM not available:", *missing]
    bad = [r.property for r in comp if r.bayes.get("ok") is False and r.bayes.get("estimable") is not False]
    if bad:
        lines += ["", f"{MCMC_MARK} MCMC diagnostics failed (R-hat, ESS or divergences) for {', '.join(bad)}: "
                      "do not read these numbers before drawing more"]
    if any(r.bma is not None for r in comp):
        lines += ["", *format_bias_table(comp)]
    return "\n".join(lines)


_COLUMN_NAMES = {"bayes": "the Bayes column", "frequentist": "the REML column"}


def primary_lines(comp: Comparison) -> list[str]:
    """The first lines of :func:`format_table`: each property's primary estimate, then what the other columns
    assume (:func:`primary_of`)."""
    lines = ["primary estimate (docs/results.md: the rule of the primary estimate):"]
    for r in comp:
        p = r.primary
        if not p:
            continue
        where = _COLUMN_NAMES[p["column"]] if p["column"] else "in no column here: run metaquant fit"
        lines.append(f"  {r.property}: {p['name']}, {where} ({p['reason']})")
        lines += [f"    {_COLUMN_NAMES[c].split(' ', 1)[1]}: {txt}" for c, txt in p["others"].items()]
    return [*lines, ""] if len(lines) > 1 else []


def format_bias_table(comp: Comparison) -> list[str]:
    """Lines of the bias-adjustment section of :func:`format_comparison` (properties fitted with ``bias=True``)."""

    def num(v, f):
        return "NA" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, f)

    rows, notes = [], []
    for r in comp:
        b = r.bias
        if b is None:
            continue
        if not b["estimable"]:
            rows.append((r.property, "not estimable", "", "", "", ""))
            notes.append(f"  {r.property}: {b['reason']}")
            continue
        mark = f" {MCMC_MARK}" if b.get("ok") is False else ""
        rows.append((r.property, f"{b['plain_selected']} (P {num(b.get('plain_probability'), '.2f')})",
                     f"{b['selected']} (P {num(b.get('probability'), '.2f')}){mark}",
                     f"{num(b.get('pct'), '+.1f')} % [{num(b.get('pct_ci_low'), '+.1f')}, "
                     f"{num(b.get('pct_ci_high'), '+.1f')}]{mark}", num(b.get("bias_bf"), ".3g"), b["verdict"]))
    head = ("property", "plain RE label (P)", "bias-adjusted label (P)", "model-averaged % [95% CrI]", "BF bias",
            "label")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    policy = next((r.bma.get("missing_vi") for r in comp if r.bma is not None and r.bma.get("missing_vi")), "drop")
    lines = ["bias adjustment (Bayesian model averaging: effect x heterogeneity x no bias / selection / PET / "
             f"PEESE; missing_vi={policy}):"]
    lines += ["  ".join(str(x[i]).ljust(widths[i]) for i in range(len(head))).rstrip() for x in [head, *rows]]
    lines.insert(2, "  ".join("-" * w for w in widths))
    lines += ["plain RE: the random-effects model without bias on the same rows, inside the ensemble;",
              "'does not survive': the model-averaged label differs from it; BF bias: the inclusion Bayes factor "
              "of the bias components"]
    if notes:
        lines += ["bias adjustment not estimable:", *notes]
    bad = [r.property for r in comp if (r.bias or {}).get("ok") is False]
    if bad:
        lines.append(f"{MCMC_MARK} ensemble diagnostics failed (R-hat, ESS, divergences or bridge-sampling error) "
                     f"for {', '.join(bad)}: draw more before reading these numbers")
    return lines


__all__ = [
    "DEFAULT_SEED", "ENGINES", "MCMC_MARK", "TASK_ENGINES", "Comparison", "PropertyComparison", "Task",
    "agreement", "assemble", "bias_summary", "classical_entry", "compare", "compare_properties", "compare_property",
    "exact_applicable", "execute", "explain", "fit_bayesian", "fit_bias_adjusted", "fit_reml", "format_bias_table",
    "format_comparison", "models_per_study", "primary_lines", "primary_of", "property_tasks", "ssm_entry",
]
