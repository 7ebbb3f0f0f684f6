"""Atomic output: nothing half-written, nothing a user gave overwritten by accident."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Raises
    ------
    InputError
        When ``path`` exists and ``overwrite`` is False.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError("exists already; not overwritten", path=str(p), expected="another path, or --force")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def new_output_dir(path: str | Path, *, force: bool = False) -> Path:
    """Create an output folder; an existing non-empty one is refused unless ``force``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError("exists and is not a folder", path=str(p))
    if p.exists() and any(p.iterdir()) and not force:
        raise InputError("exists and is not empty; not overwritten", path=str(p), expected="a new folder, or --force")
    p.mkdir(parents=True, exist_ok=True)
    return p


def json_safe(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python, dict keys -> str.

    The one converter behind every ``to_dict()`` and ``--format json`` output.
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(float(obj)) else None
    return obj
