"""Progress of long commands, and the warnings of a fit collected into sentences.

:class:`Progress` reports units of work (a property pooled, a study left
out, a sweep point) as they finish: on a terminal as a bar (``rich``, which
PyMC already depends on, or click's bar where ``rich`` is missing), and
otherwise, e.g. in a log file or CI, as one line per finished unit with its
time and the time elapsed.  ``quiet=True`` silences it.  :func:`track` wraps
an iterable in one.

:func:`collect_warnings` catches the Python warnings and the warning log
records of PyMC, PyTensor and ArviZ raised while a fit runs, so that none
reaches stderr with its source line, and turns them into sentences
(:func:`warning_sentences`), each once with a count, for the command to
print once per fit.

:func:`plural` and :func:`beside_limit` are the package's words for a count and for a
number compared with its limit.

Only the bar itself is left to a library; the line format and the sentence
wording are the package's own.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

#: Loggers whose warnings :func:`collect_warnings` catches by default.
LOGGERS = ("pymc", "pytensor", "arviz")

#: Warning categories left out by default: library deprecations say nothing about the fit.
IGNORED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

_CATEGORY_WORDS = {"RuntimeWarning": "numerical", "UserWarning": "", "ConvergenceWarning": "convergence",
                   "Warning": ""}


def _isatty(stream: IO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _rich_available() -> bool:
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class Progress:
    """Progress over ``total`` units of work.

    Parameters
    ----------
    total : int, optional
        Number of units (``None`` when unknown).
    label : str
        What is being done (``"fit --all"``, ``"leave-one-out"``).
    stream : file, optional
        Where to write (stderr by default).
    quiet : bool
        Write nothing.
    bar : bool, optional
        Draw a bar (``True``) or write lines (``False``); by default a bar
        exactly when ``stream`` is a terminal.
    clock : callable
        Seconds (for tests).

    Examples
    --------
    >>> import io
    >>> s = io.StringIO()
    >>> with Progress(2, label="fit", stream=s, clock=iter([0.0, 1.0, 3.0, 3.0]).__next__) as p:
    ...     p.done("accuracy")
    ...     p.done("dsc")
    >>> print(s.getvalue(), end="")
    fit [1/2] accuracy done in 1.0 s (elapsed 1.0 s)
    fit [2/2] dsc done in 2.0 s (elapsed 3.0 s)
    """

    def __init__(self, total: int | None = None, *, label: str = "", stream: IO | None = None, quiet: bool = False,
                 bar: bool | None = None, clock: Callable[[], float] = time.perf_counter):
        self.total = None if total is None else int(total)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.quiet = bool(quiet)
        self.clock = clock
        self.count = 0
        self.mode = "quiet" if self.quiet else ("bar" if (_isatty(self.stream) if bar is None else bar) else "lines")
        self._t0 = self._last = clock()
        self._bar: Any = None
        self._task = None
        if self.mode == "bar":
            self._start_bar()

    # ---- the bar -------------------------------------------------------------
    def _start_bar(self) -> None:
        if _rich_available():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream, force_terminal=True, highlight=False)
            cols = [TextColumn("{task.description}"), BarColumn()]
            cols += [MofNCompleteColumn()] if self.total is not None else []
            cols += [TimeElapsedColumn(), TextColumn("{task.fields[unit]}")]
            self._bar = RichProgress(*cols, console=console, transient=False, refresh_per_second=4)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, unit="")
            self._kind = "rich"
        else:
            import click

            self._bar = click.progressbar(length=self.total or 0, label=self.label, file=self.stream,
                                          show_pos=True, item_show_func=lambda u: u or "")
            self._bar.__enter__()
            self._kind = "click"

    # ---- reporting -----------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self._t0

    def done(self, unit: str = "", *, n: int = 1) -> None:
        """Mark ``n`` units finished; ``unit`` says which (a property, a left-out study)."""
        now = self.clock()
        dt, self._last = now - self._last, now
        self.count += n
        if self.mode == "lines":
            pos = f"[{self.count}/{self.total}]" if self.total is not None else f"[{self.count}]"
            head = f"{self.label} {pos}" if self.label else pos
            what = f" {unit}" if unit else ""
            self.stream.write(f"{head}{what} done in {_seconds(dt)} (elapsed {_seconds(now - self._t0)})\n")
            self.stream.flush()
        elif self.mode == "bar":
            if self._kind == "rich":
                self._bar.update(self._task, advance=n, unit=unit)
            else:
                self._bar.update(n, current_item=unit)

    def echo(self, text: str) -> None:
        """Write a line of text (a note, a warning sentence) without breaking the bar."""
        if self.mode == "quiet":
            return
        if self.mode == "bar" and self._kind == "rich":
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            if self.mode == "bar":
                self.stream.write("\n")
            self.stream.write(text.rstrip("\n") + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Stop the bar (a no-op for lines and under ``quiet``); safe to call twice."""
        if self.mode == "bar" and self._bar is not None:
            if self._kind == "rich":
                self._bar.stop()
            else:
                self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable, *, label: str = "", total: int | None = None, describe: Callable[[Any], str] = str,
          stream: IO | None = None, quiet: bool = False, bar: bool | None = None) -> Iterator:
    """Iterate over ``items``, reporting each as finished when the loop body is done with it.

    An item is reported when the next one is asked for (or the loop ends),
    so the time is that of the work on it; one the loop breaks out of is not.
    ``total`` defaults to ``len(items)`` where it has one.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, label=label, stream=stream, quiet=quiet, bar=bar) as p:
        for item in items:
            yield item
            p.done(describe(item))


# --------------------------------------------------------------------------
# Warnings as sentences
# --------------------------------------------------------------------------


@dataclass
class CollectedWarnings:
    """What :func:`collect_warnings` caught: Python warnings and log records."""

    warnings: list[warnings.WarningMessage] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

    def sentences(self, *, where: str = "each fit's diagnostics say which") -> list[str]:
        """Each distinct warning once, in words (:func:`warning_sentences`); failed MCMC checks summed up.

        The convergence warnings of many fits (one per fit and check) become one sentence,
        e.g. ``"Convergence warning: 3 fits had R-hat above 1.01 (accuracy, f1_score); listed in the report."``,
        ``where`` saying where the fits are listed.
        """
        fits, rest = _convergence_summary(self.warnings, where)
        return fits + warning_sentences(rest, self.records)

    def __bool__(self) -> bool:
        return bool(self.warnings or self.records)


class _Keep(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@contextmanager
def collect_warnings(*, loggers: Sequence[str] = LOGGERS,
                     ignore: Sequence[type[Warning]] = IGNORED) -> Iterator[CollectedWarnings]:
    """Catch the warnings raised inside the block instead of printing them.

    Python warnings of every category except ``ignore`` are recorded (each
    occurrence, none printed); the named loggers' handlers are replaced by
    one that keeps records at WARNING and above and drops the rest (PyMC's
    "Auto-assigning NUTS sampler" chatter), and restored afterwards.

    Yields
    ------
    CollectedWarnings
        Filled as the block runs; ``.sentences()`` gives them in words.
    """
    got = CollectedWarnings()
    saved = []
    keep = _Keep(got.records)
    for name in loggers:
        lg = logging.getLogger(name)
        saved.append((lg, lg.handlers[:], lg.propagate))
        lg.handlers = [keep]
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for cat in ignore:
                warnings.simplefilter("ignore", cat)
            try:
                yield got
            finally:
                got.warnings.extend(caught)
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers = handlers
            lg.propagate = propagate


#: The failed MCMC checks (messages of ``metaquant.bayes.results.mcmc_diagnostics``) and how a summary says them.
_CHECKS = (
    (re.compile(r"R-hat [0-9.]+ > ([0-9.]+)"), "R-hat above {}"),
    (re.compile(r"R-hat could not be computed"), "no R-hat (too few chains or draws)"),
    (re.compile(r"bulk ESS [0-9.]+ < ([0-9.]+)"), "a bulk ESS below {}"),
    (re.compile(r"bulk ESS could not be computed"), "no bulk ESS"),
    (re.compile(r"[0-9]+ divergent transitions"), "divergent transitions"),
)


def _convergence_summary(caught: Iterable[warnings.WarningMessage], where: str):
    """(one sentence for the failed MCMC checks of all fits, the warnings it does not cover)."""
    checks: dict[str, list[str]] = {}
    rest = []
    for w in caught:
        text = str(w.message)
        hit = next(((m, say) for rx, say in _CHECKS if w.category.__name__ == "ConvergenceWarning"
                    for m in [rx.search(text)] if m), None)
        if hit is None:
            rest.append(w)
            continue
        m, say = hit
        prop = text[: m.start()].rstrip(": ").strip()
        checks.setdefault(say.format(*m.groups()), []).append(prop)
    if not checks:
        return [], rest
    parts = [f"{plural(len(props), 'fit')} had {what}" + (f" ({', '.join(dict.fromkeys(p for p in props if p))})"
                                                         if any(props) else "")
             for what, props in checks.items()]
    return [f"Convergence warning: {'; '.join(parts)}; {where}."], rest


#: Library warnings said in a line of the package's own words (what they mean for the user).
_PLAIN = (
    (re.compile(r"PyTensor could not link to a BLAS installation"),
     "PyTensor found no BLAS library, so some matrix operations run slower (this costs speed, not correctness)."),
)


def _plain(text: str) -> str:
    return next((say for rx, say in _PLAIN if rx.search(text)), text)


def _sentence(text: str, *, capital: bool = True) -> str:
    """Whitespace collapsed, a full stop at the end; a leading plain word capitalised (never an identifier)."""
    s = " ".join(str(text).split())
    if not s:
        return s
    first = s.split(" ", 1)[0]
    if capital and first.isalpha() and first.islower():
        s = s[0].upper() + s[1:]
    return s if s[-1] in ".!?" else s + "."


def _category_words(cat: type) -> str:
    name = cat.__name__
    if name in _CATEGORY_WORDS:
        return _CATEGORY_WORDS[name]
    base = re.sub(r"Warning$", "", name)
    return " ".join(w.lower() for w in re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", base))


def warning_sentences(caught: Iterable[warnings.WarningMessage] = (),
                      records: Iterable[logging.LogRecord] = ()) -> list[str]:
    """Warnings and log records as sentences, each distinct one once, in the order first met.

    ``"<Kind> warning: <message>."`` (kind from the category:
    ``Convergence``, ``Numerical`` for :class:`RuntimeWarning`; the message
    alone for a plain :class:`UserWarning` and for log records), with ``" (n times)"`` when it came more than once;
    never a file name or source line.
    """
    counts: dict[str, int] = {}
    for w in caught:
        words = _category_words(w.category)
        msg = _sentence(_plain(str(w.message)), capital=not words)
        s = f"{words.capitalize()} warning: {msg}" if words and msg else msg
        counts[s] = counts.get(s, 0) + 1
    for r in records:
        s = _sentence(_plain(r.getMessage()))
        counts[s] = counts.get(s, 0) + 1
    return [s if n == 1 else f"{s[:-1]} ({n} times){s[-1]}" for s, n in counts.items() if s]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` with ``word`` in the number it takes: ``"1 study"``, ``"3 studies"``, ``"0 rows"``.

    Parameters
    ----------
    n : int
        The count.
    word : str
        The singular noun.
    many : str, optional
        The plural where it is not ``word`` + ``s`` (or ``-y`` -> ``-ies`` after a consonant).
    """
    if n == 1:
        return f"{n} {word}"
    if many is None:
        many = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    return f"{n} {many}"


def beside_limit(value: float, limit: float, digits: int = 3) -> str:
    """``value`` with enough decimals that its comparison with ``limit`` shows.

    ``beside_limit(1.0104, 1.01)`` is ``"1.0104"`` (``"1.010 > 1.01"`` reads as false),
    ``beside_limit(399.6, 400, 0)`` is ``"399.6"``; at least ``digits`` decimals, at most ``digits + 12``.
    """
    v, lim = float(value), float(limit)
    for d in range(digits, digits + 13):
        s = f"{v:.{d}f}"
        if (float(s) > lim) == (v > lim) and (float(s) < lim) == (v < lim):
            return s
    return repr(v)


__all__ = ["IGNORED", "LOGGERS", "CollectedWarnings", "Progress", "beside_limit", "collect_warnings", "plural",
           "track", "warning_sentences"]
