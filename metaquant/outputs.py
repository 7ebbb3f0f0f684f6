"""Atomic output: nothing half-written, nothing a user gave overwritten or removed.

Every file metaquant writes goes through :func:`atomic_write` (a temporary
file ``.mq.XXXXXXXX.tmp`` in the same folder, flushed and fsync'ed, then
``os.replace``), and every output folder through :func:`output_dir`, which is
checked *before* any work is done (so a model is never fitted only to find
the folder unwritable or holding an input), claimed atomically (two runs
cannot both take it: an advisory ``flock`` on ``.metaquant.lock`` is held for
the run's lifetime, so a lock file nobody holds is stale whatever process id
it names), and removed again when the run fails having written nothing.  The
content of an output folder is assembled in a temporary sibling and put in
place with one rename (:func:`publish`), together with a manifest
(``.metaquant-manifest.json``) that records what metaquant wrote there:
``--force`` replaces only what a manifest lists, never anything else.

A full disk (``ENOSPC``, ``EFBIG``, ``EDQUOT``) while writing ends in one
:class:`DiskFullError` ("disk full while writing ...") and leaves nothing
half-written.  Temporaries have short names of their own (so a 255-byte
output name still works); those a killed run left behind are recognised by
name and by holding no lock, removed when the same folder is written again,
and never count as content of a folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .errors import InputError, MetaquantError

#: Temporaries of the current naming: ``.mq.XXXXXXXX.tmp`` (files and folders) and ``.mq.XXXXXXXX.old``.
_SHORT = re.compile(r"^\.mq\.[A-Za-z0-9_]+\.(tmp|old)$")
#: Temporaries of the earlier naming (``.NAME.XXXX.tmp``), still recognised inside our output folders.
_TMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.(tmp|old)$")
#: The file that marks an output folder as claimed by a running command.
LOCK = ".metaquant.lock"
#: The file that records what metaquant wrote into an output folder (what ``--force`` may replace).
MANIFEST = ".metaquant-manifest.json"
#: ``errno`` values that mean the disk (or the file-size limit, or the quota) is full.
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


class DiskFullError(MetaquantError):
    """The disk, the quota or the file-size limit ran out while writing ``path``; nothing was left behind."""

    def __init__(self, path, reason: str | None = None, outcome: str = "nothing was written"):
        self.path = str(path)
        self.reason = reason or "no space left on device"
        self.outcome = outcome
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"disk full while writing {self.path} ({self.reason}); {self.outcome}"

    def __reduce__(self):
        return (type(self), (self.path, self.reason, self.outcome))


def name_too_long(path, exc: OSError | None = None) -> InputError:
    """The one-line error for a path with a name longer than the file system allows."""
    return InputError("file name too long (the file system allows 255 bytes a name)", path=str(path))


@contextlib.contextmanager
def writing(path) -> Iterator[None]:
    """Turn a full disk or a too-long name met while writing ``path`` into one clear error."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise DiskFullError(path, (exc.strerror or "").lower() or None) from None
        if exc.errno == errno.ENAMETOOLONG:
            raise name_too_long(exc.filename or path) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_ours(name: str) -> bool:
    return bool(_TMP.match(name)) or name in (LOCK, MANIFEST)


def _try_flock(fd: int) -> bool:
    """Take an exclusive advisory lock without waiting; False when another open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: treat as free (the name alone marks it ours)
        return True
    return True


def _unheld(entry: Path) -> bool:
    """True when nobody holds a lock on ``entry`` (a temporary of a run that was killed)."""
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _try_flock(fd)
    finally:
        os.close(fd)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()


def _remove_stale(folder: Path, target: str | None = None) -> None:
    """Remove temporaries a killed run left in ``folder``.

    ``.mq.XXXXXXXX.tmp`` entries that no running process holds locked, and
    (the earlier naming) ``.target.XXXX.tmp`` entries of ``target``.
    """
    prefix = None if target is None else f".{target}."
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if _SHORT.match(entry.name):
                if _unheld(entry):
                    _remove(entry)
            elif prefix and entry.name.startswith(prefix) and _TMP.match(entry.name):
                _remove(entry)


@contextlib.contextmanager
def _temporary(folder: Path, *, directory: bool = False) -> Iterator[Path]:
    """A new ``.mq.XXXXXXXX.tmp`` file or folder in ``folder``, locked for as long as it is held."""
    for _ in range(5):
        if directory:
            tmp = tempfile.mkdtemp(prefix=".mq.", suffix=".tmp", dir=folder)
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            fd, tmp = tempfile.mkstemp(prefix=".mq.", suffix=".tmp", dir=folder)
        _try_flock(fd)
        if os.fstat(fd).st_nlink > 0:  # not taken for stale by a cleanup between creation and lock
            break
        os.close(fd)
    else:  # pragma: no cover - five cleanups racing one creation
        raise InputError("could not create a temporary file", path=str(folder))
    try:
        yield Path(tmp)
    finally:
        os.close(fd)


def _nearest_existing(p: Path) -> Path:
    q = p
    while not _exists(q) and q != q.parent:
        q = q.parent
    return q


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise name_too_long(p) from None
        raise


def _input_files(inputs) -> list[Path]:
    """The resolved paths of the existing files among ``inputs`` (paths or shipped dataset names)."""
    if inputs is None:
        return []
    items = list(inputs) if isinstance(inputs, list | tuple | set | frozenset) else [inputs]
    found = []
    for item in items:
        if isinstance(item, str | os.PathLike):
            with contextlib.suppress(OSError, ValueError):
                p = Path(item)
                if p.is_file():
                    found.append(p.resolve())
    return found


def _refuse_inputs(p: Path, inputs, *, folder: bool) -> None:
    """Refuse an output that is, or (a folder) holds, one of the input files."""
    files = _input_files(inputs)
    if not files:
        return
    target = p.resolve()
    for f in files:
        if f == target:
            raise InputError("is an input file; metaquant never writes over its inputs", path=str(p),
                             expected="another output path")
        if folder and target in f.parents:
            raise InputError(f"holds the input file {f.name if f.parent == target else f}; metaquant never "
                             "writes where its inputs are", path=str(p), expected="another output folder")


def check_writable_target(path: str | Path, *, force: bool = False, folder: bool = False,
                          inputs: Iterable | None = None) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Raises :class:`InputError` naming the path when it exists (and ``force`` is
    not given), when it is (or, a folder, holds) one of the ``inputs``, when a
    name in it is longer than the file system allows, when a parent is a
    regular file, or when the nearest existing parent folder cannot be written.
    """
    p = Path(path)
    if any(len(os.fsencode(part)) > 255 for part in p.parts):
        raise name_too_long(p)
    _refuse_inputs(p, inputs, folder=folder)
    if _exists(p):
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


def atomic_write(path: str | Path, writer: Callable[[str], None], *, overwrite: bool = False,
                 inputs: Iterable | None = None) -> Path:
    """Write ``path`` through ``writer(tmp_path)`` and move it into place atomically.

    ``writer`` writes a complete file at the temporary path it is given (e.g.
    ``idata.to_netcdf``); the file is fsync'ed, given the usual permissions
    and renamed over ``path``.  On any error the temporary is removed.

    Raises
    ------
    InputError
        When ``path`` exists and ``overwrite`` is False, is one of ``inputs``, or cannot be written.
    DiskFullError
        When the disk (or the file-size limit) runs out; nothing is left behind.
    """
    p = check_writable_target(path, force=overwrite, inputs=inputs)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", path=str(p.parent)) from None
    _remove_stale(p.parent, p.name)
    with writing(p), _temporary(p.parent) as tmp:
        try:
            writer(str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
            if p.exists() and not overwrite:  # appeared while we wrote
                raise InputError("exists already; not overwritten", path=str(p),
                                 expected="another path, or --force")
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return p


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False,
                       inputs: Iterable | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, _write, overwrite=overwrite, inputs=inputs)


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


# --------------------------------------------------------------------------
# Output folders
# --------------------------------------------------------------------------


def read_manifest(folder: str | Path) -> set[str] | None:
    """The names metaquant recorded writing into ``folder`` (None when it holds no readable manifest)."""
    try:
        doc = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
        files = doc["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return {f for f in files if f and "/" not in f and f not in (".", "..")}


def _write_manifest(folder: Path, names: Iterable[str]) -> None:
    from importlib.metadata import PackageNotFoundError, version  # not `from . import`: no cycle via the package

    try:
        written_by = f"metaquant {version('metaquant')}"
    except PackageNotFoundError:
        written_by = "metaquant"
    doc = {"written_by": written_by,
           "note": "the files metaquant wrote here; --force replaces these and nothing else",
           "files": sorted(names)}
    with open(folder / MANIFEST, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _content(p: Path) -> list[str]:
    return sorted(e.name for e in p.iterdir() if not _is_ours(e.name))


def _names(names: list[str], at_most: int = 5) -> str:
    shown = ", ".join(names[:at_most])
    return shown + (f" and {len(names) - at_most} more" if len(names) > at_most else "")


def _held_by(lock: Path) -> str:
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    return f" (process {pid})" if pid > 0 else ""


def _claim(p: Path) -> int:
    """Open ``p/.metaquant.lock`` and hold an advisory lock on it; returns the open descriptor.

    A lock file that can be locked belongs to no running process (a run that
    was killed): it is taken over, whatever process id it names.
    """
    lock = p / LOCK
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InputError(f"cannot be claimed for writing: {exc.strerror}", path=str(p)) from None
        if not _try_flock(fd):
            os.close(fd)
            raise InputError(f"is being written by another metaquant run{_held_by(lock)}", path=str(p),
                             expected="another folder, or wait for that run to finish")
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if not same:  # the run before us removed the file while we opened it: try again
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd
    raise InputError("could not be claimed for writing", path=str(p))


def _release(p: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        if os.stat(p / LOCK).st_ino == os.fstat(fd).st_ino:
            (p / LOCK).unlink()
    os.close(fd)


def _check_content(p: Path, force: bool, known: Iterable[str]) -> None:
    """Refuse a folder that holds anything but what metaquant wrote; without ``force``, anything at all."""
    content = _content(p)
    if not content:
        return
    listed = read_manifest(p)
    known = set(known)
    if listed is None and set(content) <= known:  # written by an earlier metaquant, before manifests
        listed = set(content)
        if force:
            _write_manifest(p, content)
    foreign = [n for n in content if n not in (listed or set())]
    if foreign:
        raise InputError(f"is not empty and holds files metaquant did not write ({_names(foreign)}); "
                         "not replaced, even with --force", path=str(p),
                         expected="a new or empty folder, or one that metaquant wrote")
    if not force:
        raise InputError("exists and is not empty; not overwritten", path=str(p),
                         expected="a new folder, or --force")


@contextlib.contextmanager
def output_dir(path: str | Path, *, force: bool = False, inputs: Iterable | None = None,
               known: Iterable[str] = ()) -> Iterator[Path]:
    """Claim an output folder for one run: checked first, claimed atomically, cleaned on failure.

    An existing folder with content (other than our own stale temporaries)
    is refused unless ``force``; even with ``force`` it may hold only what
    its manifest lists (or, a folder written before manifests existed, only
    names in ``known``).  A folder that is or holds one of ``inputs`` is
    refused.  A folder this call created is removed again when the run fails
    before anything was written into it.  Write the content with
    :func:`publish`.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with output_dir(out) as d:
    ...     _ = publish(d, lambda tmp: (tmp / "a.json").write_text("{}"))
    >>> sorted(p.name for p in out.iterdir())
    ['.metaquant-manifest.json', 'a.json']
    """
    p = check_writable_target(path, force=force, folder=True, inputs=inputs)
    created = False
    try:
        p.mkdir(parents=True)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise DiskFullError(p, (exc.strerror or "").lower() or None) from None
        raise InputError(f"cannot create the folder: {exc.strerror}", path=str(p)) from None
    fd = _claim(p)
    ok = False
    try:
        if not created:  # temporaries a killed run left here (the lock keeps other runs out now)
            for entry in list(p.iterdir()):
                if _TMP.match(entry.name) and (not _SHORT.match(entry.name) or _unheld(entry)):
                    _remove(entry)
            _check_content(p, force, known)
        yield p
        ok = True
    finally:
        _release(p, fd)
        if created and not ok and p.is_dir() and not _content(p):
            shutil.rmtree(p, ignore_errors=True)


def new_output_dir(path: str | Path, *, force: bool = False, inputs: Iterable | None = None) -> Path:
    """Create an output folder (checked as :func:`output_dir`, without holding it)."""
    with output_dir(path, force=force, inputs=inputs) as p:
        return p


def _fsync_tree(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            with open(entry, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clear_old(old: Path, real: Path) -> None:
    """Remove what metaquant wrote in the replaced folder; give back anything else that appeared meanwhile."""
    listed = (read_manifest(old) or set()) | {MANIFEST, LOCK}
    for entry in list(old.iterdir()):
        if entry.name in listed or _TMP.match(entry.name):
            _remove(entry)
        elif not os.path.lexists(real / entry.name):
            os.replace(entry, real / entry.name)
    try:
        os.rmdir(old)
    except OSError:
        warnings.warn(f"{real}: files that appeared while metaquant wrote it were kept in {old}", stacklevel=3)


def publish(out: str | Path, build: Callable[[Path], None]) -> Path:
    """Assemble the content of a claimed output folder in a temporary sibling and put it in place at once.

    ``build(tmp)`` writes every file into ``tmp``; a manifest of them is
    added, everything is fsync'ed, and ``tmp`` takes the place of ``out``
    with one rename.  What ``out`` held before (checked by
    :func:`output_dir`: only files metaquant wrote) is then removed.  On any
    error ``tmp`` is removed and ``out`` is left as it was; a full disk is
    reported as :class:`DiskFullError` naming ``out``.
    """
    out = Path(out)
    real = Path(os.path.realpath(out))
    parent = real.parent
    _remove_stale(parent)
    with writing(out), _temporary(parent, directory=True) as tmp:
        try:
            build(tmp)
            _write_manifest(tmp, [e.name for e in tmp.iterdir()])
            _fsync_tree(tmp)
            mode = os.stat(real).st_mode & 0o7777 if real.is_dir() else 0o777 & ~_umask()
            os.chmod(tmp, mode)
            old = Path(tempfile.mkdtemp(prefix=".mq.", suffix=".old", dir=parent))
            os.rmdir(old)  # a free name for the folder being replaced
            os.replace(real, old)
            try:
                os.replace(tmp, real)
            except BaseException:
                os.replace(old, real)
                raise
            fd = os.open(old, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _try_flock(fd)
                _clear_old(old, real)
            finally:
                os.close(fd)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def replace_dir(out: str | Path, build: Callable[[Path], None], *, force: bool = False,
                inputs: Iterable | None = None, known: Iterable[str] = ()) -> Path:
    """Assemble a folder in a temporary sibling with ``build(tmp)`` and rename it into place.

    An existing non-empty ``out`` is refused unless ``force``, and even then
    when it holds anything metaquant did not write (see :func:`output_dir`);
    it is replaced as a whole after the new folder is complete.  The check
    and the claim happen before ``build`` runs.
    """
    with output_dir(out, force=force, inputs=inputs, known=known) as p:
        return publish(p, build)


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
