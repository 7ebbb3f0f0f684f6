"""Atomic output: nothing half-written, nothing a user gave overwritten by accident.

Every file metaquant writes goes through :func:`atomic_write` (a temporary
file ``.NAME.XXXX.tmp`` in the same folder, flushed and fsync'ed, then
``os.replace``), and every output folder through :func:`output_dir`, which is
checked *before* any work is done (so a model is never fitted only to find
the folder unwritable), claimed atomically (two runs cannot both take it),
and removed again when the run fails having written nothing.  Temporaries of
our own naming that a killed run left behind are removed when the same
target is written again, and never count as content of a folder.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .errors import InputError

#: Temporaries of our own naming: ``.NAME.XXXX.tmp`` (files and folders), ``.NAME.XXXX.old``.
_TMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.(tmp|old)$")
#: The file that marks an output folder as claimed by a running command.
LOCK = ".metaquant.lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_ours(name: str) -> bool:
    return bool(_TMP.match(name)) or name == LOCK


def _remove_stale(folder: Path, target: str) -> None:
    """Remove temporaries of ``target`` (``.target.XXXX.tmp``) left in ``folder`` by a killed run."""
    prefix = f".{target}."
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name.startswith(prefix) and _TMP.match(entry.name):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _nearest_existing(p: Path) -> Path:
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def check_writable_target(path: str | Path, *, force: bool = False, folder: bool = False) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Raises :class:`InputError` naming the path when it exists (and ``force`` is
    not given), when a parent is a regular file, or when the nearest existing
    parent folder cannot be written.
    """
    p = Path(path)
    if p.exists():
        if folder and not p.is_dir():
            raise InputError("exists and is not a folder", path=str(p))
        if not folder and p.is_dir():
            raise InputError("is a folder, not a file", path=str(p))
        if not folder and not force:
            raise InputError("exists already; not overwritten", path=str(p), expected="another path, or --force")
    base = p if (folder and p.is_dir()) else _nearest_existing(p.parent)
    if not base.is_dir():
        raise InputError(f"cannot be created: {base} is a file, not a folder", path=str(p))
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"cannot be written: no permission to write in {base}", path=str(p))
    return p


def atomic_write(path: str | Path, writer: Callable[[str], None], *, overwrite: bool = False) -> Path:
    """Write ``path`` through ``writer(tmp_path)`` and move it into place atomically.

    ``writer`` writes a complete file at the temporary path it is given (e.g.
    ``idata.to_netcdf``); the file is fsync'ed, given the usual permissions
    and renamed over ``path``.  On any error the temporary is removed.

    Raises
    ------
    InputError
        When ``path`` exists and ``overwrite`` is False, or cannot be written.
    """
    p = check_writable_target(path, force=overwrite)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", path=str(p.parent)) from None
    _remove_stale(p.parent, p.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        if p.exists() and not overwrite:  # appeared while we wrote
            raise InputError("exists already; not overwritten", path=str(p), expected="another path, or --force")
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, _write, overwrite=overwrite)


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def _content(p: Path) -> list[str]:
    return [e.name for e in p.iterdir() if not _is_ours(e.name)]


def _claim(p: Path) -> None:
    """Create the lock file exclusively; a lock of a dead process is taken over."""
    lock = p / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            alive = pid > 0
            if alive:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    alive = False
                except PermissionError:
                    pass
            if alive:
                raise InputError(f"is being written by another metaquant run (process {pid})", path=str(p),
                                 expected="another folder, or wait for that run to finish") from None
            with contextlib.suppress(OSError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return
    raise InputError("could not be claimed for writing", path=str(p))


@contextlib.contextmanager
def output_dir(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Claim an output folder for one run: checked first, claimed atomically, cleaned on failure.

    An existing folder with content (other than our own stale temporaries)
    is refused unless ``force``.  A folder this call created is removed again
    when the run fails before anything was written into it.

    >>> import tempfile, pathlib
    >>> with output_dir(pathlib.Path(tempfile.mkdtemp()) / "out") as d:
    ...     _ = atomic_write_text(d / "a.json", "{}")
    >>> sorted(p.name for p in d.iterdir())
    ['a.json']
    """
    p = check_writable_target(path, force=force, folder=True)
    created = False
    try:
        p.mkdir(parents=True)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", path=str(p)) from None
    _claim(p)
    if not created:  # temporaries a killed run left here (the lock keeps other runs out now)
        for entry in list(p.iterdir()):
            if _TMP.match(entry.name):
                (shutil.rmtree if entry.is_dir() else os.unlink)(entry)
    ok = False
    try:
        if not created and _content(p) and not force:
            raise InputError("exists and is not empty; not overwritten", path=str(p),
                             expected="a new folder, or --force")
        yield p
        ok = True
    finally:
        with contextlib.suppress(OSError):
            (p / LOCK).unlink()
        if created and not ok and not _content(p):
            shutil.rmtree(p, ignore_errors=True)


def new_output_dir(path: str | Path, *, force: bool = False) -> Path:
    """Create an output folder (checked as :func:`output_dir`, without holding it)."""
    with output_dir(path, force=force) as p:
        return p


def replace_dir(out: str | Path, build: Callable[[Path], None], *, force: bool = False) -> Path:
    """Assemble a folder in a temporary sibling with ``build(tmp)`` and rename it into place.

    An existing non-empty ``out`` is refused unless ``force`` (then it is
    replaced as a whole, after the new folder is complete).  The check and the
    claim happen before ``build`` runs.
    """
    out = Path(out)
    with output_dir(out, force=force):
        parent = out.resolve().parent
        _remove_stale(parent, out.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        try:
            build(tmp)
            os.chmod(tmp, 0o777 & ~_umask())
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


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
