"""Errors that reach users as one clear line (exit code 2 at the CLI).

The hierarchy::

    MetaquantError                  base; the CLI prints it as one line, exit code 2
    ├── InputError                  bad input, located by file, row and column
    │   ├── DataError (ValueError)  a value that is not acceptable (bad data, bad argument value)
    │   └── UsageError (TypeError)  a call that cannot work: wrong type, None, empty table,
    │                               mismatched lengths, missing columns (names the argument)
    └── DiagnosticsError            failed MCMC diagnostics under ``--strict`` (exit code 3)

``DataError`` and ``UsageError`` also derive from the built-in ``ValueError`` and
``TypeError`` so that code written against the standard exceptions keeps working.
"""

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
        1-based data row (the header is not counted); the file line is ``row + 1`` (see ``line``).
    column : str, optional
        Column name.
    expected : str, optional
        What was expected instead.
    line : int, optional
        The file line where the row starts; by default ``row + 1``, or the line
        recorded for ``path`` by :func:`set_line_map` (a file with blank lines or
        quoted line breaks, where rows and lines part ways).
    """

    def __init__(self, message: str, *, path=None, row=None, column=None, expected=None, line=None):
        self.message = message
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.expected = expected
        self.line = line if line is not None or row is None else _line_of(self.path, row)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.row is not None:
            line = self.line if getattr(self, "line", None) is not None else self.row + 1
            where.append(f"row {self.row} (line {line})")
        if self.column:
            where.append(f"column {self.column!r}")
        s = ", ".join(where)
        s = f"{s}: {self.message}" if s else self.message
        if self.expected:
            s += f"; expected {self.expected}"
        return s

    def __reduce__(self):  # picklable (e.g. across dask workers) despite keyword-only arguments
        return (_rebuild, (type(self), self.message, self.path, self.row, self.column, self.expected, self.line))


def _rebuild(cls, message, path, row, column, expected, line=None):
    err = cls.__new__(cls)
    InputError.__init__(err, message, path=path, row=row, column=column, expected=expected, line=line)
    return err


#: File label -> file line of each data row (index row - 1), for the files read last whose
#: rows and lines part ways (blank lines, quoted line breaks).  Every error that names such a
#: file's row, in any module, then gives its real line without carrying a column of lines.
_LINE_MAPS: dict = {}


def set_line_map(path: str, lines) -> None:
    """Record the file line of each data row of ``path`` (None: line = row + 1, the default)."""
    if lines is None:
        _LINE_MAPS.pop(str(path), None)
    else:
        _LINE_MAPS[str(path)] = lines  # an integer array, one entry per data row


def _line_of(path, row) -> int | None:
    lines = _LINE_MAPS.get(path) if path is not None else None
    try:
        r = int(row)
    except (TypeError, ValueError):
        return None
    return int(lines[r - 1]) if lines is not None and 1 <= r <= len(lines) else None


class DataError(InputError, ValueError):
    """Bad data: a value, row or table that cannot be pooled (located like :class:`InputError`)."""


class UsageError(InputError, TypeError):
    """A wrong argument: an unknown option, a wrong type, ``None`` or an empty table, named in the message.

    Parameters
    ----------
    message : str
        What is wrong.
    argument : str, optional
        The name of the offending argument; the message starts with it.
    path, row, column, expected
        As for :class:`InputError`.
    """

    def __init__(self, message: str, *, argument: str | None = None, **where):
        self.argument = argument
        super().__init__(message, **where)

    def __str__(self) -> str:
        s = super().__str__()
        return f"argument {self.argument!r}: {s}" if getattr(self, "argument", None) else s

    def __reduce__(self):
        return (_rebuild_usage, (self.message, self.argument, self.path, self.row, self.column, self.expected,
                                 self.line))


def _rebuild_usage(message, argument, path, row, column, expected, line=None):
    return UsageError(message, argument=argument, path=path, row=row, column=column, expected=expected, line=line)


class ConvergenceWarning(UserWarning):
    """MCMC or an iterative estimator did not meet its diagnostics."""


class DiagnosticsError(MetaquantError):
    """Raised under ``--strict`` when diagnostics fail (exit code 3)."""

    exit_code = 3
