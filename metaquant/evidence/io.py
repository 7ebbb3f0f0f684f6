"""Reading and validating evidence files; the registry of shipped datasets.

Three input forms share one file format (CSV or Parquet), told apart per row:

* *measurements*: ``baseline_mean``/``quant_mean`` (with optional sd and n);
* *summary*: ``improvement_pct`` (mean relative improvement, + = better) with
  optional ``improvement_sd``, ``improvement_iqr`` and ``n_units``;
* *effects*: ``yi``/``vi`` as metafor names them, taken as given.

Every problem is reported as an :class:`~metaquant.errors.InputError` naming
the file, the row and the column.  Validation is a short pipeline of stages
(file -> columns -> form -> types -> rows, one validator per form ->
duplicates) whose checks are vectorised over the rows, so that a file of a
million rows stays within a few times its own size in memory.  Each stage
either raises its first problem (:func:`load`, :func:`read`) or collects them
all in a :class:`Problems` (``metaquant data validate``).  The rules and their
messages are listed in ``docs/data-format.md``.
"""

from __future__ import annotations

import csv
import difflib
import io as _io
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputError, UsageError, set_line_map
from . import schema

#: User moderator columns may be added with this prefix (e.g. ``x_batch``).
USER_COLUMN_PREFIX = "x_"

NUMERIC_COLUMNS = (
    schema.NUMERIC_MODERATORS
    + schema.MEASUREMENT_VALUE_COLUMNS
    + schema.SUMMARY_VALUE_COLUMNS
    + schema.EFFECT_VALUE_COLUMNS
    + ("study_belief", "n_runs", "n_eval")
)
BOOL_COLUMNS = ("higher_is_better", "confounded")

#: Columns that :func:`validate` adds; a table that has them is already validated.
BOOKKEEPING_COLUMNS = ("form", "source_file", "source_row")

#: How many problems ``metaquant data validate`` lists per file (the rest are counted).
MAX_REPORTED = 20

_BLANKS = ("", "NA", "nan", "NaN")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def as_bool(value, name: str) -> bool:
    """A boolean argument, parsed strictly.

    ``bool("no")`` is True in Python; a public function taking a flag uses this
    instead, so that ``"no"``, ``"false"`` or ``"0"`` mean False.

    Parameters
    ----------
    value : bool, int 0/1 or str
        ``true/t/yes/y/1`` or ``false/f/no/n/0`` (any case) for strings.
    name : str
        The argument's name, for the message.

    Raises
    ------
    UsageError
        For anything else (None, 2, "maybe", ...).
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        s = value.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise UsageError(f"{value!r} is not true or false", argument=name, expected="True or False")


# --------------------------------------------------------------------------
# Shipped datasets
# --------------------------------------------------------------------------


def _data_root():
    """Folder of the shipped datasets (installed as ``metaquant._data``)."""
    try:
        return resources.files("metaquant._data")
    except ModuleNotFoundError:  # running from a source tree without install
        return Path(__file__).resolve().parents[2] / "data"


def dataset_registry() -> dict[str, dict]:
    """Name -> metadata of every shipped dataset (from ``data/datasets.json``)."""
    with (_data_root() / "datasets.json").open("r", encoding="utf-8") as fh:
        return json.load(fh)


def dataset_path(name: str) -> Path:
    """Path of a shipped dataset's file."""
    if not isinstance(name, str):
        raise UsageError(f"is a {type(name).__name__}", argument="name", expected="a shipped dataset's name")
    reg = dataset_registry()
    if name not in reg:
        hint = difflib.get_close_matches(name, list(reg), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise InputError(f"no shipped dataset named {name!r}{extra}", expected="one of " + ", ".join(sorted(reg)))
    return Path(str(_data_root() / reg[name]["file"]))


# --------------------------------------------------------------------------
# Evidence and problems
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


class Problems:
    """The problems found in a table: only the first (the default) or all of them.

    Checks hand in a boolean mask of failing rows; in *first* mode a stage ends
    by raising its earliest problem (by row), in *collect* mode every problem
    is kept (up to ``limit`` listed, all counted) and validation goes on.

    Parameters
    ----------
    collect : bool
        Keep going after a problem.
    limit : int
        How many problems to list in collect mode (``total`` counts them all).
    """

    def __init__(self, *, collect: bool = False, limit: int = MAX_REPORTED):
        self.collect = collect
        self.limit = max(1, int(limit))
        self._errors: list[InputError] = []
        self.total = 0

    def __bool__(self) -> bool:
        return self.total > 0

    @property
    def errors(self) -> list[InputError]:
        """The listed problems, in file and row order (at most ``limit``)."""
        key = sorted(self._errors, key=lambda e: (e.path or "", -1 if e.row is None else e.row))
        return key[: self.limit]

    def add(self, err: InputError) -> None:
        """Record one problem."""
        self.total += 1
        self._errors.append(err)

    def rows(self, mask, *, path, rows, column, message, expected=None, values=None) -> np.ndarray:
        """Record one problem per failing row; returns the failing-row mask.

        ``path`` is one label or one per row; ``message`` is a string or a
        function of the row's value (``values[i]``).
        """
        mask = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return mask
        self.total += len(idx)
        for i in idx[: self.limit if self.collect else 1]:
            v = None if values is None else values.iloc[i] if isinstance(values, pd.Series) else values[i]
            msg = message(v) if callable(message) else message
            where = path.iloc[i] if isinstance(path, pd.Series) else path
            self._errors.append(DataError(msg, path=where, row=int(rows[i]), column=column, expected=expected))
        return mask

    def checkpoint(self) -> None:
        """End of a stage: in first mode, raise the earliest problem found."""
        if self._errors and not self.collect:
            raise self.errors[0]

    def summary(self) -> str:
        """``N problems`` with ``(first K listed)`` when some are not listed."""
        more = f" (first {len(self.errors)} listed)" if self.total > len(self.errors) else ""
        return f"{self.total} problem{'s' if self.total != 1 else ''}{more}"


# --------------------------------------------------------------------------
# Reading: file -> raw table (text cells for CSV, typed cells for Parquet)
# --------------------------------------------------------------------------


def _check_file(path: Path, label: str) -> None:
    if not path.exists():
        raise InputError("file not found", path=label)
    if path.is_dir():
        raise InputError("is a folder, not a data file", path=label)
    if not os.access(path, os.R_OK):
        raise InputError("cannot be read (permission denied)", path=label, expected="a readable file")
    if path.is_file() and path.stat().st_size == 0:  # a pipe (``<(cat f.csv)``) has no size: read it
        raise InputError("the file is empty", path=label, expected="a header line and at least one row")


def _read_bytes(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError:
        raise InputError("cannot be read (permission denied)", path=label, expected="a readable file") from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc.__class__.__name__})", path=label) from None


def _locate(raw: bytes, pos: int, sep: bytes) -> tuple[int | None, str | None]:
    """(data row, column name) of byte ``pos`` of a CSV file; row None in the header.

    Quoting is ignored (a bad byte inside a quoted field that holds the
    delimiter is attributed to a later column); the row is exact unless
    quoted fields span lines.
    """
    line = raw.count(b"\n", 0, pos) + 1
    start = raw.rfind(b"\n", 0, pos) + 1
    header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    if line == 1:
        return None, None
    names = [h.strip() for h in header.split(sep.decode())]
    k = raw[start:pos].count(sep)
    return line - 1, (names[k] if k < len(names) else None)


def _check_text(raw: bytes, label: str, sep: bytes) -> str:
    """Refuse NUL bytes and non-UTF-8 bytes anywhere in the file; returns the encoding to read with."""
    pos = raw.find(b"\x00")
    if pos >= 0:
        row, col = _locate(raw, pos, sep)
        where = "" if row is not None else " in the header"
        raise InputError(
            f"contains a NUL byte{where} (binary data), not CSV text",
            path=label, row=row, column=col, expected="a UTF-8 CSV text file",
        )  # fmt: skip
    try:
        raw.decode("utf-8")  # the whole file: a bad byte after any prefix is still found
    except UnicodeDecodeError as exc:
        row, col = _locate(raw, exc.start, sep)
        bad = raw[exc.start : exc.start + 1].hex()
        where = "" if row is not None else " in the header"
        raise InputError(
            f"byte 0x{bad}{where} is not UTF-8 text",
            path=label, row=row, column=col, expected="a UTF-8 CSV file (re-save it as UTF-8)",
        ) from None  # fmt: skip
    return "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"


def _sniff_separator(raw: bytes, label: str) -> str:
    """',' or a tab; a semicolon-separated header is refused with a clear hint."""
    first = raw.split(b"\n", 1)[0]
    if b"," in first:
        return ","
    if b"\t" in first:
        return "\t"  # tab-separated text is unambiguous: read it as it is
    if b";" in first:
        raise InputError(
            "this looks semicolon-separated (the header has ';' but no ',')",
            path=label,
            expected="a comma-separated file with '.' as the decimal point (re-save it as CSV)",
        )
    return ","


def _check_names(names: list[str], label: str) -> list[str]:
    """Stripped column names; refuse empty names and names that repeat (after trimming)."""
    out = [str(c).strip() for c in names]
    seen: dict[str, int] = {}
    for k, (c, orig) in enumerate(zip(out, names, strict=True)):
        if c == "":
            raise InputError(
                f"column {k + 1} of the header has no name", path=label, expected="a name for every column"
            )
        if c in seen:
            j = seen[c]
            how = "" if str(names[j]) == str(orig) else f" (as {str(names[j])!r} and {str(orig)!r}, equal once trimmed)"
            raise InputError(
                f"column appears twice, as columns {j + 1} and {k + 1}{how}",
                path=label,
                column=c,
                expected="each column once",
            )
        seen[c] = k
    return out


def _line_breaks(raw: bytes) -> bytes:
    """``raw`` with old-Mac line ends (CR only, no LF anywhere) turned into LF; other files unchanged."""
    if b"\n" not in raw and b"\r" in raw:
        return raw.replace(b"\r", b"\n")
    return raw


def _row_lines(raw: bytes, sep: str, encoding: str) -> np.ndarray | None:
    """The file line where each data row starts, or None when it is ``row + 1`` throughout.

    Rows and lines part ways after a blank line (skipped, as pandas does) or a
    quoted field that holds a line break; only such files are walked row by
    row (the ``csv`` module counts the physical lines).
    """
    if b"\n\n" not in raw and b"\n\r\n" not in raw and b'"' not in raw:
        return None
    reader = csv.reader(_io.TextIOWrapper(_io.BytesIO(raw), encoding=encoding, newline=""), delimiter=sep)
    lines, start = [], 1
    try:
        for k, rec in enumerate(reader):
            if rec and k > 0:
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error:
        return None  # malformed: the field-count check names the row
    lines = np.asarray(lines, dtype=np.int64)
    return None if np.array_equal(lines, np.arange(2, len(lines) + 2)) else lines


def _read_csv(path: Path, label: str) -> pd.DataFrame:
    raw = _line_breaks(_read_bytes(path, label))
    if not raw:
        raise InputError("the file is empty", path=label, expected="a header line and at least one row")
    sep = _sniff_separator(raw, label)
    encoding = _check_text(raw, label, sep.encode())
    try:
        header = next(csv.reader(_io.StringIO(raw.split(b"\n", 1)[0].decode(encoding)), delimiter=sep))
    except (StopIteration, csv.Error):
        raise InputError("the file is empty", path=label, expected="a header line and at least one row") from None
    names = _check_names(header, label)
    set_line_map(label, _row_lines(raw, sep, encoding))
    fast = _read_csv_arrow(raw, sep, encoding, names)
    if fast is not None:
        return fast
    _check_field_counts(raw, sep, encoding, len(names), label)
    try:
        return pd.read_csv(
            _io.BytesIO(raw), sep=sep, encoding=encoding, header=0, names=names, dtype=str,
            keep_default_na=False, skipinitialspace=True, comment=None, index_col=False,
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", path=label, expected="a header line and at least one row") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise InputError(
                f"has {m.group(3)} fields where the header has {m.group(1)}",
                path=label, row=int(m.group(2)) - 1, expected="one value per column (quote text that holds a comma)",
            ) from None  # fmt: skip
        raise InputError(f"malformed CSV ({str(exc).strip()})", path=label) from None


def _check_field_counts(raw: bytes, sep: str, encoding: str, n: int, label: str) -> None:
    """Refuse a row with more or fewer fields than the header (pandas would pad it or drop a field)."""
    reader = csv.reader(_io.TextIOWrapper(_io.BytesIO(raw), encoding=encoding, newline=""), delimiter=sep)
    next(reader, None)
    row = 0
    try:
        for rec in reader:
            if not rec:
                continue  # blank lines are skipped, as pandas does
            row += 1
            if len(rec) != n:
                raise InputError(
                    f"has {len(rec)} fields where the header has {n}",
                    path=label, row=row, expected="one value per column (quote text that holds a comma)",
                )  # fmt: skip
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=label, row=row + 1) from None


def _read_csv_arrow(raw: bytes, sep: str, encoding: str, names: list[str]) -> pd.DataFrame | None:
    """Arrow's CSV reader (several times faster and leaner than pandas' C engine), or None.

    Anything it does not read cleanly (ragged rows, quoted line breaks, ...) is
    left to pandas' C engine, whose errors name the line.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    try:
        df = pd.read_csv(
            _io.BytesIO(raw), sep=sep, encoding=encoding, header=0, names=names, dtype=str,
            keep_default_na=False, engine="pyarrow",
        )  # fmt: skip
    except Exception:  # pyarrow raises many types; the C engine reports the problem
        return None
    return df if list(df.columns) == names else None


def _parse_floats(st: pd.Series) -> np.ndarray:
    """Text -> float; NaN where a cell does not parse (one Arrow cast when possible)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.cast(pa.array(st.array), pa.float64()).to_numpy(zero_copy_only=False)
    except Exception:  # no pyarrow, or a cell that is not a number: parse cell by cell
        return pd.to_numeric(st, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _parquet_type_ok(t) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
        or pa.types.is_decimal(t)
        or (hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t))
    )


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "reading Parquet needs pyarrow", path=label, expected="pip install 'metaquant[parquet]'"
        ) from None
    try:
        schema_ = pq.read_schema(path)
    except PermissionError:
        raise InputError("cannot be read (permission denied)", path=label, expected="a readable file") from None
    except Exception as exc:  # pyarrow raises many types
        raise InputError(f"cannot read as Parquet ({exc.__class__.__name__})", path=label) from None
    fields = [f for f in schema_ if not f.name.startswith("__index_level_")]
    _check_names([f.name for f in fields], label)
    for f in fields:
        if not _parquet_type_ok(f.type):
            raise InputError(
                f"has Parquet type {f.type}, which is not one number, text or true/false per row",
                path=label,
                column=f.name.strip(),
                expected="a column of numbers, strings or booleans (no lists, structs, maps or binary)",
            )
    try:
        df = pd.read_parquet(path, columns=[f.name for f in fields])
    except Exception as exc:
        raise InputError(f"cannot read as Parquet ({exc.__class__.__name__})", path=label) from None
    return df.reset_index(drop=True)


def _read_table(path: Path, label: str) -> pd.DataFrame:
    set_line_map(label, None)
    _check_file(path, label)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path, label)
    return _read_csv(path, label)


# --------------------------------------------------------------------------
# Validation pipeline: columns -> form -> types -> rows (per form) -> duplicates
# --------------------------------------------------------------------------


@dataclass
class _Table:
    """The table under validation, its label, its rows' numbers and the problems so far."""

    df: pd.DataFrame
    label: str
    problems: Problems
    rows: np.ndarray = None  # 1-based row numbers as the file counts them
    bad: np.ndarray = None  # rows refused already (later checks skip them: one problem per row)
    forms: tuple = ()

    def __post_init__(self):
        n = len(self.df)
        self.rows = np.arange(1, n + 1) if self.rows is None else self.rows
        self.bad = np.zeros(n, dtype=bool)

    def fail(self, mask, column, message: str | Callable, expected=None, values=None) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if mask.any():
            self.problems.rows(
                mask, path=self.label, rows=self.rows, column=column, message=message, expected=expected, values=values
            )
            self.bad |= mask

    def num(self, col: str) -> np.ndarray:
        """A numeric column as float (NaN where absent)."""
        if col not in self.df.columns:
            return np.full(len(self.df), np.nan)
        return self.df[col].to_numpy(dtype=float, na_value=np.nan)


def _blank_mask(s: pd.Series) -> np.ndarray:
    """Missing cells: NA/None/NaN, or text that is empty, 'NA', 'nan' or 'NaN' once trimmed."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.isna().to_numpy()
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        return (s.isna() | s.str.strip().isin(_BLANKS)).to_numpy(dtype=bool)
    return np.array([_blank(v) for v in s.tolist()], dtype=bool)


def _blank(v) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    return isinstance(v, str) and v.strip() in _BLANKS


def _show(v) -> str:
    """A cell as the message quotes it: text in quotes, numbers as Python writes them."""
    if isinstance(v, float | np.floating | int | np.integer) and not isinstance(v, bool | np.bool_):
        return repr(float(v)) if isinstance(v, float | np.floating) else repr(int(v))
    return repr(v)


def _object_to_float(values: list) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, bool | np.bool_) or _blank(v):
            continue  # booleans are not numbers; a later check names the cell
        try:
            out[i] = float(v)
        except (TypeError, ValueError, OverflowError):
            pass
    return out


def _column_to_float(t: _Table, col: str) -> None:
    s = t.df[col]
    blank = _blank_mask(s)
    if pd.api.types.is_bool_dtype(s):
        vals = np.full(len(s), np.nan)
    elif pd.api.types.is_numeric_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_object_dtype(s):
        vals = _object_to_float(s.tolist())
    else:
        vals = _parse_floats(s.str.strip().where(~blank))
    vals = np.array(vals, dtype=float)  # a writable copy
    shown = s
    t.fail(~blank & np.isnan(vals), col, _not_a_number, "a numeric value", shown)
    t.fail(np.isinf(vals), col, lambda v: f"{_show(v)} is not a finite number", "a finite numeric value", shown)
    vals[t.bad & ~np.isfinite(vals)] = np.nan
    t.df[col] = vals


def _column_to_bool(t: _Table, col: str) -> None:
    s = t.df[col]
    blank = _blank_mask(s)
    out = np.full(len(s), None, dtype=object)
    if pd.api.types.is_bool_dtype(s):
        yes, no = ~blank & s.fillna(False).astype(bool).to_numpy(), ~blank & ~s.fillna(True).astype(bool).to_numpy()
    else:
        low = s.astype("str").str.strip().str.lower()
        yes, no = low.isin(_TRUE).to_numpy(dtype=bool) & ~blank, low.isin(_FALSE).to_numpy(dtype=bool) & ~blank
    out[yes], out[no] = True, False
    bad = ~blank & ~yes & ~no
    t.fail(bad, col, lambda v: f"{_show(v)} is not true/false", "true or false", s)
    t.df[col] = out


def _column_to_text(t: _Table, col: str) -> None:
    s = t.df[col]
    blank = _blank_mask(s)
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        txt = s.str.strip()
    else:
        txt = s.map(lambda v: None if _blank(v) else str(v).strip()).astype("str")
    t.df[col] = txt.where(~blank)


def suggest_column(name: str) -> str | None:
    """A documented column that ``name`` plausibly misspells, or None.

    A near spelling (``propery``, ``Study``, ``baseline_man``: similarity >= 0.75), else a column that
    shares a whole ``_``-word with it (``model_name`` -> ``model``); never a merely similar-looking
    unrelated word (``paper`` is not ``property``).
    """
    low = str(name).strip().lower()
    known = sorted(schema.KNOWN_COLUMNS)
    hit = difflib.get_close_matches(low, known, n=1, cutoff=0.75)
    if hit:
        return hit[0]
    words = set(low.split("_")) - {""}
    shared = [c for c in known if words & set(c.split("_"))]
    return min(shared, key=len) if len(shared) == 1 or (shared and low.split("_")[0] in shared) else None


def _not_a_number(v) -> str:
    """The message for a cell that is not a number, with the fix where it is plain (a % sign)."""
    txt = str(v).strip()
    try:
        plain = txt.endswith("%") and math.isfinite(float(txt[:-1]))
    except ValueError:
        plain = False
    if plain:
        return f"{_show(v)} is not a number: remove the % sign (values are plain numbers)"
    return f"{_show(v)} is not a number"


def _check_columns(t: _Table) -> bool:
    """Names, unknown columns, rows present, the forms and their required columns; False to stop."""
    df = t.df
    df.columns = _check_names(list(df.columns), t.label)
    # the bookkeeping metaquant itself adds (and older `data show --format csv` wrote) is recomputed here
    t.df = df = df.drop(columns=[c for c in BOOKKEEPING_COLUMNS if c in df.columns])
    for c in df.columns:
        if c in schema.KNOWN_COLUMNS or c.startswith(USER_COLUMN_PREFIX):
            continue
        hint = suggest_column(c)
        extra = f" (did you mean {hint!r}?)" if hint else ""
        t.problems.add(
            InputError(
                f"unknown column{extra}",
                path=t.label,
                column=c,
                expected=f"a documented column (docs/data-format.md) or a user column named '{USER_COLUMN_PREFIX}...'",
            )
        )
    if len(df) == 0:
        t.problems.add(InputError("has a header but no data rows", path=t.label, expected="at least one row"))
    has_meas = bool({"baseline_mean", "quant_mean"} & set(df.columns))
    has_sum = "improvement_pct" in df.columns
    has_eff = bool({"yi", "vi"} & set(df.columns))
    if has_eff and (has_meas or has_sum):
        t.problems.add(
            InputError(
                "mixes effect-size columns (yi, vi) with raw measurements",
                path=t.label,
                expected="either an effects file or a measurements/summary file",
            )
        )
    t.forms = tuple(f for f, on in (("effects", has_eff), ("measurements", has_meas), ("summary", has_sum)) if on)
    if not t.forms:
        t.problems.add(
            InputError(
                "no value columns",
                path=t.label,
                expected="baseline_mean and quant_mean, or improvement_pct, or yi and vi",
            )
        )
    for form in t.forms:
        for c in schema.REQUIRED[form]:
            if c not in df.columns:
                t.problems.add(InputError("required column is missing", path=t.label, column=c))
    t.problems.checkpoint()
    return not t.problems


def _convert_types(t: _Table) -> None:
    """Numbers, booleans and trimmed text (missing = NaN); refuse cells that are none of these."""
    for c in t.df.columns:
        if c in NUMERIC_COLUMNS:
            _column_to_float(t, c)
        elif c in BOOL_COLUMNS:
            _column_to_bool(t, c)
        elif not c.startswith(USER_COLUMN_PREFIX):
            _column_to_text(t, c)
        elif not (pd.api.types.is_string_dtype(t.df[c]) or pd.api.types.is_numeric_dtype(t.df[c])):
            t.df[c] = t.df[c].astype("str").where(~_blank_mask(t.df[c]))


def _assign_forms(t: _Table) -> np.ndarray:
    """The form of every row: effects, measurements (baseline_mean given) or summary."""
    n = len(t.df)
    form = np.full(n, None, dtype=object)
    if "effects" in t.forms:
        form[:] = "effects"
        return form
    meas = ~np.isnan(t.num("baseline_mean")) if "measurements" in t.forms else np.zeros(n, bool)
    summ = ~meas & ~np.isnan(t.num("improvement_pct")) if "summary" in t.forms else np.zeros(n, bool)
    form[meas] = "measurements"
    form[summ] = "summary"
    col = "baseline_mean" if "measurements" in t.forms else "improvement_pct"
    t.fail(~meas & ~summ, col, f"{col} is empty (missing value)", "a value in every row")
    return form


def _fail_unknown_properties(t: _Table, codes: np.ndarray, unknown: list) -> None:
    """One problem per row of an unknown property; the list of registered properties said once per file."""
    if not unknown:
        return
    at = np.flatnonzero(np.isin(codes, [k for k, _ in unknown]) & ~t.bad)
    if not len(at):
        return
    first = np.zeros(len(codes), dtype=bool)
    first[at[0]] = True
    later = f"a registered property (listed at row {int(t.rows[at[0]])})"
    for k, exc in unknown:
        t.fail((codes == k) & first, "property", exc.message, exc.expected)
        t.fail((codes == k) & ~first, "property", exc.message, later)


def _check_identity(t: _Table) -> np.ndarray:
    """study and property present, the property known and its direction as registered; canonical names."""
    df = t.df
    for c in ("study", "property"):
        t.fail(df[c].isna().to_numpy(), c, f"{c} is empty (missing value)", f"a {c} in every row")
    codes, uniques = pd.factorize(df["property"])  # one registry lookup per distinct name
    names = np.full(len(uniques) + 1, None, dtype=object)  # code -1 (missing) -> None
    reg = np.zeros(len(uniques) + 1, dtype=np.int8)  # 1 higher is better, -1 lower, 0 unknown
    unknown = []
    for k, name in enumerate(uniques):
        try:
            prop = schema.get_property(name)
        except schema.UnknownPropertyError as exc:
            unknown.append((k, exc))
            continue
        names[k], reg[k] = prop.name, 1 if prop.higher_is_better else -1
    _fail_unknown_properties(t, codes, unknown)
    canon = names[codes]
    if "higher_is_better" in df.columns:
        given = df["higher_is_better"]
        says = np.where(given.eq(True).to_numpy(dtype=bool), 1, np.where(given.eq(False).to_numpy(dtype=bool), -1, 0))
        clash = (says != 0) & (reg[codes] != 0) & (says != reg[codes])
        t.fail(
            clash, "higher_is_better",
            lambda i: f"higher_is_better={says[i] > 0} contradicts the registry for {canon[i]!r}",
            "the registry's direction (see docs/data-format.md)", np.arange(len(df)),
        )  # fmt: skip
    return canon


def _out_of_range(x: np.ndarray) -> np.ndarray:
    """Finite values whose non-zero magnitude is outside the safe range of raw values."""
    a = np.abs(x)
    return np.isfinite(a) & (a != 0) & ((a < schema.MIN_ABS_VALUE) | (a > schema.MAX_ABS_VALUE))


_RANGE = f"a magnitude of 0 or between {schema.MIN_ABS_VALUE:g} and {schema.MAX_ABS_VALUE:g} (rescale the unit)"


def _check_value_range(t: _Table, m: np.ndarray, cols) -> None:
    for c in cols:
        x = t.num(c)
        t.fail(m & _out_of_range(x), c, lambda v: f"value {v:g} is outside the safe range", _RANGE, x)


def _check_count(t: _Table, m: np.ndarray, col: str, what: str) -> None:
    n = t.num(col)
    bad = m & ~np.isnan(n) & ((n < 1) | (n != np.floor(n)) | (n > schema.MAX_ABS_VALUE))
    t.fail(bad, col, lambda v: f"{what} count {v:g} is not a whole number >= 1", "n >= 1", n)


def _check_sd(t: _Table, m: np.ndarray, col: str) -> None:
    sd = t.num(col)
    t.fail(m & (sd < 0), col, lambda v: f"standard deviation {v:g} is negative", "sd >= 0", sd)


def _rows_effects(t: _Table, m: np.ndarray) -> None:
    """yi and vi present; 0 < vi in the safe range; |yi| in the safe range."""
    yi, vi = t.num("yi"), t.num("vi")
    for c, x in (("yi", yi), ("vi", vi)):
        t.fail(m & np.isnan(x), c, f"{c} is empty (missing value)", "a value in every row")
    t.fail(m & (vi <= 0), "vi", lambda v: f"sampling variance {v:g} is not positive", "vi > 0", vi)
    t.fail(
        m & ((vi < schema.MIN_VI) | (vi > schema.MAX_VI)), "vi",
        lambda v: f"sampling variance vi = {v:g} is outside the safe range",
        f"{schema.MIN_VI:g} <= vi <= {schema.MAX_VI:g} (an empty sd if the spread is unknown)", vi,
    )  # fmt: skip
    t.fail(
        m & (np.abs(yi) > schema.MAX_ABS_LOG_EFFECT), "yi",
        lambda v: f"effect size yi = {v:g} is outside the safe range",
        f"|yi| <= {schema.MAX_ABS_LOG_EFFECT:g} on the log-ratio scale", yi,
    )  # fmt: skip


def _rows_measurements(t: _Table, m: np.ndarray) -> None:
    """quant_mean present; sd >= 0 with its run count; whole n >= 1; no spread from one run; safe magnitudes."""
    t.fail(m & np.isnan(t.num("quant_mean")), "quant_mean", "quant_mean is empty (missing value)",
           "a value in every measurement row")  # fmt: skip
    for side in ("baseline", "quant"):
        sd, n = t.num(f"{side}_sd"), t.num(f"{side}_n")
        _check_sd(t, m, f"{side}_sd")
        _check_count(t, m, f"{side}_n", "run")
        t.fail(m & ~np.isnan(sd) & np.isnan(n), f"{side}_n", "a spread is given without its run count",
               "the number of runs behind the sd")  # fmt: skip
        t.fail(m & (n == 1) & (sd > 0), f"{side}_sd", "a spread from a single run is impossible",
               "an empty sd for one run, or n >= 2")  # fmt: skip
    _check_value_range(t, m, ("baseline_mean", "quant_mean", "baseline_sd", "quant_sd"))


def _rows_summary(t: _Table, m: np.ndarray) -> None:
    """sd and IQR >= 0; whole n_units >= 1; safe magnitudes."""
    _check_sd(t, m, "improvement_sd")
    iqr = t.num("improvement_iqr")
    t.fail(m & (iqr < 0), "improvement_iqr", lambda v: f"IQR {v:g} is negative", "IQR >= 0", iqr)
    _check_count(t, m, "n_units", "unit")
    _check_value_range(t, m, ("improvement_pct", "improvement_sd", "improvement_iqr"))


def _rows_common(t: _Table) -> None:
    """Study belief in [0, 1]; positive bit-widths."""
    b = t.num("study_belief")
    t.fail((b < 0) | (b > 1), "study_belief", lambda v: f"study belief {v:g} is outside [0, 1]", "0 <= B <= 1", b)
    for c in schema.NUMERIC_MODERATORS:
        x = t.num(c)
        t.fail(x <= 0, c, lambda v: f"bit-width {v:g} is not positive", "bits > 0", x)
    _check_count(t, np.ones(len(t.df), dtype=bool), "n_runs", "run")
    _check_count(t, np.ones(len(t.df), dtype=bool), "n_eval", "evaluation sample")


_ROW_VALIDATORS = {"effects": _rows_effects, "measurements": _rows_measurements, "summary": _rows_summary}


def _content_columns(df: pd.DataFrame, *, across_files: bool = False) -> list[str]:
    skip = {"source_row", "notes", "provenance", "source"} | ({"source_file"} if across_files else set())
    return [c for c in df.columns if c not in skip]


def duplicate_groups(df: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows that repeat an earlier row in ``columns`` (missing cells count as equal) and the index of that row.

    Returns
    -------
    (mask, first) : (ndarray of bool, ndarray of int)
        ``mask[i]`` when row i repeats row ``first[i]`` (< i).
    """
    gid = df.groupby(columns, dropna=False, sort=False, observed=True).ngroup().to_numpy()
    first = pd.Series(np.arange(len(df))).groupby(gid).transform("min").to_numpy()
    return first < np.arange(len(df)), first


def _check_duplicates(t: _Table) -> None:
    dup, first = duplicate_groups(t.df, _content_columns(t.df))
    t.fail(dup, None, lambda i: f"duplicates row {t.rows[first[i]]}", "each comparison once", np.arange(len(t.df)))


#: Columns that tell two comparisons of a study and property apart (a descriptor given on
#: both rows must agree for them to be the same comparison).
_COMPARISON_KEYS = ("comparison", "quant_precision")
_DESCRIPTORS = ("model", "task", "hardware", "technique", "granularity", "baseline_precision", "bits", "act_bits")


def _same_comparison_pairs(df: pd.DataFrame) -> list[tuple[int, int]]:
    """(measurement row, summary row) index pairs that describe the same comparison.

    Same study, property and comparison id (``comparison``, else
    ``quant_precision``, where the table has them), and no descriptor
    (model, task, hardware, ...) that both rows give and that differs.  Only
    groups that hold both forms are walked row by row.
    """
    if "form" not in df.columns or df["form"].nunique() < 2:
        return []
    keys = ["study", "property"] + [c for c in _COMPARISON_KEYS if c in df.columns][:1]
    form = df["form"].to_numpy(dtype=object)
    gid = df.groupby(keys, dropna=False, sort=False, observed=True).ngroup().to_numpy()
    mixed = pd.Series(form).groupby(gid).transform("nunique").to_numpy() > 1
    desc = [c for c in _DESCRIPTORS if c in df.columns]
    pairs = []
    for g in pd.unique(gid[mixed]):
        idx = np.flatnonzero(gid == g)
        for i in idx[form[idx] == "measurements"]:
            for j in idx[form[idx] == "summary"]:
                a, b = df.iloc[i], df.iloc[j]
                if all(pd.isna(a[c]) or pd.isna(b[c]) or a[c] == b[c] for c in desc):
                    pairs.append((int(i), int(j)))
    return pairs


def _refuse_twice_pooled(df: pd.DataFrame, problems: Problems, *, across: bool = False) -> None:
    """Refuse a comparison given once as measurements and once as a summary row (it would be pooled twice).

    ``across``: only pairs from two different inputs (pairs within a file were refused when it was read).
    """
    src, row = df["source_file"].to_numpy(dtype=object), df["source_row"].to_numpy()
    pairs = [(i, j) for i, j in _same_comparison_pairs(df) if not across or src[i] != src[j]]
    for i, j in pairs[: problems.limit if problems.collect else 1]:
        there = "" if src[i] == src[j] else f"{src[i]} "
        what = ", ".join(f"{c} {df[c].iloc[j]!r}" for c in ("study", "property", *_COMPARISON_KEYS)
                         if c in df.columns and pd.notna(df[c].iloc[j]))  # fmt: skip
        problems.add(DataError(
            f"summary row for the same comparison ({what}) that {there}row {row[i]} gives as measurements; "
            "it would be pooled twice",
            path=src[j], row=int(row[j]),
            expected="each comparison in one form only (drop the summary row or the measurement row)",
        ))  # fmt: skip
    problems.total += max(0, len(pairs) - (problems.limit if problems.collect else 1))
    problems.checkpoint()


def _study_spellings(df: pd.DataFrame) -> list[str]:
    """One sentence per set of study names that differ only in case or spacing (``Smith2020``/``smith2020``)."""
    if "study" not in df.columns:
        return []
    names = pd.Series(df["study"].dropna().unique())
    if names.empty:
        return []
    folded = names.map(lambda v: " ".join(str(v).split()).casefold())
    out = []
    src = df["source_file"] if "source_file" in df.columns else None
    for _, group in names.groupby(folded.to_numpy(), sort=False):
        if len(group) < 2:
            continue
        parts = []
        for name in group:
            rows = df.index[df["study"] == name]
            where = df.loc[rows, "source_row"].tolist()[:3] if "source_row" in df.columns else list(rows[:3] + 1)
            files = sorted(set(src.loc[rows])) if src is not None else []
            lab = "row" if len(where) == 1 else "rows"
            extra = ", ..." if len(rows) > 3 else ""
            parts.append(f"{name!r} ({' + '.join(files)} {lab} {', '.join(map(str, where))}{extra})".replace("( ", "("))
        out.append(
            f"studies {' and '.join(parts)} differ only in case or spacing and are pooled as "
            f"{len(group)} separate studies; if they are one study, rename one so both read the same"
        )
    return out


def warn_study_spellings(df: pd.DataFrame) -> None:
    """Warn (once per set) about study names that differ only in case or spacing."""
    import warnings

    for sentence in _study_spellings(df):
        warnings.warn(sentence, UserWarning, stacklevel=3)


def _validate(t: _Table) -> pd.DataFrame | None:
    """The pipeline; returns the typed table, or None when the columns make rows meaningless (collect mode)."""
    if not _check_columns(t):
        return None
    _convert_types(t)
    t.problems.checkpoint()
    form = _assign_forms(t)
    canon = _check_identity(t)
    _rows_common(t)
    for f, check in _ROW_VALIDATORS.items():
        if f in t.forms:
            check(t, form == f)
    t.problems.checkpoint()
    df = t.df
    df["property"] = pd.array(canon, dtype="str")
    df["form"] = pd.array(form, dtype="str")
    df["source_file"] = pd.Series(t.label, index=df.index, dtype="str")
    df["source_row"] = t.rows
    _check_duplicates(t)
    t.problems.checkpoint()
    _refuse_twice_pooled(df[~t.bad].reset_index(drop=True) if t.bad.any() else df, t.problems)
    return df[~t.bad].reset_index(drop=True) if t.bad.any() else df.reset_index(drop=True)


def validate(df: pd.DataFrame, label: str, *, problems: Problems | None = None) -> pd.DataFrame | None:
    """Validate a raw table and return it with typed columns.

    Parameters
    ----------
    df : DataFrame
        The table as read (text cells, or typed cells from Parquet).
    label : str
        The file name used in messages.
    problems : Problems, optional
        Collect every problem here instead of raising the first one.

    Returns
    -------
    DataFrame or None
        The typed table (with ``form``, ``source_file``, ``source_row``).  In
        collect mode: the rows without a problem, or None when the columns
        were wrong.

    Raises
    ------
    InputError
        The first problem found, naming file, row and column (unless ``problems`` collects).
    UsageError
        ``df`` is not a DataFrame.
    """
    if not isinstance(df, pd.DataFrame):
        raise UsageError(f"is a {type(df).__name__}, not a table", argument="df", expected="a pandas DataFrame")
    t = _Table(df.copy(), str(label), problems if problems is not None else Problems())
    set_line_map(str(label), None)  # a frame's rows are its lines
    out = _validate(t)
    if out is not None:
        warn_study_spellings(out)
    return out


def read(path: str | Path, *, label: str | None = None, problems: Problems | None = None) -> pd.DataFrame | None:
    """Read and validate one file (CSV or Parquet); see :func:`validate`."""
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"is a {type(path).__name__}", argument="path", expected="a file path")
    p = Path(path)
    lab = label or str(path)
    try:
        raw = _read_table(p, lab)
    except InputError as exc:
        if problems is None or not problems.collect:
            raise
        problems.add(exc)
        return None
    return _validate(_Table(raw, lab, problems if problems is not None else Problems()))


# --------------------------------------------------------------------------
# Loading several sources
# --------------------------------------------------------------------------


def _resolve(item) -> tuple[Path, str]:
    """(path, label) of a file or a shipped dataset name."""
    if not isinstance(item, str | os.PathLike):
        raise UsageError(
            f"holds a {type(item).__name__}, not a file or dataset name",
            argument="source",
            expected="a path, a shipped dataset name (e.g. 'ssm2025') or a list of them",
        )
    s = os.fspath(item)
    if not s.strip():
        raise UsageError("is an empty name", argument="source", expected="a path or a shipped dataset name")
    if not Path(s).is_file() and s in dataset_registry():
        return dataset_path(s), s
    if not Path(s).exists() and "/" not in s and "." not in s:
        dataset_path(s)  # raises a clear "no shipped dataset" error
    return Path(s), s


def _sources(source) -> list:
    if source is None:
        raise UsageError("is None", argument="source", expected="a path, a shipped dataset name or a list of them")
    items = list(source) if isinstance(source, list | tuple) else [source]
    if not items:
        raise UsageError("is an empty list", argument="source", expected="at least one file or dataset name")
    return items


def _check_across(df: pd.DataFrame, problems: Problems) -> None:
    """Refuse rows repeated exactly across inputs (the same rows given twice would count twice)."""
    dup, first = duplicate_groups(df, _content_columns(df, across_files=True))
    src, row = df["source_file"].to_numpy(dtype=object), df["source_row"].to_numpy()
    idx = np.flatnonzero(dup & (src != src[first]))
    for i in idx[: problems.limit if problems.collect else 1]:
        j = first[i]
        problems.add(
            DataError(
                f"repeats {src[j]} row {row[j]} exactly (the same rows given twice would count twice)",
                path=src[i], row=int(row[i]),
                expected="each comparison once across all inputs (drop the repeated file or rows)",
            )
        )  # fmt: skip
    problems.total += max(0, len(idx) - (problems.limit if problems.collect else 1))
    problems.checkpoint()


def _drop_confounded(df: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    flag = df["confounded"].fillna(False).astype(bool).to_numpy()
    if flag.all():
        raise DataError(
            f"all {len(df)} rows are flagged confounded=true, and confounded rows are left out by default",
            path=" + ".join(labels),
            column="confounded",
            expected="include_confounded=True (--include-confounded) to pool them, or rows that compare precision only",
        )
    return df[~flag].reset_index(drop=True)


def load(
    source: str | Path | list | tuple = "ssm2025", *, include_confounded: bool = False, problems: Problems | None = None
) -> Evidence | None:
    """Load evidence from a shipped dataset name, a file, or a list of them.

    Parameters
    ----------
    source : str, path or list
        ``"ssm2025"``, ``"benchmarks"`` (see :func:`dataset_registry`) or a
        CSV/Parquet path; a list concatenates (files from several machines
        form one study set).  The same file twice, or rows repeated exactly
        across inputs, are refused.
    include_confounded : bool
        Keep rows flagged ``confounded`` (e.g. a change of inference engine
        together with the precision); dropped by default.  A table whose rows
        are all confounded is an error unless this is True.
    problems : Problems, optional
        Collect every problem instead of raising the first; the result then
        holds only the rows without a problem (None when a file's columns are
        wrong).

    Raises
    ------
    InputError
        The first problem, naming file, row and column.
    UsageError
        ``source`` is None, empty or of a wrong type; ``include_confounded`` is not a boolean.
    """
    include_confounded = as_bool(include_confounded, "include_confounded")
    collect = problems if problems is not None and problems.collect else None
    frames, labels, seen = [], [], {}
    for item in _sources(source):
        path, label = _resolve(item)
        key = os.path.realpath(path)
        if key in seen:
            raise DataError(
                f"is given twice (also as input {seen[key] + 1}); its rows would count twice",
                path=label,
                expected="each file once",
            )
        seen[key] = len(labels)
        frames.append(read(path, label=label, problems=collect))
        labels.append(label)
    if any(f is None for f in frames):
        return None
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    forms = set(df["form"])
    if len(frames) > 1 and "effects" in forms and len(forms) > 1:
        raise DataError("cannot combine an effects file with measurement files", path=" + ".join(labels))
    if len(frames) > 1:
        _check_across(df, collect if collect is not None else Problems())
        _refuse_twice_pooled(df, collect if collect is not None else Problems(), across=True)
    warn_study_spellings(df)
    if "confounded" in df.columns and not include_confounded:
        df = _drop_confounded(df, labels)
    return Evidence(df, labels)
