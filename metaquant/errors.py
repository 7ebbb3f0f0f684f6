"""Errors that reach users as one clear line (exit code 2 at the CLI)."""

from __future__ import annotations


class MetaquantError(Exception):
    """Base class of errors that the CLI reports without a traceback."""

    exit_code = 2


class InputError(MetaquantError):
    """Bad input, located by file, row and column.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str, optional
        The file (or shipped dataset name).
    row : int, optional
        1-based data row (the header is not counted); the file line is ``row + 1``.
    column : str, optional
        Column name.
    expected : str, optional
        What was expected instead.
    """

    def __init__(self, message: str, *, path=None, row=None, column=None, expected=None):
        self.message = message
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row} (line {self.row + 1})")
        if self.column:
            where.append(f"column {self.column!r}")
        s = ", ".join(where)
        s = f"{s}: {self.message}" if s else self.message
        if self.expected:
            s += f"; expected {self.expected}"
        return s


class DataError(InputError, ValueError):
    """Bad data: a value, row or table that cannot be pooled (located like :class:`InputError`)."""


class UsageError(InputError, TypeError):
    """A wrong argument: an unknown option, a wrong type, ``None`` or an empty table, named in the message."""


class ConvergenceWarning(UserWarning):
    """MCMC or an iterative estimator did not meet its diagnostics."""


class DiagnosticsError(MetaquantError):
    """Raised under ``--strict`` when diagnostics fail (exit code 3)."""

    exit_code = 3
