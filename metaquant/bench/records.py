"""Evidence rows in metaquant's measurement form, and appending them to a file safely."""

from __future__ import annotations

import math
import os
import re
import socket
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence import io, schema

#: Column order of the files the harness writes (all are metaquant.evidence.schema columns, plus one user column).
COLUMNS = (
    "study", "comparison", "model", "task", "hardware", "technique", "granularity", "baseline_precision",
    "quant_precision", "bits", "act_bits", "property", "metric", "unit", "higher_is_better", "baseline_mean",
    "baseline_sd", "baseline_n", "quant_mean", "quant_sd", "quant_n", "baseline_group", "provenance", "notes",
    "x_batch_size",
)  # fmt: skip


def default_study_id(now: datetime | None = None, host: str | None = None) -> str:
    """``bench-<hostname>-<YYYYMMDD>``, the hostname reduced to letters, digits and hyphens."""
    now = now or datetime.now()
    host = host if host is not None else socket.gethostname()
    host = re.sub(r"[^A-Za-z0-9-]+", "-", host.split(".")[0]).strip("-") or "host"
    return f"bench-{host}-{now:%Y%m%d}"


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return "" if math.isnan(v) else repr(float(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    return str(v)


def to_text_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a string table in :data:`COLUMNS` order (empty string = missing), ready for CSV."""
    cols = list(COLUMNS) + sorted({k for r in rows for k in r} - set(COLUMNS))
    return pd.DataFrame([[_cell(r.get(c)) for c in cols] for r in rows], columns=cols, dtype=object)


def _read_existing(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw text table of an existing file and its validated form; refuse anything else."""
    if path.suffix.lower() in (".parquet", ".pq"):
        raise InputError("the harness writes CSV files", path=path, expected="a file name ending in .csv")
    try:
        typed = io.read(path)
    except InputError as exc:
        raise InputError(f"exists but is not a metaquant measurements file ({exc}); refusing to write to it",
                         path=path, expected="a new file, or one written by metaquant bench") from None
    other = sorted(set(typed["form"]) - {"measurements"})
    if other:
        raise InputError(f"holds {', '.join(other)}-form rows; refusing to append measurements to it", path=path,
                         expected="a new file, or a measurements file")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return raw, typed


def check_target(path: str | Path) -> None:
    """Refuse, before any measuring, a target that :func:`write_rows` would refuse afterwards."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        raise InputError("the harness writes CSV files", path=p, expected="a file name ending in .csv")
    if p.exists():
        if p.is_dir():
            raise InputError("is a folder, not a file", path=p)
        _read_existing(p)
    elif not p.parent.exists():
        raise InputError("folder does not exist", path=p.parent)


def existing_studies(path: str | Path) -> dict[str, set[str]]:
    """Study id -> comparisons already in the measurements file at ``path`` ({} when it does not exist)."""
    p = Path(path)
    if not p.exists():
        return {}
    _, typed = _read_existing(p)
    comp = typed["comparison"] if "comparison" in typed.columns else pd.Series([None] * len(typed))
    out: dict[str, set[str]] = {}
    for s, c in zip(typed["study"], comp, strict=True):
        out.setdefault(str(s), set()).add(str(c))
    return out


def write_rows(rows: list[dict], path: str | Path) -> Path:
    """Append ``rows`` to the CSV measurements file ``path`` atomically (create it when absent).

    The existing file is read and validated first (:func:`metaquant.evidence.io.read`);
    one that is not a metaquant measurements file is never touched.  The old
    rows are kept exactly as they were written (as text), the new rows follow,
    columns are the union of both, and the result is written to a temporary
    file in the same folder, validated again, and moved over ``path`` with
    ``os.replace`` (atomic on POSIX and Windows).  A failed validation (for
    example a repeated comparison) leaves ``path`` as it was.
    """
    p = Path(path)
    if not rows:
        raise InputError("nothing to write: no property was measured", path=p)
    new = to_text_frame(rows)
    if p.exists():
        raw, _ = _read_existing(p)
        cols = list(raw.columns) + [c for c in new.columns if c not in raw.columns]
        out = pd.concat([raw.reindex(columns=cols, fill_value=""), new.reindex(columns=cols, fill_value="")],
                        ignore_index=True).fillna("")
        mode = p.stat().st_mode & 0o777
    else:
        if p.suffix.lower() in (".parquet", ".pq"):
            raise InputError("the harness writes CSV files", path=p, expected="a file name ending in .csv")
        if not p.parent.exists():
            raise InputError("folder does not exist", path=p.parent)
        out = new
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            out.to_csv(fh, index=False)
        try:
            io.read(tmp, label=str(p))
        except InputError as exc:
            raise InputError(f"the new rows would make the file invalid ({exc}); nothing was written",
                             path=p) from None
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def relative_improvement(baseline: float, quant: float, prop: str) -> float:
    """RI in % (+ = better): 100 (q - b)/b when higher is better, 100 (b - q)/b otherwise."""
    hib = schema.get_property(prop).higher_is_better
    return 100.0 * ((quant - baseline) if hib else (baseline - quant)) / baseline
