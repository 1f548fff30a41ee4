"""Model-free numba pieces of the Runge–Kutta solvers (flowsim.integrate.solver):
the tableaus stacked by method code as compile-time constants, the controller
constants, and the small loops the stepping function is made of.

Symbols: y state (n,), K stages (s, n), h step, e = b − b̂ embedded weights,
θ = (t* − t)/h position inside a step.  Equations: HNW I = Hairer, Nørsett &
Wanner, Solving ODEs I (2nd ed. 1993).

Slice assignment (`a[:] = b`) is avoided on purpose: its broadcasting checks cost
seconds of compile time per kernel; explicit loops compile in milliseconds.
"""
from __future__ import annotations

import numpy as np

from . import status as _st
from .tableaus import DOPRI5, EULER, RK4
from ..numerics.jit import kernel

# ---------------------------------------------------------------------------
# tableaus stacked by method code, padded to S_MAX stages (compile-time constants)
# ---------------------------------------------------------------------------
TABLEAU_OF_METHOD = (DOPRI5, RK4, EULER, DOPRI5)
S_MAX = max(t.stages for t in TABLEAU_OF_METHOD)
TAB_A = np.zeros((len(TABLEAU_OF_METHOD), S_MAX, S_MAX))
TAB_B = np.zeros((len(TABLEAU_OF_METHOD), S_MAX))
TAB_C = np.zeros((len(TABLEAU_OF_METHOD), S_MAX))
TAB_E = np.zeros((len(TABLEAU_OF_METHOD), S_MAX))
TAB_STAGES = np.zeros(len(TABLEAU_OF_METHOD), dtype=np.int64)
TAB_FSAL = np.zeros(len(TABLEAU_OF_METHOD), dtype=np.int64)
for _m, _t in enumerate(TABLEAU_OF_METHOD):
    _s = _t.stages
    TAB_A[_m, :_s, :_s] = _t.a
    TAB_B[_m, :_s] = _t.b
    TAB_C[_m, :_s] = _t.c
    if _t.b_err is not None:
        TAB_E[_m, :_s] = _t.b_err
    TAB_STAGES[_m] = _s
    TAB_FSAL[_m] = 1 if _t.fsal else 0
del _m, _t, _s
DENSE_D = DOPRI5.dense.copy()
ORDER_ADAPTIVE = DOPRI5.order

# PI controller (Hairer/Söderlind)
SAFETY = 0.9
BETA1 = 0.7 / 5.0
BETA2 = 0.4 / 5.0
FAC_MIN = 0.2
FAC_MAX = 10.0
ERR_PREV0 = 1e-4       # Hairer's FACOLD start value
UNDERFLOW = 1e-14      # step < 1e-14·|t| -> STEP_UNDERFLOW
SNAP = 1e-9            # fixed step: stretch onto a t_eval point within 1e-9·dt

# Stiffness test of method "auto": every STIFF_CHECK_EVERY accepted DOPRI5 steps, unless
# the step grew by more than STIFF_GROWTH since the last test (a transient or a slow
# phase that DOPRI5 follows well), the Jacobian's spectral radius ρ is computed; h ρ >
# STIFF_HRHO means the step is held by stability (DOPRI5's stability interval on the
# negative real axis ends at 3.31, HNW II §IV.2), and the run continues in Radau IIA
# with that Jacobian.
STIFF_CHECK_EVERY = 25
STIFF_GROWTH = 1.5
STIFF_HRHO = 2.5
SPECTRAL_SQUARINGS = 6      # ρ from ‖J^64‖^(1/64)

OK, MAX_STEPS, UNDER, NONFIN, SETTLED, INVALID = (
    _st.OK, _st.MAX_STEPS, _st.STEP_UNDERFLOW, _st.NON_FINITE, _st.SETTLED, _st.INVALID)


# ---------------------------------------------------------------------------
# model-free helpers
# ---------------------------------------------------------------------------
@kernel
def all_finite(x):
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True


@kernel
def max_abs(x):
    m = 0.0
    for i in range(x.shape[0]):
        a = abs(x[i])
        if a > m:
            m = a
    return m


@kernel
def combine(y, K, coef, h, s, out):
    """out = y + h Σ_{j<s} coef_j K_j  (zero weights skipped; same summation order
    as `stages`, so the FSAL last stage argument equals y_{n+1} bitwise)."""
    n = y.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            if coef[j] != 0.0:
                acc += coef[j] * K[j, i]
        out[i] = y[i] + h * acc


@kernel
def error_estimate(K, e, h, s, out):
    """out = h Σ_j e_j K_j  (embedded error estimate, HNW I §II.4)."""
    n = out.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(s):
            if e[j] != 0.0:
                acc += e[j] * K[j, i]
        out[i] = h * acc


@kernel
def error_norm(err, y, ynew, rtol, atol):
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


@kernel
def dense_dopri5(y, ynew, K, h, theta, out):
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
            if DENSE_D[j] != 0.0:
                acc += DENSE_D[j] * K[j, i]
        r4 = ydiff - h * K[6, i] - bspl
        out[i] = y[i] + theta * (ydiff + th1 * (bspl + theta * (r4 + th1 * h * acc)))


@kernel
def copy_into(src, dst):
    """dst = src elementwise (explicit loop: slice assignment costs seconds of
    compile time for its broadcasting checks)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@kernel
def fill_rows(out, j0, y):
    for j in range(j0, out.shape[0]):
        for i in range(y.shape[0]):
            out[j, i] = y[i]


@kernel
def fill_nan(out):
    for j in range(out.shape[0]):
        for i in range(out.shape[1]):
            out[j, i] = np.nan


@kernel
def check_args(y0, t_eval, t_max, rtol, atol, max_steps, method, fixed_dt, settle_tol, out):
    """True when the kernel arguments are well formed (shapes, codes, tolerances)."""
    n = y0.shape[0]
    T = t_eval.shape[0]
    if out.shape[0] != T or out.shape[1] != n:
        return False
    if method < 0 or method > 5:
        return False
    if not np.isfinite(t_max) or max_steps < 0 or not (settle_tol >= 0.0):
        return False
    for k in range(T):
        if not np.isfinite(t_eval[k]):
            return False
        if k > 0 and t_eval[k] < t_eval[k - 1]:
            return False
    if method == 0 or method >= 4:
        if not (rtol > 0.0) or not (atol > 0.0) or not np.isfinite(rtol) or not np.isfinite(atol):
            return False
    else:
        if not (fixed_dt > 0.0) or not np.isfinite(fixed_dt):
            return False
    return True


@kernel
def pi_factor(err, err_prev):
    """Step factor of the PI controller after an accepted step (err ≤ 1)."""
    if err == 0.0:
        return FAC_MAX
    fac = SAFETY * err ** (-BETA1) * err_prev ** BETA2
    return min(FAC_MAX, max(FAC_MIN, fac))



@kernel
def spectral_radius(J):
    """ρ(J) by Gelfand's formula, ρ = lim ‖J^k‖^(1/k), at k = 2^SPECTRAL_SQUARINGS with
    the Frobenius norm (the matrix rescaled after every squaring). ‖J^k‖ ≥ ρ^k in any
    consistent norm, so this is an upper bound, above ρ by at most (√n cond(V))^(1/k)
    for a diagonalisable J = V Λ V⁻¹ (Gelfand's formula: Horn & Johnson, Matrix
    Analysis, Cor. 5.6.14). Six 8×8 products, no LAPACK call inside the threads of
    a parallel batch, and no complex eigenvalue problem (numba's real eigvals refuses
    complex pairs). inf when J is not finite."""
    n = J.shape[0]
    A = np.empty((n, n))
    B = np.empty((n, n))
    log_scale = 0.0
    k = 1.0
    nrm = 0.0
    for i in range(n):
        for j in range(n):
            A[i, j] = J[i, j]
            nrm += J[i, j] * J[i, j]
    if not np.isfinite(nrm):
        return np.inf
    for _ in range(SPECTRAL_SQUARINGS):
        if nrm == 0.0:
            return 0.0
        s = np.sqrt(nrm)
        for i in range(n):
            for j in range(n):
                A[i, j] /= s
        log_scale += np.log(s) / k
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += A[i, m] * A[m, j]
                B[i, j] = acc
        k *= 2.0
        nrm = 0.0
        for i in range(n):
            for j in range(n):
                A[i, j] = B[i, j]
                nrm += B[i, j] * B[i, j]
    if nrm == 0.0:
        return 0.0
    return np.exp(log_scale + np.log(np.sqrt(nrm)) / k)
