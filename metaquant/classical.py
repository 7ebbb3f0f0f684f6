"""The classical engine on one property: metafor's ``rma()`` read on SSM's scale.

:func:`fit_classical` pools one property's effect table with
:func:`metaquant.frequentist.rma` and returns a :class:`ClassicalResult`, which
follows the result protocol of :mod:`metaquant.results`: the pooled effect in
%, its SSM label (of the point estimate), the effect at each level of a
single moderator, notes and diagnostics.  The variance policy has been applied
upstream (:func:`metaquant.spec.apply_variance_policy`); this module never
decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import scale, schema
from .effects import level_count, moderator_columns, moderator_levels, moderator_matrix, pct_from_log
from .errors import InputError, UsageError
from .outputs import json_safe
from .results import tidy_frame
from .spec import MULTILEVEL_METHODS

#: Below this many rows a pooled heterogeneity estimate and a prediction interval are flagged.
FEW_ROWS = 3


def predict_levels(res, table: pd.DataFrame, spec: str, thresholds, hib: bool) -> list[dict]:
    """The effect at each observed level of one moderator (metafor's ``predict(res, newmods=)``).

    Parameters
    ----------
    res : RMAResult
        A meta-regression on ``spec`` alone.
    table : DataFrame
        The rows that were pooled.
    spec : str
        The moderator as given (``bits``, ``bits:cat``, ``technique``).
    thresholds : six floats
        SSM cut-points of the label.
    hib : bool
        Whether higher values of the property are better.
    """
    from . import frequentist

    levels, names = moderator_levels(table, spec)
    Xn, _ = moderator_matrix(levels, [spec])
    pr = frequentist.predict(res, Xn).to_frame()
    mod = ", ".join(moderator_columns(spec))
    out = []
    for lev, (_, lrow), (_, row) in zip(names, levels.iterrows(), pr.iterrows(), strict=True):
        pct = float(pct_from_log(row["pred"], hib))
        out.append({
            "moderator": mod, "level": lev, "k": level_count(table, spec, lrow),
            **{key: float(row[key]) for key in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high")},
            "pct": pct,
            "pct_ci_low": float(pct_from_log(row["ci_low"], hib)),
            "pct_ci_high": float(pct_from_log(row["ci_high"], hib)),
            "label_code": scale.label_from_pct(pct, thresholds),
        })
    return out


@dataclass
class ClassicalResult:
    """One property pooled by a classical estimator.

    Attributes
    ----------
    property : str
    rma : RMAResult or RMAMVResult
        The estimator's full result (metafor's ``rma.uni`` or ``rma.mv`` fields).
    model : {"random-effects", "multilevel"}
    robust : RobustResult, optional
        Cluster-robust inference by study (``robust()``), when asked.
    thresholds : tuple of float
        The SSM cut-points the label is read with.
    k_total : int
        Rows of the property before the variance policy.
    n_studies : int
        Studies among the pooled rows.
    predictions : list of dict
        The effect at each level of a single moderator.
    notes : list of str
        What was done to the data (rows dropped, variances imputed) and cautions.
    """

    property: str
    rma: object
    thresholds: tuple[float, ...]
    k_total: int
    n_studies: int
    higher_is_better: bool
    predictions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: str = "random-effects"
    robust: object = None
    #: Wald tests of moderator terms asked for (``FitSpec.wald``; :class:`metaquant.wald.WaldTest`)
    wald: list = field(default_factory=list)
    engine = "frequentist"

    # ----------------------------------------------------------- protocol
    @property
    def meta_regression(self) -> bool:
        return len(self.rma.coefficients) > 1

    def _pct(self, v):
        return None if v is None else float(pct_from_log(v, self.higher_is_better))

    @property
    def pct(self) -> float | None:
        """exp(estimate) - 1 in % (oriented): the headline; ``None`` for a meta-regression."""
        return None if self.meta_regression else self._pct(self.rma.estimate)

    @property
    def pct_ci_low(self) -> float | None:
        return None if self.meta_regression else self._pct(self.rma.ci_low)

    @property
    def pct_ci_high(self) -> float | None:
        return None if self.meta_regression else self._pct(self.rma.ci_high)

    @property
    def label_code(self) -> str | None:
        """The SSM label of the point estimate (``None`` for a meta-regression)."""
        return None if self.pct is None else scale.label_from_pct(self.pct, self.thresholds)

    @property
    def label_probability(self) -> None:
        """A classical estimate carries no probability of its label."""
        return None

    @property
    def diagnostics(self) -> dict:
        return {"converged": bool(self.rma.converged), "iterations": int(self.rma.iterations)}

    @property
    def ok(self) -> bool:
        return bool(self.rma.converged) and (self.robust is None or bool(getattr(self.robust, "ok", True)))

    def to_dict(self) -> dict:
        """The estimator's numbers (:meth:`RMAResult.to_dict`) with the property's reading added."""
        out = self.rma.to_dict()
        out.update(engine=self.engine, model=self.model, property=self.property, k_total=self.k_total,
                   n_studies=self.n_studies, estimable=True, ok=self.ok)
        if self.model == "multilevel":
            # the two-level names beside rma.mv's: tau2 is the total of the variance components, I2 the
            # multilevel I² of all of them (Cheung 2014), Q the residual heterogeneity test QE
            c0 = self.rma.coefficients[0]
            out.update(se=c0["se"], stat=c0.get("stat"), pval=c0.get("p"), tau2=float(np.sum(self.rma.sigma2)),
                       tau=float(np.sqrt(np.sum(self.rma.sigma2))), I2=self.rma.I2_total, H2=None, Q=self.rma.QE,
                       Q_df=self.rma.QE_df, Q_p=self.rma.QE_p)
        if self.robust is not None:
            rob = self.robust.to_dict()
            rob.update(pct_ci_low=self._pct(self.robust.ci_low), pct_ci_high=self._pct(self.robust.ci_high))
            out["robust"] = rob
        for key, src in (("pct", "estimate"), ("pct_ci_low", "ci_low"), ("pct_ci_high", "ci_high"),
                         ("pct_pi_low", "pi_low"), ("pct_pi_high", "pi_high")):
            v = out.get(src)
            out[key] = None if v is None else self._pct(v)
        if not self.meta_regression:
            out.update(label_code=self.label_code, label=scale.label_name(self.label_code))
        if self.predictions:
            out["predictions"] = self.predictions
        if self.wald:
            out["wald"] = [w.to_dict() for w in self.wald]
        out["notes"] = list(self.notes)
        return json_safe(out)

    def predict_new(self, x) -> dict:
        """The fit read at design rows ``x`` (moderators without intercept): metafor's ``predict.rma``.

        Returns arrays ``pred``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (log-ratio scale), one
        value per row of ``x``.
        """
        from . import frequentist

        pr = frequentist.predict(self.rma, np.atleast_2d(np.asarray(x, dtype=float))).to_frame()
        return {key: pr[key].to_numpy(dtype=float) for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high")}

    def to_frame(self) -> pd.DataFrame:
        if self.model == "multilevel":
            df = self.rma.to_frame()
            df["property"] = self.property
            if not self.meta_regression:
                extra = tidy_frame([{"term": "pct", "estimate": self.pct, "ci_low": self.pct_ci_low,
                                     "ci_high": self.pct_ci_high}], prop=self.property, engine=self.engine)
                df = pd.concat([df, extra], ignore_index=True)
            return df
        rows = [{"term": c["name"], "estimate": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                 "se": c["se"], "p": c["p"]} for c in self.rma.coefficients]
        if not self.meta_regression:
            rows.append({"term": "pct", "estimate": self.pct, "ci_low": self.pct_ci_low,
                         "ci_high": self.pct_ci_high})
        rows.append({"term": "tau2", "estimate": self.rma.tau2,
                     "ci_low": (self.rma.tau2_ci or (None, None))[0], "ci_high": (self.rma.tau2_ci or (None, None))[1]})
        rows.append({"term": "I2", "estimate": self.rma.I2,
                     "ci_low": (self.rma.I2_ci or (None, None))[0], "ci_high": (self.rma.I2_ci or (None, None))[1]})
        return tidy_frame(rows, prop=self.property, engine=self.engine)


def _cautions(res, table: pd.DataFrame) -> list[str]:
    """What a reader of a classical fit must be told (small k, one study, boundary estimates)."""
    notes = []
    k = res.k
    if k < FEW_ROWS and not res.is_fixed:
        notes.append(f"only {k} rows: tau², I² and the prediction interval are very imprecise")
    n_studies = int(table["study"].nunique())
    if n_studies == 1 and k > 1 and not res.is_fixed:
        notes.append(f"all {k} rows come from one study: tau² and I² measure differences between its "
                     "comparisons, not between studies (a multilevel model says more)")
    elif n_studies < k and not res.is_fixed:
        notes.append(f"{k} rows from {n_studies} studies are pooled as independent")
    return notes


def wants_multilevel(table: pd.DataFrame, spec) -> bool:
    """Whether ``spec`` asks for the multilevel model on these rows (``auto``: a study gives several rows)."""
    from .multilevel import is_nested

    if spec.known_cov:  # a known V is fitted by rma.mv, nested or not
        return True
    if spec.model == "random-effects" or spec.is_fixed:
        return False
    if spec.model == "multilevel":
        if spec.method not in MULTILEVEL_METHODS:
            raise UsageError(f"the multilevel model is fitted by REML or ML, not {spec.method.upper()}",
                             expected="method='reml' or 'ml'")
        return True
    return spec.method in MULTILEVEL_METHODS and is_nested(table)


def _fit_uni(table: pd.DataFrame, spec, X, names):
    from . import frequentist

    res = frequentist.rma(table["yi"].to_numpy(float), table["vi"].to_numpy(float), method=spec.method.upper(),
                          test=spec.test, mods=X if names else None, mod_names=names or None, level=spec.level)
    rob = None
    if spec.robust is not None:
        from .robust import robust

        if table["study"].nunique() <= res.p:
            res.warnings.append(f"no cluster-robust inference: {table['study'].nunique()} studies for "
                                f"{res.p} coefficient(s)")
        else:
            rob = robust(res, table["study"].to_numpy(), clubSandwich=spec.robust == "cr2")
    return res, rob


def _fit_multi(table: pd.DataFrame, spec, X, names, profile: bool):
    from .multilevel import fit_table, is_nested

    test = {"z": "z", "t": "t", "knha": "t"}[spec.test]
    levels = ("study", "comparison") if "comparison" in table.columns else ("study",)
    if spec.model == "random-effects" or not is_nested(table):  # rma.mv(yi, V, random = ~ 1 | comparison)
        t = table.reset_index(drop=True)
        if "comparison" not in t.columns or t["comparison"].nunique() < len(t):
            t = t.assign(comparison=[f"row{i + 1}" for i in range(len(t))])
        table, levels = t, ("comparison",)
    return fit_table(table, levels=levels, method=spec.method.upper(), test=test, mods=X if names else None,
                     mod_names=names or None, robust=spec.robust, level=spec.level, profile=profile,
                     thresholds=spec.cut_points(), rho=spec.rho, shared_baseline=spec.shared_baseline)


def fit_classical(table: pd.DataFrame, spec, note: str | None = None, *, profile: bool = True) -> ClassicalResult:
    """Pool one property's (policy-applied) effect table with ``spec.method``.

    The two-level model (metafor's ``rma.uni``) unless the rows are nested in
    studies and ``spec.model`` is ``auto`` or ``multilevel``: then comparisons
    nested in studies (``rma.mv(random = ~ 1 | study/comparison)``, REML or ML).
    ``spec.robust`` adds cluster-robust inference by study.

    Parameters
    ----------
    table : DataFrame
        One property's rows, every ``vi`` known.
    spec : metaquant.spec.FitSpec
    note : str, optional
        What the variance policy did, kept in the result's notes.
    profile : bool
        Profile-likelihood intervals of the multilevel variance components.
    """
    prop = schema.get_property(spec.property)
    X, names = moderator_matrix(table, list(spec.moderators))
    multi = wants_multilevel(table, spec)
    try:
        res, rob = _fit_multi(table, spec, X, names, profile) if multi else _fit_uni(table, spec, X, names)
    except ValueError as exc:
        raise InputError(f"{prop.name}: {exc}") from None
    th = spec.cut_points()
    preds = (predict_levels(res, table, spec.moderators[0], th, prop.higher_is_better)
             if len(spec.moderators) == 1 else [])
    notes = ([note] if note else []) + (list(res.warnings) if multi else _cautions(res, table) +
                                        [w for w in res.warnings if w.startswith("no cluster-robust")])
    if rob is not None:
        notes += list(rob.warnings)
    wald = _wald(res, table, spec, rob, multi)
    notes += [w.sentence() for w in wald]
    return ClassicalResult(property=prop.name, rma=res, thresholds=th, k_total=int(table.attrs.get("k_total",
                           len(table))), n_studies=int(table["study"].nunique()),
                           higher_is_better=prop.higher_is_better, predictions=preds, notes=notes,
                           model="multilevel" if multi else "random-effects", robust=rob, wald=wald)


def _wald(res, table: pd.DataFrame, spec, rob, multi: bool) -> list:
    """``spec.wald``'s tests; cluster-robust (by study, as ``rob``) where robust inference was made."""
    from .multilevel import is_nested
    from .wald import wald_terms

    clusters = None
    if rob is not None:
        clusters = table["study"].to_numpy() if (not multi or is_nested(table)) else np.arange(len(table))
    return [wald_terms(res, entry, robust=spec.robust if rob is not None else None, clusters=clusters)
            for entry in spec.wald]


__all__ = ["ClassicalResult", "fit_classical", "predict_levels"]
