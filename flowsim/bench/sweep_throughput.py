"""Sweep throughput: the Gaussian two-component, two-mode flow with trainable weights.

The points are those of studies/quickstart.toml scaled up: reverse KL, Λ = 16, ρ = 1/2,
σ*² = σ² = 1 (variance fixed), q's means drawn N(0, I_d) per seed, d cycling through
2, 8, 32, 128, 512; solver rtol 1e-7, atol 1e-9, t_max 1000, 61 log-spaced saved
times. All points go through `make_batch_solver(rhs)` (numba's threads, each point its own
adaptive loop), timed warm on 1 thread and on all threads (numba.set_num_threads), and
once more on all threads with `settle_tol` (each point stops once max|dy/dt| < tol): all
with DOPRI5, the method the diffrax peer runs. Then twice more on all threads with method
"auto" (DOPRI5 until the steps are held by stiffness, then Radau IIA; the method of
studies/quickstart.toml), without and with `settle_tol`, compared with the DOPRI5 run.
Wall seconds give the throughput; CPU seconds (summed over threads) are reported beside
them, since on a shared machine wall time also counts other processes' time slices.
"""
from __future__ import annotations

import math
import time

import numba
import numpy as np

from ..families.gaussian.quadrature import DEFAULT_N_GH
from ..integrate import METHOD_CODES, make_batch_solver
from ..families.gaussian import two_mode as two
from ..times import log_times

DIMS = (2, 8, 32, 128, 512)

LAM = 16.0
RHO = 0.5
T_MAX = 1000.0
RTOL = 1e-7
ATOL = 1e-9
SETTLE_TOL = 1e-8
N_GH = DEFAULT_N_GH


def sweep_points(n_points, seed=0, n_gh=N_GH, train_var=False):
    """(Y0 (P, 8), Pmat (P, n_p), dims (P,)) of the benchmark sweep."""
    rng = np.random.default_rng(seed)
    p = two.pack_params(LAM, RHO, 1.0, 1.0, True, train_var, n_gh)
    Y0 = np.empty((n_points, two.N_STATE))
    Pm = np.empty((n_points, p.size))
    dims = np.empty(n_points, dtype=np.int64)
    for i in range(n_points):
        d = DIMS[i % len(DIMS)]
        mu = np.zeros((2, d))
        mu[1, 0] = math.sqrt(LAM)
        nu = rng.standard_normal((2, d))
        Y0[i] = two.state_from_vectors(nu, mu, [0.5, 0.5], 1.0)
        p[two.DIM] = float(d)
        Pm[i] = p
        dims[i] = d
    return Y0, Pm, dims


LAST_CPU = [0.0]          # CPU seconds (all threads) of the latest run_batch


METHOD_DOPRI5 = METHOD_CODES["dopri5"]
METHOD_AUTO = METHOD_CODES["auto"]


def run_batch(Y0, Pm, t_eval, settle_tol=0.0, threads=None, rhs=None, method=METHOD_DOPRI5):
    """Wall seconds, final states, status, n_rhs of one warm batch solve (its CPU
    seconds, summed over threads, are left in LAST_CPU[0])."""
    solve_batch = make_batch_solver(rhs if rhs is not None else two.rhs_reverse_kl)
    P = Y0.shape[0]
    out = np.empty((P, t_eval.size, Y0.shape[1]))
    status = np.empty(P, np.int64)
    n_steps = np.empty(P, np.int64)
    n_rhs = np.empty(P, np.int64)
    old = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(threads)
    try:
        c0 = time.process_time()
        t0 = time.perf_counter()
        solve_batch(Y0, Pm, t_eval, T_MAX, RTOL, ATOL, 0.0, 10**6, method, 0.0, settle_tol,
                    out, status, n_steps, n_rhs)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
    finally:
        numba.set_num_threads(old)
    LAST_CPU[0] = cpu
    return dt, out[:, -1], status, n_rhs


def run(n_points=10_000, quick=False) -> dict:
    Y0, Pm, _ = sweep_points(n_points)
    t_eval = log_times(T_MAX)
    run_batch(Y0[:4], Pm[:4], t_eval)                   # compile / load from cache
    run_batch(Y0[:4], Pm[:4], t_eval, settle_tol=SETTLE_TOL)
    run_batch(Y0[:4], Pm[:4], t_eval, method=METHOD_AUTO)
    n_all = numba.config.NUMBA_NUM_THREADS
    s1, y1, st1, nr1 = run_batch(Y0, Pm, t_eval, threads=1)
    c1 = LAST_CPU[0]
    sa, ya, sta, nra = run_batch(Y0, Pm, t_eval, threads=n_all)
    ca = LAST_CPU[0]
    ss, ys, sts, nrs = run_batch(Y0, Pm, t_eval, threads=n_all, settle_tol=SETTLE_TOL)
    cs = LAST_CPU[0]
    w_full = _weights(ya)
    w_settle = _weights(ys)
    auto = _auto_runs(Y0, Pm, t_eval, n_all, ya, w_full)
    return {
        "points": int(n_points),
        "t_max": T_MAX,
        "threads_all": int(n_all),
        "seconds_1core": s1,
        "seconds_all": sa,
        "points_per_s": n_points / sa,
        "points_per_s_1core": n_points / s1,
        "scaling_1_to_all": s1 / sa,
        "cpu_s_1core": c1,
        "cpu_s_all": ca,
        "cpu_s_all_settle": cs,
        "seconds_all_settle": ss,
        "points_per_s_settle": n_points / ss,
        "settle_tol": SETTLE_TOL,
        "settle_max_weight_diff": float(np.nanmax(np.abs(w_full - w_settle))),
        "rhs_evals_per_point": float(np.mean(nra)),
        "rhs_evals_per_point_settle": float(np.mean(nrs)),
        "status_ok": int(np.sum(sta == 0)),
        "same_1_vs_all": bool(np.array_equal(y1, ya, equal_nan=True)),
        **stability_bound(ya, Pm, nra),
        "auto": auto,
        "_final_states": ya,
    }


def _auto_runs(Y0, Pm, t_eval, n_all, y_dopri5, w_dopri5) -> dict:
    """Method "auto" on all threads, without and with settle_tol, against the DOPRI5 run."""
    n_points = Y0.shape[0]
    sa, ya, sta, nra = run_batch(Y0, Pm, t_eval, threads=n_all, method=METHOD_AUTO)
    ca = LAST_CPU[0]
    ss, ys, sts, nrs = run_batch(Y0, Pm, t_eval, threads=n_all, settle_tol=SETTLE_TOL,
                                 method=METHOD_AUTO)
    cs = LAST_CPU[0]
    return {
        "method": "auto",
        "seconds_all": sa,
        "cpu_s_all": ca,
        "points_per_s": n_points / sa,
        "rhs_evals_per_point": float(np.mean(nra)),
        "seconds_all_settle": ss,
        "cpu_s_all_settle": cs,
        "points_per_s_settle": n_points / ss,
        "rhs_evals_per_point_settle": float(np.mean(nrs)),
        "status_ok": int(np.sum(sta == 0)),
        "max_abs_diff_vs_dopri5": float(np.nanmax(np.abs(ya - y_dopri5))),
        "max_weight_diff_vs_dopri5": float(np.nanmax(np.abs(_weights(ya) - w_dopri5))),
        "settle_max_weight_diff_vs_dopri5": float(np.nanmax(np.abs(_weights(ys) - w_dopri5))),
    }


DOPRI5_REAL_STABILITY = 3.3066       # |z| where DOPRI5's stability region meets the negative real axis


def stability_bound(Y, Pm, n_rhs, n_sample=32):
    """Why a point needs the RHS evaluations it does. At the final states of a sample
    of points: the stiffest eigenvalue lambda of the flow's Jacobian (central
    differences of the numba RHS), and the steps DOPRI5 cannot avoid on [0, t_max]
    once it sits there, t_max |lambda| / 3.3066 (its stability interval on the
    negative real axis, HNW II §IV.2), against the steps it took (RHS calls / 6)."""
    idx = np.linspace(0, Y.shape[0] - 1, min(n_sample, Y.shape[0])).astype(int)
    lam, ratio = [], []
    for i in idx:
        y, p = Y[i], Pm[i]
        if not np.all(np.isfinite(y)):
            continue
        n = y.size
        J = np.empty((n, n))
        fp, fm = np.empty(n), np.empty(n)
        for j in range(n):
            e = 1e-6 * max(1.0, abs(y[j]))
            yp, ym = y.copy(), y.copy()
            yp[j] += e
            ym[j] -= e
            two.rhs_reverse_kl(0.0, yp, p, fp)
            two.rhs_reverse_kl(0.0, ym, p, fm)
            J[:, j] = (fp - fm) / (2 * e)
        stiff = float(np.max(-np.linalg.eigvals(J).real))
        if stiff > 0:
            lam.append(stiff)
            ratio.append((n_rhs[i] / 6.0) / (T_MAX * stiff / DOPRI5_REAL_STABILITY))
    if not lam:
        return {"stiffest_eigenvalue_range": None, "steps_over_stability_minimum": None}
    return {"stiffest_eigenvalue_range": [-max(lam), -min(lam)],
            "steps_over_stability_minimum": float(np.median(ratio))}


def _weights(y):
    th = y[:, [two.TH1, two.TH2]]
    e = np.exp(th - th.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
