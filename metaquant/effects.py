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

Summary-form rows (``improvement_pct`` = mean relative improvement RI in %,
``improvement_sd`` its sd over ``n_units`` units) convert to the log ratio as
yi = ln(1 + RI/100) (higher is better) or -ln(1 - RI/100) (lower is better),
with the delta-method variance vi = (sd / (100 ± RI))² / n_units.

A row whose sampling variance cannot be computed (a single observation, no
spread, or a spread of exactly zero) is kept with ``vi = NaN`` and
``vi_known = False`` and a reason in ``vi_note``.  What each engine does with
such rows is documented in ``docs/methods/``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from . import schema
from .errors import InputError
from .io import Evidence

MEASURES = ("ROM", "SMD", "MD")

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


def pct_from_log(y, higher_is_better: bool):
    """Relative improvement in % (+ = better) from an oriented log ratio.

    ``100 (e^y - 1)`` for higher-is-better properties, ``100 (1 - e^-y)`` for
    lower-is-better ones (where RI = (b - q)/b and y = ln(b/q)).
    """
    y = np.asarray(y, dtype=float)
    out = 100.0 * np.expm1(y) if higher_is_better else -100.0 * np.expm1(-y)
    return out if out.ndim else float(out)


def log_from_pct(pct, higher_is_better: bool):
    """Oriented log ratio from a relative improvement in % (inverse of :func:`pct_from_log`)."""
    p = np.asarray(pct, dtype=float) / 100.0
    out = np.log1p(p) if higher_is_better else -np.log1p(-p)
    return out if out.ndim else float(out)


def dlog_dpct(pct, higher_is_better: bool):
    """Derivative of the oriented log ratio with respect to RI (per percent)."""
    p = np.asarray(pct, dtype=float)
    return 1.0 / (100.0 + p) if higher_is_better else 1.0 / (100.0 - p)


def hedges_j(m):
    """Exact bias-correction factor of Hedges' g (metafor ``.cmicalc``)."""
    m = np.asarray(m, dtype=float)
    return np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))


def _comparison_ids(df: pd.DataFrame) -> list[str]:
    ids = []
    for i, r in enumerate(df.to_dict("records")):
        if r.get("comparison"):
            ids.append(f"{r['study']}|{r['comparison']}")
        elif r.get("quant_precision"):
            ids.append(f"{r['study']}|{r['quant_precision']}")
        else:
            ids.append(f"{r['study']}|row{r.get('source_row', i + 1)}")
    return ids


def _err(row, col, msg, expected=None):
    return InputError(msg, path=row["source_file"], row=int(row["source_row"]), column=col, expected=expected)


def _measurement_effect(r: dict, measure: str, hib: bool) -> tuple[float, float, str | None, float]:
    b, q = r["baseline_mean"], r["quant_mean"]
    sb, sq = r.get("baseline_sd", np.nan), r.get("quant_sd", np.nan)
    nb, nq = r.get("baseline_n", np.nan), r.get("quant_n", np.nan)
    # group 1 = quantized, group 2 = baseline for higher-is-better; swapped otherwise
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.float64(100.0) * (q - b) / b if hib else np.float64(100.0) * (b - q) / b
    spread_known = not (np.isnan(sb) or np.isnan(sq) or np.isnan(nb) or np.isnan(nq))
    note = None
    if measure == "ROM":
        if b <= 0:
            raise _err(
                r,
                "baseline_mean",
                f"baseline {b:g} is not positive, so a ratio is undefined",
                "a positive baseline for the log response ratio (or use --measure MD)",
            )
        if q <= 0:
            raise _err(
                r,
                "quant_mean",
                f"value {q:g} is not positive, so a ratio is undefined",
                "a positive value for the log response ratio (or use --measure MD)",
            )
        yi = np.log(q / b) if hib else np.log(b / q)
        if spread_known:
            vi = sq**2 / (nq * q**2) + sb**2 / (nb * b**2)
        else:
            vi, note = np.nan, "no spread (sd and n) reported"
    else:
        m1, m2, s1, s2, n1, n2 = (q, b, sq, sb, nq, nb) if hib else (b, q, sb, sq, nb, nq)
        if not spread_known:
            raise _err(
                r,
                "baseline_sd" if np.isnan(sb) else "quant_sd",
                "a spread is needed for " + measure,
                "sd and n on both arms (or use the log response ratio)",
            )
        if measure == "MD":
            yi, vi = m1 - m2, s1**2 / n1 + s2**2 / n2
        else:  # SMD
            if n1 + n2 - 2 < 1 or min(n1, n2) < 2:
                raise _err(
                    r,
                    "baseline_n" if nb < 2 else "quant_n",
                    "a study with one run cannot give a standardised mean difference",
                    "n >= 2 on both arms",
                )
            sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
            if sp == 0:
                raise _err(r, "baseline_sd", "pooled sd is zero, so the SMD is undefined", "a positive spread")
            yi = float(hedges_j(n1 + n2 - 2)) * (m1 - m2) / sp
            vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    if not np.isnan(vi) and vi == 0:
        vi, note = np.nan, "zero spread: sampling variance is 0"
    return float(yi), float(vi), note, float(pct)


def _summary_effect(r: dict, measure: str, hib: bool) -> tuple[float, float, str | None, float]:
    pct = r["improvement_pct"]
    if measure != "ROM":
        raise _err(
            r,
            "improvement_pct",
            f"summary-form rows support only the log response ratio, not {measure}",
            "--measure ROM",
        )
    if (hib and pct <= -100) or (not hib and pct >= 100):
        raise _err(
            r,
            "improvement_pct",
            f"relative improvement {pct:g}% implies a quantized value <= 0",
            "a value above -100 (higher is better) or below 100 (lower is better)",
        )
    yi = float(log_from_pct(pct, hib))
    sd, n = r.get("improvement_sd", np.nan), r.get("n_units", np.nan)
    if np.isnan(sd) or np.isnan(n) or n < 2:
        return yi, np.nan, "single observation: no spread" if (np.isnan(n) or n < 2) else "no spread reported", pct
    if sd == 0:
        return yi, np.nan, "zero spread: sampling variance is 0", pct
    return yi, float((sd * dlog_dpct(pct, hib)) ** 2 / n), None, pct


def compute_effects(evidence: Evidence | pd.DataFrame, measure: str = "ROM") -> pd.DataFrame:
    """The effect table: one oriented effect size per row of the evidence.

    Parameters
    ----------
    evidence : Evidence or DataFrame
        Validated rows (:func:`metaquant.io.load`).
    measure : {"ROM", "SMD", "MD"}
        Effect-size measure for measurement rows.  Summary rows support ROM
        only; effect rows are taken as given.

    Returns
    -------
    pandas.DataFrame
        Columns ``EFFECT_COLUMNS``; ``pct`` is the relative improvement in %
        (as reported for summary rows; from the means for measurement rows;
        ``pct_from_log(yi)`` for effect rows).
    """
    measure = measure.upper()
    if measure not in MEASURES:
        raise InputError(f"unknown effect-size measure {measure!r}", expected=" or ".join(MEASURES))
    df = evidence.data if isinstance(evidence, Evidence) else evidence
    rows = []
    for r in df.to_dict("records"):
        prop = schema.get_property(r["property"])
        hib = prop.higher_is_better
        form = r["form"]
        pct_sd = pct_iqr = n_units = np.nan
        if form == "effects":
            yi, vi, note, pct = float(r["yi"]), float(r["vi"]), None, float(pct_from_log(r["yi"], hib))
        elif form == "measurements":
            yi, vi, note, pct = _measurement_effect(r, measure, hib)
            n_units = r.get("quant_n", np.nan)
        else:
            yi, vi, note, pct = _summary_effect(r, measure, hib)
            pct_sd, pct_iqr, n_units = (
                r.get("improvement_sd", np.nan),
                r.get("improvement_iqr", np.nan),
                r.get("n_units", np.nan),
            )
        out = {
            "study": r["study"],
            "property": prop.name,
            "metric_class": prop.metric_class,
            "higher_is_better": hib,
            "form": form,
            "measure": measure if form != "effects" else "given",
            "yi": yi,
            "vi": vi,
            "vi_known": bool(np.isfinite(vi)),
            "vi_note": note,
            "pct": pct,
            "pct_sd": pct_sd,
            "pct_iqr": pct_iqr,
            "n_units": n_units,
            "confounded": bool(r.get("confounded") or False),
            "source_file": r["source_file"],
            "source_row": int(r["source_row"]),
        }
        for c in CARRIED:
            out[c] = r.get(c, np.nan if c in ("bits", "act_bits", "study_belief") else None)
        rows.append(out)
    tab = pd.DataFrame(rows)
    tab.insert(1, "comparison", _comparison_ids(df))
    for c in ("bits", "act_bits", "study_belief", "pct_sd", "pct_iqr", "n_units"):
        tab[c] = pd.to_numeric(tab[c], errors="coerce").astype(float)
    return tab[list(EFFECT_COLUMNS)]


def for_property(table: pd.DataFrame, prop: str) -> pd.DataFrame:
    """Rows of one property (accepts aliases); a clear error when there are none."""
    name = schema.get_property(prop).name
    sub = table[table["property"] == name].reset_index(drop=True)
    if sub.empty:
        have = ", ".join(sorted(table["property"].unique()))
        raise InputError(f"no rows for property {name!r}", expected=f"one of: {have}")
    return sub


MISSING_VI_POLICIES = ("refuse", "drop", "impute-max", "impute-median")


def handle_unknown_vi(table: pd.DataFrame, policy: str = "refuse", *, engine: str = "this estimator"):
    """Apply a stated policy to rows whose sampling variance is unknown.

    Classical estimators need every ``vi``; this makes the choice explicit.

    Parameters
    ----------
    table : DataFrame
        One property's effect table.
    policy : {"refuse", "drop", "impute-max", "impute-median"}
        ``refuse`` raises a clear error naming the rows; ``drop`` pools only
        rows with a known variance; ``impute-max``/``impute-median`` give the
        unknown rows the largest / median known ``vi`` of the property.
    engine : str
        Name used in the message.

    Returns
    -------
    (DataFrame, str or None)
        The table to pool and a note describing what was done (None if nothing).
    """
    if policy not in MISSING_VI_POLICIES:
        raise InputError(f"unknown policy for missing variances {policy!r}", expected=" | ".join(MISSING_VI_POLICIES))
    unknown = ~table["vi_known"].astype(bool)
    n_unknown = int(unknown.sum())
    if n_unknown == 0:
        return table, None
    studies = ", ".join(sorted(table.loc[unknown, "study"].astype(str).unique()))
    known = table.loc[~unknown, "vi"]
    if policy == "refuse":
        first = table[unknown].iloc[0]
        raise InputError(
            f"{n_unknown} of {len(table)} rows of {first['property']!r} have no sampling variance "
            f"(studies {studies}: {first['vi_note']}); {engine} needs one",
            path=first["source_file"],
            row=int(first["source_row"]),
            column="vi",
            expected="--missing-vi drop|impute-max|impute-median, or --method bayes, which models unknown variances",
        )
    if policy == "drop":
        out = table[~unknown].reset_index(drop=True)
        if out.empty:
            raise InputError(
                f"no row of {table['property'].iloc[0]!r} has a known sampling variance",
                expected="--method bayes, which models unknown variances",
            )
        return out, f"dropped {n_unknown} rows without a sampling variance (studies {studies})"
    if known.empty:
        raise InputError(
            f"no row of {table['property'].iloc[0]!r} has a known sampling variance to impute from",
            expected="--method bayes, which models unknown variances",
        )
    value = float(known.max() if policy == "impute-max" else known.median())
    out = table.copy()
    out.loc[unknown, "vi"] = value
    out.loc[unknown, "vi_note"] = f"imputed ({policy})"
    return (
        out,
        f"imputed vi = {value:.6g} ({policy}) for {n_unknown} rows without a sampling variance (studies {studies})",
    )


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
