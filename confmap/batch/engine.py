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
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .._validation import atomic_write_bytes, check_int, check_type

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
    import dask

    # dask's nanny gives every worker MALLOC_TRIM_THRESHOLD_=65536 (to hand freed memory back to the
    # OS at once). confmap's tasks allocate and free many arrays of a few MB each; with that setting
    # glibc trims and re-faults them over and over: a quick cross-validation unit trained 1.3x slower
    # and the whole run 1.3x longer on 2 workers (124 s vs 93 s of training, measured 2026-12-02).
    # Keep the nanny's thread caps (OMP/MKL/OPENBLAS = 1), drop only the trim threshold.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
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


def _on_worker(func, chunk):
    """Run one dask task: ``func`` over a chunk of items, in order, on a worker.

    BLAS/OpenMP pools are capped to one thread once per worker process (re-applying costs ~10 ms).
    dask's scheduler is ``"sync"`` inside the task: otherwise it is the worker's client and xarray
    guards every NetCDF write with a ``distributed.Lock``, a scheduler round trip per variable and
    chunk that made a 256x256 map task 5-8x slower than a plain loop.
    """
    global _BLAS_CAPPED
    if not _BLAS_CAPPED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        _BLAS_CAPPED = True
    import dask

    with dask.config.set(scheduler="sync"):
        return [func(item) for item in chunk]


#: Most items in one dask task when ``run_tasks`` picks the batch size itself.
MAX_BATCH = 16


def default_batch(n_items: int, n_workers: int) -> int:
    """Items per dask task: at least 8 tasks per worker (balance over mixed image sizes), at most
    :data:`MAX_BATCH` items per task (a killed worker loses little work), else as large as
    possible (fewer tasks: less scheduler work, which shares the cores with the workers on a
    small machine)."""
    per_worker = -(-n_items // (8 * max(n_workers, 1)))
    return max(1, min(MAX_BATCH, per_worker))


def run_tasks(
    func: Callable,
    items: Iterable,
    *,
    client=None,
    desc: str = "tasks",
    progress: bool = True,
    batch: int | None = None,
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
        Run on this cluster: ``client.map`` over chunks of ``batch`` consecutive items (one dask
        task per chunk, BLAS capped to one thread inside, see :func:`_on_worker`), results in
        completion order through ``distributed.as_completed``. Default: a plain loop in this
        process.
    desc : str, default "tasks"
        Label of the tqdm progress bar.
    progress : bool, default True
        Show the bar.
    batch : int, optional
        Items per dask task. Default :func:`default_batch` over the cluster's current workers
        (16 for 1,000 items on 2 workers; 1 for a handful). A dask task costs the scheduler
        about a millisecond and a round trip, small beside a 256x256 map (~80 ms), but on a
        2-core machine the scheduler shares the cores with the workers; chunks of 16 cut
        that work 16-fold. Long tasks (a training unit) should use 1.

    Yields
    ------
    (int, object)
        The item's position in ``items`` and ``func``'s result, in completion order (by chunk).

    Raises
    ------
    Exception
        Whatever a task raised (after dask's retries for dead workers); tasks that should not
        stop a run must catch their own errors and return them in their summary.
    """
    from tqdm.auto import tqdm

    if client is not None:
        from distributed import Client

        check_type("client", client, Client, "a distributed.Client or None")
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

        if batch is None:
            batch = default_batch(len(items), len(client.scheduler_info().get("workers", {})))
        batch = check_int("batch", batch, minimum=1)
        starts = range(0, len(items), batch)
        chunks = [items[s : s + batch] for s in starts]
        futures = client.map(functools.partial(_on_worker, func), chunks, pure=False)
        first = {f.key: s for f, s in zip(futures, starts, strict=True)}
        try:
            for fut in as_completed(futures):
                results = fut.result()
                s = first[fut.key]
                fut.release()
                bar.update(len(results))
                for k, result in enumerate(results):
                    yield s + k, result
        finally:
            client.cancel(futures)
    finally:
        bar.close()


def claim_folder(out_dir: Path, manifest: str, settings: dict, *, overwrite: bool, what: str) -> bool:
    """Check the settings file ``out_dir/manifest`` against ``settings`` (other ones without ``overwrite``:
    :class:`FolderConflict`, "holds <what> <old>"), then write it and clear temporaries; True if the
    folder held other settings (its results must be redone)."""
    meta = out_dir / manifest
    old = json.loads(meta.read_text()) if meta.exists() else None
    redo = old is not None and old != settings
    if redo and not overwrite:
        raise FolderConflict(f"{str(out_dir)!r} holds {what} {old}, not {settings}; use another folder or overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(meta, (json.dumps(settings) + "\n").encode())
    remove_temporaries(out_dir)
    return redo


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
    removed = [p for p in folder.rglob(".*.tmp*") if p.is_file()] if folder.is_dir() else []
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
