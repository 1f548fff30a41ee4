"""ODE integrators that know no model: a solver is a Butcher tableau plus one
stepping loop, compiled with numba once for every right-hand side (passed to it as a
function pointer).

Public API
----------
make_solver(rhs) -> solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method,
                          fixed_dt, settle_tol, out_states) -> (status, n_steps, n_rhs, t_final)
make_batch_solver(rhs) -> solve_batch(Y0, Pmat, t_eval, t_max, rtol, atol, h0, max_steps,
                          method, fixed_dt, settle_tol, out, status, n_steps, n_rhs)
integrate(rhs, y0, p, t_eval, ...) -> Solution   (validating Python convenience)
solve_scipy(rhs_callable, y0, t_eval, t_max, rtol, atol, method) -> (states, status, nfev)
Tableaus DOPRI5, RK4, EULER; status codes OK, MAX_STEPS, STEP_UNDERFLOW, NON_FINITE,
SETTLED, INVALID and STATUS_NAMES.

`rhs(t, y, p, out)` is a module-level numba kernel (flowsim.numerics.jit.kernel) writing
dy/dt into `out`; y and p are flat float64 arrays; time starts at t = 0.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .methods import ADAPTIVE_METHODS, METHOD_CODES
from .solver import make_batch_solver, make_solver
from .status import INVALID, MAX_STEPS, NON_FINITE, OK, SETTLED, STATUS_NAMES, STEP_UNDERFLOW, is_success, status_name
from .tableaus import DOPRI5, EULER, RK4, TABLEAUS, Tableau

__all__ = [
    "integrate", "Solution", "make_solver", "make_batch_solver", "solve_scipy",
    "as_callable", "METHOD_CODES", "SCIPY_METHODS", "Tableau", "TABLEAUS", "DOPRI5",
    "RK4", "EULER", "OK", "MAX_STEPS", "STEP_UNDERFLOW", "NON_FINITE", "SETTLED",
    "INVALID", "STATUS_NAMES", "status_name", "is_success",
]


class Solution(NamedTuple):
    """states (T, n) at t_eval; status code; step attempts; rhs evaluations; the
    time reached (the stopping time for SETTLED or a failure)."""

    states: np.ndarray
    status: int
    n_steps: int
    n_rhs: int
    t_final: float


def _vector(name, x, allow_empty=True):
    try:
        a = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not convertible to a float64 array ({exc})") from None
    if a.ndim != 1:
        raise ValueError(f"{name}: must be 1-D, got shape {a.shape}")
    if not allow_empty and a.size == 0:
        raise ValueError(f"{name}: must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains non-finite values")
    return a


def _positive(name, x, allow_zero=False):
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name}: must be a real number, got {x!r}")
    x = float(x)
    if not np.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name}: must be finite and {'>= 0' if allow_zero else '> 0'}, got {x!r}")
    return x


def integrate(rhs, y0, p, t_eval, t_max=None, method="dopri5", rtol=1e-8, atol=1e-10,
              dt=None, max_steps=10**6, settle_tol=0.0) -> Solution:
    """Integrate y' = rhs(t, y, p) from t = 0 and return the states at t_eval.

    method: "dopri5", "radau5" (Radau IIA, for stiff flows) or "auto" (DOPRI5 until its
    steps are held by stiffness, then Radau IIA) are adaptive: `dt`, if given, is the
    first step, else chosen automatically; "rk4", "euler", "dopri5_fixed" take the
    fixed step `dt` (required).
    t_eval: sorted, >= 0; t_max (default t_eval[-1]) may extend the run past it.
    settle_tol > 0 stops early once max|dy/dt| < settle_tol (status SETTLED).
    Raises ValueError naming the field for bad input; integration failures are
    reported by `status`, never raised.
    """
    from numba.core.dispatcher import Dispatcher

    if not isinstance(rhs, Dispatcher):
        raise ValueError("rhs: must be a numba @njit function rhs(t, y, p, out), "
                         f"got {type(rhs).__name__}")
    if not isinstance(method, str) or method not in METHOD_CODES:
        raise ValueError(f"method: unknown method {method!r}; choose one of {sorted(METHOD_CODES)}")
    code = METHOD_CODES[method]
    y0 = _vector("y0", y0)
    p = _vector("p", p)
    t_eval = _vector("t_eval", t_eval, allow_empty=False)
    if np.any(t_eval < 0):
        raise ValueError("t_eval: times must be >= 0 (integration starts at t = 0)")
    if np.any(np.diff(t_eval) < 0):
        raise ValueError("t_eval: must be sorted ascending")
    if t_max is None:
        t_max = float(t_eval[-1])
    else:
        t_max = _positive("t_max", t_max, allow_zero=True)
        if t_max < t_eval[-1]:
            raise ValueError(f"t_max: {t_max!r} is before the last t_eval {float(t_eval[-1])!r}")
    rtol = _positive("rtol", rtol)
    atol = _positive("atol", atol)
    if method in ADAPTIVE_METHODS:
        h0 = 0.0 if dt is None else _positive("dt", dt)
        fixed_dt = 0.0
    else:
        if dt is None:
            raise ValueError(f"dt: required for the fixed-step method {method!r}")
        fixed_dt = _positive("dt", dt)
        h0 = 0.0
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps: must be a positive integer, got {max_steps!r}")
    settle_tol = _positive("settle_tol", settle_tol, allow_zero=True)

    solve = make_solver(rhs)
    out = np.empty((t_eval.shape[0], y0.shape[0]))
    status, n_steps, n_rhs, t_final = solve(y0, p, t_eval, t_max, rtol, atol, h0,
                                            int(max_steps), code, fixed_dt, settle_tol, out)
    return Solution(out, int(status), int(n_steps), int(n_rhs), float(t_final))


def __getattr__(name):
    """The scipy reference backend is imported on first use (scipy.integrate costs ~1 s)."""
    if name in ("solve_scipy", "as_callable", "SCIPY_METHODS", "reference"):
        import importlib

        reference = importlib.import_module(f"{__name__}.reference")
        return reference if name == "reference" else getattr(reference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
