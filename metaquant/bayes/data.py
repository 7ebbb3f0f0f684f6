"""From one property's effect table to the arrays the Bayesian models use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import scale
from ..errors import InputError, UsageError
from ..evidence import schema
from ..evidence.effects import check_levels, moderator_matrix
from ..evidence.nesting import nesting
from ..progress import plural
from ..spec import VARIANCE_POLICIES, check_choice

MODELS = ("auto", "re", "multilevel")
_MODEL_ALIASES = {"random-effects": "re", "random_effects": "re", "re": "re", "nnhm": "re",
                  "multilevel": "multilevel", "ml": "multilevel", "3level": "multilevel", "auto": "auto"}


@dataclass
class MetaData:
    """Arrays of one pooling problem.

    Attributes
    ----------
    y, v : ndarray
        Effects (log ratio, + = better) and sampling variances (0 where unknown).
    known : ndarray of bool
        ``vi_known``.
    study_idx : ndarray of int
        Row -> position in ``studies``.
    studies, comparisons : list of str
        Labels (the ``study`` and ``comparison`` coordinates).
    X : ndarray, shape (k, p)
        Design matrix; column 0 is the intercept (``mu``).
    coef_names : list of str
        Names of the moderator columns (``X[:, 1:]``).
    centres : dict
        Value subtracted from each numeric moderator column (its mean in these rows).
    model : {"re", "multilevel"}
    prop : str or None
        Property name (None for a table without a ``property`` column).
    higher_is_better : bool
    thresholds : tuple of float
        SSM cut-points in %.
    group_idx, omega : ndarray
        Correlated sampling errors: rows with equal ``group_idx >= 0`` have
        ``Cov(e_i, e_j) = omega_i omega_j`` (a shared baseline or a constant
        correlation, :mod:`metaquant.evidence.covariance`); ``-1`` and ``omega = 0``
        for independent rows.  ``sampling_cov`` is the note on how they were
        built (``"independent"`` when no covariance was asked for).
    """

    y: np.ndarray
    v: np.ndarray
    known: np.ndarray
    study_idx: np.ndarray
    studies: list[str]
    comparisons: list[str]
    X: np.ndarray
    coef_names: list[str]
    centres: dict[str, float]
    model: str
    prop: str | None
    higher_is_better: bool
    thresholds: tuple[float, ...]
    moderators: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    group_idx: np.ndarray | None = None
    omega: np.ndarray | None = None
    sampling_cov: str = "independent"

    def __post_init__(self):
        if self.group_idx is None:
            self.group_idx = np.full(self.y.size, -1, dtype=np.int64)
        if self.omega is None:
            self.omega = np.zeros(self.y.size)

    @property
    def n_groups(self) -> int:
        """Groups of rows with correlated sampling errors."""
        return int(self.group_idx.max()) + 1 if self.group_idx.size else 0

    @property
    def correlated(self) -> bool:
        return self.n_groups > 0

    @property
    def k(self) -> int:
        return int(self.y.size)

    @property
    def n_studies(self) -> int:
        return len(self.studies)

    @property
    def n_unknown(self) -> int:
        return int((~self.known).sum())

    @property
    def p(self) -> int:
        return int(self.X.shape[1])


def normalise_model(model: str) -> str:
    """``"auto" | "re" | "multilevel"`` (with a few aliases); anything else is an InputError."""
    key = str(model).strip().lower()
    if key not in _MODEL_ALIASES:
        raise InputError(f"unknown model {model!r}", expected="auto | re | multilevel")
    return _MODEL_ALIASES[key]


def _where(table: pd.DataFrame, i: int) -> dict:
    r = table.iloc[i]
    out = {}
    if "source_file" in table.columns and pd.notna(r.get("source_file")):
        out["path"] = r["source_file"]
    if "source_row" in table.columns and pd.notna(r.get("source_row")):
        out["row"] = int(r["source_row"])
    return out


def property_info(table: pd.DataFrame, thresholds: Sequence[float] | None) -> tuple[str | None, bool, tuple]:
    """Property name, direction and cut-points of a one-property table.

    A table without a ``property`` column (e.g. a textbook data set) is read as
    higher-is-better with the correctness cut-points unless ``thresholds`` are given.
    """
    if "property" in table.columns:
        props = pd.unique(table["property"].astype(str))
        if len(props) != 1:
            raise InputError(
                f"the Bayesian engine pools one property at a time; these rows hold {len(props)}: "
                + ", ".join(sorted(props)),
                expected="metaquant.for_property(table, name), or fit_many for several",
            )
        prop = schema.get_property(props[0])
        name, hib = prop.name, prop.higher_is_better
        default = prop.thresholds
    else:
        name = None
        hib = bool(table["higher_is_better"].iloc[0]) if "higher_is_better" in table.columns else True
        default = schema.DEFAULT_THRESHOLDS[schema.CORRECTNESS]
    try:
        th = scale.validate_thresholds(thresholds if thresholds is not None else default)
    except ValueError as exc:
        raise InputError(str(exc), column="thresholds") from None
    return name, hib, th


def prepare(
    table: pd.DataFrame,
    *,
    model: str = "auto",
    moderators: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
    rho: float | None = None,
    shared_baseline: bool = False,
) -> MetaData:
    """Validate one property's effect table and build the model arrays.

    Parameters
    ----------
    table : DataFrame
        Columns ``yi`` and ``vi`` at least; ``study``, ``comparison``,
        ``vi_known``, ``property`` and moderator columns are used when present.
    model : {"auto", "re", "multilevel"}
        ``auto`` is ``multilevel`` when some study gives more than one row.
    moderators : list of str, optional
        Columns of the table (see :func:`metaquant.evidence.effects.moderator_matrix`);
        numeric columns (``log2`` of ``bits``/``act_bits``) are centred at
        their mean over these rows, text columns are treatment-coded.
    thresholds : sequence of 6 floats, optional
        SSM cut-points in %; the property's by default.
    rho : float, optional
        Sampling errors of the rows of one study correlated at ``rho``
        (:func:`metaquant.evidence.covariance.constant_rho`).
    shared_baseline : bool
        Arms that share a baseline (equal ``baseline_group``) correlated as
        :func:`metaquant.evidence.covariance.shared_baseline` says.
    """
    table = _checked_table(table)
    prop, hib, th = property_info(table, thresholds)
    y, v, known = _effects(table)
    study, comp = _labels(table)
    studies, study_idx = np.unique(study, return_inverse=True)
    kind = normalise_model(model)
    if kind == "auto":
        kind = "multilevel" if nesting(study).nested else "re"
    mods = list(moderators or [])
    X, names, centres = _design(table, mods)
    notes = []
    if kind == "multilevel" and len(studies) == len(y):
        notes.append("every study gives one row, so tau_study and tau_within are identified only through their "
                     "sum of squares (and the priors); model='re' is the simpler equivalent")
    if kind == "multilevel" and len(studies) == 1:
        notes.append("a single study: tau_study is identified by its prior only (the between-study spread "
                     "cannot be learnt from one study)")
    if names and X.shape[1] > len(y):
        notes.append(f"{X.shape[1]} regression coefficients for {plural(len(y), 'row')}: identified by the priors only")
    group, omega, how = _sampling_cov(table, study, v, known, rho, shared_baseline, kind)
    return MetaData(
        y=y, v=v, known=known, study_idx=study_idx.astype(np.int64), studies=[str(s) for s in studies],
        comparisons=comp, X=X, coef_names=names, centres=centres, model=kind, prop=prop,
        higher_is_better=hib, thresholds=th, moderators=mods, notes=notes, group_idx=group, omega=omega,
        sampling_cov=how,
    )


def _sampling_cov(table, study, v, known, rho, shared_baseline, kind):
    """``(group_idx, omega, description)`` of the rows' correlated sampling errors (known variances only)."""
    from ..evidence import covariance

    k = v.size
    group, omega = np.full(k, -1, dtype=np.int64), np.zeros(k)
    if rho is None and not shared_baseline:
        return group, omega, "independent"
    if rho is not None and shared_baseline:
        raise InputError("give either rho or shared_baseline, not both")
    if rho is not None:
        g_k, w_k = covariance.constant_rho_factor(v[known], study[known], rho)
    else:
        if "baseline_group" not in table.columns:
            raise InputError("shared_baseline needs a 'baseline_group' column in the data", column="baseline_group")
        g_k, w_k = covariance.shared_baseline_factor(v[known], table["baseline_group"].to_numpy(object)[known])
    group[known], omega[known] = g_k, w_k
    how = covariance.describe(rho, bool((group >= 0).any()))
    if kind == "multilevel" and (group >= 0).any():
        per = pd.DataFrame({"g": group, "s": study})[group >= 0].groupby("g")["s"].nunique()
        if (per > 1).any():
            g = int(per.index[per > 1][0])
            rows = np.flatnonzero(group == g)
            raise InputError(f"rows {rows[0] + 1} and {rows[-1] + 1} share a baseline but belong to different "
                             "studies; the multilevel model needs correlated rows nested in one study",
                             column="baseline_group", **_where(table, int(rows[-1])))
    return group, omega, how


def _checked_table(table) -> pd.DataFrame:
    """A non-empty DataFrame with ``yi`` and ``vi`` columns, index reset."""
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"expected an effect table (DataFrame), got {type(table).__name__}")
    if len(table) == 0:
        raise InputError("the effect table has no rows", expected="at least one effect")
    for col in ("yi", "vi"):
        if col not in table.columns:
            raise InputError(f"the effect table has no column {col!r}", column=col, expected="yi and vi columns")
    return table.reset_index(drop=True)


def _effects(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Effects ``y`` (finite), variances ``v`` (0 where unknown, else > 0) and the ``known`` mask."""
    y = pd.to_numeric(table["yi"], errors="coerce").to_numpy(dtype=float)
    vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise InputError(f"effect size is not a finite number ({table['yi'].iloc[bad[0]]!r})", column="yi",
                         expected="a finite log ratio", **_where(table, bad[0]))
    if "vi_known" in table.columns:
        known = table["vi_known"].astype(bool).to_numpy() & np.isfinite(vi)
    else:
        known = np.isfinite(vi)
    neg = np.flatnonzero(known & (vi <= 0))
    if neg.size:
        raise InputError(f"sampling variance must be positive, got {vi[neg[0]]:g}", column="vi",
                         expected="vi > 0 (or empty when unknown)", **_where(table, neg[0]))
    return y, np.where(known, vi, 0.0), known


def _labels(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Study of each row and unique comparison labels (repeats get ``#2``, ``#3``, ...)."""
    if "study" in table.columns:
        study = table["study"].astype(str).to_numpy()
    else:
        study = np.array([f"row{i + 1}" for i in range(len(table))])
    if "comparison" in table.columns:
        comp = table["comparison"].astype(str).tolist()
    else:
        comp = [f"{s}|{i + 1}" for i, s in enumerate(study)]
    if len(set(comp)) != len(comp):  # coordinates must be unique
        seen: dict[str, int] = {}
        out = []
        for c in comp:
            seen[c] = seen.get(c, 0) + 1
            out.append(c if seen[c] == 1 else f"{c}#{seen[c]}")
        comp = out
    return study, comp


def _design(table: pd.DataFrame, mods: list[str]) -> tuple[np.ndarray, list[str], dict[str, float]]:
    """Design matrix (intercept first), moderator column names and the centres of the numeric ones."""
    k = len(table)
    X1, names = moderator_matrix(table, mods)
    X1 = np.array(X1, dtype=float)  # a copy: formulaic may return a read-only view, and it is centred in place
    check_levels(table, mods, names)
    centres: dict[str, float] = {}
    for j, name in enumerate(names):
        if "[" not in name:  # numeric column: centre
            c = float(np.mean(X1[:, j]))
            centres[name] = c
            X1[:, j] = X1[:, j] - c
        if np.ptp(X1[:, j]) == 0:
            raise InputError(
                f"moderator column {name!r} does not vary across the {k} rows, so its effect cannot be "
                "told apart from the pooled effect",
                column=name.partition("[")[0].removeprefix("log2(").rstrip(")"),
                expected="a moderator that takes at least two values",
            )
    X = np.column_stack([np.ones(k), X1]) if names else np.ones((k, 1))
    return X, names, centres


def rows_as_given(table: pd.DataFrame, unknown_vi: str = "model", *, engine: str = "the Bayesian model",
                  models_unknown: bool = True) -> str:
    """Check that a direct call of a Bayesian engine can pool ``table`` as it is given; the policy in force.

    The engines pool the rows they are given: the variance policy is applied once, on the fitting road
    (:func:`metaquant.fitting.fit_table`, :func:`metaquant.spec.apply_variance_policy`).  ``unknown_vi`` is a
    word of :data:`metaquant.spec.VARIANCE_POLICIES` (``"error"`` is the first version's ``"refuse"``).  A table
    whose variances are all known is pooled under every policy; rows without a variance are pooled only under
    ``"model"`` by an engine that models them (``models_unknown``); otherwise a
    :class:`~metaquant.errors.UsageError` names the road that applies the policy.
    """
    policy = check_choice("refuse" if unknown_vi == "error" else unknown_vi, VARIANCE_POLICIES, "unknown_vi")
    if "vi_known" in table.columns:
        known = table["vi_known"].astype(bool).to_numpy()
    else:
        vi = pd.to_numeric(table["vi"], errors="coerce").to_numpy(dtype=float) if "vi" in table.columns else None
        known = np.ones(len(table), bool) if vi is None else np.isfinite(vi)
    n_unknown = int((~known).sum())
    if n_unknown and (policy != "model" or not models_unknown):
        prop = f" of {str(table['property'].iloc[0])!r}" if "property" in table.columns and len(table) else ""
        name = str(table["property"].iloc[0]) if prop else "PROPERTY"
        raise UsageError(
            f"{n_unknown} of {len(table)} rows{prop} have no sampling variance; {engine} pools the rows it is "
            f"given, and the variance policy {policy!r} is applied on the fitting road",
            expected=f"metaquant.fit(table, {name!r}, method=..., variance_policy={policy!r})"
            + (" or unknown_vi='model'" if models_unknown else ""),
        )
    return policy
