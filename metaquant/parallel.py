"""Independent computations run one after another, over local processes, or on a Dask cluster.

One helper for every command with ``--jobs`` and ``--scheduler`` (sensitivity sweeps, compare, report, the
BMA ensemble, predict's calibration): the results come back in the order of the tasks, whatever ran them.
"""

from __future__ import annotations

import functools
import multiprocessing
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from .errors import InputError

#: Seconds to wait for a Dask scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10


def _dask_client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs Dask distributed, which is not installed",
                         expected="pip install 'metaquant[dist]' (dask[distributed])") from None
    try:
        return Client(address, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def _recording(fn: Callable, task):
    """``fn(task)`` in a worker process, with the warnings it raised (category, text, file, line) for the caller."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(task)
    return out, [(w.category, str(w.message), w.filename, w.lineno) for w in caught]


def _relayed(results):
    """The results of :func:`_recording`, their warnings raised again here (under the caller's filters)."""
    for out, caught in results:
        for category, text, filename, lineno in caught:
            warnings.warn_explicit(text, category, filename, lineno)
        yield out


def run_tasks(tasks: Sequence, *, jobs: int = 1, scheduler: str | None = None, fn: Callable, progress=None) -> list:
    """Run independent tasks and return their results in order.

    Parameters
    ----------
    tasks : sequence
        Picklable task objects; a ``key`` attribute (a tuple) names each one to ``progress``.
    jobs : int
        ``1``: in this process, one after another; ``N > 1``: ``N`` local
        worker processes (:class:`concurrent.futures.ProcessPoolExecutor`,
        started with ``spawn`` so that no thread state is forked); the
        warnings a task raises there are raised again here, as it finishes,
        so that the caller's filters and collectors
        (:func:`metaquant.progress.collect_warnings`) treat them as they would
        those of a task run in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the
        tasks are sent there instead.
    fn : callable
        The function applied to each task (picklable: a module-level function).
    progress : metaquant.progress.Progress, optional
        Told of each finished task (``progress.done(name)``), in order.
    """
    tasks = list(tasks)
    if progress is not None and progress.total is None:
        progress.total = len(tasks)

    def told(results):
        for t, r in zip(tasks, results, strict=False):
            if progress is not None:
                progress.done(" ".join(str(k) for k in getattr(t, "key", (t,))))
            yield r

    if scheduler:
        client = _dask_client(scheduler)
        try:
            futures = client.map(fn, tasks, pure=False)
            return list(told(client.gather(futures)))
        finally:
            client.close()
    if jobs is None or jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(tasks) <= 1:
        return list(told(fn(t) for t in tasks))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as ex:
        return list(told(_relayed(ex.map(functools.partial(_recording, fn), tasks))))


__all__ = ["CONNECT_TIMEOUT_S", "run_tasks"]
