"""The one validator of numeric command-line options.

Every number a command takes (a count, a seed, a bit-width, a prior scale, a
list of factors) is read by :class:`Number`: NaN, ``inf`` and values outside
the option's stated range are refused before any work, with click's one-line
error naming the option and the accepted range (exit code 2)::

    Error: Invalid value for '--bits': nan is not a finite number in (0, 64]

:func:`number_option` declares such an option and states the range in its
``--help``; :class:`NumberList` reads comma-separated lists (``--factors
0.5,1,2``) and :class:`ScalePriorParam` the ``family:S`` priors with the same
check on each number.  The ranges of the Bayesian priors are those of
:data:`metaquant.bayes.priors.PRIOR_SCALE_RANGE`, which the engines enforce too.
"""

from __future__ import annotations

import functools
import math

import click

from ..bayes.priors import PRIOR_SCALE_RANGE, SCALE_FAMILIES
from ..spec import RunSettings

#: Upper bounds of the counts (beyond them a run cannot finish or fit in memory).
MAX_DRAWS = 1_000_000
MAX_CHAINS = 64
MAX_JOBS = 1024
MAX_SEED = 2**32 - 1
#: Bit-widths and parameter counts a setting may name.
BITS_RANGE = (0.0, 64.0)
PARAMS_RANGE = (0.0, 1e15)
#: Multipliers of SSM's cut-points (--threshold-scale, --factors).
FACTOR_RANGE = (0.01, 100.0)


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class Number(click.ParamType):
    """A finite number (or integer) in a range, bounds open or closed.

    Parameters
    ----------
    low, high : float or int, optional
        Bounds; ``None`` for none.
    integer : bool
        Whole numbers only (``'2.5'`` and ``'1e3'`` are refused as integers).
    low_open, high_open : bool
        Whether the bound itself is refused.
    """

    def __init__(self, low=None, high=None, *, integer: bool = False, low_open: bool = False,
                 high_open: bool = False):
        self.low, self.high, self.integer = low, high, integer
        self.low_open, self.high_open = low_open, high_open
        self.name = "integer" if integer else "float"

    def describe(self) -> str:
        """The accepted values in words, e.g. ``a finite number in (0, 64]`` or ``an integer >= 1``."""
        what = "an integer" if self.integer else "a finite number"
        return f"{what} {self.bounds()}".rstrip()

    def bounds(self) -> str:
        """The range alone, e.g. ``in (0, 64]``, ``>= 1`` or ``''`` for none."""
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return f"in {'(' if self.low_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if self.high_open else ']'}"
        if lo is not None:
            return f"{'>' if self.low_open else '>='} {_fmt(lo)}"
        if hi is not None:
            return f"{'<' if self.high_open else '<='} {_fmt(hi)}"
        return ""

    def check(self, value):
        """``value`` as a number in range, or ``ValueError`` with the words of the error."""
        text = value if isinstance(value, str) else repr(value)
        if isinstance(value, bool):
            raise ValueError(f"{text} is not {self.describe()}")
        try:
            x = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{text!r} is not {self.describe()}") from None
        if not math.isfinite(x):
            raise ValueError(f"{text.strip()} is not {self.describe()}")
        if self.integer:
            try:
                x = int(value.strip(), 10) if isinstance(value, str) else int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{text.strip()} is not {self.describe()}") from None
            if isinstance(value, float) and value != x:
                raise ValueError(f"{text} is not {self.describe()}")
        lo, hi = self.low, self.high
        if (lo is not None and (x <= lo if self.low_open else x < lo)) or \
                (hi is not None and (x >= hi if self.high_open else x > hi)):
            raise ValueError(f"{text.strip() if isinstance(value, str) else text} is not {self.describe()}")
        return x

    def convert(self, value, param, ctx):
        try:
            return self.check(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class NumberList(click.ParamType):
    """Comma- (or space-) separated numbers, each checked by a :class:`Number`; returns a list."""

    name = "list"

    def __init__(self, number: Number):
        self.number = number

    def describe(self) -> str:
        return f"numbers separated by commas, each {self.number.describe()}"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        parts = str(value).replace(",", " ").split()
        if not parts:
            self.fail(f"{value!r} is empty; expected {self.describe()}", param, ctx)
        out = []
        for p in parts:
            try:
                out.append(self.number.check(p))
            except ValueError as exc:
                self.fail(f"{exc} (in {value!r})" if len(parts) > 1 else str(exc), param, ctx)
        return out


class ScalePriorParam(click.ParamType):
    """``halfnormal:S`` or ``halfcauchy:S`` with the scale S checked by a :class:`Number`; returns the text."""

    name = "prior"

    def __init__(self):
        self.scale = Number(*PRIOR_SCALE_RANGE)

    def describe(self) -> str:
        return f"'halfnormal:S' or 'halfcauchy:S' with a scale S {self.scale.bounds()}"

    def convert(self, value, param, ctx):
        fam, sep, sc = str(value).partition(":")
        if sep and fam.strip().lower().replace("-", "").replace("_", "") in SCALE_FAMILIES:
            try:
                self.scale.check(sc)
                return str(value).strip()
            except ValueError:
                pass
        self.fail(f"{value!r} is not {self.describe()}", param, ctx)


def accepted(param_type) -> str:
    """The range sentence appended to an option's help."""
    return f"[accepted: {param_type.describe()}]"


def number_option(*decls, low=None, high=None, integer: bool = False, low_open: bool = False,
                  high_open: bool = False, help: str = "", **kw):  # noqa: A002  (click's own keyword)
    """``click.option`` whose value goes through :class:`Number`, its range stated in ``--help``."""
    kind = Number(low, high, integer=integer, low_open=low_open, high_open=high_open)
    return click.option(*decls, type=kind, help=f"{help} {accepted(kind)}".strip(), **kw)


def count_option(*decls, low: int = 1, high: int = MAX_DRAWS, **kw):
    """An integer option in ``[low, high]`` (draws, tuning steps, chains, jobs, rows)."""
    return number_option(*decls, low=low, high=high, integer=True, **kw)


def seed_option(*decls, **kw):
    """A random seed: an integer in ``[0, 2**32 - 1]``."""
    return number_option(*decls, low=0, high=MAX_SEED, integer=True, **kw)


def mcmc_options(*, draws_help: str = "MCMC draws per chain.", seed_help: str = "MCMC seed."):
    """``--draws``, ``--tune``, ``--chains``, ``--seed`` and ``--mcmc``, given to the command as one ``run``.

    The defaults are :class:`metaquant.spec.RunSettings`'s (``spec.DEFAULT_MCMC``, ``spec.DEFAULT_SEED``) for
    every command that fits; no command states its own.  The command receives a single keyword ``run``, the
    :class:`~metaquant.spec.RunSettings` these options make (``--mcmc`` is its ``force_mcmc``: sample by NUTS
    even where quadrature computes the same posterior), so no command builds its own.
    """
    base = RunSettings()

    def deco(command):
        @functools.wraps(command)
        def with_run(*args, draws, tune, chains, seed, force_mcmc, **kwargs):
            run = RunSettings(draws=draws, tune=tune, chains=chains, seed=seed, force_mcmc=force_mcmc)
            return command(*args, run=run, **kwargs)

        f = click.option("--mcmc", "force_mcmc", is_flag=True,
                         help="Bayes: sample by NUTS even where quadrature computes the same posterior "
                              "(the default there).")(with_run)
        f = seed_option("--seed", default=base.seed, show_default=True, help=seed_help)(f)
        f = count_option("--chains", high=MAX_CHAINS, default=base.chains, show_default=True, help="MCMC chains.")(f)
        f = count_option("--tune", low=0, default=base.tune, show_default=True,
                         help="MCMC tuning steps per chain.")(f)
        f = count_option("--draws", default=base.draws, show_default=True, help=draws_help)(f)
        return f

    return deco


def parallel_options(jobs_help: str = "Local worker processes for the independent fits.", scheduler_help: str = ""):
    """``--jobs`` and ``--scheduler``, the same two options on every command that runs independent fits.

    Their values go to :func:`metaquant.parallel.run_tasks`; ``scheduler_help`` is added to the scheduler's help.
    """
    def deco(f):
        f = click.option("--scheduler", default=None,
                         help="Dask distributed scheduler address, e.g. tcp://host:8786 (needs the 'dist' extra)."
                         + (f" {scheduler_help}" if scheduler_help else ""))(f)
        f = count_option("--jobs", high=MAX_JOBS, default=1, show_default=True, help=jobs_help)(f)
        return f

    return deco


__all__ = ["BITS_RANGE", "FACTOR_RANGE", "MAX_CHAINS", "MAX_DRAWS", "MAX_JOBS", "MAX_SEED", "PARAMS_RANGE", "Number",
           "NumberList", "ScalePriorParam", "accepted", "count_option", "mcmc_options", "number_option",
           "parallel_options", "seed_option"]
