"""Run one chunk: build its points, integrate them with the compiled batch solver, summarise.

Points of a chunk are grouped by (model, len(y0), len(params), solver settings); each
group is one call of `make_batch_solver(model.rhs)`: the points on numba's threads,
each with its own adaptive loop. Diagnostics come from the family's `observe` and
`flowsim.diagnostics.summarize`, the same code `simulate(...).diagnostics` runs.

`run_chunk` is a pure function of (study, chunk id): it is what the local executor
calls in-process and what the Dask executor ships to workers.
"""
from __future__ import annotations

import sys
import threading
from collections import defaultdict

import numpy as np

from ..diagnostics import SCALAR_DIAGNOSTICS, summarize
from ..geometry import method_for
from ..integrate.methods import METHOD_CODES
from ..numerics.jit import announce_compilation
from ..integrate.status import DIAGNOSTIC_ERROR, INVALID, SUCCESS
from .errors import PointError
from .grid import Grid
from .points import build_point
from .variables import time_grid, variable_shapes


def _solver_key(problem, solver: dict):
    return (problem.model.name, problem.model.rhs, problem.y0.size, problem.params.size,
            float(solver["rtol"]), float(solver["atol"]), float(solver["h0"]),
            int(solver["max_steps"]), METHOD_CODES[method_for(problem, solver["method"])],
            float(solver["dt"]),
            float(solver["settle_tol"]))


METHOD_NAMES = {code: name for name, code in METHOD_CODES.items()}


def _write(text: str) -> None:
    """A line on stderr that does not break a progress bar."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def _compile_observables(problem) -> None:
    """Observe the start state of `problem` once and drop the result: on a cold cache the
    family's diagnostic kernels then compile while the solver compiles or runs, instead of
    after it. A failure here is left to the real call to report."""
    try:
        with np.errstate(all="ignore"):
            problem.family.observe(problem, np.zeros(1), problem.base(problem.y0[None, :]))
    except Exception:  # noqa: BLE001 - `_record` reports it, for the point it concerns
        pass


def _integrate_group(key, members, t_eval, t_max):
    """Run the batch solver on a list of (slot, problem); return out, status, n_steps, n_rhs.
    The diagnostics' kernels compile alongside, on a thread (`_compile_observables`)."""
    from ..integrate import make_batch_solver

    _, rhs, n, _, rtol, atol, h0, max_steps, method, dt, settle_tol = key
    P = len(members)
    Y0 = np.ascontiguousarray(np.stack([p.y0 for _, p in members]), dtype=np.float64)
    Pm = np.ascontiguousarray(np.stack([p.params for _, p in members]), dtype=np.float64)
    out = np.full((P, len(t_eval), n), np.nan)
    status = np.zeros(P, np.int64)
    n_steps = np.zeros(P, np.int64)
    n_rhs = np.zeros(P, np.int64)
    with announce_compilation(key[0], METHOD_NAMES[method], write=_write):
        observing = threading.Thread(target=_compile_observables, args=(members[0][1],),
                                     daemon=True)
        observing.start()
        solve_batch = make_batch_solver(rhs)
        solve_batch(Y0, Pm, t_eval, float(t_max), rtol, atol, h0, max_steps, method, dt,
                    settle_tol, out, status, n_steps, n_rhs)
        observing.join()
    return out, status, n_steps, n_rhs


def _record(res: dict, flat: int, problem, t_eval, states, save: bool):
    obs = problem.family.observe(problem, t_eval, problem.base(states))
    diag = summarize(obs)
    for name in SCALAR_DIAGNOSTICS:
        res[name][flat] = float(diag[name])
    res["weights"][flat] = diag["weights"]
    res["mode_mass"][flat] = diag["mode_mass"]
    if save:
        n = min(states.shape[1], res["state"].shape[-1])
        res["state"][flat, :, :n] = states[:, :n]
        res["objective_t"][flat] = obs.objective
        res["reverse_kl_t"][flat] = obs.reverse_kl
        res["forward_kl_t"][flat] = obs.forward_kl
        res["weights_t"][flat] = obs.weights
        res["mode_mass_t"][flat] = obs.mode_mass


def integrate_point(problem, solver: dict, t_eval, t_max):
    """One point as a sweep integrates it (the batch solver, the study's solver settings,
    h0, dt and settle_tol included): states (T, n), status, n_steps, n_rhs."""
    out, status, n_steps, n_rhs = _integrate_group(_solver_key(problem, solver),
                                                   [(0, problem)], t_eval, t_max)
    return out[0], int(status[0]), int(n_steps[0]), int(n_rhs[0])


def run_chunk(study, cid: int) -> dict:
    """Every result variable of chunk `cid`, as arrays of shape chunk.shape + extra dims.

    Never raises for a bad point: invalid inputs get status INVALID, failed integrations
    their solver status, both with NaN diagnostics.
    """
    grid = Grid(study.shape, study.output["chunk_size"])
    chunk = grid.chunk(cid)
    spec = variable_shapes(study)
    n_pts = chunk.n_points
    res = {name: np.full((n_pts,) + shape, fill, dtype=dtype)
           for name, (_, shape, dtype, fill) in spec.items()}
    t_eval = time_grid(study)
    t_max = float(study.solver["t_max"])
    save = study.output["save_trajectory"]

    groups = defaultdict(list)
    problems = {}
    for flat, idx in enumerate(chunk.indices()):
        values = [axis.values[i] for axis, i in zip(study.axes, idx)]
        cfg = study.point_config(values)
        try:
            problem = build_point(cfg)
        except PointError:
            res["status"][flat] = INVALID
            continue
        problems[flat] = problem
        groups[_solver_key(problem, cfg["solver"])].append((flat, problem))

    with np.errstate(all="ignore"):
        for key, members in groups.items():
            out, status, n_steps, n_rhs = _integrate_group(key, members, t_eval, t_max)
            for j, (flat, problem) in enumerate(members):
                res["status"][flat] = status[j]
                res["n_steps"][flat] = n_steps[j]
                res["n_rhs"][flat] = n_rhs[j]
                if int(status[j]) not in SUCCESS:
                    continue
                try:
                    _record(res, flat, problem, t_eval, out[j], save)
                except (ValueError, FloatingPointError, ZeroDivisionError, IndexError):
                    res["status"][flat] = DIAGNOSTIC_ERROR
                    for name in SCALAR_DIAGNOSTICS:
                        res[name][flat] = np.nan
    return {name: arr.reshape(chunk.shape + arr.shape[1:]) for name, arr in res.items()}


def probe_state_size(study) -> int:
    """len(y0) of the first point that builds (for the saved-trajectory `state` variable)."""
    grid = Grid(study.shape, study.output["chunk_size"])
    sizes = []
    for cid in range(min(grid.n_chunks, 4)):
        for idx in grid.chunk(cid).indices():
            values = [axis.values[i] for axis, i in zip(study.axes, idx)]
            try:
                sizes.append(build_point(study.point_config(values)).y0.size)
            except PointError:
                continue
            if len(sizes) >= 1:
                return max(sizes)
    return 1
