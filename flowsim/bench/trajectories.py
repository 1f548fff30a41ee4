"""One trajectory per model: numba DOPRI5 against scipy's solve_ivp (RK45, same tolerances).

For every case of flowsim.bench.cases, all in one process:

    numba_s          warm time of the compiled solver (make_solver), best of `repeats`
    scipy_numpy_s    solve_ivp(RK45) calling the numpy-vectorised RHS (the objective's registered reference)
    scipy_njit_s     solve_ivp(RK45) calling the same njit RHS through a Python wrapper
    rhs_us           bare RHS time: the njit RHS called in a compiled loop (no dispatch
                     cost) over the states at which an RK45 solve of the same flow
                     evaluates it, microseconds; timed interleaved with the numba solves
    overhead         numba_s / (n_rhs · rhs_us) − 1: what the integrator adds to its RHS calls
    max_abs_diff     max |y_numba(T) − y_scipy_numpy(T)| over the final state

Timings are CPU seconds of this (single-threaded) process, minima over repeats: on a
shared machine wall time counts other processes' time slices, CPU time does not.
"""
from __future__ import annotations

import time

import numba
import numpy as np
from scipy.integrate import solve_ivp

from ..integrate import make_solver
from . import cases as _cases
from ..registry import reference_for

# CPU time of this process: the runs here are single-threaded, and on a shared machine
# CPU time leaves out the time slices other processes take (wall time does not).
_clock = time.process_time

RTOL = 1e-8
ATOL = 1e-10

_TIMERS: dict = {}


def rhs_timer(rhs):
    """A compiled loop calling `rhs` on every row of Y, `reps` times (built once per rhs)."""
    loop = _TIMERS.get(rhs)
    if loop is None:
        @numba.njit
        def loop(Y, p, reps, out):
            acc = 0.0
            for _ in range(reps):
                for i in range(Y.shape[0]):
                    rhs(0.0, Y[i], p, out)
                    acc += out[0]
            return acc
        _TIMERS[rhs] = loop
    return loop


def bare_rhs_seconds(rhs, states, p, batch_time=0.002, batches=25):
    """Seconds per RHS call, averaged over the given states (every k-th of them when one
    pass over all would take longer than batch_time): the best of `batches`
    short compiled batches of about `batch_time` each (short batches dodge the time
    slices other processes take on a shared machine)."""
    Y = np.ascontiguousarray(states[np.all(np.isfinite(states), axis=1)])
    out = np.empty(Y.shape[1])
    loop = rhs_timer(rhs)
    loop(Y[:1], p, 1, out)
    t0 = _clock()
    loop(Y[:1], p, 1, out)
    per_call = max(_clock() - t0, 1e-9)
    if per_call * Y.shape[0] > batch_time:      # an expensive RHS: every k-th state, one pass ~ batch_time
        Y = np.ascontiguousarray(Y[::-(-Y.shape[0] // max(1, int(batch_time / per_call)))])
    reps = 1
    while True:
        t0 = _clock()
        loop(Y, p, reps, out)
        dt = _clock() - t0
        if dt >= batch_time:
            break
        reps *= max(2, int(batch_time / max(dt, 1e-9)))
    best = dt
    for _ in range(batches - 1):
        t0 = _clock()
        loop(Y, p, reps, out)
        best = min(best, _clock() - t0)
    return best / (reps * Y.shape[0])


def _best(fn, repeats):
    best = np.inf
    res = None
    for _ in range(max(1, repeats)):
        t0 = _clock()
        res = fn()
        best = min(best, _clock() - t0)
    return best, res


def _evaluation_states(rhs, p, y0, t_end, t_eval, rtol, atol, max_states=2000):
    """The states at which an RK45 solve of this flow evaluates its RHS (every stage of
    every step): the bare RHS is timed on these, so that state-dependent costs (Bessel
    branches, tails skipped or not) are weighted as the integrator meets them."""
    rec = []

    def f(t, y):
        rec.append(np.array(y, dtype=np.float64))
        dy = np.empty(y.shape[0])
        rhs(t, rec[-1], p, dy)
        return dy

    solve_ivp(f, (0.0, t_end), y0, method="RK45", t_eval=t_eval, rtol=rtol, atol=atol)
    Y = np.array(rec)
    return Y[::max(1, Y.shape[0] // max_states)]


def bench_case(case, repeats=5, scipy_repeats=1, rtol=RTOL, atol=ATOL) -> dict:
    prob = case.problem
    rhs, p, y0, t_eval = prob.model.rhs, prob.params, prob.y0, case.t_eval
    t_end = float(max(case.t_max, t_eval[-1]))
    solve = make_solver(rhs)
    out = np.empty((t_eval.size, y0.size))

    def run_numba():
        return solve(y0, p, t_eval, t_end, rtol, atol, 0.0, 10**7, 0, 0.0, 0.0, out)

    status, n_steps, n_rhs, _ = run_numba()                 # compile / load from cache
    y_numba = out[-1].copy()
    states = _evaluation_states(rhs, p, y0, t_end, t_eval, rtol, atol)
    # numba solve and bare RHS batches interleaved, so both minima see the same machine
    numba_s = rhs_s = np.inf
    for _ in range(max(1, repeats)):
        t0 = _clock()
        run_numba()
        numba_s = min(numba_s, _clock() - t0)
        rhs_s = min(rhs_s, bare_rhs_seconds(rhs, states, p, batch_time=0.002, batches=4))

    f_np = reference_for(prob)
    scipy_numpy_s = y_np = nfev_np = None
    if f_np is not None:
        def run_np():
            return solve_ivp(f_np, (0.0, t_end), y0, method="RK45", t_eval=t_eval,
                             rtol=rtol, atol=atol, args=(p,))
        scipy_numpy_s, sol = _best(run_np, scipy_repeats)
        y_np, nfev_np = sol.y[:, -1], int(sol.nfev)

    def f_njit(t, y):
        dy = np.empty(y.shape[0])
        rhs(t, y, p, dy)
        return dy

    scipy_njit_s, sol = _best(lambda: solve_ivp(f_njit, (0.0, t_end), y0, method="RK45",
                                                t_eval=t_eval, rtol=rtol, atol=atol),
                              scipy_repeats)
    y_njit = sol.y[:, -1]

    ref = y_np if y_np is not None else y_njit
    return {
        "model": case.name,
        "numba_s": numba_s,
        "scipy_numpy_s": scipy_numpy_s,
        "scipy_njit_s": scipy_njit_s,
        "speedup_vs_scipy_numpy": None if scipy_numpy_s is None else scipy_numpy_s / numba_s,
        "speedup_vs_scipy_njit": scipy_njit_s / numba_s,
        "rhs_us": rhs_s * 1e6,
        "n_rhs": int(n_rhs),
        "rhs_per_s": n_rhs / numba_s,
        "overhead": numba_s / (n_rhs * rhs_s) - 1.0,
        "max_abs_diff": float(np.max(np.abs(y_numba - ref))),
        "max_abs_diff_njit": float(np.max(np.abs(y_numba - y_njit))),
        "scipy_nfev": nfev_np,
        "status": int(status),
    }


def run(quick=False, repeats=None, names=None) -> list:
    """Every case (or those whose name matches one of the fnmatch patterns in `names`)."""
    from fnmatch import fnmatch

    reps = repeats if repeats is not None else (1 if quick else 7)
    return [bench_case(c, repeats=reps, scipy_repeats=1 if quick else 2)
            for c in _cases.cases(quick)
            if names is None or any(fnmatch(c.name, pat) for pat in names)]
