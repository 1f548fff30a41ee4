"""Radau IIA (method "radau5") and the stiffness switch (method "auto").

The constants are derived here from the collocation conditions with sympy; the order
is measured on a linear system with an exact solution (fixed steps); the adaptive
method is compared with exact solutions, scipy's DOP853 and the project's Gaussian
flow, and on stiff problems against DOPRI5's RHS counts (counts, not times)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from flowsim.integrate import (MAX_STEPS, NON_FINITE, OK, SETTLED, STEP_UNDERFLOW, as_callable,
                               integrate, make_batch_solver, make_solver, radau, solve_scipy)
from flowsim.integrate.kernels import spectral_radius
from flowsim.integrate.testing import blowup_params, linear_exact, linear_params, logistic_exact, logistic_params, lotka_volterra_params, quadratic_rhs

RHS = quadratic_rhs
A_LIN = np.array([[-0.5, 2.0], [-2.0, -0.3]])
Y0_LIN = np.array([1.0, 0.5])
T_LOG = np.concatenate([[0.0], np.logspace(-3, 3, 25)])
# stiff linear system: a slow mode (rate 0.01) followed by a fast one (rate 100)
A_STIFF = np.array([[-0.01, 0.0], [100.0, -100.0]])
Y0_STIFF = np.array([1.0, 0.0])


def _close(a, b, tol):
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) <= tol


# --------------------------------------------------------------------- constants

def _sympy_radau():
    s6 = sp.sqrt(6)
    c = [(4 - s6) / 10, (4 + s6) / 10, sp.Integer(1)]
    A = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"a{i}{j}"))
    eqs = [sum(A[i, j] * c[j] ** (k - 1) for j in range(3)) - c[i] ** k / k
           for i in range(3) for k in (1, 2, 3)]           # collocation conditions C(3)
    sol = sp.solve(eqs, list(A))
    return c, A.subs(sol)


def test_constants_from_the_collocation_conditions():
    c, A = _sympy_radau()
    x = sp.Symbol("x")
    # the nodes are the Radau right points: zeros of d^2/dx^2 [x^2 (x - 1)^3]
    radau_poly = sp.diff(x ** 2 * (x - 1) ** 3, x, 2)
    assert all(sp.simplify(radau_poly.subs(x, ci)) == 0 for ci in c)
    np.testing.assert_allclose(radau.C, [float(v) for v in c], rtol=0, atol=1e-16)
    A_num = np.array(A.evalf(30).tolist(), dtype=float)
    np.testing.assert_allclose(radau.radau_iia_matrix(), A_num, rtol=0, atol=1e-15)
    # T^-1 A^-1 T = [[gamma, 0, 0], [0, Re mu, -Im mu], [0, Im mu, Re mu]]
    np.testing.assert_allclose(radau.TI @ radau.T, np.eye(3), atol=3e-15)
    M = radau.TI @ np.linalg.inv(A_num) @ radau.T
    mu = radau.MU_COMPLEX
    expect = np.array([[radau.MU_REAL, 0, 0], [0, mu.real, -mu.imag], [0, mu.imag, mu.real]])
    np.testing.assert_allclose(M, expect, atol=2e-14)
    # gamma, alpha ± i beta are the eigenvalues of A^-1 (closed forms of HNW II IV.8)
    lam = sp.Matrix(A).inv().eigenvals()
    roots = sorted(complex(sp.N(r, 30)).real for r in lam)
    assert roots[-1] == pytest.approx(radau.MU_REAL, abs=1e-13)
    # dense output: the collocation polynomial passes through (c_i, z_i)
    V = np.array([[float(ci) ** (k + 1) for k in range(3)] for ci in c])
    np.testing.assert_allclose(V @ radau.P.T, np.eye(3), atol=1e-13)


def test_constants_equal_scipy_radau():
    from scipy.integrate._ivp import radau as sr

    for ours, theirs in ((radau.C, sr.C), (radau.E, sr.E), (radau.T, sr.T),
                         (radau.TI, sr.TI), (radau.P, sr.P)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=1e-15)
    assert radau.MU_REAL == pytest.approx(sr.MU_REAL, rel=1e-15)
    assert radau.MU_COMPLEX == pytest.approx(sr.MU_COMPLEX, rel=1e-15)


SIZES = (6, 2 * radau.LU_BLOCK + 7)          # one block; two blocks and a remainder


@pytest.mark.parametrize("n", SIZES)
def test_lu_solves_a_real_system(n):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal(n)
    lu = a.copy()
    piv = np.empty(n, np.int64)
    assert radau.lu_factor(lu, piv)
    x = b.copy()
    radau.lu_solve(lu, piv, x)
    np.testing.assert_allclose(a @ x, b, atol=1e-12 * n)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9)
    singular = a.copy()
    singular[:, 2] = 0.0
    for bad in (np.zeros((n, n)), singular, np.where(np.eye(n) > 0, np.nan, a)):
        assert not radau.lu_factor(bad, np.empty(n, np.int64))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("block", (None, 1, 5))
def test_the_blocked_lu_equals_the_column_by_column_one_bit_for_bit(n, block):
    """Golub & Van Loan Alg. 3.4.1 one column at a time, in numpy: the blocks reorder
    the updates between entries, never within one."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((n, n))
    ref = a.copy()
    ref_piv = np.empty(n, np.int64)
    for k in range(n):
        p = k + int(np.argmax(np.abs(ref[k:, k])))
        ref_piv[k] = p
        ref[[k, p]] = ref[[p, k]]
        ref[k + 1:, k] *= 1.0 / ref[k, k]
        ref[k + 1:, k + 1:] -= ref[k + 1:, k, None] * ref[k, None, k + 1:]
    piv = np.empty(n, np.int64)
    if block is None:
        assert radau.lu_factor(a, piv)
    else:
        assert radau.factor_by_blocks(a, piv, block)
    np.testing.assert_array_equal(piv, ref_piv)
    np.testing.assert_array_equal(a, ref)


@pytest.mark.parametrize("n", (5, radau.LU_BLOCK + 3))
def test_the_real_form_of_the_complex_shifted_system_solves_it(n):
    """(mu I - J) x = g for complex mu and g, solved as the real 2n system of
    complex_shifted_lu, against numpy's complex solve."""
    rng = np.random.default_rng(4)
    J = rng.standard_normal((n, n))
    g = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    for mu in (radau.MU_COMPLEX / 0.3, complex(-1.5, 2.0)):
        lu = np.empty((2 * n, 2 * n))
        piv = np.empty(2 * n, np.int64)
        assert radau.complex_shifted_lu(J, mu.real, mu.imag, lu, piv)
        x = np.concatenate([g.real, g.imag])
        radau.lu_solve(lu, piv, x)
        expected = np.linalg.solve(mu * np.eye(n) - J, g)
        np.testing.assert_allclose(x[:n] + 1j * x[n:], expected, rtol=1e-10, atol=1e-10)
    assert not radau.complex_shifted_lu(np.zeros((n, n)), 0.0, 0.0, np.empty((2 * n, 2 * n)),
                                        np.empty(2 * n, np.int64))


def test_radau_on_a_system_of_several_blocks_matches_the_exact_solution():
    """A stiff linear system of 60 coordinates (rates 0.01 to 100, not normal), so
    that both of the step's factorisations span several blocks."""
    n = 60
    assert n > radau.LU_BLOCK
    rng = np.random.default_rng(5)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(-np.logspace(-2, 2, n)) @ Q.T + 0.1 * np.triu(rng.standard_normal((n, n)), 1)
    y0 = rng.standard_normal(n)
    t_eval = np.array([0.0, 0.01, 0.1, 1.0, 10.0, 100.0])
    sol = integrate(RHS, y0, linear_params(A), t_eval, method="radau5", rtol=1e-10, atol=1e-12)
    assert sol.status == OK
    assert _close(sol.states, linear_exact(A, y0, t_eval), 1e-8)


def test_spectral_radius():
    """An upper bound within a few per cent of max |eig| (numpy's geev as reference)."""
    J = np.array([[0.0, -3.0], [3.0, 0.0]])        # eigenvalues ± 3i
    assert spectral_radius(J) == pytest.approx(3.0, rel=0.02)
    assert spectral_radius(A_STIFF) == pytest.approx(100.0, rel=0.02)
    assert spectral_radius(np.array([[np.nan]])) == np.inf
    assert spectral_radius(np.zeros((3, 3))) == 0.0
    rng = np.random.default_rng(7)
    for n in (2, 5, 8):
        for _ in range(20):
            M = rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-3, 3)
            rho = np.max(np.abs(np.linalg.eigvals(M)))
            est = spectral_radius(M)
            assert rho * (1 - 1e-12) <= est <= 1.1 * rho, (n, rho, est)


# --------------------------------------------------------------------- order

def test_convergence_order_fixed_steps():
    """Global error after N equal steps (each call of the stepping loop takes exactly
    one accepted step) on y' = A y: slope 5 in log h."""
    run = make_solver(RHS).radau
    t_end = 2.0
    exact = linear_exact(A_LIN, Y0_LIN, [t_end])[0]
    errs, hs = [], []
    for N in (4, 8, 16, 32):
        h = t_end / N
        y = Y0_LIN.copy()
        f = np.empty(2)
        RHS(0.0, y, P_LIN_ARR, f)
        J = np.empty((2, 2))
        t = 0.0
        for k in range(N):
            t_next = (k + 1) * h
            out = np.empty((0, 2))
            status, t, n_steps, _, _ = run(RHS, t, y, f, t_next - t, J, False, t_next,
                                           P_LIN_ARR, np.empty(0), 0, 1.0, 1.0, 10, 0, 0.0, out)
            assert status == OK and n_steps == 1 and t == t_next
        errs.append(np.max(np.abs(y - exact)))
        hs.append(h)
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - 5.0) < 0.3, (slope, errs)


P_LIN_ARR = linear_params(A_LIN)


# --------------------------------------------------------------------- accuracy

@pytest.mark.parametrize("method", ["radau5", "auto"])
def test_linear_matches_exact_and_dop853(method):
    sol = integrate(RHS, Y0_LIN, P_LIN_ARR, T_LOG, method=method, rtol=1e-11, atol=1e-13)
    assert sol.status == OK and sol.t_final == T_LOG[-1]
    ref, status, _ = solve_scipy(as_callable(RHS, P_LIN_ARR), Y0_LIN, T_LOG, None,
                                 1e-13, 1e-15, method="DOP853")
    assert status == OK
    assert _close(sol.states, ref, 1e-9)
    assert _close(sol.states, linear_exact(A_LIN, Y0_LIN, T_LOG), 1e-9)


def test_radau_nonlinear_matches_dop853_and_closed_form():
    p = lotka_volterra_params(1.0, 0.5, 0.75, 0.5, eps=0.05, zeta=0.02)
    y0 = np.array([2.0, 1.0])
    sol = integrate(RHS, y0, p, T_LOG, method="radau5", rtol=1e-11, atol=1e-13)
    ref, _, _ = solve_scipy(as_callable(RHS, p), y0, T_LOG, None, 1e-13, 1e-15, method="DOP853")
    assert sol.status == OK and _close(sol.states, ref, 1e-8)
    r, K, y0 = 1.5, 3.0, np.array([0.01])
    sol = integrate(RHS, y0, logistic_params(r, K), T_LOG, method="radau5", rtol=1e-11,
                    atol=1e-13)
    assert sol.status == OK and _close(sol.states, logistic_exact(r, K, y0[0], T_LOG), 1e-8)


def test_radau_dense_output_between_steps():
    t_eval = np.linspace(0.0, 10.0, 401)
    sol = integrate(RHS, Y0_LIN, P_LIN_ARR, t_eval, method="radau5", rtol=1e-6, atol=1e-9)
    assert sol.status == OK and sol.n_steps < 300       # scipy's Radau: 251 steps
    assert _close(sol.states, linear_exact(A_LIN, Y0_LIN, t_eval), 2e-5)


# --------------------------------------------------------------------- stiffness

def test_stiff_system_radau_and_auto_beat_dopri5():
    """Rate 100 and 0.01 on [0, 1000]: DOPRI5 is held to h <= 3.3/100 for the whole
    run; Radau IIA and the switch follow the slow mode."""
    t_eval = np.array([0.0, 0.01, 1.0, 10.0, 100.0, 1000.0])
    p = linear_params(A_STIFF)
    exact = linear_exact(A_STIFF, Y0_STIFF, t_eval)
    counts = {}
    for method in ("dopri5", "radau5", "auto"):
        sol = integrate(RHS, Y0_STIFF, p, t_eval, method=method, rtol=1e-8, atol=1e-10)
        assert sol.status == OK
        assert _close(sol.states, exact, 1e-6), method
        counts[method] = sol.n_rhs
    assert counts["dopri5"] > 100 * 1000 / 3.31              # at its stability limit
    assert counts["radau5"] < counts["dopri5"] / 20
    assert counts["auto"] < counts["dopri5"] / 10


def test_auto_is_dopri5_when_not_stiff():
    """On a non-stiff problem the switch never fires: the same steps as DOPRI5 plus
    the Jacobians of the stiffness tests."""
    sol0 = integrate(RHS, Y0_LIN, P_LIN_ARR, T_LOG[:12], method="dopri5", rtol=1e-9, atol=1e-12)
    sol5 = integrate(RHS, Y0_LIN, P_LIN_ARR, T_LOG[:12], method="auto", rtol=1e-9, atol=1e-12)
    assert sol5.n_steps == sol0.n_steps
    np.testing.assert_array_equal(sol5.states, sol0.states)
    assert 0 <= sol5.n_rhs - sol0.n_rhs <= 2 * (sol0.n_steps // 25 + 1)


# --------------------------------------------------------------------- status codes

@pytest.mark.parametrize("method", ["radau5", "auto"])
def test_blowup_reports_status(method):
    sol = integrate(RHS, [1.0], blowup_params(), [0.5, 2.0], method=method)
    assert sol.status in (NON_FINITE, STEP_UNDERFLOW)
    assert sol.states[0, 0] == pytest.approx(2.0, rel=1e-6)
    assert np.isnan(sol.states[1]).all()
    assert sol.t_final == pytest.approx(1.0, abs=1e-3)


def test_radau_max_steps_and_settle():
    t_eval = np.linspace(0.0, 10.0, 11)
    sol = integrate(RHS, Y0_LIN, P_LIN_ARR, t_eval, method="radau5", max_steps=3)
    assert sol.status == MAX_STEPS and sol.n_steps == 3
    done = t_eval <= sol.t_final
    assert np.isfinite(sol.states[done]).all() and np.isnan(sol.states[~done]).all()
    t_eval = np.linspace(0.0, 1000.0, 201)
    sol = integrate(RHS, Y0_STIFF, linear_params(A_STIFF), t_eval, method="auto",
                    settle_tol=1e-6)
    assert sol.status == SETTLED
    assert 500.0 < sol.t_final < 1000.0                       # 0.01 e^{-0.01 t} < 1e-6 at t > 921
    tail = t_eval > sol.t_final
    np.testing.assert_array_equal(sol.states[tail], np.broadcast_to(sol.states[-1], (tail.sum(), 2)))


def test_auto_batch_equals_single():
    P = 5
    rng = np.random.default_rng(0)
    Y0 = np.abs(rng.standard_normal((P, 2))) + 0.1
    Pm = np.tile(linear_params(A_STIFF), (P, 1))
    t_eval = np.array([1.0, 100.0, 1000.0])
    out = np.empty((P, 3, 2))
    status, n_steps, n_rhs = (np.empty(P, np.int64) for _ in range(3))
    make_batch_solver(RHS)(Y0, Pm, t_eval, 1000.0, 1e-8, 1e-10, 0.0, 10**6, 5, 0.0, 0.0,
                           out, status, n_steps, n_rhs)
    for i in range(P):
        sol = integrate(RHS, Y0[i], Pm[i], t_eval, method="auto", rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(out[i], sol.states)
        assert (status[i], n_steps[i], n_rhs[i]) == (sol.status, sol.n_steps, sol.n_rhs)


# --------------------------------------------------------------------- the project's flow

def test_gaussian_sweep_points_auto_agrees_with_dopri5_and_dop853():
    """The benchmark sweep's flow (two-mode reverse KL, trainable weights) from five
    seeds in d = 2..512: "auto" ends where DOPRI5 and DOP853 end, with fewer RHS calls
    (the overlaps relax at rate 2 while the weights drift like 1/t)."""
    from flowsim.bench.sweep_throughput import sweep_points
    from flowsim.families.gaussian import two_mode as two

    Y0, Pm, dims = sweep_points(5)
    t_eval = np.array([1.0, 10.0, 100.0, 1000.0])
    n_auto = n_dopri = 0
    for i in range(5):
        a = integrate(two.rhs_reverse_kl, Y0[i], Pm[i], t_eval, method="auto", rtol=1e-7, atol=1e-9)
        d = integrate(two.rhs_reverse_kl, Y0[i], Pm[i], t_eval, method="dopri5", rtol=1e-7, atol=1e-9)
        assert a.status == OK and d.status == OK
        assert _close(a.states, d.states, 1e-5), dims[i]
        n_auto += a.n_rhs
        n_dopri += d.n_rhs
        tight = integrate(two.rhs_reverse_kl, Y0[i], Pm[i], t_eval, method="auto", rtol=1e-11, atol=1e-13)
        ref, status, _ = solve_scipy(as_callable(two.rhs_reverse_kl, Pm[i]), Y0[i], t_eval, None,
                                     1e-12, 1e-14, method="DOP853")
        assert tight.status == OK and status == OK
        assert _close(tight.states, ref, 1e-7), dims[i]
    assert n_auto < 0.6 * n_dopri
