"""Radau IIA of order 5 for the stiff phase of a flow (HNW II §IV.8, Hairer's RADAU5).

Near a collapsed or recovered state the overlaps relax at rates up to |λ| = 2 while
the weights still drift like 1/t: an explicit method then takes steps of at most
3.3/|λ| for as long as the run lasts. The 3-stage Radau IIA collocation method is
L-stable, so its steps follow the slow drift instead.

One step from (t, y) with step h solves the collocation system for Z = (z_1, z_2, z_3),
z_i ≈ y(t + c_i h) − y,

    Z = h (A ⊗ I) F(Z),   F(Z)_i = f(t + c_i h, y + z_i),   y_{n+1} = y + z_3,

by simplified Newton in the variables W = (T⁻¹ ⊗ I) Z, where T⁻¹ A⁻¹ T is block
diagonal (HNW II eq. IV.8.15): one real system (γ/h − J) and one complex system
((α − iβ)/h − J) per iteration, J the Jacobian (forward differences, reused while
Newton converges fast). The complex system is solved as the real system of twice its
size that it is (`complex_shifted_lu`), so only real arithmetic is compiled. Error estimate  (γ/h − J)⁻¹ (f(t, y) + Σ_i e_i z_i / h)
(HNW II eq. IV.8.19–20), step size by Gustafsson's predictive controller, dense
output by the collocation polynomial  u(t + x h) = y + Σ_k (Zᵀ P)_k x^k.

The constants are those of HNW II Table IV.5.6 and Hairer's radau5.f (the same as
scipy.integrate.Radau); tests/test_radau.py derives A from the collocation conditions
with sympy and checks T, T⁻¹, γ, α ± iβ, e and P against it.

Symbols: n state size; Z, W, F (3, n); J (n, n); Q = Zᵀ P (n, 3) dense coefficients.
"""
from __future__ import annotations

import math

import numpy as np

from . import kernels as _k
from . import status as _st
from ..numerics.jit import kernel

S6 = math.sqrt(6.0)
C = np.array([(4.0 - S6) / 10.0, (4.0 + S6) / 10.0, 1.0])
E = np.array([-13.0 - 7.0 * S6, -13.0 + 7.0 * S6, -1.0]) / 3.0
MU_REAL = 3.0 + 3.0 ** (2.0 / 3.0) - 3.0 ** (1.0 / 3.0)
MU_COMPLEX_RE = 3.0 + 0.5 * (3.0 ** (1.0 / 3.0) - 3.0 ** (2.0 / 3.0))
MU_COMPLEX_IM = -0.5 * (3.0 ** (5.0 / 6.0) + 3.0 ** (7.0 / 6.0))
MU_COMPLEX = complex(MU_COMPLEX_RE, MU_COMPLEX_IM)
T = np.array([
    [0.09443876248897524, -0.14125529502095421, 0.03002919410514742],
    [0.25021312296533332, 0.20412935229379994, -0.38294211275726192],
    [1.0, 1.0, 0.0]])
TI = np.array([
    [4.17871859155190428, 0.32768282076106237, 0.52337644549944951],
    [-4.17871859155190428, -0.32768282076106237, 0.47662355450055044],
    [0.50287263494578682, -2.57192694985560522, 0.59603920482822492]])
P = np.array([
    [13.0 / 3.0 + 7.0 * S6 / 3.0, -23.0 / 3.0 - 22.0 * S6 / 3.0, 10.0 / 3.0 + 5.0 * S6],
    [13.0 / 3.0 - 7.0 * S6 / 3.0, -23.0 / 3.0 + 22.0 * S6 / 3.0, 10.0 / 3.0 - 5.0 * S6],
    [1.0 / 3.0, -8.0 / 3.0, 10.0 / 3.0]])

NEWTON_MAXITER = 6
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
EPS = float(np.finfo(np.float64).eps)


def radau_iia_matrix():
    """The Radau IIA coefficient matrix A (HNW II Table IV.5.6) in floating point."""
    return np.array([
        [(88.0 - 7.0 * S6) / 360.0, (296.0 - 169.0 * S6) / 1800.0, (-2.0 + 3.0 * S6) / 225.0],
        [(296.0 + 169.0 * S6) / 1800.0, (88.0 + 7.0 * S6) / 360.0, (-2.0 - 3.0 * S6) / 225.0],
        [(16.0 - S6) / 36.0, (16.0 + S6) / 36.0, 1.0 / 9.0]])


# ---------------------------------------------------------------------------
# dense linear algebra, model-free
# ---------------------------------------------------------------------------
LU_BLOCK = 32
"""Columns per block of `lu_factor` (docs/performance.md, Radau's LU)."""


@kernel
def subtract_products(a, k0, k1, i0, i1, j0):
    """a[i, j] −= Σ_{l = k0..k1−1} a[i, l] a[l, j] for i0 ≤ i < i1 and j ≥ j0, the terms of
    each entry subtracted one at a time in order of l, four rows l per sweep along j."""
    n = a.shape[1]
    for i in range(i0, i1):
        row = a[i]
        l = k0
        while l + 3 < k1:
            c0, c1, c2, c3 = row[l], row[l + 1], row[l + 2], row[l + 3]
            u0, u1, u2, u3 = a[l], a[l + 1], a[l + 2], a[l + 3]
            for j in range(j0, n):
                row[j] = (((row[j] - c0 * u0[j]) - c1 * u1[j]) - c2 * u2[j]) - c3 * u3[j]
            l += 4
        while l < k1:
            c0 = row[l]
            u0 = a[l]
            for j in range(j0, n):
                row[j] -= c0 * u0[j]
            l += 1


@kernel
def lu_factor(a, piv):
    """In-place LU factorisation with partial pivoting, a = P L U (Golub & Van Loan
    Alg. 3.4.1); False when a pivot is zero or not finite. By blocks of LU_BLOCK
    columns (`factor_by_blocks`)."""
    return factor_by_blocks(a, piv, LU_BLOCK)


@kernel
def factor_by_blocks(a, piv, block):
    """`lu_factor` with the updates applied by blocks of `block` columns: a block is
    factored, then its rows of U and the trailing matrix receive the block's updates at
    once (`subtract_products`). Every entry receives the same products in the same order
    as in the column-by-column algorithm (block = 1 or ≥ n), so the factors are the same
    bit for bit; the trailing rows are swept once per block instead of once per column."""
    n = a.shape[0]
    for k0 in range(0, n, block):
        k1 = min(k0 + block, n)
        for k in range(k0, k1):
            p = k
            big = abs(a[k, k])
            for i in range(k + 1, n):
                v = abs(a[i, k])
                if v > big:
                    big = v
                    p = i
            if not (big > 0.0) or not np.isfinite(big):
                return False
            piv[k] = p
            if p != k:
                for j in range(n):
                    tmp = a[k, j]
                    a[k, j] = a[p, j]
                    a[p, j] = tmp
            inv = 1.0 / a[k, k]
            for i in range(k + 1, n):
                a[i, k] *= inv
                lik = a[i, k]
                for j in range(k + 1, k1):
                    a[i, j] -= lik * a[k, j]
        for i in range(k0 + 1, k1):
            subtract_products(a, k0, i, i, i + 1, k1)
        subtract_products(a, k0, k1, k1, n, k1)
    return True


@kernel
def lu_solve(lu, piv, b):
    """Solve (P L U) x = b in place for the factors of `lu_factor`."""
    n = lu.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        acc = b[i]
        for j in range(i):
            acc -= lu[i, j] * b[j]
        b[i] = acc
    for i in range(n - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, n):
            acc -= lu[i, j] * b[j]
        b[i] = acc / lu[i, i]


@kernel
def shifted_lu(J, mu, out, piv):
    """out = LU of (mu I − J); False when singular."""
    n = J.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = -J[i, j]
        out[i, i] += mu
    return factor_by_blocks(out, piv, LU_BLOCK)


@kernel
def complex_shifted_lu(J, mu_re, mu_im, out, piv):
    """out (2n, 2n) = LU of the real form of ((mu_re + i mu_im) I − J) (docs/derivations.md,
    N2c): the complex system (mu I − J)(x + i x') = g + i g' is, with S = mu_re I − J,

        [ S        −mu_im I ] [x ]   [g ]
        [ mu_im I   S       ] [x'] = [g'].

    False when singular."""
    n = J.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = -J[i, j]
            out[n + i, n + j] = -J[i, j]
            out[i, n + j] = 0.0
            out[n + i, j] = 0.0
        out[i, i] += mu_re
        out[n + i, n + i] += mu_re
        out[i, n + i] = -mu_im
        out[n + i, i] = mu_im
    return factor_by_blocks(out, piv, LU_BLOCK)


@kernel
def collocation_value(y, Q, x, out):
    """out = y + Σ_k Q[:, k] x^(k+1): the collocation polynomial at t_old + x h_old."""
    for i in range(y.shape[0]):
        out[i] = y[i] + x * (Q[i, 0] + x * (Q[i, 1] + x * Q[i, 2]))


@kernel
def dense_coefficients(Z, Q):
    """Q = Zᵀ P (n, 3)."""
    n = Z.shape[1]
    for i in range(n):
        for k in range(3):
            Q[i, k] = Z[0, i] * P[0, k] + Z[1, i] * P[1, k] + Z[2, i] * P[2, k]


@kernel
def predict_factor(h, h_old, err, err_old):
    """Gustafsson's predictive step factor (HNW II eq. IV.8.25), without safety:
    min(1, (h/h_old) (err_old/err)^(1/4)) · err^(−1/4); h_old < 0 means no history."""
    if err == 0.0:
        return MAX_FACTOR
    mult = 1.0
    if h_old > 0.0 and err_old > 0.0:
        mult = h / h_old * (err_old / err) ** 0.25
    return min(1.0, mult) * err ** -0.25


@kernel(nogil=True)
def jacobian(rhs, t, y, f, p, J, ytmp, ftmp):
    """J ≈ ∂f/∂y of `rhs` by forward differences, δ_j = sqrt(eps · max(1e-5, |y_j|))
    (Hairer's radau5.f); n rhs evaluations. Used by the stiffness test of method "auto"
    and by Radau IIA."""
    n = y.shape[0]
    for i in range(n):
        ytmp[i] = y[i]
    for j in range(n):
        yj = y[j]
        ytmp[j] = yj + math.sqrt(EPS * max(1e-5, abs(yj)))
        delta = ytmp[j] - yj
        rhs(t, ytmp, p, ftmp)
        for i in range(n):
            J[i, j] = (ftmp[i] - f[i]) / delta
        ytmp[j] = yj


@kernel(nogil=True)
def newton(rhs, t, y, h, p, Z, W, F, scale, tol, LUr, pr, LUc, pc, ytmp, fr, fc):
    """Simplified Newton for the collocation system, Z the initial guess on entry
    and the iterate on exit (HNW II §IV.8, stopping rule eq. IV.8.10–11).
    Returns (converged, iterations, contraction rate, rhs evaluations)."""
    n = y.shape[0]
    mr = MU_REAL / h
    mc_re = MU_COMPLEX_RE / h
    mc_im = MU_COMPLEX_IM / h
    for k in range(3):
        for i in range(n):
            W[k, i] = TI[k, 0] * Z[0, i] + TI[k, 1] * Z[1, i] + TI[k, 2] * Z[2, i]
    dw_old = -1.0
    rate = -1.0
    n_eval = 0
    it = 0
    while it < NEWTON_MAXITER:
        for s in range(3):
            for i in range(n):
                ytmp[i] = y[i] + Z[s, i]
            rhs(t + C[s] * h, ytmp, p, F[s])
        n_eval += 3
        if not (_k.all_finite(F[0]) and _k.all_finite(F[1]) and _k.all_finite(F[2])):
            return False, it + 1, rate, n_eval
        for i in range(n):
            fr[i] = (TI[0, 0] * F[0, i] + TI[0, 1] * F[1, i] + TI[0, 2] * F[2, i]
                     - mr * W[0, i])
            g1 = TI[1, 0] * F[0, i] + TI[1, 1] * F[1, i] + TI[1, 2] * F[2, i]
            g2 = TI[2, 0] * F[0, i] + TI[2, 1] * F[1, i] + TI[2, 2] * F[2, i]
            fc[i] = g1 - (mc_re * W[1, i] - mc_im * W[2, i])
            fc[n + i] = g2 - (mc_re * W[2, i] + mc_im * W[1, i])
        lu_solve(LUr, pr, fr)
        lu_solve(LUc, pc, fc)
        acc = 0.0
        for i in range(n):
            a0 = fr[i] / scale[i]
            a1 = fc[i] / scale[i]
            a2 = fc[n + i] / scale[i]
            acc += a0 * a0 + a1 * a1 + a2 * a2
        dwn = math.sqrt(acc / (3 * n))
        if dw_old >= 0.0:
            rate = dwn / dw_old if dw_old > 0.0 else 0.0
        if rate >= 0.0 and (rate >= 1.0
                            or rate ** (NEWTON_MAXITER - it) / (1.0 - rate) * dwn > tol):
            return False, it + 1, rate, n_eval
        for i in range(n):
            W[0, i] += fr[i]
            W[1, i] += fc[i]
            W[2, i] += fc[n + i]
        for k in range(3):
            for i in range(n):
                Z[k, i] = T[k, 0] * W[0, i] + T[k, 1] * W[1, i] + T[k, 2] * W[2, i]
        if dwn == 0.0 or (rate >= 0.0 and rate / (1.0 - rate) * dwn < tol):
            return True, it + 1, rate, n_eval
        dw_old = dwn
        it += 1
    return False, it, rate, n_eval


@kernel(nogil=True)
def run(rhs, t, y, f, h_abs, J, have_jac, t_end, p, t_eval, j, rtol, atol, max_steps,
        n_steps, settle_tol, out_states):
    """Integrate from (t, y) with f = f(t, y) to t_end by Radau IIA, starting with
    step h_abs; J (n, n) holds ∂f/∂y at (t, y) when have_jac, else it is computed.
    Rows j.. of out_states are filled at the t_eval they reach; y and f are updated
    in place. Returns (status, t, n_steps, n_rhs, j)."""
    n = y.shape[0]
    T_n = t_eval.shape[0]
    LUr = np.empty((n, n))
    LUc = np.empty((2 * n, 2 * n))
    pr = np.empty(n, dtype=np.int64)
    pc = np.empty(2 * n, dtype=np.int64)
    Z = np.empty((3, n))
    W = np.empty((3, n))
    F = np.empty((3, n))
    Q = np.zeros((n, 3))
    y_old = np.empty(n)
    ynew = np.empty(n)
    fnew = np.empty(n)
    ytmp = np.empty(n)
    ftmp = np.empty(n)
    fr = np.empty(n)
    fc = np.empty(2 * n)
    ze = np.empty(n)
    err = np.empty(n)
    scale = np.empty(n)
    tol = max(10.0 * EPS / rtol, min(0.03, rtol ** 0.5))

    n_rhs = 0
    if not have_jac:
        jacobian(rhs, t, y, f, p, J, ytmp, ftmp)
        n_rhs += n
    current_jac = True
    lu_ok = False
    have_sol = False
    t_old = t
    h_old_step = 1.0
    h_abs_old = -1.0
    err_old = -1.0
    status = _st.OK
    while t < t_end:
        rejected = False
        accepted = False
        failed_nonfinite = False
        it = 0
        rate = -1.0
        errn = 0.0
        safety = 0.9
        h = h_abs
        t_new = t
        while not accepted:
            if n_steps >= max_steps:
                status = _st.MAX_STEPS
                break
            if not (h_abs > _k.UNDERFLOW * abs(t)) or h_abs < 1e-300:
                status = _st.NON_FINITE if failed_nonfinite else _st.STEP_UNDERFLOW
                break
            t_new = t + h_abs
            if t + 1.01 * h_abs >= t_end:
                t_new = t_end
            h = t_new - t
            h_abs = h
            n_steps += 1
            for i in range(n):
                scale[i] = atol + rtol * abs(y[i])
            converged = False
            while True:
                for s in range(3):
                    if have_sol:
                        collocation_value(y_old, Q, (t + C[s] * h - t_old) / h_old_step, ytmp)
                        for i in range(n):
                            Z[s, i] = ytmp[i] - y[i]
                    else:
                        for i in range(n):
                            Z[s, i] = 0.0
                if not lu_ok:
                    ok_r = shifted_lu(J, MU_REAL / h, LUr, pr)
                    ok_c = complex_shifted_lu(J, MU_COMPLEX_RE / h, MU_COMPLEX_IM / h, LUc, pc)
                    lu_ok = ok_r and ok_c
                if lu_ok:
                    converged, it, rate, ne = newton(rhs, t, y, h, p, Z, W, F, scale, tol,
                                                     LUr, pr, LUc, pc, ytmp, fr, fc)
                    n_rhs += ne
                if converged or current_jac:
                    break
                jacobian(rhs, t, y, f, p, J, ytmp, ftmp)
                n_rhs += n
                current_jac = True
                lu_ok = False
            if not converged:
                failed_nonfinite = not (_k.all_finite(F[0]) and _k.all_finite(F[1])
                                        and _k.all_finite(F[2]))
                h_abs *= 0.5
                lu_ok = False
                continue
            failed_nonfinite = False
            for i in range(n):
                ynew[i] = y[i] + Z[2, i]
                ze[i] = (E[0] * Z[0, i] + E[1] * Z[1, i] + E[2] * Z[2, i]) / h
                err[i] = f[i] + ze[i]
            lu_solve(LUr, pr, err)
            errn = _k.error_norm(err, y, ynew, rtol, atol)
            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + it)
            if rejected and errn > 1.0:
                for i in range(n):
                    ytmp[i] = y[i] + err[i]
                rhs(t, ytmp, p, ftmp)
                n_rhs += 1
                for i in range(n):
                    err[i] = ftmp[i] + ze[i]
                lu_solve(LUr, pr, err)
                errn = _k.error_norm(err, y, ynew, rtol, atol)
            if not (errn <= 1.0):
                if not np.isfinite(errn):
                    h_abs *= MIN_FACTOR
                else:
                    fac = predict_factor(h_abs, h_abs_old, errn, err_old)
                    h_abs *= max(MIN_FACTOR, safety * fac)
                lu_ok = False
                rejected = True
            else:
                accepted = True
        if not accepted:
            break
        rhs(t_new, ynew, p, fnew)
        n_rhs += 1
        if not (_k.all_finite(fnew) and _k.all_finite(ynew)):
            status = _st.NON_FINITE
            break
        recompute_jac = it > 2 and rate > 1e-3
        fac = min(MAX_FACTOR, safety * predict_factor(h_abs, h_abs_old, errn, err_old))
        if not recompute_jac and fac < 1.2:
            fac = 1.0
        else:
            lu_ok = False
        dense_coefficients(Z, Q)
        while j < T_n and t_eval[j] <= t_new:
            if t_eval[j] == t_new:
                _k.copy_into(ynew, out_states[j])
            else:
                collocation_value(y, Q, (t_eval[j] - t) / h, out_states[j])
            j += 1
        _k.copy_into(y, y_old)
        _k.copy_into(ynew, y)
        _k.copy_into(fnew, f)
        t_old = t
        h_old_step = h
        have_sol = True
        t = t_new
        if recompute_jac:
            jacobian(rhs, t, y, f, p, J, ytmp, ftmp)
            n_rhs += n
            current_jac = True
        else:
            current_jac = False
        h_abs_old = h_abs
        err_old = errn
        h_abs = h_abs * fac
        if settle_tol > 0.0 and _k.max_abs(f) < settle_tol:
            status = _st.SETTLED
            break
    return status, t, n_steps, n_rhs, j

