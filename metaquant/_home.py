"""Cache folders that work when the home folder does not.

ArviZ creates ``~/.cache/arviz`` when it is imported, PyTensor compiles into
``~/.pytensor`` and matplotlib keeps ``~/.config/matplotlib``; with a ``HOME``
that cannot hold folders (it points into a regular file, or a read-only place)
ArviZ's import fails with a traceback before metaquant has done anything.
:func:`ensure_cache_dirs` points them at a folder of the temporary directory
instead, and only then: a usable home is left alone.

ArviZ 0.2x also prints a five-line notice of its coming refactor (a ``FutureWarning``) on import; it says
nothing about the user's analysis, so it is silenced here, by its message alone, before ArviZ loads.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path


def _creatable(path: Path) -> bool:
    """Whether ``path`` is, or can be made, a writable folder (nothing is created)."""
    p = path
    try:
        while not p.exists():
            if p.parent == p:
                return False
            p = p.parent
        return p.is_dir() and os.access(p, os.W_OK | os.X_OK)
    except OSError:  # e.g. a component that is a regular file: NotADirectoryError on stat
        return False


def _home() -> Path | None:
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    try:
        return Path.home()
    except (RuntimeError, KeyError, OSError):
        return None


def ensure_cache_dirs() -> list[str]:
    """Point ArviZ's, PyTensor's and matplotlib's caches at the temporary folder when the home folder cannot hold them.

    Returns
    -------
    list of str
        The environment variables set (empty when the home folder is usable).
    """
    home = _home()
    fallback = Path(tempfile.gettempdir()) / f"metaquant-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
    changed = []
    cache = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else (
        home / ".cache" if home is not None else None)
    if cache is None or not _creatable(cache / "arviz"):
        os.environ["XDG_CACHE_HOME"] = str(fallback / "cache")
        changed.append("XDG_CACHE_HOME")
    config = Path(os.environ["XDG_CONFIG_HOME"]) if os.environ.get("XDG_CONFIG_HOME") else (
        home / ".config" if home is not None else None)
    if not os.environ.get("MPLCONFIGDIR") and (config is None or not _creatable(config / "matplotlib")):
        os.environ["MPLCONFIGDIR"] = str(fallback / "matplotlib")  # else matplotlib warns on every run
        changed.append("MPLCONFIGDIR")
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "base_compiledir" not in flags and (home is None or not _creatable(home / ".pytensor")):
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={fallback / 'pytensor'}") if f)
        changed.append("PYTENSOR_FLAGS")
    return changed


ensure_cache_dirs()
warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)
