"""Reading and validating evidence files; the registry of shipped datasets.

Three input forms share one file format (CSV or Parquet), told apart per row:

* *measurements*: ``baseline_mean``/``quant_mean`` (with optional sd and n);
* *summary*: ``improvement_pct`` (mean relative improvement, + = better) with
  optional ``improvement_sd``, ``improvement_iqr`` and ``n_units``;
* *effects*: ``yi``/``vi`` as metafor names them, taken as given.

Every problem is reported as an :class:`~metaquant.errors.InputError` naming
the file, the row and the column.  See ``docs/data-format.md``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from .errors import InputError

#: User moderator columns may be added with this prefix (e.g. ``x_batch``).
USER_COLUMN_PREFIX = "x_"

NUMERIC_COLUMNS = (
    schema.NUMERIC_MODERATORS
    + schema.MEASUREMENT_VALUE_COLUMNS
    + schema.SUMMARY_VALUE_COLUMNS
    + schema.EFFECT_VALUE_COLUMNS
    + ("study_belief", "n_runs")
)
BOOL_COLUMNS = ("higher_is_better", "confounded")


# --------------------------------------------------------------------------
# Shipped datasets
# --------------------------------------------------------------------------


def _data_root():
    """Folder of the shipped datasets (installed as ``metaquant._data``)."""
    try:
        return resources.files("metaquant._data")
    except ModuleNotFoundError:  # running from a source tree without install
        return Path(__file__).resolve().parent.parent / "data"


def dataset_registry() -> dict[str, dict]:
    """Name -> metadata of every shipped dataset (from ``data/datasets.json``)."""
    with (_data_root() / "datasets.json").open("r", encoding="utf-8") as fh:
        return json.load(fh)


def dataset_path(name: str) -> Path:
    """Path of a shipped dataset's file."""
    reg = dataset_registry()
    if name not in reg:
        hint = difflib.get_close_matches(name, list(reg), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise InputError(f"no shipped dataset named {name!r}{extra}", expected="one of " + ", ".join(sorted(reg)))
    return Path(str(_data_root() / reg[name]["file"]))


# --------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------


@dataclass
class Evidence:
    """A validated table of evidence rows.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per comparison; numeric columns as float, the row's form in
        ``form`` and its origin in ``source_file``/``source_row``.
    sources : list of str
        The files or dataset names it was read from.
    """

    data: pd.DataFrame
    sources: list[str] = field(default_factory=list)

    @property
    def properties(self) -> list[str]:
        return sorted(self.data["property"].unique())

    def __len__(self) -> int:
        return len(self.data)


def _read_table(path: Path, label: str) -> pd.DataFrame:
    if not path.exists():
        raise InputError("file not found", path=label)
    if path.is_dir():
        raise InputError("is a folder, not a data file", path=label)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", path=label, expected="a header line and at least one row")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types
            raise InputError(f"cannot read as Parquet ({exc.__class__.__name__})", path=label) from None
    head = path.read_bytes()[:8192]
    if b"\x00" in head:
        raise InputError("looks like a binary file, not CSV text", path=label, expected="a UTF-8 CSV file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a multibyte char cut at the 8 KiB edge
            raise InputError("is not UTF-8 text", path=label, expected="a UTF-8 CSV file") from None
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, comment=None)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", path=label, expected="a header line and at least one row") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"malformed CSV ({str(exc).strip()})", path=label) from None
    return df


def _blank(v) -> bool:
    return (
        v is None
        or (isinstance(v, float) and np.isnan(v))
        or (isinstance(v, str) and v.strip() in ("", "NA", "nan", "NaN"))
    )


def _to_float(df: pd.DataFrame, col: str, label: str) -> pd.Series:
    out = np.full(len(df), np.nan)
    for i, v in enumerate(df[col].tolist()):
        if _blank(v):
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise InputError(
                f"{v!r} is not a number", path=label, row=i + 1, column=col, expected="a numeric value"
            ) from None
        if not np.isfinite(out[i]):
            raise InputError(f"{v!r} is not a finite number", path=label, row=i + 1, column=col)
    return pd.Series(out, index=df.index)


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _to_bool(df: pd.DataFrame, col: str, label: str) -> pd.Series:
    out = []
    for i, v in enumerate(df[col].tolist()):
        if _blank(v):
            out.append(None)
            continue
        if isinstance(v, bool | np.bool_):
            out.append(bool(v))
            continue
        s = str(v).strip().lower()
        if s in _TRUE:
            out.append(True)
        elif s in _FALSE:
            out.append(False)
        else:
            raise InputError(f"{v!r} is not true/false", path=label, row=i + 1, column=col, expected="true or false")
    return pd.Series(out, index=df.index, dtype=object)


def validate(df: pd.DataFrame, label: str) -> pd.DataFrame:
    """Validate a raw table and return it with typed columns.

    Raises
    ------
    InputError
        The first problem found, naming file, row and column.
    """
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise InputError("has a header but no data rows", path=label, expected="at least one row")
    # --- columns -----------------------------------------------------------
    for c in df.columns:
        if c in schema.KNOWN_COLUMNS or c.startswith(USER_COLUMN_PREFIX):
            continue
        hint = difflib.get_close_matches(c, sorted(schema.KNOWN_COLUMNS), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise InputError(
            f"unknown column{extra}",
            path=label,
            column=c,
            expected=f"a documented column (docs/data-format.md) or a user column named '{USER_COLUMN_PREFIX}...'",
        )
    has_meas = {"baseline_mean", "quant_mean"} & set(df.columns)
    has_sum = "improvement_pct" in df.columns
    has_eff = {"yi", "vi"} & set(df.columns)
    if has_eff and (has_meas or has_sum):
        raise InputError(
            "mixes effect-size columns (yi, vi) with raw measurements",
            path=label,
            expected="either an effects file or a measurements/summary file",
        )
    forms = []
    if has_eff:
        forms.append("effects")
    if has_meas:
        forms.append("measurements")
    if has_sum:
        forms.append("summary")
    if not forms:
        raise InputError(
            "no value columns", path=label, expected="baseline_mean and quant_mean, or improvement_pct, or yi and vi"
        )
    for form in forms:
        for c in schema.REQUIRED[form]:
            if c not in df.columns:
                raise InputError("required column is missing", path=label, column=c)
    # --- types -------------------------------------------------------------
    for c in NUMERIC_COLUMNS:
        if c in df.columns:
            df[c] = _to_float(df, c, label)
    for c in BOOL_COLUMNS:
        if c in df.columns:
            df[c] = _to_bool(df, c, label)
    for c in df.columns:
        if c not in NUMERIC_COLUMNS and c not in BOOL_COLUMNS and not c.startswith(USER_COLUMN_PREFIX):
            df[c] = [None if _blank(v) else str(v).strip() for v in df[c].tolist()]
    # --- rows --------------------------------------------------------------
    form_of_row = []
    props = []
    for i, row in enumerate(df.to_dict("records")):
        r = i + 1
        for c in ("study", "property"):
            if row.get(c) is None:
                raise InputError("missing value", path=label, row=r, column=c)
        try:
            prop = schema.get_property(row["property"])
        except schema.UnknownPropertyError as exc:
            raise InputError(exc.message, path=label, row=r, column="property", expected=exc.expected) from None
        props.append(prop.name)
        hib = row.get("higher_is_better")
        if hib is not None and bool(hib) != prop.higher_is_better:
            raise InputError(
                f"higher_is_better={hib} contradicts the registry for {prop.name!r}",
                path=label,
                row=r,
                column="higher_is_better",
                expected=str(prop.higher_is_better).lower(),
            )
        if "effects" in forms:
            form = "effects"
            for c in ("yi", "vi"):
                if np.isnan(row[c]):
                    raise InputError("missing value", path=label, row=r, column=c)
            if row["vi"] <= 0:
                raise InputError(
                    f"sampling variance {row['vi']:g} is not positive",
                    path=label,
                    row=r,
                    column="vi",
                    expected="vi > 0",
                )
        elif "measurements" in forms and not np.isnan(row.get("baseline_mean", np.nan)):
            form = "measurements"
            if np.isnan(row.get("quant_mean", np.nan)):
                raise InputError("missing value", path=label, row=r, column="quant_mean")
            for side in ("baseline", "quant"):
                sd, n = row.get(f"{side}_sd", np.nan), row.get(f"{side}_n", np.nan)
                if not np.isnan(sd) and sd < 0:
                    raise InputError(
                        f"standard deviation {sd:g} is negative",
                        path=label,
                        row=r,
                        column=f"{side}_sd",
                        expected="sd >= 0",
                    )
                if not np.isnan(n) and (n < 1 or n != int(n)):
                    raise InputError(
                        f"run count {n:g} is not a whole number >= 1",
                        path=label,
                        row=r,
                        column=f"{side}_n",
                        expected="n >= 1",
                    )
                if not np.isnan(sd) and np.isnan(n):
                    raise InputError(
                        "a spread is given without its run count",
                        path=label,
                        row=r,
                        column=f"{side}_n",
                        expected="the number of runs behind the sd",
                    )
                if not np.isnan(sd) and n == 1 and sd > 0:
                    raise InputError(
                        "a spread from a single run is impossible",
                        path=label,
                        row=r,
                        column=f"{side}_sd",
                        expected="an empty sd for one run, or n >= 2",
                    )
        elif has_sum and not np.isnan(row.get("improvement_pct", np.nan)):
            form = "summary"
            sd, n = row.get("improvement_sd", np.nan), row.get("n_units", np.nan)
            if not np.isnan(sd) and sd < 0:
                raise InputError(
                    f"standard deviation {sd:g} is negative",
                    path=label,
                    row=r,
                    column="improvement_sd",
                    expected="sd >= 0",
                )
            iqr = row.get("improvement_iqr", np.nan)
            if not np.isnan(iqr) and iqr < 0:
                raise InputError(
                    f"IQR {iqr:g} is negative", path=label, row=r, column="improvement_iqr", expected="IQR >= 0"
                )
            if not np.isnan(n) and (n < 1 or n != int(n)):
                raise InputError(
                    f"unit count {n:g} is not a whole number >= 1",
                    path=label,
                    row=r,
                    column="n_units",
                    expected="n >= 1",
                )
        else:
            col = "baseline_mean" if has_meas else "improvement_pct"
            raise InputError("missing value", path=label, row=r, column=col)
        form_of_row.append(form)
        b = row.get("study_belief", np.nan)
        if b is not None and not np.isnan(b) and not 0 <= b <= 1:
            raise InputError(f"study belief {b:g} is outside [0, 1]", path=label, row=r, column="study_belief")
        bits = row.get("bits", np.nan)
        if not np.isnan(bits) and bits <= 0:
            raise InputError(f"bit-width {bits:g} is not positive", path=label, row=r, column="bits")
    df["property"] = props
    df["form"] = form_of_row
    df["source_file"] = label
    df["source_row"] = np.arange(1, len(df) + 1)
    # --- duplicates ---------------------------------------------------------
    content = [c for c in df.columns if c not in ("source_row", "notes", "provenance", "source")]
    dup = df.duplicated(subset=content, keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = df[content].iloc[:i].apply(tuple, axis=1).tolist().index(tuple(df[content].iloc[i]))
        raise InputError(f"duplicates row {first + 1}", path=label, row=i + 1, expected="each comparison once")
    return df.reset_index(drop=True)


def read(path: str | Path, *, label: str | None = None) -> pd.DataFrame:
    """Read and validate one file (CSV or Parquet)."""
    p = Path(path)
    lab = label or str(path)
    return validate(_read_table(p, lab), lab)


def load(source: str | Path | list | tuple = "ssm2025", *, include_confounded: bool = False) -> Evidence:
    """Load evidence from a shipped dataset name, a file, or a list of them.

    Parameters
    ----------
    source : str, path or list
        ``"ssm2025"``, ``"benchmarks"`` (see :func:`dataset_registry`) or a
        CSV/Parquet path; a list concatenates (files from several machines
        form one study set).
    include_confounded : bool
        Keep rows flagged ``confounded`` (e.g. a change of inference engine
        together with the precision); dropped by default.
    """
    items = list(source) if isinstance(source, list | tuple) else [source]
    frames, names = [], []
    for item in items:
        s = str(item)
        if not Path(s).is_file() and s in dataset_registry():
            frames.append(read(dataset_path(s), label=s))
        elif not Path(s).exists() and "/" not in s and "." not in s:
            dataset_path(s)  # raises a clear "no shipped dataset" error
        else:
            frames.append(read(Path(s)))
        names.append(s)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1 and len(set(df["form"]) & {"effects"}) and len(set(df["form"])) > 1:
        raise InputError("cannot combine an effects file with measurement files", path=" + ".join(names))
    if "confounded" in df.columns and not include_confounded:
        df = df[~df["confounded"].fillna(False).astype(bool)].reset_index(drop=True)
    return Evidence(df, names)
