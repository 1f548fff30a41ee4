"""Where chunks run: in this process (numba prange over a chunk's points) or on Dask.

Both executors call the same `compute.run_chunk(study, cid)` and hand each result
to `on_done(cid, result)` in the calling process, which alone writes the store; so
a study gives identical datasets on either executor, and the executor never
changes a number (each point runs its own adaptive loop, whatever the threads).

local   chunks one after another; inside a chunk the batch solver runs the points
        in parallel with numba.prange on all of numba's threads.
dask    chunks as tasks on a dask.distributed cluster: `scheduler` is an address
        (tcp://host:8786), or None for a LocalCluster of one single-threaded worker
        process per core. Inside a task numba runs one thread: the parallelism is
        dask's (one chunk per worker thread), so cores are not oversubscribed.
"""
from __future__ import annotations

import os
import threading

from .compute import run_chunk

EXECUTORS = ("local", "dask")
_NUMBA_LOCK = threading.Lock()


def run_local(study, pending, on_done) -> None:
    for cid in pending:
        on_done(cid, run_chunk(study, cid))


def _workqueue() -> bool:
    """True where numba's threading layer cannot run parallel kernels from two threads at once."""
    import numba
    try:
        return numba.threading_layer() == "workqueue"
    except ValueError:  # not initialised yet: be safe
        return True


def dask_task(study, cid: int):
    """One chunk on a Dask worker (single numba thread; serialised under 'workqueue')."""
    import numba

    numba.set_num_threads(1)
    if _workqueue():
        with _NUMBA_LOCK:
            return cid, run_chunk(study, cid)
    return cid, run_chunk(study, cid)


def run_dask(study, pending, on_done, scheduler=None) -> str:
    """Run `pending` chunks on a cluster; returns a one-line description of the cluster.

    The first chunk runs here, so its kernels are compiled and written to numba's disk
    cache before any worker starts: workers on this machine then only read the cache
    (numba's cache index is not safe against several processes writing one entry at once).
    """
    from distributed import Client, LocalCluster, as_completed

    pending = list(pending)
    if pending:
        on_done(pending[0], run_chunk(study, pending[0]))
        pending = pending[1:]

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        info = client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        where = f"dask {client.scheduler.address} ({len(workers)} workers, {threads} threads)"
        futures = [client.submit(dask_task, study, cid, pure=False) for cid in pending]
        for fut in as_completed(futures):
            cid, result = fut.result()
            on_done(cid, result)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return where
