"""Where chunks run: in this process (a chunk's points on numba's threads) or on Dask.

Both executors call the same `compute.run_chunk(study, cid)` and hand each result
to `on_done(cid, result)` in the calling process, which alone writes the store; so
a study gives identical datasets on either executor, and the executor never
changes a number (each point runs its own adaptive loop, whatever the threads).

local   chunks one after another; inside a chunk the batch solver runs the points on
        numba's number of threads (the compiled solver releases the GIL).
dask    chunks as tasks on a dask.distributed cluster: `scheduler` is an address
        (tcp://host:8786), or None for a LocalCluster of one single-threaded worker
        process per core. Inside a task the batch runs on one thread: the parallelism
        is dask's (one chunk per worker thread), so cores are not oversubscribed.
"""
from __future__ import annotations

import os

from .compute import run_chunk

EXECUTORS = ("local", "dask")


def run_local(study, pending, on_done) -> None:
    for cid in pending:
        on_done(cid, run_chunk(study, cid))


def dask_task(study, cid: int):
    """One chunk on a Dask worker, its points on one thread."""
    import numba

    numba.set_num_threads(1)
    return cid, run_chunk(study, cid)


def run_dask(study, pending, on_done, scheduler=None) -> str:
    """Run `pending` chunks on a cluster; returns a one-line description of the cluster.

    The first chunk runs here, so its kernels are compiled and in flowsim's disk cache
    before any worker starts: workers on this machine then load them instead of each
    compiling them again.
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
