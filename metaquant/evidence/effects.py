"""Effect sizes oriented so that positive always means "quantization helps".

Three measures, as metafor's ``escalc`` defines them, with the quantized arm
as group 1 and the baseline as group 2 for a higher-is-better property (the
arms swap for lower-is-better properties, so the sign flips):

``ROM`` (log response ratio, the default)
    yi = ln(q / b)  (higher is better) or ln(b / q) (lower is better);
    vi = sd_q² / (n_q q²) + sd_b² / (n_b b²)  (delta method).
``SMD`` (Hedges' g)
    yi = J·(m1 - m2)/s_pooled with the exact small-sample factor
    J = Γ(m/2) / (√(m/2) Γ((m-1)/2)), m = n1 + n2 - 2;
    vi = 1/n1 + 1/n2 + yi² / (2 (n1 + n2)).
``MD`` (raw mean difference)
    yi = m1 - m2; vi = sd1²/n1 + sd2²/n2.
``PLO``, ``PAS``, ``PR`` (proportions: accuracy, precision, recall)
    yi = t(p_q) - t(p_b) (baseline minus quantized when lower is better) with t the logit, the arcsine
    square root or the identity of the proportion, and the binomial variance of each arm from the size of
    the evaluation set ``n_eval`` (:func:`proportion_effect`, :func:`proportion_difference`):
    vi = v_q + v_b - 2 r sqrt(v_q v_b), r the correlation of the two models' item-level scores (0 unless
    stated).  Under ``ROM``, a proportion row with ``n_eval`` but no spread gets the binomial variance
    var(ln p) = (1 - p)/(n p) of each arm (metafor's ``PLN``).

Summary-form rows (``improvement_pct`` = mean relative improvement RI in %,
``improvement_sd`` its sd over ``n_units`` units) convert to the log ratio as
yi = ln(1 + RI/100) (higher is better) or -ln(1 - RI/100) (lower is better),
with the delta-method variance vi = (sd / (100 ± RI))² / n_units.

A row whose sampling variance cannot be computed (a single observation, no
spread, or a spread of exactly zero) is kept with ``vi = NaN`` and
``vi_known = False`` and a reason in ``vi_note``.  What each engine does with
such rows is documented in ``docs/methods/``.

Every effect leaves this module finite and inside the safe ranges of
:mod:`metaquant.evidence.schema` (``|yi|`` and ``vi``), or the row is refused with
file, row and column: the engines never see an overflow.  The formulas are
evaluated column-wise over all rows at once (no per-row Python loop), which
keeps a million rows within a few times their size in memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from ..errors import DataError, InputError, UsageError
from ..results import MEASURE_NAMES  # noqa: F401 - what each measure's estimate is, named once
from . import schema
from .io import MAX_REPORTED, Evidence, Problems, as_bool, load, validate

#: Effect measures of a proportion (an accuracy): escalc's logit, arcsine square root and raw proportion.
PROPORTION_MEASURES = ("PLO", "PAS", "PR")
MEASURES = ("ROM", "SMD", "MD") + PROPORTION_MEASURES
#: Properties whose values are proportions of evaluated items (their ``n_eval`` gives a binomial variance).
PROPORTION_PROPERTIES = ("accuracy", "precision", "recall")

#: Columns carried from the evidence into the effect table (moderators, context).
CARRIED = (
    "bits", "act_bits", "technique", "granularity", "hardware", "model", "task",
    "baseline_precision", "quant_precision", "baseline_group", "study_belief",
    "metric", "unit", "provenance",
)  # fmt: skip

EFFECT_COLUMNS = (
    "study", "comparison", "property", "metric_class", "higher_is_better", "form", "measure",
    "yi", "vi", "vi_known", "vi_note", "pct", "pct_sd", "pct_iqr", "n_units",
) + CARRIED + ("confounded", "source_file", "source_row")  # fmt: skip

_NUMERIC_CARRIED = ("bits", "act_bits", "study_belief")
#: User columns of the evidence (see :data:`metaquant.evidence.io.USER_COLUMN_PREFIX`) are carried as they are.
USER_PREFIX = "x_"


def _hib_arg(higher_is_better) -> bool | np.ndarray:
    if isinstance(higher_is_better, np.ndarray) and higher_is_better.dtype == bool:
        return higher_is_better
    return as_bool(higher_is_better, "higher_is_better")


def _floats(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise UsageError(f"{x!r} is not a number or an array of numbers", argument=name) from None


def pct_from_log(y, higher_is_better: bool):
    """Relative improvement in % (+ = better) from an oriented log ratio.

    ``100 (e^y - 1)`` for higher-is-better properties, ``100 (1 - e^-y)`` for
    lower-is-better ones (where RI = (b - q)/b and y = ln(b/q)).
    ``higher_is_better`` may be an array of booleans, one per element of ``y``.
    """
    hib = _hib_arg(higher_is_better)
    y = _floats(y, "y")
    with np.errstate(over="ignore"):
        out = np.where(hib, 100.0 * np.expm1(y), -100.0 * np.expm1(-y))
    return out if out.ndim else float(out)


def pct_formula(higher_is_better: bool, of: str = "estimate") -> str:
    """The formula :func:`pct_from_log` applies, as printed beside the % it gives.

    Parameters
    ----------
    higher_is_better : bool
        The property's direction.
    of : str
        What the formula is applied to, e.g. ``"estimate"`` or ``"median mu"``.

    Returns
    -------
    str
        ``"exp(estimate) - 1"`` for a higher-is-better property, ``"1 - exp(-estimate)"`` for a
        lower-is-better one (the oriented log ratio is ln(b/q) there).
    """
    return f"exp({of}) - 1" if _hib_arg(higher_is_better) else f"1 - exp(-{of})"


#: Beyond this |relative improvement| (in %) the effect is also said as a ratio (:func:`ratio_words`).
RATIO_WORDS_BEYOND = 50.0


def ratio_words(y, higher_is_better: bool, property_name: str) -> str | None:
    """An oriented log ratio as the quantized/baseline ratio in words, for effects beyond ±50 %.

    "-678 %" is not a quantity a reader can picture; "perplexity ×7.8" is.  A shrinking quantity
    is divided and keeps its change in %: "storage size ÷7.3 (-86 %)".

    Parameters
    ----------
    y : float
        Oriented log ratio (+ = quantization helps).
    higher_is_better : bool
        The property's direction.
    property_name : str
        Name of the property (underscores are said as spaces).

    Returns
    -------
    str or None
        ``None`` when the effect lies within ±50 % (the % says it) or ``y`` is not finite.
    """
    if y is None or not np.isfinite(float(y)):
        return None
    y = float(y)
    if abs(pct_from_log(y, higher_is_better)) <= RATIO_WORDS_BEYOND:
        return None
    log_ratio = y if _hib_arg(higher_is_better) else -y  # ln(quantized / baseline)
    name = str(property_name).replace("_", " ")

    def fold(lr: float) -> str:
        r = float(np.exp(min(abs(lr), 700.0)))
        return f"{r:.1f}" if r < 100 else f"{r:,.0f}" if r < 1e6 else f"{r:.1e}"

    if log_ratio >= 0:
        return f"{name} ×{fold(log_ratio)}"
    return f"{name} ÷{fold(log_ratio)} ({100.0 * np.expm1(log_ratio):+.0f} %)"


def log_from_pct(pct, higher_is_better: bool):
    """Oriented log ratio from a relative improvement in % (inverse of :func:`pct_from_log`).

    Raises
    ------
    DataError
        ``pct`` is NaN, or at or beyond the end of its range (<= -100 when
        higher is better, >= 100 when lower is better: no positive quantized
        value has it).
    """
    hib = _hib_arg(higher_is_better)
    p = _floats(pct, "pct")
    bad = np.isnan(p) | np.where(hib, p <= -100.0, p >= 100.0)
    if bad.any():
        v = float(p[bad].flat[0]) if p.ndim else float(p)
        limit = "> -100 (higher is better)" if np.all(hib) else "< 100 (lower is better)"
        if not np.isscalar(hib) and np.ndim(hib) and not (np.all(hib) or not np.any(hib)):
            limit = "> -100 where higher is better, < 100 where lower is better"
        raise DataError(f"argument 'pct': {v:g} % has no log ratio", expected=f"a relative improvement {limit}")
    with np.errstate(invalid="ignore", divide="ignore"):  # both branches are evaluated; one is kept
        out = np.where(hib, np.log1p(p / 100.0), -np.log1p(-p / 100.0))
    return out if out.ndim else float(out)


def dlog_dpct(pct, higher_is_better: bool):
    """Derivative of the oriented log ratio with respect to RI (per percent)."""
    hib = _hib_arg(higher_is_better)
    p = _floats(pct, "pct")
    with np.errstate(divide="ignore"):
        out = np.where(hib, 1.0 / (100.0 + p), 1.0 / (100.0 - p))
    return out if out.ndim else float(out)


def hedges_j(m):
    """Exact bias-correction factor of Hedges' g (metafor ``.cmicalc``)."""
    m = np.asarray(m, dtype=float)
    return np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))


def proportion_effect(p, n, measure: str = "PLO"):
    """A proportion's transform and binomial sampling variance, as metafor's ``escalc(measure, xi=p*n, ni=n)``.

    Parameters
    ----------
    p : float or array
        Proportions in [0, 1] (an accuracy as a fraction).
    n : float or array
        Evaluation-set sizes (items behind each proportion).
    measure : {"PLO", "PAS", "PR", "PLN"}
        ``PLO`` logit ln(p/(1-p)), vi = 1/(np) + 1/(n(1-p)); ``PAS`` arcsin(sqrt(p)), vi = 1/(4n);
        ``PR`` p, vi = p(1-p)/n; ``PLN`` ln p, vi = (1-p)/(np).  As escalc does (``add=1/2, to="only0"``),
        ``PLO``, ``PR`` and ``PLN`` add 1/2 to the successes and the failures of a proportion of 0 or 1.

    Returns
    -------
    (yi, vi) : arrays (floats for scalar input)
    """
    m = str(measure).upper()
    if m not in (*PROPORTION_MEASURES, "PLN"):
        raise UsageError(f"unknown proportion measure {measure!r}", argument="measure", expected="PLO, PAS, PR or PLN")
    p, n = _floats(p, "p"), _floats(n, "n")
    x = p * n
    if m != "PAS":
        edge = (x == 0) | (x == n)
        x, n = np.where(edge, x + 0.5, x), np.where(edge, n + 1.0, n)
    q = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if m == "PLO":
            yi, vi = np.log(q / (1 - q)), 1 / x + 1 / (n - x)
        elif m == "PAS":
            yi, vi = np.arcsin(np.sqrt(q)), 1 / (4 * n)
        elif m == "PR":
            yi, vi = q, q * (1 - q) / n
        else:
            yi, vi = np.log(q), 1 / x - 1 / n
    vi = np.broadcast_to(vi, np.shape(yi)).astype(float)
    return (yi, vi) if np.ndim(yi) else (float(yi), float(vi))


def paired_variance(v_q, v_b, r=0.0):
    """Variance of a difference of two estimates with variances ``v_q``, ``v_b`` and correlation ``r``.

    ``v_q + v_b - 2 r sqrt(v_q v_b)``.  Two models scored on the same items give positively correlated
    proportions (r > 0); taking them as independent (r = 0) overstates the variance of the difference by
    ``2 r sqrt(v_q v_b)``, at most ``v_q + v_b`` times ``r`` (equal variances).
    """
    r = _floats(r, "r")
    if np.any(~((r >= -1) & (r <= 1))):
        raise UsageError(f"{float(np.ravel(r)[0]):g} is not a correlation", argument="r",
                         expected="-1 <= r <= 1")  # fmt: skip
    v_q, v_b = _floats(v_q, "v_q"), _floats(v_b, "v_b")
    out = v_q + v_b - 2.0 * r * np.sqrt(v_q * v_b)
    return out if np.ndim(out) else float(out)


def proportion_difference(p_q, p_b, n_q, n_b=None, measure: str = "PLO", *, r=0.0, higher_is_better=True):
    """Oriented difference of two transformed proportions and its variance (+ = quantization helps).

    ``yi = t(p_q) - t(p_b)`` (``t(p_b) - t(p_q)`` when lower is better) with ``t`` and the per-arm variances
    of :func:`proportion_effect`; ``vi = v_q + v_b - 2 r sqrt(v_q v_b)`` (:func:`paired_variance`).  With
    r = 0 these are metafor's ``escalc`` measures ``OR`` (PLO), ``AS`` (PAS), ``RD`` (PR) and ``RR`` (PLN)
    of two independent groups; for ``PR`` with r the phi coefficient of the paired 2x2 table of item scores,
    ``vi`` is that of the matched-pairs risk difference (``MPRD``).

    Parameters
    ----------
    p_q, p_b : float or array
        Quantized and baseline proportions in [0, 1].
    n_q, n_b : float or array
        Evaluation-set sizes (``n_b`` defaults to ``n_q``: the same items).
    measure : {"PLO", "PAS", "PR", "PLN"}
    r : float
        Correlation of the two models' item-level scores (0: independent items).
    higher_is_better : bool or array of bool
    """
    hib = _hib_arg(higher_is_better)
    yq, vq = proportion_effect(p_q, n_q, measure)
    yb, vb = proportion_effect(p_b, n_q if n_b is None else n_b, measure)
    yi = np.where(hib, np.subtract(yq, yb), np.subtract(yb, yq))
    vi = paired_variance(vq, vb, r)
    return (yi, vi) if np.ndim(yi) else (float(yi), float(vi))


_PERCENT_UNITS = ("%", "percent", "percentage", "pct")
_FRACTION_UNITS = ("fraction", "proportion", "ratio", "0-1", "[0,1]", "1")


def _proportion_scale(r, m) -> np.ndarray:
    """Per row: 100 for an accuracy in %, 1 for a fraction (from ``unit``, else the values); refusals named.

    A row without a unit is in % when a value exceeds 1; with both values in [0, 1] and no unit it is
    ambiguous (0.8 could be 80 % or 0.8 %) and refused, asking for the unit.
    """
    unit = (r.df["unit"].astype("str").str.strip().str.lower().to_numpy(dtype=object) if "unit" in r.df.columns
            else np.full(r.n, "", dtype=object))  # fmt: skip
    unit = np.where(pd.isna(unit) | np.isin(unit, ("nan", "none", "<na>")), "", unit)
    b, q = r.num("baseline_mean"), r.num("quant_mean")
    big = np.fmax(b, q) > 1
    pct = np.isin(unit, _PERCENT_UNITS)
    frac = np.isin(unit, _FRACTION_UNITS)
    r.fail(m & ~pct & ~frac & (unit != ""), "unit", lambda u: f"unit {u!r} is not a proportion's unit",
           "'%' (0-100) or 'fraction' (0-1) for a proportion measure or a binomial variance from n_eval",
           unit)  # fmt: skip
    r.fail(m & (unit == "") & ~big, "unit", "a proportion in [0, 1] without a unit is ambiguous (80 % or 0.8 %?)",
           "unit '%' (values 0-100) or 'fraction' (values 0-1)")  # fmt: skip
    scale = np.where(pct | ((unit == "") & big), 100.0, 1.0)
    for col, v in (("baseline_mean", b), ("quant_mean", q)):
        r.fail(m & ~((v >= 0) & (v <= scale)), col, lambda x: f"proportion {x:g} is outside its range",
               "0-100 for a unit '%', 0-1 for a fraction", v)  # fmt: skip
    return scale


def _proportion_effects(r, m, measure, hib, yi, vi, pct, note, item_r) -> None:
    """Measurement rows of a proportion property under PLO, PAS or PR; variance from ``n_eval``."""
    scale = _proportion_scale(r, m)
    m = m & ~r.bad
    b, q, ne = r.num("baseline_mean") / scale, r.num("quant_mean") / scale, r.num("n_eval")
    with np.errstate(divide="ignore", invalid="ignore"):
        pct[m] = np.where(hib, 100.0 * (q - b) / b, 100.0 * (b - q) / b)[m]
        y, v = proportion_difference(q, b, np.where(np.isnan(ne), 1.0, ne), measure=measure, r=item_r,
                                     higher_is_better=hib)  # fmt: skip
    yi[m] = y[m]
    known = m & ~np.isnan(ne)
    vi[known], note[known] = v[known], "binomial variance from n_eval (independent items)"
    note[m & np.isnan(ne)] = "no evaluation-set size (n_eval) for a binomial variance"
    zero = known & ~(vi > 0)
    vi[zero], note[zero] = np.nan, "binomial variance is 0"


def _binomial_rom(r, m, hib, vi, note, item_r) -> None:
    """ROM rows of a proportion with ``n_eval`` and no spread: vi = sum of (1 - p)/(n p) over the arms."""
    ne = r.num("n_eval")
    m = m & ~np.isnan(ne) & ~np.isfinite(vi) & ~r.bad
    if not m.any():
        return
    scale = _proportion_scale(r, m)
    m = m & ~r.bad
    b, q = r.num("baseline_mean") / scale, r.num("quant_mean") / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        v = paired_variance((1 - q) / (ne * q), (1 - b) / (ne * b), item_r)
    ok = m & (v > 0)
    vi[ok] = v[ok]
    note[ok] = "binomial variance from n_eval (independent items)"


# --------------------------------------------------------------------------
# The effect table, column-wise
# --------------------------------------------------------------------------


class _Rows:
    """The evidence under conversion: column access and row refusals located by file and row."""

    def __init__(self, df: pd.DataFrame, problems: Problems):
        self.df = df
        self.n = len(df)
        self.problems = problems
        self.paths = df["source_file"].reset_index(drop=True)
        self.rows = df["source_row"].to_numpy()
        self.bad = np.zeros(self.n, dtype=bool)

    def num(self, col: str) -> np.ndarray:
        if col not in self.df.columns:
            return np.full(self.n, np.nan)
        return pd.to_numeric(self.df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    def fail(self, mask, column, message, expected=None, values=None) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if mask.any():
            self.problems.rows(mask, path=self.paths, rows=self.rows, column=column, message=message,
                               expected=expected, values=values)  # fmt: skip
            self.bad |= mask


def _comparison_ids(df: pd.DataFrame) -> pd.Series:
    """``study|comparison``, else ``study|quant_precision``, else ``study|row<N>`` (string ops, no Python loop)."""
    study = df["study"].astype("str").reset_index(drop=True)
    out = study + "|row" + pd.Series(df["source_row"].to_numpy()).astype("str")
    for col in ("quant_precision", "comparison"):  # later wins
        if col in df.columns:
            s = df[col].astype("str").reset_index(drop=True)
            out = out.where(~(s.notna() & (s != "")), study + "|" + s)
    return out


def _measurement_effects(r: _Rows, m, measure, hib, yi, vi, pct, note) -> None:
    b, q, sb, sq, nb, nq = (r.num(c) for c in ("baseline_mean", "quant_mean", "baseline_sd", "quant_sd",
                                                "baseline_n", "quant_n"))  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pct[m] = np.where(hib, 100.0 * (q - b) / b, 100.0 * (b - q) / b)[m]
        spread = ~(np.isnan(sb) | np.isnan(sq) | np.isnan(nb) | np.isnan(nq))
        if measure == "ROM":
            r.fail(m & (b <= 0), "baseline_mean", lambda v: f"baseline {v:g} is not positive, so a ratio is undefined",
                   "a positive baseline for the log response ratio (or use --measure MD)", b)  # fmt: skip
            r.fail(m & (q <= 0), "quant_mean", lambda v: f"value {v:g} is not positive, so a ratio is undefined",
                   "a positive value for the log response ratio (or use --measure MD)", q)  # fmt: skip
            ok = m & (b > 0) & (q > 0)
            yi[ok] = np.where(hib, np.log(q / b), np.log(b / q))[ok]
            vi[ok & spread] = (sq**2 / (nq * q**2) + sb**2 / (nb * b**2))[ok & spread]
            note[ok & ~spread] = "no spread (sd and n) reported"
        else:
            m1, m2, s1, s2, n1, n2 = (np.where(hib, x, y) for x, y in ((q, b), (b, q), (sq, sb), (sb, sq), (nq, nb),
                                                                       (nb, nq)))  # fmt: skip
            for col, which in (("baseline_sd", np.isnan(sb)), ("quant_sd", ~np.isnan(sb))):
                r.fail(m & ~spread & which, col, "a spread is needed for " + measure,
                       "sd and n on both arms (or use the log response ratio)")  # fmt: skip
            ok = m & spread & ~r.bad
            if measure == "MD":
                yi[ok], vi[ok] = (m1 - m2)[ok], (s1**2 / n1 + s2**2 / n2)[ok]
            else:
                few = (n1 + n2 - 2 < 1) | (np.minimum(n1, n2) < 2)
                for col, which in (("baseline_n", nb < 2), ("quant_n", nb >= 2)):
                    r.fail(ok & few & which, col, "a study with one run cannot give a standardised mean difference",
                           "n >= 2 on both arms")  # fmt: skip
                sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
                r.fail(ok & (sp == 0), "baseline_sd", "pooled sd is zero, so the SMD is undefined", "a positive spread")
                ok &= ~r.bad
                g = hedges_j(n1 + n2 - 2) * (m1 - m2) / sp
                yi[ok], vi[ok] = g[ok], (1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2)))[ok]
    zero = m & (vi == 0)
    vi[zero], note[zero] = np.nan, "zero spread: sampling variance is 0"


def _summary_effects(r: _Rows, m, measure, hib, yi, vi, pct, note) -> None:
    p, sd, n = r.num("improvement_pct"), r.num("improvement_sd"), r.num("n_units")
    pct[m] = p[m]
    if measure != "ROM":
        r.fail(m, "improvement_pct", f"summary-form rows support only the log response ratio, not {measure}",
               "--measure ROM")  # fmt: skip
        return
    r.fail(m & np.where(hib, p <= -100, p >= 100), "improvement_pct",
           lambda v: f"relative improvement {v:g}% implies a quantized value <= 0",
           "a value above -100 (higher is better) or below 100 (lower is better)", p)  # fmt: skip
    ok = m & ~r.bad
    with np.errstate(invalid="ignore", divide="ignore"):
        yi[ok] = np.where(hib, np.log1p(p / 100.0), -np.log1p(-p / 100.0))[ok]
        single = np.isnan(n) | (n < 2)
        note[ok & single] = "single observation: no spread"
        note[ok & ~single & np.isnan(sd)] = "no spread reported"
        note[ok & ~single & (sd == 0)] = "zero spread: sampling variance is 0"
        known = ok & ~single & ~np.isnan(sd) & (sd != 0)
        d = np.where(hib, 1.0 / (100.0 + p), 1.0 / (100.0 - p))
        vi[known] = ((sd * d) ** 2 / n)[known]


def _given_effects(r: _Rows, m, hib, yi, vi, pct) -> None:
    y, v = r.num("yi"), r.num("vi")
    for c, x in (("yi", y), ("vi", v)):
        r.fail(m & np.isnan(x), c, f"{c} is empty (missing value)", "a value in every row")
    r.fail(m & ~np.isfinite(y) & ~np.isnan(y), "yi", lambda x: f"{x!r} is not a finite number", "a finite yi", y)
    r.fail(m & ~(v > 0) & ~np.isnan(v), "vi", lambda x: f"sampling variance {x:g} is not positive", "vi > 0", v)
    yi[m], vi[m] = y[m], v[m]
    with np.errstate(over="ignore", invalid="ignore"):
        pct[m] = np.where(hib, 100.0 * np.expm1(y), -100.0 * np.expm1(-y))[m]


_BLAME = {  # the input column a bad effect or variance is reported on
    "effects": ("yi", "vi"),
    "measurements": ("quant_mean", "quant_sd"),
    "summary": ("improvement_pct", "improvement_sd"),
}


def _check_ranges(r: _Rows, form, measure, yi, vi) -> None:
    """Every effect finite and |yi| in range; every known variance in [MIN_VI, MAX_VI]."""
    log_scale = (form != "measurements") | (measure == "ROM")
    cap = np.where(log_scale, schema.MAX_ABS_LOG_EFFECT, schema.MAX_ABS_RAW_EFFECT)
    with np.errstate(invalid="ignore"):
        big = ~(np.abs(yi) <= cap)
        odd_v = ~np.isnan(vi) & ~((vi >= schema.MIN_VI) & (vi <= schema.MAX_VI))
    scale = f"|yi| <= {schema.MAX_ABS_LOG_EFFECT:g} on the log-ratio scale"
    raw = sorted(set(np.atleast_1d(measure)) - {"ROM"})
    if raw:
        scale += f" ({schema.MAX_ABS_RAW_EFFECT:g} for {raw[0]}); rescale the unit or check the values"
    for f, (ycol, vcol) in _BLAME.items():
        at = form == f
        r.fail(at & big, ycol, lambda v: f"effect size yi = {v:g} is outside the safe range", scale, yi)
        r.fail(at & odd_v, vcol, lambda v: f"sampling variance vi = {v:g} is outside the safe range",
               f"{schema.MIN_VI:g} <= vi <= {schema.MAX_VI:g} (an empty sd if the spread is unknown)", vi)  # fmt: skip


def _registry_columns(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(canonical property, metric class, higher_is_better) per row; unknown properties refused."""
    codes, uniques = pd.factorize(r.df["property"])  # one registry lookup per distinct name
    name = np.full(len(uniques) + 1, None, dtype=object)  # code -1 (missing) -> None
    mclass = np.full(len(uniques) + 1, None, dtype=object)
    hib = np.zeros(len(uniques) + 1, dtype=bool)
    r.fail(codes < 0, "property", "property is empty (missing value)", "a property in every row")
    for k, v in enumerate(uniques):
        try:
            prop = schema.get_property(v)
        except schema.UnknownPropertyError as exc:
            r.fail(codes == k, "property", exc.message, exc.expected)
            continue
        name[k], mclass[k], hib[k] = prop.name, prop.metric_class, prop.higher_is_better
    return name[codes], mclass[codes], hib[codes]


def _form_codes(df: pd.DataFrame) -> np.ndarray:
    """The form of each row as a small array of strings (without a Python string per row)."""
    codes, uniques = pd.factorize(df["form"])
    labels = np.array([str(u) for u in uniques] + ["?"], dtype="U12")
    return labels[codes]


def _effect_table(df: pd.DataFrame, measure: str, problems: Problems, item_r=0.0) -> pd.DataFrame:
    r = _Rows(df, problems)
    name, mclass, hib = _registry_columns(r)
    form = _form_codes(df)
    r.fail(~np.isin(form, list(_BLAME)), "form", "unknown row form", "effects, measurements or summary")
    yi, vi, pct = np.full(r.n, np.nan), np.full(r.n, np.nan), np.full(r.n, np.nan)
    note = np.full(r.n, None, dtype=object)
    prop = np.isin(name, PROPORTION_PROPERTIES)
    # a proportion measure applies to proportion properties; the other properties keep the log ratio
    row_measure = np.where(prop, measure, "ROM") if measure in PROPORTION_MEASURES else np.full(r.n, measure)
    meas = form == "measurements"
    _given_effects(r, form == "effects", hib, yi, vi, pct)
    if measure in PROPORTION_MEASURES:
        _proportion_effects(r, meas & prop, measure, hib, yi, vi, pct, note, item_r)
        _measurement_effects(r, meas & ~prop, "ROM", hib, yi, vi, pct, note)
        _summary_effects(r, (form == "summary") & prop, measure, hib, yi, vi, pct, note)
        _summary_effects(r, (form == "summary") & ~prop, "ROM", hib, yi, vi, pct, note)
    else:
        _measurement_effects(r, meas, measure, hib, yi, vi, pct, note)
        _summary_effects(r, form == "summary", measure, hib, yi, vi, pct, note)
    _binomial_rom(r, meas & prop & (row_measure == "ROM"), hib, vi, note, item_r)
    _check_ranges(r, form, row_measure, yi, vi)
    problems.checkpoint()
    return _assemble(df, r, row_measure, form, name, mclass, hib, yi, vi, pct, note)


def _column(df: pd.DataFrame, c: str) -> pd.Series | np.ndarray:
    return df[c].reset_index(drop=True) if c in df.columns else np.full(len(df), None, dtype=object)


def _assemble(df, r: _Rows, measure, form, name, mclass, hib, yi, vi, pct, note) -> pd.DataFrame:
    """The effect table's columns in ``EFFECT_COLUMNS`` order (text stays in pandas string arrays)."""
    summ, meas = form == "summary", form == "measurements"
    cols = {
        "study": _column(df, "study"),
        "comparison": _comparison_ids(df),
        "property": pd.array(name, dtype="str"),
        "metric_class": pd.array(mclass, dtype="str"),
        "higher_is_better": hib,
        "form": _column(df, "form"),
        "measure": pd.array(np.where(form == "effects", "given", measure), dtype="str"),
        "yi": yi,
        "vi": vi,
        "vi_known": np.isfinite(vi),
        "vi_note": pd.array(note, dtype="str"),
        "pct": np.where(np.isfinite(pct), pct, np.nan),
        "pct_sd": np.where(summ, r.num("improvement_sd"), np.nan),
        "pct_iqr": np.where(summ, r.num("improvement_iqr"), np.nan),
        "n_units": np.where(summ, r.num("n_units"), np.where(meas, r.num("quant_n"), np.nan)),
    }
    for c in CARRIED:
        cols[c] = r.num(c) if c in _NUMERIC_CARRIED else _column(df, c)
    cols["confounded"] = df["confounded"].eq(True).to_numpy(dtype=bool) if "confounded" in df.columns else False
    cols["source_file"] = _column(df, "source_file")
    cols["source_row"] = df["source_row"].to_numpy(dtype=np.int64)
    # user columns (``x_kv_bits``, ``x_params``, ...) travel along, so that they can be moderators
    extra = [c for c in df.columns if str(c).startswith(USER_PREFIX) and c not in cols]
    for c in extra:
        col = df[c].reset_index(drop=True)
        num = pd.to_numeric(col, errors="coerce")
        given = col.notna() & col.astype(str).str.strip().ne("")
        cols[c] = num.astype(float) if num[given].notna().all() and given.any() else col
    return pd.DataFrame({c: cols[c] for c in (*EFFECT_COLUMNS, *extra)}, copy=False)


def _measure_arg(measure) -> str:
    if not isinstance(measure, str):
        raise UsageError(f"is a {type(measure).__name__}", argument="measure", expected=" or ".join(MEASURES))
    m = measure.strip().upper()
    if m not in MEASURES:
        raise DataError(f"unknown effect-size measure {measure!r}", expected=" or ".join(MEASURES))
    return m


def _evidence_frame(evidence) -> pd.DataFrame:
    """The validated rows of ``evidence``; a raw DataFrame (no ``form`` column) is validated first."""
    if isinstance(evidence, Evidence):
        df = evidence.data
        if not isinstance(df, pd.DataFrame):
            raise UsageError(f"holds a {type(df).__name__} as its data", argument="evidence",
                             expected="an Evidence from metaquant.load")  # fmt: skip
    elif isinstance(evidence, pd.DataFrame):
        if len(evidence) == 0:
            raise UsageError("has no rows", argument="evidence", expected="at least one evidence row")
        df = evidence if "form" in evidence.columns else validate(evidence, "DataFrame")
    else:
        raise UsageError(
            f"is a {type(evidence).__name__}",
            argument="evidence",
            expected="an Evidence (metaquant.load) or a DataFrame of evidence rows",
        )
    if len(df) == 0:
        raise UsageError("has no rows", argument="evidence", expected="at least one evidence row")
    missing = [c for c in ("study", "property", "form") if c not in df.columns]
    if missing:
        raise UsageError(f"lacks the column(s) {', '.join(missing)}", argument="evidence",
                         expected="the rows of metaquant.load(...).data")  # fmt: skip
    if "source_file" not in df.columns or "source_row" not in df.columns:
        df = df.assign(source_file="DataFrame", source_row=np.arange(1, len(df) + 1))
    return df


def compute_effects(evidence: Evidence | pd.DataFrame, measure: str = "ROM", *,
                    item_correlation: float = 0.0) -> pd.DataFrame:
    """The effect table: one oriented effect size per row of the evidence.

    Parameters
    ----------
    evidence : Evidence or DataFrame
        Validated rows (:func:`metaquant.evidence.io.load`); a DataFrame without a
        ``form`` column is validated first (:func:`metaquant.evidence.io.validate`).
    measure : {"ROM", "SMD", "MD", "PLO", "PAS", "PR"}
        Effect-size measure for measurement rows.  Summary rows support ROM
        only; effect rows are taken as given.  The proportion measures apply
        to the rows of :data:`PROPORTION_PROPERTIES` (the other properties
        keep ROM) and take their variance from ``n_eval``.
    item_correlation : float
        Correlation of the two models' item-level scores, for the binomial
        variances from ``n_eval`` (:func:`paired_variance`); 0 takes the items
        of the two evaluations as independent, which overstates the variance
        of the difference when both models were scored on the same items.

    Returns
    -------
    pandas.DataFrame
        Columns ``EFFECT_COLUMNS``; ``pct`` is the relative improvement in %
        (as reported for summary rows; from the means for measurement rows;
        ``pct_from_log(yi)`` for effect rows).

    Raises
    ------
    DataError
        The first row whose effect cannot be computed or leaves the safe
        range (NaN or infinite ``yi``, ``vi`` not positive or outside
        [MIN_VI, MAX_VI], |yi| too large), naming file, row and column.
    UsageError
        ``evidence`` is not a table, is empty or lacks columns; ``measure`` is not a string.
    """
    measure = _measure_arg(measure)
    paired_variance(0.0, 0.0, item_correlation)  # a correlation in [-1, 1], or a UsageError naming it
    return _effect_table(_evidence_frame(evidence), measure, Problems(), item_correlation)


def check(source, *, measure: str = "ROM", limit: int = MAX_REPORTED) -> tuple[Problems, pd.DataFrame | None]:
    """Every problem of an evidence source, from reading to effect sizes (``metaquant data validate``).

    Confounded rows are kept (they are valid rows; :func:`metaquant.evidence.io.load`
    leaves them out by default).

    Parameters
    ----------
    source : str, path or list
        As for :func:`metaquant.evidence.io.load`.
    measure : {"ROM", "SMD", "MD"}
    limit : int
        How many problems to list (all are counted).

    Returns
    -------
    (Problems, DataFrame or None)
        The problems (empty when the source is fine) and the effect table
        (None when there was any problem).
    """
    measure = _measure_arg(measure)
    problems = Problems(collect=True, limit=limit)
    ev = load(source, include_confounded=True, problems=problems)
    if ev is None or len(ev) == 0:
        return problems, None
    tab = _effect_table(ev.data, measure, problems)
    return problems, (None if problems else tab)


def for_property(table: pd.DataFrame, prop: str) -> pd.DataFrame:
    """Rows of one property (accepts aliases); a clear error when there are none."""
    name = schema.get_property(prop).name
    sub = table[table["property"] == name].reset_index(drop=True)
    if sub.empty:
        have = ", ".join(sorted(table["property"].unique()))
        raise InputError(f"no rows for property {name!r}", expected=f"one of: {have}")
    return sub


def _isnum(v) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


#: Characters that make a moderator a formula (``log2(bits)*technique``) rather than a column name.
_FORMULA_CHARS = set("*+()~^-/ ")


def is_formula(spec: str) -> bool:
    """Whether a moderator is a formula: operators, function calls, or ``a:b`` (an interaction, not ``:cat``)."""
    spec = str(spec)
    if any(c in _FORMULA_CHARS for c in spec.strip()):
        return True
    col, sep, how = spec.partition(":")
    return bool(sep) and how != "cat"


def _formula_term(spec: str) -> str:
    """One moderator written as a formula term (the simple codings of :func:`moderator_matrix`)."""
    if is_formula(spec):
        return spec
    col, _, how = spec.partition(":")
    if how == "cat":
        return f"C({col})"
    return f"log2({col})" if col in ("bits", "act_bits", "kv_bits") else col


def _formula_name(name: str) -> str:
    """formulaic's column names in this package's style: ``technique[T.gptq]`` -> ``technique[gptq]``."""
    import re

    name = re.sub(r"C\((\w+)\)\[T\.([^\]]+)\]", r"\1[\2]", name)
    name = re.sub(r"\[T\.([^\]]+)\]", r"[\1]", name)
    return re.sub(r"\[(-?\d+)\.0\]", r"[\1]", name)


def _formula_matrix(table: pd.DataFrame, moderators) -> tuple[np.ndarray, list[str]]:
    """The design of moderators given as a formula, built by formulaic as statsmodels and bambi users write it.

    Every term is one of this package's simple codings or a formula (``log2(bits)*technique``,
    ``technique + log10(params)``); the intercept is dropped (the engines add their own).
    """
    import formulaic

    rhs = " + ".join(_formula_term(m) for m in moderators)
    try:
        needed = formulaic.Formula(rhs).required_variables
    except Exception as exc:  # formulaic's parser raises several types
        raise InputError(f"cannot read the moderator formula {rhs!r}: {exc}",
                         expected="e.g. 'log2(bits)*technique' or 'bits + technique'") from None
    context = {"log2": np.log2, "log10": np.log10, "log": np.log, "exp": np.exp, "sqrt": np.sqrt}
    unknown = sorted(v for v in needed if v not in table.columns and v not in context)
    if unknown:
        raise InputError(f"unknown moderator column {unknown[0]!r} in {rhs!r}",
                         expected="columns of the data, e.g. bits, act_bits, technique, hardware, granularity")
    cols = sorted(v for v in needed if v in table.columns)
    missing = table[cols].isna().any(axis=1)
    if missing.any():
        r = table[missing].iloc[0]
        col = next(c for c in cols if pd.isna(r[c]))
        raise InputError(f"moderator {col!r} is missing", path=r.get("source_file"),
                         row=None if pd.isna(r.get("source_row")) else int(r["source_row"]), column=col,
                         expected="a value in every pooled row")
    try:
        mm = formulaic.model_matrix(rhs, table[cols], context=context, na_action="raise")
    except Exception as exc:  # an evaluation error names the term; say it in one line
        raise InputError(f"cannot build the moderator formula {rhs!r}: {exc}") from None
    mm = mm.drop(columns=[c for c in mm.columns if c == "Intercept"])
    X = np.asarray(mm, dtype=float)
    if not np.isfinite(X).all():
        raise InputError(f"the moderator formula {rhs!r} gives non-finite values (a log of 0 or a negative?)")
    return X, [_formula_name(str(c)) for c in mm.columns]


def moderator_columns(spec: str) -> list[str]:
    """The data columns one moderator (a column, ``COL:cat`` or a formula) reads."""
    if not is_formula(spec):
        return [str(spec).partition(":")[0]]
    import formulaic

    try:
        return sorted(formulaic.Formula(_formula_term(spec)).required_variables
                      - {"log2", "log10", "log", "exp", "sqrt"})
    except Exception as exc:  # formulaic's parser raises several types
        raise InputError(f"cannot read the moderator formula {spec!r}: {exc}") from None


def moderator_levels(table: pd.DataFrame, spec: str) -> tuple[pd.DataFrame, list]:
    """One row per observed level (or combination of levels) of a moderator, and a name for each.

    The rows are ordered from the largest value down (bits 16, 8, 4, ...); the
    names are the level itself for one column, ``"bits=4, technique=gptq"``
    for several.  With :func:`moderator_matrix` they give the design at which
    an engine reads "the effect at each level".
    """
    cols = moderator_columns(spec)
    unknown = [c for c in cols if c not in table.columns]
    if unknown:
        raise InputError(f"unknown moderator column {unknown[0]!r}")
    levels = table.drop_duplicates(cols).sort_values(cols, ascending=False).reset_index(drop=True)

    def name(row):
        vals = [row[c].item() if hasattr(row[c], "item") else row[c] for c in cols]
        if len(cols) == 1:
            return vals[0]
        return ", ".join(f"{c}={v:g}" if isinstance(v, float) else f"{c}={v}" for c, v in zip(cols, vals, strict=True))

    return levels, [name(r) for _, r in levels.iterrows()]


def level_count(table: pd.DataFrame, spec: str, level_row: pd.Series) -> int:
    """Rows of ``table`` at the level (combination) of ``level_row``."""
    cols = moderator_columns(spec)
    return int((table[cols] == level_row[cols]).all(axis=1).sum())


def check_levels(table: pd.DataFrame, moderators, names: list[str]) -> None:
    """Refuse a moderator that takes one level in the pooled rows (its design column vanished).

    ``names`` are the columns :func:`moderator_matrix` gave; formulas are checked by the engines.
    """
    for spec in moderators:
        if is_formula(str(spec)):
            continue
        base = str(spec).partition(":")[0]
        if not any(n == base or n == f"log2({base})" or n.startswith(f"{base}[") for n in names):
            level = table[base].iloc[0] if base in table.columns and len(table) else None
            where = (" + ".join(dict.fromkeys(table["source_file"].dropna().astype(str)))
                     if "source_file" in table.columns else None) or None
            prop = f" of {table['property'].iloc[0]!r}" if "property" in table.columns and len(table) else ""
            raise InputError(
                f"moderator {base!r} has one level ({level!r}) in the {len(table)} pooled rows{prop}, so its "
                "effect cannot be estimated",
                path=where, column=base,
                expected="a moderator with at least two levels among the pooled rows (or drop --moderator)",
            )  # fmt: skip


def moderator_matrix(table: pd.DataFrame, moderators) -> tuple[np.ndarray, list[str]]:
    """Design columns (without intercept) for moderators, as metafor's ``mods=``.

    Numeric ``bits``/``act_bits`` enter as ``log2(bits)`` (each halving of the
    bit-width is one unit); other numeric columns enter as they are; text
    columns, and any column written ``COL:cat`` (e.g. ``bits:cat``), are
    treatment-coded with the first level (sorted, numerically where possible)
    as reference.  A moderator written as a formula (``log2(bits)*technique``,
    ``bits:technique``, ``log10(params) + technique``) is built by formulaic
    (:func:`is_formula`), with the simple codings above for the other terms.
    A moderator with a missing value in a pooled row is a clear error.
    """
    moderators = [moderators] if isinstance(moderators, str) else list(moderators or [])
    if any(is_formula(m) for m in moderators):
        return _formula_matrix(table, moderators)
    cols, names = [], []
    for spec in moderators or []:
        mod, _, how = str(spec).partition(":")
        if how not in ("", "cat"):
            raise InputError(f"unknown moderator coding {spec!r}", expected="COL or COL:cat (categorical)")
        if mod not in table.columns:
            raise InputError(
                f"unknown moderator column {mod!r}",
                expected="a column of the data, e.g. bits, act_bits, technique, hardware, granularity",
            )
        s = table[mod]
        missing = s.isna()
        if missing.any():
            r = table[missing].iloc[0]
            raise InputError(
                f"moderator {mod!r} is missing",
                path=r["source_file"],
                row=int(r["source_row"]),
                column=mod,
                expected="a value in every pooled row",
            )
        if pd.api.types.is_numeric_dtype(s) and how != "cat":
            x = s.to_numpy(dtype=float)
            if mod in ("bits", "act_bits"):
                cols.append(np.log2(x))
                names.append(f"log2({mod})")
            else:
                cols.append(x)
                names.append(mod)
        else:
            lab = s.map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
            levels = sorted(lab.unique(), key=lambda v: (float(v), v) if _isnum(v) else (np.inf, v))
            for lev in levels[1:]:
                cols.append((lab == lev).to_numpy(dtype=float))
                names.append(f"{mod}[{lev}]")
    if not cols:
        return np.empty((len(table), 0)), []
    return np.column_stack(cols), names
