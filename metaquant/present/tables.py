"""Tables for people and for papers: one tidy frame written as text, CSV, Markdown, LaTeX or JSON.

:func:`format_table` writes a tidy :class:`pandas.DataFrame` (one row per
quantity, one column per variable) in the format a ``--format`` option asks
for; :func:`tidy_long` flattens a nested result (``report.json``, any
``to_dict()``) into a long frame of ``path, key, value`` with one row per
number, so that every number goes straight into a paper or a spreadsheet.

The human formats (``table``, ``markdown``, ``latex``) carry column labels
(:data:`LABELS`, or the caller's) and numbers at a sensible precision
(:func:`format_number`); the machine formats (``csv``, ``json``) keep the
column names and every digit.

Markdown and LaTeX are written here rather than by ``DataFrame.to_markdown``
(which needs the optional ``tabulate``) and ``Styler.to_latex`` (which needs
``jinja2``), neither of which the package depends on; both are a few lines.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..outputs import json_safe

#: Formats :func:`format_table` writes.
FORMATS = ("table", "csv", "markdown", "latex", "json")

#: Column labels of the quantities the package's tables carry (a column not listed keeps its name).
LABELS: dict[str, str] = {
    "property": "Property",
    "engine": "Engine",
    "method": "Method",
    "term": "Term",
    "estimate": "Estimate",
    "se": "SE",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "pi_low": "PI low",
    "pi_high": "PI high",
    "pct": "RI %",
    "pct_ci_low": "RI % CI low",
    "pct_ci_high": "RI % CI high",
    "pct_pi_low": "RI % PI low",
    "pct_pi_high": "RI % PI high",
    "k": "k",
    "n_studies": "Studies",
    "tau2": "tau²",
    "tau": "tau",
    "I2": "I² %",
    "H2": "H²",
    "Q": "Q",
    "Q_df": "Q df",
    "Q_p": "Q p",
    "pval": "p",
    "p": "p",
    "zval": "z",
    "tval": "t",
    "df": "df",
    "label_code": "Label",
    "label": "Label",
    "label_probability": "P(label)",
    "belief": "Belief",
    "study": "Study",
    "comparison": "Comparison",
    "bits": "Bits",
    "level": "Level",
    "moderator": "Moderator",
    "note": "Note",
    "notes": "Notes",
    "reason": "Reason",
    "path": "Path",
    "key": "Key",
    "value": "Value",
    "setting": "Setting",
}

#: Columns holding p-values: printed as metafor prints them (``<.0001`` below 1e-4).
P_COLUMNS = frozenset({"p", "pval", "p_value", "Q_p", "QM_p", "QE_p", "slope_p"})

_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    return isinstance(x, float | np.floating) and math.isnan(float(x))


def format_number(x: Any, digits: int = 4) -> str:
    """A number as a reader wants it.

    Integers as integers; other numbers with ``digits`` significant digits
    but never fewer than one decimal above 1 (``-58.22``, ``230826.9``),
    ``digits`` decimals between 0.001 and 1 (``0.4793``), and scientific
    notation with two significant digits below 0.001 (``7.4e-06``, so that a
    small but non-zero variance never prints as ``0.0000``); ``inf`` as
    ``inf``; missing as an empty string.
    """
    if _is_missing(x):
        return ""
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, numbers.Integral):
        return str(int(x))
    if not isinstance(x, numbers.Real):
        return str(x)
    v = float(x)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0.0:
        return "0"
    a = abs(v)
    if a >= 1.0:
        int_digits = int(math.floor(math.log10(a))) + 1
        return f"{v:.{max(digits - int_digits, 1)}f}"
    if a >= 1e-3:
        return f"{v:.{digits}f}"
    return f"{v:.1e}"


def format_p(x: Any) -> str:
    """A p-value as metafor prints it: ``<.0001`` below 1e-4, four decimals otherwise."""
    if _is_missing(x):
        return ""
    v = float(x)
    return "<.0001" if v < 1e-4 else f"{v:.4f}"


def latex_escape(s: str) -> str:
    """``s`` with LaTeX's special characters escaped (``& % $ # _ { } ~ ^ \\``)."""
    return "".join(_LATEX_ESCAPES.get(c, c) for c in str(s))


def _whole(s: pd.Series) -> bool:
    """A float column whose values are all whole numbers (counts that became float through a missing value)."""
    if not pd.api.types.is_float_dtype(s):
        return False
    v = s.dropna().to_numpy(dtype=float)
    return bool(v.size) and bool(np.all(np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 1e15)))


def _formatter(col: str, formats: Mapping[str, str | Callable] | None, digits: int,
               whole: bool = False) -> Callable[[Any], str]:
    f = (formats or {}).get(col)
    if callable(f):
        return lambda x: "" if _is_missing(x) else str(f(x))
    if isinstance(f, str):
        return lambda x: "" if _is_missing(x) else (f.format(x) if "{" in f else format(x, f))
    if col in P_COLUMNS:
        return format_p
    if whole:
        return lambda x: "" if _is_missing(x) else str(int(x))
    return lambda x: format_number(x, digits)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def format_table(
    df: pd.DataFrame,
    fmt: str = "table",
    *,
    labels: Mapping[str, str] | None = None,
    formats: Mapping[str, str | Callable] | None = None,
    digits: int = 4,
    caption: str | None = None,
) -> str:
    """A tidy frame written as ``table``, ``csv``, ``markdown``, ``latex`` or ``json``.

    Parameters
    ----------
    df : DataFrame
        The table, one row per quantity (the index is not written).
    fmt : {"table", "csv", "markdown", "latex", "json"}
        ``table``: aligned plain text for a terminal; ``markdown``: a pipe
        table (numbers right-aligned); ``latex``: a ``booktabs`` tabular
        (text escaped, in a ``table`` float with the caption when given);
        ``csv`` and ``json`` (a list of records): column names and full
        precision, missing as empty / ``null``.
    labels : mapping, optional
        Column labels for the human formats, over :data:`LABELS`.
    formats : mapping, optional
        Per column: a format spec (``".2f"``), a ``str.format`` template or a
        callable; by default :func:`format_p` for p-value columns and
        :func:`format_number` otherwise.
    digits : int
        Significant digits of :func:`format_number`.
    caption : str, optional
        Printed above a ``table``/``markdown`` table, as ``\\caption`` in LaTeX.

    Returns
    -------
    str
        The table, ending in a newline.

    Raises
    ------
    InputError
        For an unknown ``fmt``.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown table format {fmt!r}", expected=" | ".join(FORMATS))
    df = df.reset_index(drop=True)
    if fmt == "csv":
        return df.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        return json.dumps(json_safe(df.to_dict("records")), indent=2) + "\n"
    lab = {**LABELS, **(labels or {})}
    heads = [str(lab.get(str(c), c)) for c in df.columns]
    cells = [[_formatter(str(c), formats, digits, _whole(df[c]))(v) for v in df[c].tolist()] for c in df.columns]
    right = [_numeric(df[c]) for c in df.columns]
    rows = list(zip(*cells, strict=True)) if cells else []
    if fmt == "table":
        widths = [max([len(h), *(len(x) for x in col)]) for h, col in zip(heads, cells, strict=True)]

        def line(vals):
            return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(vals, widths, right, strict=True))

        out = ([caption] if caption else []) + [line(heads).rstrip(), "  ".join("-" * w for w in widths)]
        out += [line(r).rstrip() for r in rows]
        return "\n".join(out) + "\n"
    if fmt == "markdown":

        def md(s):
            return str(s).replace("|", "\\|").replace("\n", " ")

        out = ([caption, ""] if caption else []) + ["| " + " | ".join(md(h) for h in heads) + " |",
                                                     "|" + "|".join("---:" if r else ":---" for r in right) + "|"]
        out += ["| " + " | ".join(md(x) for x in r) + " |" for r in rows]
        return "\n".join(out) + "\n"
    # latex (booktabs)
    spec = "".join("r" if r else "l" for r in right)
    body = [r"\begin{tabular}{" + spec + "}", r"\toprule",
            " & ".join(latex_escape(h) for h in heads) + r" \\", r"\midrule"]
    body += [" & ".join(latex_escape(x) for x in r) + r" \\" for r in rows]
    body += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        body = [r"\begin{table}[htbp]", r"\centering", r"\caption{" + latex_escape(caption) + "}", *body,
                r"\end{table}"]
    return "\n".join(body) + "\n"


def _readable(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} = {_readable(x)}" for k, x in v.items()) or "none"
    if isinstance(v, list | tuple):
        return ", ".join(_readable(x) for x in v) or "none"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return f"{float(v):.6g}"  # a setting as given (0.5, 1000, 1e-12), not rounded to a table's digits
    return str(v)


def settings_frame(settings: Mapping[str, Any], *, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A run's settings as a two-column frame (``setting``, ``value``) a reader can scan.

    Keys become labels (``labels``, or underscores as spaces), values text:
    lists joined by ", ", mappings as ``key = value``, booleans as yes/no,
    ``None`` as "none".  Write it with :func:`format_table`.
    """
    lab = labels or {}
    return pd.DataFrame({"setting": [lab.get(str(k), str(k).replace("_", " ")) for k in settings],
                         "value": [_readable(v) for v in settings.values()]})


def _walk(obj: Any, path: tuple[str, ...], out: list[tuple[str, str, Any]], numbers_only: bool) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _walk(v, (*path, str(k)), out, numbers_only)
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _walk(v, (*path, str(i)), out, numbers_only)
        return
    is_num = isinstance(obj, numbers.Real) and not isinstance(obj, bool)
    if numbers_only and not is_num:
        return
    out.append(("/".join(path[:-1]), path[-1] if path else "", obj))


def tidy_long(obj: Any, *, numbers_only: bool = False) -> pd.DataFrame:
    """Flatten a nested result into a long frame: one row per value.

    A mapping's keys and a list's positions make up the ``path`` to a value
    (joined by ``/``), its last part is the ``key``:
    ``{"accuracy": {"reml": {"tau2": 0.1}}}`` gives the row
    ``("accuracy/reml", "tau2", 0.1)``; ``{"ci": [1, 2]}`` gives
    ``("ci", "0", 1)`` and ``("ci", "1", 2)``.  NaN and infinities become
    missing (as in ``report.json``).

    Parameters
    ----------
    obj : dict, list or scalar
        E.g. ``json.load(open("report.json"))`` or a result's ``to_dict()``.
    numbers_only : bool
        Keep only numeric values (booleans and text are left out).

    Returns
    -------
    DataFrame
        Columns ``path``, ``key``, ``value``, in the order met; write it with
        ``format_table(frame, "csv")``.
    """
    rows: list[tuple[str, str, Any]] = []
    _walk(json_safe(obj), (), rows, numbers_only)
    return pd.DataFrame(rows, columns=["path", "key", "value"])


__all__ = ["FORMATS", "LABELS", "P_COLUMNS", "format_number", "format_p", "format_table", "latex_escape",
           "settings_frame", "tidy_long"]
