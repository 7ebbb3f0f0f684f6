"""Atomic output: nothing half-written, nothing a user gave overwritten by accident."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
