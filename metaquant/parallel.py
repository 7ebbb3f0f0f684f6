"""Independent computations run one after another, over local processes, or on a Dask cluster.

One helper for every command with ``--jobs`` and ``--scheduler`` (sensitivity sweeps, compare, report, the
BMA ensemble, predict's calibration): the results come back in the order of the tasks, whatever ran them.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from .errors import InputError


def _dask_client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs Dask distributed, which is not installed",
                         expected="pip install 'metaquant[dist]' (dask[distributed])") from None
    try:
        return Client(address, set_as_default=False, timeout=10)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def run_tasks(tasks: Sequence, *, jobs: int = 1, scheduler: str | None = None, fn: Callable, progress=None) -> list:
    """Run independent tasks and return their results in order.

    Parameters
    ----------
    tasks : sequence
        Picklable task objects; a ``key`` attribute (a tuple) names each one to ``progress``.
    jobs : int
        ``1``: in this process, one after another; ``N > 1``: ``N`` local
        worker processes (:class:`concurrent.futures.ProcessPoolExecutor`,
        started with ``spawn`` so that no thread state is forked).
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
        return list(told(ex.map(fn, tasks)))


__all__ = ["run_tasks"]
