"""Sweeps: a study file → every point integrated by compiled kernels → a Zarr dataset.

    python -m flowsim.sweep STUDY.toml [--out PATH] [--executor local|dask]
                                       [--scheduler ADDRESS] [--resume] [--quiet]

Modules, each importing only those before it: `errors`; `grid` (axes → points →
chunks); `variables` (the per-point result variables); `points` (a point's target,
initialisation and Problem, from the family's input kinds); `schema` (the TOML schema
and its validation, documented in docs/sweep.md); `compute` (one chunk through the batch
solver and the diagnostics); `executors` (local threads, dask.distributed); `store` (Zarr
layout, resume); `summary`; `phase` (the figure).

Python use:

    from flowsim.sweep import load_study, run_sweep
    result = run_sweep(load_study("studies/quickstart.toml"), "results/q.zarr")
    result.dataset        # xarray.Dataset, one dimension per axis
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError, StudyError
from .grid import Grid
from .preload import Preload
from .schema import Study, load_study, parse_study
from ..numerics.jit import compiled_count
from .summary import RunStats


@dataclass
class SweepResult:
    path: str
    figure: str | None
    stats: RunStats
    summary: str
    dataset: object


STIFF_METHODS = ("auto", "radau5")
"""Methods under which a sweep, over many points, is expected to meet a stiff one and
need Radau IIA: its compiling process then does not yield the CPU."""


def default_out(study: Study) -> Path:
    return Path("results") / f"{study.name}.zarr"


def run_sweep(study: Study, out=None, *, executor: str = "local", scheduler: str | None = None,
              resume: bool = False, overwrite: bool = False, progress: bool = False,
              figure: bool = True) -> SweepResult:
    """Run (or finish, with resume=True) the sweep of `study` into the Zarr store `out`.

    An existing store at `out` is finished with resume=True, replaced with overwrite=True,
    and otherwise refused (StoreError)."""
    from . import executors, store
    from .compute import probe_state_size
    from .summary import format_summary, status_counts

    t_start = time.perf_counter()
    if executor not in executors.EXECUTORS:
        raise StudyError(f"--executor: must be one of {executors.EXECUTORS}, got {executor!r}")
    out = Path(out) if out is not None else default_out(study)
    if executor == "local" and not (resume and out.exists()):
        from ..integrate.solver import prefetch_solvers
        prefetch_solvers(expect_stiff=study.solver["method"] in STIFF_METHODS)
    if study.output["save_trajectory"] and "n_state" not in study.extra:
        study.extra["n_state"] = probe_state_size(study)
    grid = Grid(study.shape, study.output["chunk_size"])
    if resume and overwrite:
        raise StoreError("--resume: cannot be combined with --overwrite")
    if resume and out.exists():
        done = store.open_for_resume(out, study, grid)
    else:
        store.create(out, study, grid, overwrite=overwrite)
        done = [False] * grid.n_chunks
    pending = [c for c in range(grid.n_chunks) if not done[c]]
    writer = store.Writer(out, grid)
    imports = Preload(figure)

    def progress_bar(initial, leave):
        from tqdm import tqdm
        return tqdm(total=grid.n_points, unit="pt", desc=study.name, smoothing=0.1,
                    initial=initial, leave=leave)

    bar = None
    if progress:
        bar = progress_bar(sum(grid.chunk(c).n_points for c in range(grid.n_chunks) if done[c]),
                           leave=False)
    n_computed = 0
    first = None  # (time, points) when the first chunk came back: it may include compilation
    compiled_before = compiled_count()

    def on_done(cid, result):
        nonlocal n_computed, first, bar
        writer.write(cid, result)
        n = grid.chunk(cid).n_points
        n_computed += n
        if first is None:
            first = (time.perf_counter(), n_computed)
            imports.start()
            if bar is not None:     # a new bar, a new clock: no rate or ETA from the first chunk
                done_now = bar.n + n
                bar.close()
                bar = progress_bar(done_now, leave=True)
                return
        if bar is not None:
            bar.update(n)

    t_compute = time.perf_counter()
    try:
        if executor == "local":
            with imports.started_on_wait():
                executors.run_local(study, pending, on_done)
            import numba
            where = f"local ({numba.get_num_threads()} threads)"
        else:
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise StudyError("--executor: dask needs dask.distributed "
                                 "(pip install 'flowsim[dask]')") from None
            where = executors.run_dask(study, pending, on_done, scheduler) if pending else "dask (nothing to do)"
    finally:
        if bar is not None:
            bar.leave = True        # the first bar too, when no chunk came back
            bar.close()
    t_end = time.perf_counter()
    compute_s = t_end - t_compute
    steady = (None if first is None or n_computed == first[1]
              else (n_computed - first[1]) / max(t_end - first[0], 1e-9))

    imports.join()
    ds = store.open_dataset(out)
    counts = status_counts(ds["status"].values, store.STATUS_MEANINGS)
    fig_path = None
    if figure:
        from .phase import draw
        var = study.output["phase_diagram"]
        fig_path = draw(ds, study, var, out.with_name(f"{out.name.removesuffix('.zarr')}_{var}.png"))
    stats = RunStats(n_points=grid.n_points, n_chunks=grid.n_chunks,
                     chunks_reused=grid.n_chunks - len(pending), chunks_computed=len(pending),
                     points_computed=n_computed, wall_s=time.perf_counter() - t_start,
                     compiled=compiled_count() > compiled_before,
                     compute_s=compute_s, where=where, steady_points_per_s=steady)
    return SweepResult(str(out), fig_path, stats, format_summary(study, stats, counts, ds), ds)


def sweep_files(paths, store_dir) -> tuple[list, float]:
    """Run the study files `paths` into `<store_dir>/<file stem>.zarr`, resuming a store
    that exists (never replacing it); returns the stores and the wall time in seconds."""
    import time

    stores, start = [], time.perf_counter()
    for path in paths:
        out = Path(store_dir) / f"{Path(path).stem}.zarr"
        run_sweep(load_study(path), out, resume=out.exists(), figure=False)
        stores.append(out)
    return stores, time.perf_counter() - start


__all__ = ["load_study", "parse_study", "run_sweep", "sweep_files", "Study", "StudyError", "StoreError",
           "SweepResult", "Grid"]
