"""Compiled explicit Runge–Kutta integrators that know no model.

`make_solver(rhs)` compiles, once per right-hand side, a numba kernel

    solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
          settle_tol, out_states) -> (status, n_steps, n_rhs, t_final)

that integrates  dy/dt = rhs(t, y, p)  from t = 0 to max(t_max, t_eval[-1]) and
writes the state at every t_eval into the preallocated (len(t_eval), n) array
`out_states`.  `rhs(t, y, p, out)` is a module-level numba @njit function.

A method is a Butcher tableau (flowsim.integrate.tableaus) plus ONE stepping
function (`stages`, below) run by one of two loops:

    method 0  DOPRI5 adaptive: PI step-size controller (Söderlind 2002; HNW II
              §IV.2 eq. 2.43c / HNW I §II.4):  fac = 0.9 · err^(−β1) · err_prev^(β2),
              β1 = 0.7/5, β2 = 0.4/5, fac ∈ [0.2, 10], no growth right after a
              rejection; error norm  sqrt(mean((e_i / (atol + rtol·max(|y_i|,|ŷ_i|)))²))
              (HNW I eq. 4.11); starting step by HNW I §II.4 (Hairer's HINIT);
              output at t_eval by the free 4th-order continuous extension
              (HNW I §II.6, Hairer's CONTD5).
    method 1  classic RK4, fixed step `fixed_dt`
    method 2  explicit Euler, fixed step `fixed_dt`
    method 3  DOPRI5 5th-order solution, fixed step `fixed_dt` (no error control)

Fixed-step methods shorten a step to land exactly on each t_eval point (a step
within 1e-9·dt of a point is stretched onto it instead of leaving a sliver).

`settle_tol > 0` stops as soon as max_i |dy_i/dt| < settle_tol at an accepted
state (status SETTLED); the remaining rows are the final state.  Kernels never
raise; see flowsim.integrate.status for the codes.  Rows past the stopping point
of a failed run are NaN.  `n_steps` counts step attempts (accepted + rejected),
which is what `max_steps` bounds; `n_rhs` counts rhs evaluations.

Caching.  Solvers are closures over the rhs dispatcher, compiled with
`cache=True`.  numba keys a cached closure by pickling its cells; a dispatcher
pickles its Python function *by value* (bytecode, so edits to rhs or to the
functions it calls invalidate the entry) plus a per-process random uuid, which
would make every new process miss the cache.  `_pin_uuids` replaces that uuid by
a stable name (module.qualname) for rhs, the module-level dispatchers it calls,
and the solver closures, so a fresh process loads the compiled solver from
`flowsim/integrate/__pycache__`.  An rhs that is itself a closure is compiled
without disk caching (its name would not identify it).
"""
from __future__ import annotations

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

from . import status as _st
from .tableaus import DOPRI5, EULER, RK4

__all__ = ["make_solver", "make_batch_solver", "METHOD_CODES", "ADAPTIVE_METHODS"]

METHOD_CODES = {"dopri5": 0, "rk4": 1, "euler": 2, "dopri5_fixed": 3}
ADAPTIVE_METHODS = (0,)

# ---------------------------------------------------------------------------
# tableaus stacked by method code, padded to S_MAX stages (compile-time constants)
# ---------------------------------------------------------------------------
_BY_CODE = (DOPRI5, RK4, EULER, DOPRI5)
S_MAX = max(t.stages for t in _BY_CODE)
_TA = np.zeros((len(_BY_CODE), S_MAX, S_MAX))
_TB = np.zeros((len(_BY_CODE), S_MAX))
_TC = np.zeros((len(_BY_CODE), S_MAX))
_TE = np.zeros((len(_BY_CODE), S_MAX))
_TS = np.zeros(len(_BY_CODE), dtype=np.int64)
_TF = np.zeros(len(_BY_CODE), dtype=np.int64)
for _m, _t in enumerate(_BY_CODE):
    _s = _t.stages
    _TA[_m, :_s, :_s] = _t.a
    _TB[_m, :_s] = _t.b
    _TC[_m, :_s] = _t.c
    if _t.b_err is not None:
        _TE[_m, :_s] = _t.b_err
    _TS[_m] = _s
    _TF[_m] = 1 if _t.fsal else 0
_DENSE = DOPRI5.dense.copy()
_ORDER_ADAPTIVE = DOPRI5.order

# PI controller (Hairer/Söderlind)
_SAFETY = 0.9
_BETA1 = 0.7 / 5.0
_BETA2 = 0.4 / 5.0
_FAC_MIN = 0.2
_FAC_MAX = 10.0
_ERR_PREV0 = 1e-4       # Hairer's FACOLD start value
_UNDERFLOW = 1e-14      # step < 1e-14·|t| -> STEP_UNDERFLOW
_SNAP = 1e-9            # fixed step: stretch onto a t_eval point within 1e-9·dt

_OK, _MAX_STEPS, _UNDER, _NONFIN, _SETTLED, _INVALID = (
    _st.OK, _st.MAX_STEPS, _st.STEP_UNDERFLOW, _st.NON_FINITE, _st.SETTLED, _st.INVALID)


# ---------------------------------------------------------------------------
# model-free helpers
# ---------------------------------------------------------------------------
@numba.njit(cache=True)
def _all_finite(x):
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


@numba.njit(cache=True)
def _max_abs(x):
    m = 0.0
    for i in range(x.shape[0]):
        a = abs(x[i])
        if a > m:
            m = a
    return m


@numba.njit(cache=True)
def _combine(y, K, coef, h, s, out):
    """out = y + h Σ_{j<s} coef_j K_j  (zero weights skipped; same summation order
    as `stages`, so the FSAL last stage argument equals y_{n+1} bitwise)."""
    n = y.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            if coef[j] != 0.0:
                acc += coef[j] * K[j, i]
        out[i] = y[i] + h * acc


@numba.njit(cache=True)
def _error_estimate(K, e, h, s, out):
    """out = h Σ_j e_j K_j  (embedded error estimate, HNW I eq. 4.10)."""
    n = out.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            if e[j] != 0.0:
                acc += e[j] * K[j, i]
        out[i] = h * acc


@numba.njit(cache=True)
def _error_norm(err, y, ynew, rtol, atol):
    """sqrt(mean((err_i / (atol + rtol·max(|y_i|, |ynew_i|)))²))  (HNW I eq. 4.11)."""
    n = err.shape[0]
    if n == 0:
        return 0.0
    acc = 0.0
    for i in range(n):
        sc = atol + rtol * max(abs(y[i]), abs(ynew[i]))
        r = err[i] / sc
        acc += r * r
    return np.sqrt(acc / n)


@numba.njit(cache=True)
def _dense_dopri5(y, ynew, K, h, theta, out):
    """Free 4th-order continuous extension of DOPRI5 (HNW I §II.6; Hairer's CONTD5):
    u(θ) = y + θ(Δ + (1−θ)(B + θ(Δ − h k7 − B + (1−θ) h Σ d_i k_i))),
    Δ = y_{n+1} − y_n,  B = h k1 − Δ."""
    th1 = 1.0 - theta
    n = y.shape[0]
    for i in range(n):
        ydiff = ynew[i] - y[i]
        bspl = h * K[0, i] - ydiff
        acc = 0.0
        for j in range(7):
            if _DENSE[j] != 0.0:
                acc += _DENSE[j] * K[j, i]
        r4 = ydiff - h * K[6, i] - bspl
        out[i] = y[i] + theta * (ydiff + th1 * (bspl + theta * (r4 + th1 * h * acc)))


@numba.njit(cache=True)
def _fill_rows(out, j0, y):
    for j in range(j0, out.shape[0]):
        out[j, :] = y


@numba.njit(cache=True)
def _check_args(y0, t_eval, t_max, rtol, atol, max_steps, method, fixed_dt, settle_tol, out):
    """True when the kernel arguments are well formed (shapes, codes, tolerances)."""
    n = y0.shape[0]
    T = t_eval.shape[0]
    if out.shape[0] != T or out.shape[1] != n:
        return False
    if method < 0 or method > 3:
        return False
    if not np.isfinite(t_max) or max_steps < 0 or not (settle_tol >= 0.0):
        return False
    for k in range(T):
        if not np.isfinite(t_eval[k]):
            return False
        if k > 0 and t_eval[k] < t_eval[k - 1]:
            return False
    if method == 0:
        if not (rtol > 0.0) or not (atol > 0.0) or not np.isfinite(rtol) or not np.isfinite(atol):
            return False
    else:
        if not (fixed_dt > 0.0) or not np.isfinite(fixed_dt):
            return False
    return True


@numba.njit(cache=True)
def _pi_factor(err, err_prev):
    """Step factor of the PI controller after an accepted step (err ≤ 1)."""
    if err == 0.0:
        return _FAC_MAX
    fac = _SAFETY * err ** (-_BETA1) * err_prev ** _BETA2
    return min(_FAC_MAX, max(_FAC_MIN, fac))


# ---------------------------------------------------------------------------
# stable uuids so that closures over dispatchers hit numba's disk cache
# ---------------------------------------------------------------------------
def _stable_label(disp) -> str | None:
    f = disp.py_func
    qn = getattr(f, "__qualname__", f.__name__)
    if "<locals>" in qn:
        return None
    return f"flowsim-stable:{f.__module__}.{qn}"


def _set_uuid(disp, label: str) -> None:
    cur = getattr(disp, "_MemoMixin__uuid", None)
    if cur == label:
        return
    if cur is not None:
        disp._MemoMixin__uuid = None
    disp._set_uuid(label)


def _code_names(code, acc):
    acc.update(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            _code_names(c, acc)
    return acc


def _pin_uuids(disp, label=None, seen=None) -> bool:
    """Give `disp` (named `label`, default module.qualname) and every module-level
    dispatcher it references (transitively, via globals and closure cells) a stable
    uuid.  False, pinning nothing, if `disp` is a closure and no label is given."""
    if seen is None:
        seen = set()
    if id(disp) in seen:
        return True
    seen.add(id(disp))
    label = label or _stable_label(disp)
    if label is None:
        return False
    _set_uuid(disp, label)
    f = disp.py_func
    g = getattr(f, "__globals__", {})
    refs = [g[name] for name in _code_names(f.__code__, set()) if name in g]
    refs += [c.cell_contents for c in (f.__closure__ or ())]
    for r in refs:
        if isinstance(r, Dispatcher):
            _pin_uuids(r, None, seen)
    return True


# ---------------------------------------------------------------------------
# the factory
# ---------------------------------------------------------------------------
_SOLVERS: dict = {}
_BATCH_SOLVERS: dict = {}


def _check_rhs(rhs):
    if not isinstance(rhs, Dispatcher):
        raise ValueError("rhs: must be a numba @njit function rhs(t, y, p, out), "
                         f"got {type(rhs).__name__}")


def _build(rhs):
    stable = _pin_uuids(rhs)
    tag = _stable_label(rhs) if stable else None
    cache = stable

    @numba.njit(cache=cache)
    def stages(t, y, h, p, A, C, s, K, ytmp):
        """The one stepping function: given K[0] = f(t, y), fill stages K[1..s-1]
        (HNW I eq. 1.8).  The last stage argument is left in ytmp."""
        n = y.shape[0]
        for i in range(1, s):
            for k in range(n):
                acc = 0.0
                for j in range(i):
                    if A[i, j] != 0.0:
                        acc += A[i, j] * K[j, k]
                ytmp[k] = y[k] + h * acc
            rhs(t + C[i] * h, ytmp, p, K[i])

    @numba.njit(cache=cache)
    def initial_step(t, y, f0, p, rtol, atol, order, hmax, ytmp, f1):
        """Starting step size (HNW I §II.4, p. 169; Hairer's HINIT)."""
        n = y.shape[0]
        d0 = 0.0
        d1 = 0.0
        for i in range(n):
            sk = atol + rtol * abs(y[i])
            d0 += (y[i] / sk) ** 2
            d1 += (f0[i] / sk) ** 2
        d0 = np.sqrt(d0 / n)
        d1 = np.sqrt(d1 / n)
        if d0 < 1e-5 or d1 < 1e-5:
            h = 1e-6
        else:
            h = 0.01 * d0 / d1
        h = min(h, hmax)
        for i in range(n):
            ytmp[i] = y[i] + h * f0[i]
        rhs(t + h, ytmp, p, f1)
        d2 = 0.0
        for i in range(n):
            sk = atol + rtol * abs(y[i])
            d2 += ((f1[i] - f0[i]) / sk) ** 2
        d2 = np.sqrt(d2 / n) / h
        if not np.isfinite(d2):
            return min(h * 1e-3, hmax)
        der12 = max(d1, d2)
        if der12 <= 1e-15:
            h1 = max(1e-6, h * 1e-3)
        else:
            h1 = (0.01 / der12) ** (1.0 / order)
        return min(100.0 * h, h1, hmax)

    @numba.njit(cache=cache)
    def solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
              settle_tol, out_states):
        out_states[:, :] = np.nan
        if not _check_args(y0, t_eval, t_max, rtol, atol, max_steps, method, fixed_dt,
                           settle_tol, out_states):
            return _INVALID, 0, 0, 0.0
        n = y0.shape[0]
        T = t_eval.shape[0]
        tab = 0 if method == 3 else method
        A = _TA[tab]
        B = _TB[tab]
        C = _TC[tab]
        E = _TE[tab]
        s = _TS[tab]
        fsal = _TF[tab] == 1

        t = 0.0
        t_end = t_max
        if T > 0 and t_eval[T - 1] > t_end:
            t_end = t_eval[T - 1]
        y = y0.copy()
        ynew = np.empty(n)
        ytmp = np.empty(n)
        err = np.empty(n)
        K = np.empty((s, n))
        n_steps = 0
        n_rhs = 0

        if not _all_finite(y):
            return _NONFIN, 0, 0, 0.0
        j = 0
        while j < T and t_eval[j] <= t:
            out_states[j, :] = y
            j += 1
        if n == 0:
            _fill_rows(out_states, j, y)
            return _OK, 0, 0, t_end
        rhs(t, y, p, K[0])
        n_rhs += 1
        if not _all_finite(K[0]):
            return _NONFIN, 0, n_rhs, t
        if settle_tol > 0.0 and _max_abs(K[0]) < settle_tol:
            _fill_rows(out_states, j, y)
            return _SETTLED, 0, n_rhs, t

        status = _OK
        if method == 0:
            # ---------------- adaptive DOPRI5 ----------------
            hmax = t_end - t
            if h0 > 0.0:
                h = min(h0, hmax)
            else:
                h = initial_step(t, y, K[0], p, rtol, atol, _ORDER_ADAPTIVE, hmax, ytmp, err)
                n_rhs += 1
            err_prev = _ERR_PREV0
            rejected_last = False
            nonfinite_last = False
            while t < t_end:
                if n_steps >= max_steps:
                    status = _MAX_STEPS
                    break
                last = False
                if t + 1.01 * h >= t_end:
                    h = t_end - t
                    last = True
                if not (h > _UNDERFLOW * abs(t)) or h < 1e-300:
                    status = _NONFIN if nonfinite_last else _UNDER
                    break
                n_steps += 1
                stages(t, y, h, p, A, C, s, K, ytmp)
                n_rhs += s - 1
                _combine(y, K, B, h, s, ynew)
                _error_estimate(K, E, h, s, err)
                errn = _error_norm(err, y, ynew, rtol, atol)
                if not np.isfinite(errn):
                    # non-finite trial: reject and shrink (a blow-up ends in underflow,
                    # reported as NON_FINITE)
                    nonfinite_last = True
                    rejected_last = True
                    h *= _FAC_MIN
                    continue
                nonfinite_last = False
                if errn <= 1.0:
                    fac = _pi_factor(errn, err_prev)
                    if rejected_last:
                        fac = min(fac, 1.0)
                    t_new = t_end if last else t + h
                    while j < T and t_eval[j] <= t_new:
                        if t_eval[j] == t_new:
                            out_states[j, :] = ynew
                        else:
                            _dense_dopri5(y, ynew, K, h, (t_eval[j] - t) / h, out_states[j])
                        j += 1
                    y[:] = ynew
                    if fsal:
                        K[0, :] = K[s - 1]
                    else:
                        rhs(t_new, y, p, K[0])
                        n_rhs += 1
                    t = t_new
                    err_prev = max(errn, _ERR_PREV0)
                    rejected_last = False
                    if settle_tol > 0.0 and _max_abs(K[0]) < settle_tol:
                        status = _SETTLED
                        break
                    h = h * fac
                else:
                    rejected_last = True
                    h = h * max(_FAC_MIN, _SAFETY * errn ** (-1.0 / _ORDER_ADAPTIVE))
        else:
            # ---------------- fixed step (RK4, Euler, DOPRI5) ----------------
            h = fixed_dt
            while t < t_end:
                if n_steps >= max_steps:
                    status = _MAX_STEPS
                    break
                target = t_eval[j] if j < T else t_end
                if target - t <= h * (1.0 + _SNAP):
                    hs = target - t
                    t_new = target
                else:
                    hs = h
                    t_new = t + h
                n_steps += 1
                stages(t, y, hs, p, A, C, s, K, ytmp)
                n_rhs += s - 1
                _combine(y, K, B, hs, s, ynew)
                if fsal:
                    K[0, :] = K[s - 1]
                else:
                    rhs(t_new, ynew, p, K[0])
                    n_rhs += 1
                if not (_all_finite(ynew) and _all_finite(K[0])):
                    status = _NONFIN
                    t = t_new
                    break
                y[:] = ynew
                t = t_new
                while j < T and t_eval[j] <= t:
                    out_states[j, :] = y
                    j += 1
                if settle_tol > 0.0 and _max_abs(K[0]) < settle_tol:
                    status = _SETTLED
                    break

        if status == _SETTLED:
            _fill_rows(out_states, j, y)
        return status, n_steps, n_rhs, t

    if tag is not None:
        _pin_uuids(stages, f"{tag}#stages")
        _pin_uuids(initial_step, f"{tag}#initial_step")
        _pin_uuids(solve, f"{tag}#solve")
    return solve


def make_solver(rhs):
    """The compiled single-trajectory solver for `rhs` (built once per rhs and reused).

    solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
          settle_tol, out_states) -> (status, n_steps, n_rhs, t_final)

    y0 (n,), p (np,), t_eval (T,) sorted, ≥ 0: float64 C-contiguous; out_states (T, n)
    float64, overwritten.  method: 0 dopri5 (adaptive), 1 rk4, 2 euler,
    3 dopri5_fixed; h0 ≤ 0 picks the first adaptive step automatically; fixed_dt is
    the step of methods 1–3; settle_tol > 0 enables early stopping at rest.
    """
    _check_rhs(rhs)
    solver = _SOLVERS.get(rhs)
    if solver is None:
        solver = _build(rhs)
        _SOLVERS[rhs] = solver
    return solver


def make_batch_solver(rhs):
    """The compiled parallel batch solver for `rhs` (numba prange over points, each
    point with its own adaptive loop; built once per rhs and reused).

    solve_batch(Y0 (P, n), Pmat (P, np), t_eval, t_max, rtol, atol, h0, max_steps,
                method, fixed_dt, settle_tol, out (P, T, n), status (P,) int64,
                n_steps (P,) int64, n_rhs (P,) int64) -> None

    Mismatched shapes set every status to INVALID.
    """
    _check_rhs(rhs)
    batch = _BATCH_SOLVERS.get(rhs)
    if batch is not None:
        return batch
    solve = make_solver(rhs)
    tag = _stable_label(rhs) if _pin_uuids(rhs) else None

    @numba.njit(parallel=True, cache=tag is not None)
    def solve_batch(Y0, Pmat, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
                    settle_tol, out, status, n_steps, n_rhs):
        P = Y0.shape[0]
        ok = (Pmat.shape[0] == P and out.shape[0] == P and out.shape[1] == t_eval.shape[0]
              and out.shape[2] == Y0.shape[1] and status.shape[0] == P
              and n_steps.shape[0] == P and n_rhs.shape[0] == P)
        if not ok:
            for i in range(status.shape[0]):
                status[i] = _INVALID
            return
        for i in numba.prange(P):
            st, ns, nr, tf = solve(Y0[i], Pmat[i], t_eval, t_max, rtol, atol, h0, max_steps,
                                   method, fixed_dt, settle_tol, out[i])
            status[i] = st
            n_steps[i] = ns
            n_rhs[i] = nr

    if tag is not None:
        _pin_uuids(solve_batch, f"{tag}#solve_batch")
    _BATCH_SOLVERS[rhs] = solve_batch
    return solve_batch
