"""scipy.integrate as the reference backend, with the kernels' status codes.

`solve_scipy` drives a scipy `OdeSolver` (RK45, DOP853, Radau, BDF, LSODA, RK23;
the steppers behind `solve_ivp`) step by step so that a failure still returns the
rows computed before it, and reports the same integer status codes as the numba
kernels (flowsim.integrate.status): never raises for a failing integration.
Output at t_eval uses each method's own dense output (for DOP853 the 7th-order
interpolant of HNW I §II.6; for RK45 the 4th-order one of Shampine 1986).
"""
from __future__ import annotations

import numpy as np
import scipy.integrate as si

from . import status as st

__all__ = ["solve_scipy", "as_callable", "SCIPY_METHODS"]

SCIPY_METHODS = {name: getattr(si, name)
                 for name in ("RK23", "RK45", "DOP853", "Radau", "BDF", "LSODA")}


class _NonFinite(Exception):
    pass


def as_callable(rhs, p):
    """Wrap a numba kernel rhs(t, y, p, out) as f(t, y) -> dy/dt (for scipy)."""
    p = np.ascontiguousarray(p, dtype=np.float64)

    def f(t, y):
        out = np.empty(len(y))
        rhs(float(t), np.ascontiguousarray(y, dtype=np.float64), p, out)
        return out

    return f


def solve_scipy(rhs_callable, y0, t_eval, t_max=None, rtol=1e-8, atol=1e-10,
                method="RK45", max_steps=None):
    """Integrate y' = rhs_callable(t, y) from t = 0 to max(t_max, t_eval[-1]).

    Returns (states (T, n) float64, status, nfev).  Rows after a failure are NaN.
    Status: OK; STEP_UNDERFLOW when scipy's step size collapses ("Required step
    size is less than spacing between numbers"); NON_FINITE when the state or the
    derivative stops being finite (or rhs raises an ArithmeticError);
    MAX_STEPS after `max_steps` accepted steps (None: unlimited).
    """
    if method not in SCIPY_METHODS:
        raise ValueError(f"method: unknown scipy method {method!r}; "
                         f"choose one of {sorted(SCIPY_METHODS)}")
    y0 = np.array(y0, dtype=np.float64)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if y0.ndim != 1:
        raise ValueError(f"y0: must be 1-D, got shape {y0.shape}")
    if t_eval.ndim != 1:
        raise ValueError(f"t_eval: must be 1-D, got shape {t_eval.shape}")
    if not np.all(np.isfinite(t_eval)) or np.any(t_eval < 0) or np.any(np.diff(t_eval) < 0):
        raise ValueError("t_eval: must be finite, >= 0 and sorted ascending")
    T, n = t_eval.shape[0], y0.shape[0]
    t_end = float(t_eval[-1]) if T else 0.0
    if t_max is not None:
        t_end = max(t_end, float(t_max))
    states = np.full((T, n), np.nan)
    nfev = 0

    def fun(t, y):
        nonlocal nfev
        nfev += 1
        dy = np.asarray(rhs_callable(t, y), dtype=np.float64)
        if not np.all(np.isfinite(dy)):
            raise _NonFinite
        return dy

    if not np.all(np.isfinite(y0)):
        return states, st.NON_FINITE, nfev
    j = 0
    while j < T and t_eval[j] <= 0.0:
        states[j] = y0
        j += 1
    if t_end <= 0.0 or n == 0:
        states[j:] = y0
        return states, st.OK, nfev

    code = st.OK
    steps = 0
    with np.errstate(all="ignore"):
        try:
            solver = SCIPY_METHODS[method](fun, 0.0, y0, t_end, rtol=rtol, atol=atol)
            while True:
                if max_steps is not None and steps >= max_steps:
                    code = st.MAX_STEPS
                    break
                t_old = solver.t
                solver.step()
                steps += 1
                if solver.status == "failed":
                    code = st.STEP_UNDERFLOW
                    break
                if not np.all(np.isfinite(solver.y)):
                    code = st.NON_FINITE
                    break
                t_new = solver.t
                if j < T and t_eval[j] <= t_new and t_new > t_old:
                    sol = solver.dense_output()
                    while j < T and t_eval[j] <= t_new:
                        states[j] = solver.y if t_eval[j] == t_new else sol(t_eval[j])
                        j += 1
                if solver.status == "finished":
                    break
        except (_NonFinite, ArithmeticError):
            code = st.NON_FINITE
    return states, code, nfev
