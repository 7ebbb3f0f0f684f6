"""The ``metaquant`` command line: thin click commands over :mod:`metaquant.api`.

Every user-facing error is one line on stderr with exit code 2 (bad input) or
3 (failed MCMC diagnostics under ``--strict``); never a traceback.  A full disk
(standard output included) and a file name longer than the file system allows
are such errors too.  SIGTERM ends a run as Ctrl-C does (temporaries and the
folder lock are cleaned up; exit code 143, 130 for Ctrl-C), and SIGXFSZ is
ignored so that a file-size limit is met as a clean "disk full" error.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import os
import signal
import sys

import click

from ..errors import MetaquantError


class Terminated(SystemExit):
    """Raised in the main process on SIGTERM so that every ``finally`` (temporaries, the lock) runs."""

    def __init__(self):
        super().__init__(143)


@contextlib.contextmanager
def _signals():
    """SIGTERM ends the run like Ctrl-C (cleanly, exit 143); SIGXFSZ is ignored (a size limit gives EFBIG)."""
    main_pid = os.getpid()

    def on_term(signum, frame):
        if os.getpid() != main_pid:  # a forked worker: die as it would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise Terminated()

    previous = {}
    for sig, handler in ((signal.SIGTERM, on_term), (getattr(signal, "SIGXFSZ", None), signal.SIG_IGN)):
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread (e.g. a test runner)
                previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)


def _checked_stdout() -> None:
    """Put a buffer under an unbuffered standard output (``PYTHONUNBUFFERED``, ``python -u``).

    A text stream written straight to the file drops the rest of a short
    write (a full disk, a file-size limit) without a word; a buffer retries
    it and raises the error.  Output still goes out line by line.
    """
    out = sys.stdout
    raw = getattr(out, "buffer", None)
    if out is sys.__stdout__ and isinstance(raw, io.RawIOBase):
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding=out.encoding, errors=out.errors,
                                      line_buffering=True, write_through=True)


def _quiet_stdout() -> None:
    """Send what is still buffered for a full standard output nowhere (no second error at exit)."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _os_error_line(exc: OSError) -> str | None:
    """One line for the OSErrors that are the user's situation rather than a bug, else None."""
    from ..outputs import DISK_FULL, DiskFullError, name_too_long

    if exc.errno in DISK_FULL:
        reason = (exc.strerror or "").lower() or None
        if exc.filename is None:
            _quiet_stdout()
            return str(DiskFullError("standard output", reason, "the output is incomplete"))
        return str(DiskFullError(exc.filename, reason))
    if exc.errno == errno.ENAMETOOLONG and exc.filename is not None:
        return str(name_too_long(exc.filename))
    return None


class _Group(click.Group):
    """A group that turns metaquant errors into one line and an exit code."""

    def invoke(self, ctx):
        from ..progress import collect_warnings

        _checked_stdout()
        try:
            # Python warnings raised inside a command are said once each, in words, after it
            with _signals(), collect_warnings() as caught:
                out = super().invoke(ctx)
            where = ("the report marks the fits it shows with [!]" if ctx.invoked_subcommand == "report"
                     else "each fit's diagnostics say which")
            for sentence in dict.fromkeys(caught.sentences(where=where)):
                click.echo(f"warning: {sentence}", err=True)
            return out
        except Terminated:
            click.echo("terminated", err=True)
            sys.exit(143)
        except MetaquantError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as exc:
            line = _os_error_line(exc)
            if line is None:
                raise
            click.echo(f"error: {line}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metaquant")
def main():
    """Evidence synthesis on deep-learning model quantization.

    \b
    metaquant fit --property accuracy          Bayesian pooling of the shipped SSM-2025 data
    metaquant fit --property accuracy --method reml --missing-vi drop
    metaquant ssm                               the Structured Synthesis Method, as the paper
    metaquant data list                         shipped datasets
    """


# Commands live in their own modules; each is optional so that a partial
# install still starts (e.g. the benchmark harness without torch).
_COMMANDS = {
    "fit": ("metaquant.cli.fit", "fit"),
    "data": ("metaquant.cli.data", "data"),
    "ssm": ("metaquant.cli.ssm", "ssm"),
    "bench": ("metaquant.cli.bench", "bench"),
    "compare": ("metaquant.cli.compare", "compare"),
    "sensitivity": ("metaquant.cli.compare", "sensitivity"),
    "plot": ("metaquant.cli.compare", "plot"),
    "report": ("metaquant.cli.compare", "report"),
    "predict": ("metaquant.cli.predict", "predict"),
    "bias": ("metaquant.cli.bias", "bias"),
}
for _name, (_mod, _attr) in _COMMANDS.items():
    try:
        main.add_command(getattr(importlib.import_module(_mod), _attr), _name)
    except (ImportError, AttributeError):  # module not present in this build
        pass
