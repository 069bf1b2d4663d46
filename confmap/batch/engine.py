"""Where batch work runs: in this process, on a dask ``LocalCluster``, or on an existing cluster.

confmap does not schedule anything itself: a bag of independent tasks goes to
``distributed.Client.map`` and comes back through ``distributed.as_completed``. Worker processes
have one thread each and every task runs under ``threadpoolctl.threadpool_limits(1)``, so N
workers use N cores and no BLAS pool oversubscribes them. A worker that dies mid-task (killed,
out of memory) is replaced by its nanny and the scheduler reruns the task elsewhere (dask's
``distributed.scheduler.allowed-failures``, default 3); every output is written atomically
(temporary file, then rename), so a killed task leaves at most a hidden temporary file, which
:func:`remove_temporaries` clears at the end of a run.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .._validation import check_int, describe

__all__ = [
    "BadInput",
    "FolderConflict",
    "SchedulerUnreachable",
    "open_client",
    "remove_temporaries",
    "run_tasks",
]


class BadInput(ValueError):
    """Unreadable or mixed-format inputs found with ``strict=True`` (nothing was computed)."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class FolderConflict(ValueError):
    """An output folder holds results made with other parameters (or unknown ones)."""


class SchedulerUnreachable(ConnectionError):
    """No dask scheduler answered at the given address (or a local cluster failed to start)."""


def _check_client(client):
    if client is None:
        return None
    from distributed import Client

    if not isinstance(client, Client):
        raise TypeError(f"`client` must be a distributed.Client or None, got {describe(client)}")
    return client


@contextlib.contextmanager
def open_client(*, workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0):
    """A ``distributed.Client`` for the duration of a ``with`` block, or None (run in-process).

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (one thread each) on the loopback
        interface, closed at the end of the block.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, or a scheduler file path ending in
        ``.json``), e.g. one started by ``dask_jobqueue.SLURMCluster`` or ``dask scheduler``.
    timeout : float, default 10
        Seconds to wait for the scheduler.

    Yields
    ------
    distributed.Client or None
        None when neither ``workers`` nor ``scheduler`` is given.

    Raises
    ------
    ValueError
        If both are given, or ``workers`` < 1.
    SchedulerUnreachable
        If the scheduler does not answer within ``timeout``.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give `workers` (start a local cluster) or `scheduler` (use one), not both")
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        kwargs = {"scheduler_file": scheduler} if str(scheduler).endswith(".json") else {"address": scheduler}
        try:
            client = Client(**kwargs, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(
                f"cannot reach the dask scheduler at {scheduler!r} within {timeout:g} s ({exc}); "
                "check the address (tcp://host:8786) and that the scheduler is running"
            ) from None
        with client:
            yield client
        return
    workers = check_int("workers", workers, minimum=1)
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: several clusters may run on one machine
        )
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(f"could not start a local dask cluster of {workers} workers: {exc}") from None
    with cluster, Client(cluster) as client:
        yield client


_BLAS_CAPPED = False


def _capped(func, item):
    """Run one task with BLAS/OpenMP pools capped to one thread (set once per worker process:
    threadpoolctl's limit holds for the process, and re-applying it costs ~10 ms per task)."""
    global _BLAS_CAPPED
    if not _BLAS_CAPPED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        _BLAS_CAPPED = True
    return func(item)


def run_tasks(
    func: Callable,
    items: Iterable,
    *,
    client=None,
    desc: str = "tasks",
    progress: bool = True,
) -> Iterator[tuple[int, object]]:
    """Run ``func(item)`` for every item, yielding ``(index, result)`` as each finishes.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled to the workers) taking one item and returning a
        small result (a summary; outputs are written by the task itself).
    items : iterable
        Its arguments (paths, small dicts).
    client : distributed.Client, optional
        Run on this cluster (one task per item, BLAS capped to one thread inside each). Default:
        a plain loop in this process.
    desc : str, default "tasks"
        Label of the tqdm progress bar.
    progress : bool, default True
        Show the bar.

    Yields
    ------
    (int, object)
        The item's position in ``items`` and ``func``'s result, in completion order.

    Raises
    ------
    Exception
        Whatever a task raised (after dask's retries for dead workers); tasks that should not
        stop a run must catch their own errors and return them in their summary.
    """
    from tqdm.auto import tqdm

    client = _check_client(client)
    items = list(items)
    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not progress)
    try:
        if client is None:
            for i, item in enumerate(items):
                result = func(item)
                bar.update()
                yield i, result
            return
        from distributed import as_completed

        futures = client.map(functools.partial(_capped, func), items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                result = fut.result()
                i = index[fut.key]
                fut.release()
                bar.update()
                yield i, result
        finally:
            client.cancel(futures)
    finally:
        bar.close()


def remove_temporaries(folder) -> list[Path]:
    """Delete the hidden temporary files that atomic writes left behind after a crash.

    :func:`confmap._validation.atomic_write` writes ``.<name>.<random>.tmp<suffix>`` next to its
    target and renames it; a process killed before the rename leaves that file. Call this only
    when no run is writing into ``folder``.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    folder = Path(os.fspath(folder))
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.rglob(".*.tmp*"):
        if p.is_file() and ".tmp" in p.name:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
