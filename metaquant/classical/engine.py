"""The classical engine on one property: metafor's ``rma()`` read on SSM's scale.

:func:`fit_classical` pools one property's effect table with
:func:`metaquant.classical.rma.rma` and returns a :class:`ClassicalResult`, which
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

from .. import scale
from ..errors import InputError, UsageError
from ..evidence import schema
from ..evidence.effects import (
    check_levels,
    level_count,
    moderator_columns,
    moderator_levels,
    moderator_matrix,
    pct_from_log,
)
from ..evidence.nesting import nesting
from ..outputs import json_safe
from ..progress import plural
from ..results import design_rows, measure_of, tidy_frame, withhold
from ..spec import ENGINE_POLICIES, MULTILEVEL_METHODS

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
    from . import rma

    levels, names = moderator_levels(table, spec)
    Xn, _ = moderator_matrix(levels, [spec])
    pr = rma.predict(res, Xn).to_frame()
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
    model : {"random-effects", "multilevel", "location-scale"}
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
    #: Wald tests of moderator terms asked for (``FitSpec.wald``; :class:`metaquant.classical.wald.WaldTest`)
    wald: list = field(default_factory=list)
    #: The specification it was fitted with (:class:`~metaquant.spec.FitSpec`; set by the fitting road).
    spec: object = field(default=None, repr=False, compare=False)
    #: The effect rows it pooled, variance policy applied (``len(rows) == k``; set by the fitting road).
    rows: object = field(default=None, repr=False, compare=False)
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
        out["measure"] = measure_of(self)
        return json_safe(withhold(out))

    def predict_levels(self, moderator: str, table: pd.DataFrame) -> list[dict]:
        """The effect at each observed level of ``moderator`` (a fit on it alone): :func:`predict_levels`."""
        return predict_levels(self.rma, table, moderator, self.thresholds, self.higher_is_better)

    @property
    def location_scale(self) -> bool:
        """Whether the between-study variance has moderators of its own (:mod:`metaquant.classical.rma_ls`)."""
        return self.model == "location-scale"

    def describe(self) -> str:
        """The model in words, e.g. ``location-scale REML, log τ² ~ log2(bits)`` or ``REML random-effects``."""
        if self.location_scale:
            return self.rma.describe()
        return f"{self.rma.method} {self.model}"

    def predict_new(self, x, z=None) -> dict:
        """The fit read at design rows ``x`` (moderators without intercept): metafor's ``predict.rma``.

        ``z`` are the rows' scale moderators (without intercept) of a location-scale fit, whose
        prediction interval uses the tau² there (metafor's ``newscale``); without them it is NaN.

        Returns arrays ``pred``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high`` (log-ratio scale), one
        value per row of ``x``.
        """
        from . import rma

        names = [c["name"] for c in self.rma.coefficients][1:]  # the intercept comes first
        if self.location_scale:
            from .rma_ls import predict_ls

            znames = list(self.rma.scale_names[1:])
            zs = None if z is None or not znames else design_rows(z, znames, argument="z")
            pr = predict_ls(self.rma, design_rows(x, names, argument="x"), zs)
            return {key: pr[key].to_numpy(dtype=float) for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high")}
        pr = rma.predict(self.rma, design_rows(x, names, argument="x")).to_frame()
        return {key: pr[key].to_numpy(dtype=float) for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high")}

    def to_frame(self) -> pd.DataFrame:
        if self.location_scale:
            df = self.rma.summary().reset_index()
            rows = [{"term": r["term"], "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "se": r["se"], "p": r["p"]} for _, r in df.iterrows()]
            if not self.meta_regression:
                rows.append({"term": "pct", "estimate": self.pct, "ci_low": self.pct_ci_low,
                             "ci_high": self.pct_ci_high})
            return tidy_frame(rows, prop=self.property, engine=self.engine)
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


# --------------------------------------------------------------------------------------------
# the multilevel model from an effect table (rma.mv's inputs built from the rows)
# --------------------------------------------------------------------------------------------
# Long on purpose: turns an effect table into rma_mv's inputs (levels, V, moderators, robust) and writes a note
# for every choice it makes; the notes are what make it long.
def multilevel_table(
    table: pd.DataFrame,
    *,
    levels=("study", "comparison"),
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    moderators=(),
    mods=None,
    mod_names=None,
    rho: float | None = None,
    shared_baseline: bool = False,
    robust: str | None = None,
    level: float = 95.0,
    profile: bool = True,
    thresholds=None,
):
    """Multilevel fit of one property's effect table (columns ``yi``, ``vi`` and the ``levels``).

    Levels with a single group (one study) or that repeat the level above (one row per study)
    are dropped, with a note, since their variance is not identifiable.  ``rho`` gives the
    sampling errors of one study a constant correlation (:func:`metaquant.evidence.covariance.constant_rho`);
    ``shared_baseline=True`` builds ``V`` from the table's ``baseline_group``
    (:func:`metaquant.evidence.covariance.shared_baseline`).  Moderators are numeric columns named in
    ``moderators``, or a design without intercept in ``mods`` (with ``mod_names``), e.g. from
    ``effects.moderator_matrix``.  ``robust="cr1"|"cr2"`` adds cluster-robust
    inference clustered by the outermost level (``levels[0]``).  ``thresholds`` (default: the
    property's, from :mod:`metaquant.evidence.schema`) are the SSM cut-points the label is read with.

    Returns
    -------
    (RMAMVResult, RobustResult or None)
    """
    from ..evidence import covariance
    from .rma_mv import rma_mv
    from .robust import cluster_robust

    missing = [c for c in ("yi", "vi", *levels, *moderators) if c not in table.columns]
    if missing:
        raise InputError(f"the effect table has no column {missing[0]!r}", column=missing[0])
    t = table.reset_index(drop=True)
    if t["vi"].isna().any():
        raise InputError("rows without a sampling variance: apply a variance policy first", column="vi")
    notes: list[str] = []
    kept: list[str] = []
    prev = None
    for lev in levels:
        key = t[[*kept, lev]].astype(str).agg("\x1f".join, axis=1)
        n = key.nunique()
        if n == 1:
            notes.append(f"{lev!r} has a single group: its variance is not estimated")
            continue
        if prev is not None and n == prev:
            notes.append(f"{lev!r} has one row per {kept[-1]!r}: the two levels are one")
            continue
        kept.append(lev)
        prev = n
    if not kept:
        raise InputError("no grouping level with more than one group: use rma() for these rows")
    if rho is not None and shared_baseline:
        raise InputError("give either rho or shared_baseline, not both")
    cluster = "study" if "study" in t.columns else levels[0]
    if rho is not None:
        V = covariance.constant_rho(t["vi"].to_numpy(float), t[cluster].to_numpy(), rho)
    elif shared_baseline:
        if "baseline_group" not in t.columns:
            raise InputError("shared_baseline needs a 'baseline_group' column in the data", column="baseline_group")
        V = covariance.shared_baseline(t["vi"].to_numpy(float), t["baseline_group"].to_numpy())
    else:
        V = t["vi"].to_numpy(float)
    if V.ndim == 2:
        notes.append(covariance.describe(rho, bool(np.any(V - np.diag(np.diag(V)))), cluster))
    if moderators and mods is not None:
        raise InputError("give either moderators (column names) or mods (a design), not both")
    if moderators:
        mods, mod_names = t[list(moderators)].to_numpy(float), list(moderators)
    prop = str(t["property"].iloc[0]) if "property" in t.columns else None
    fit = rma_mv(
        t["yi"].to_numpy(float),
        V,
        random=kept,
        data=t,
        mods=mods,
        mod_names=mod_names,
        method=method,
        test=test,
        dfs=dfs,
        level=level,
        profile=profile,
        prop=prop,
    )
    fit.warnings[:0] = notes
    if "higher_is_better" in t.columns:
        fit.higher_is_better = bool(t["higher_is_better"].iloc[0])
    if thresholds is not None:
        fit.thresholds = tuple(float(x) for x in thresholds)
    elif prop is not None:
        try:
            fit.thresholds = tuple(schema.get_property(prop).thresholds)
        except schema.UnknownPropertyError:  # an unknown property simply gets no label
            fit.thresholds = None
    rob = None if robust is None else cluster_robust(fit, t[levels[0]].to_numpy(), robust, by=levels[0])
    return fit, rob


def binomial_note(table: pd.DataFrame) -> list[str]:
    """A note when rows have binomial variances from their evaluation-set size (``n_eval``)."""
    if "vi_note" not in table.columns:
        return []
    k = int(table["vi_note"].astype("str").str.startswith("binomial variance from n_eval").sum())
    if not k:
        return []
    return [f"{k} rows have a binomial sampling variance from their evaluation-set size (n_eval), which takes "
            "the items as independent: the baseline and quantized models were scored on the same items, so "
            "the variance of their difference is overstated (by 2 r sqrt(v_q v_b) for an item-level "
            "correlation r)"]


def is_nested(table: pd.DataFrame, level: str = "study") -> bool:
    """True when some ``level`` group gives several rows (then :func:`multilevel_table` is the model to use)."""
    return level in table.columns and nesting(table, level).nested


def _cautions(res, table: pd.DataFrame) -> list[str]:
    """What a reader of a classical fit must be told (small k, one study, boundary estimates)."""
    notes = []
    k = res.k
    if k < FEW_ROWS and not res.is_fixed:
        notes.append(f"only {plural(k, 'row')}: tau², I² and the prediction interval are very imprecise")
    n_studies = int(table["study"].nunique())
    if n_studies == 1 and k > 1 and not res.is_fixed:
        notes.append(f"all {k} rows come from one study: tau² and I² measure differences between its "
                     "comparisons, not between studies (a multilevel model says more)")
    elif n_studies < k and not res.is_fixed:
        notes.append(f"{plural(k, 'row')} from {plural(n_studies, 'study')} are pooled as independent")
    return notes


def wants_multilevel(table: pd.DataFrame, spec) -> bool:
    """Whether ``spec`` asks for the multilevel model on these rows (``auto``: a study gives several rows).

    ``spec`` has passed :meth:`ClassicalEngine.check` (``model="multilevel"`` only with REML or ML).
    """
    if spec.scale_moderators:  # the location-scale model is a two-level model (rows independent)
        return False
    if spec.known_cov:  # a known V is fitted by rma.mv, nested or not
        return True
    if spec.model == "random-effects" or spec.is_fixed:
        return False
    if spec.model == "multilevel":
        return True
    return spec.method in MULTILEVEL_METHODS and is_nested(table)


def _fit_uni(table: pd.DataFrame, spec, X, names):
    from . import rma

    res = rma.rma(table["yi"].to_numpy(float), table["vi"].to_numpy(float), method=spec.method.upper(),
                          test=spec.test, mods=X if names else None, mod_names=names or None, level=spec.level)
    rob = None
    if spec.robust is not None:
        from .robust import cluster_robust

        rob = cluster_robust(res, table["study"].to_numpy(), spec.robust, by="study")
    return res, rob


def _fit_ls(table: pd.DataFrame, spec, X, names):
    """The location-scale model: ``log tau²`` linear in ``spec.scale_moderators`` (metafor's ``scale =``)."""
    from .rma_ls import rma_ls

    Z, znames = moderator_matrix(table, list(spec.scale_moderators))
    check_levels(table, list(spec.scale_moderators), znames)
    res = rma_ls(table["yi"].to_numpy(float), table["vi"].to_numpy(float), mods=X if names else None,
                 mod_names=names or None, scale=Z if znames else None, scale_names=znames or None,
                 method=spec.method.upper(), level=spec.level)
    return res, None


def _fit_multi(table: pd.DataFrame, spec, X, names, profile: bool):
    test = {"z": "z", "t": "t", "knha": "t"}[spec.test]
    levels = ("study", "comparison") if "comparison" in table.columns else ("study",)
    if spec.model == "random-effects" or not is_nested(table):  # rma.mv(yi, V, random = ~ 1 | comparison)
        t = table.reset_index(drop=True)
        if "comparison" not in t.columns or t["comparison"].nunique() < len(t):
            t = t.assign(comparison=[f"row{i + 1}" for i in range(len(t))])
        table, levels = t, ("comparison",)
    return multilevel_table(table, levels=levels, method=spec.method.upper(), test=test, mods=X if names else None,
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
    from .robust import TOO_FEW_CLUSTERS  # scipy.stats loads on first fit, not on `import metaquant`

    prop = schema.get_property(spec.property)
    X, names = moderator_matrix(table, list(spec.moderators))
    check_levels(table, list(spec.moderators), names)
    multi = wants_multilevel(table, spec)
    fit = (_fit_multi if multi else (_fit_ls if spec.scale_moderators else _fit_uni))
    try:
        res, rob = fit(table, spec, X, names, profile) if multi else fit(table, spec, X, names)
    except ValueError as exc:  # a refusal about the data (a DataError) also names the file(s) of the rows
        files = (" + ".join(dict.fromkeys(table["source_file"].dropna().astype(str)))
                 if isinstance(exc, InputError) and "source_file" in table else None)
        raise InputError(f"{prop.name}: {exc}", path=files or None) from None
    th = spec.cut_points()
    notes = ([note] if note else []) + (list(res.warnings) if multi else _cautions(res, table) +
                                        [w for w in res.warnings if w.startswith(TOO_FEW_CLUSTERS)
                                         or spec.scale_moderators])
    if rob is not None:
        notes += list(rob.warnings)
    wald = _wald(res, table, spec, rob, multi)
    notes += [w.sentence() for w in wald]
    notes += _outlier_note(res, table, multi)
    notes += binomial_note(table)
    return ClassicalResult(property=prop.name, rma=res, thresholds=th, k_total=int(table.attrs.get("k_total",
                           len(table))), n_studies=int(table["study"].nunique()),
                           higher_is_better=prop.higher_is_better, notes=notes,
                           model="multilevel" if multi else ("location-scale" if spec.scale_moderators
                                                              else "random-effects"), robust=rob, wald=wald)


def _outlier_note(res, table: pd.DataFrame, multi: bool) -> list[str]:
    """The outlier flags of :func:`metaquant.classical.outliers.outliers` as one note (none when nothing is flagged)."""
    from .outliers import MAX_ROWS, outliers

    limit = MAX_ROWS["rma_mv" if multi else "rma"]
    if getattr(res, "alpha_coefficients", None) is not None:  # outliers() refits rma(); not the location-scale model
        return []
    if res.k < 3 or res.is_fixed or getattr(res, "struct", None) is not None:
        return []
    if res.k > limit:
        return [f"outlier check not run: {res.k} rows (it refits the model once per row, up to {limit})"]
    try:
        check = outliers(res)
    except (ValueError, InputError, np.linalg.LinAlgError):
        return []
    col = "comparison" if "comparison" in table.columns else "study"
    note = check.note(table[col].astype(str).tolist())
    return [note] if note else []


def _wald(res, table: pd.DataFrame, spec, rob, multi: bool) -> list:
    """``spec.wald``'s tests; cluster-robust (by study, as ``rob``) where robust inference was made."""
    from .wald import wald_terms

    clusters = None
    if rob is not None:
        clusters = table["study"].to_numpy() if (not multi or is_nested(table)) else np.arange(len(table))
    return [wald_terms(res, entry, robust=spec.robust if rob is not None else None, clusters=clusters)
            for entry in spec.wald]


class ClassicalEngine:
    """The classical engine as the fitting road sees it (:class:`metaquant.fitting.Engine`)."""

    name = "frequentist"
    policies = ENGINE_POLICIES["frequentist"]

    def check(self, spec) -> None:
        """A :class:`UsageError` for what this engine cannot fit, before any work."""
        if spec.model == "multilevel" and not spec.is_fixed and spec.method not in MULTILEVEL_METHODS:
            raise UsageError(f"the multilevel model is fitted by REML or ML, not {spec.method.upper()}",
                             expected="method='reml' or 'ml'")
        if spec.scale_moderators:
            self._check_scale(spec)
        if spec.known_cov and spec.method not in MULTILEVEL_METHODS:
            raise UsageError(f"a known sampling covariance is used by the multilevel model (REML or ML), not "
                             f"{spec.method.upper()}", expected="method='reml' or 'ml'")

    @staticmethod
    def _check_scale(spec) -> None:
        """The location-scale model (``scale_moderators``): REML or ML, rows independent, z tests."""
        if spec.method not in MULTILEVEL_METHODS:
            raise UsageError(f"scale moderators (--scale-moderator) are fitted by the location-scale model, REML or "
                             f"ML, not {spec.method.upper()}", expected="method='reml' or 'ml'")
        for given, what in ((spec.model == "multilevel", "the multilevel model"),
                            (spec.known_cov, "a known sampling covariance"),
                            (spec.robust, "cluster-robust inference"), (spec.test != "z", f"test={spec.test!r}")):
            if given:
                raise UsageError(f"the location-scale model (--scale-moderator) takes no {what}",
                                 expected="leave out --scale-moderator, or the other option")

    def fit(self, rows: pd.DataFrame, spec, settings) -> ClassicalResult:
        """Pool the (policy-applied) rows: :func:`fit_classical`."""
        return fit_classical(rows, spec, rows.attrs.get("policy_note"), profile=settings.profile)


ENGINES = {"frequentist": ClassicalEngine()}

__all__ = ["ENGINES", "ClassicalEngine", "ClassicalResult", "fit_classical", "multilevel_table", "predict_levels"]
