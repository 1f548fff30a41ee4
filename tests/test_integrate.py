"""Tests for flowsim.integrate: tableaus, convergence orders, agreement with scipy's
DOP853, status codes, the batch kernel, input validation and the disk cache.

Every problem is an instance of ONE cached kernel (testing.quadratic_rhs), so the
file compiles one solver and one batch solver."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from flowsim.integrate import DOPRI5, EULER, INVALID, MAX_STEPS, METHOD_CODES, NON_FINITE, OK, RK4, SETTLED, STATUS_NAMES, STEP_UNDERFLOW, as_callable, integrate, make_batch_solver, make_solver, solve_scipy
from flowsim.integrate.tableaus import check_tableau
from flowsim.integrate.testing import blowup_params, linear_exact, linear_params, logistic_exact, logistic_params, lotka_volterra_params, quadratic_params, quadratic_rhs

RHS = quadratic_rhs
A_LIN = np.array([[-0.5, 2.0], [-2.0, -0.3]])   # damped rotation
Y0_LIN = np.array([1.0, 0.5])
P_LIN = linear_params(A_LIN)
P_LV = lotka_volterra_params(1.0, 0.5, 0.75, 0.5, eps=0.05, zeta=0.02)
Y0_LV = np.array([2.0, 1.0])
T_LOG = np.concatenate([[0.0], np.logspace(-3, 3, 25)])   # 4 points per decade

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _kernel_args(y0, p, t_eval, *, t_max=None, rtol=1e-8, atol=1e-10, h0=0.0,
                 max_steps=10**6, method=0, dt=0.0, settle_tol=0.0):
    t_eval = np.asarray(t_eval, dtype=np.float64)
    t_max = float(t_eval[-1]) if t_max is None else float(t_max)
    return (np.asarray(y0, dtype=np.float64), np.asarray(p, dtype=np.float64), t_eval,
            t_max, rtol, atol, h0, max_steps, method, dt, settle_tol)


def _close(a, b, tol):
    """max |a − b| / max(1, |b|)."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) <= tol


# --------------------------------------------------------------------- tableaus

def test_tableaus_consistent():
    for tab in (DOPRI5, RK4, EULER):
        check_tableau(tab)
    # embedded difference = b − b̂ of the 4th-order DOPRI5 solution
    bhat = np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200,
                     187 / 2100, 1 / 40])
    np.testing.assert_allclose(DOPRI5.b_err, DOPRI5.b - bhat, atol=1e-16)
    assert (DOPRI5.order, RK4.order, EULER.order) == (5, 4, 1)
    assert DOPRI5.fsal and not RK4.fsal and RK4.b_err is None
    assert STATUS_NAMES[OK] == "ok" and STATUS_NAMES[SETTLED] == "settled"
    assert (OK, MAX_STEPS, STEP_UNDERFLOW, NON_FINITE, SETTLED) == (0, 1, 2, 3, 4)


# --------------------------------------------------------------------- orders

@pytest.mark.parametrize("method, order, dts", [
    ("euler", 1, [0.02, 0.01, 0.005, 0.0025]),
    ("rk4", 4, [0.2, 0.1, 0.05, 0.025]),
    ("dopri5_fixed", 5, [0.4, 0.2, 0.1, 0.05]),
])
def test_convergence_order(method, order, dts):
    t_end = 2.0
    exact = linear_exact(A_LIN, Y0_LIN, [t_end])[0]
    errs = []
    for dt in dts:
        sol = integrate(RHS, Y0_LIN, P_LIN, [t_end], method=method, dt=dt)
        assert sol.status == OK
        assert sol.n_steps == round(t_end / dt)          # exact landing, no sliver step
        assert sol.t_final == t_end
        errs.append(np.max(np.abs(sol.states[-1] - exact)))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.3, (method, slope, errs)


def test_fixed_step_lands_on_every_t_eval():
    t_eval = np.array([0.0, 0.13, 0.5, 0.5, 1.0, 1.7])
    sol = integrate(RHS, Y0_LIN, P_LIN, t_eval, method="rk4", dt=0.01)
    assert sol.status == OK
    np.testing.assert_allclose(sol.states, linear_exact(A_LIN, Y0_LIN, t_eval), atol=1e-9)
    np.testing.assert_array_equal(sol.states[2], sol.states[3])
    assert sol.n_rhs == 4 * sol.n_steps + 1


# --------------------------------------------------------------------- DOPRI5 vs DOP853

def test_dopri5_linear_matches_exact_and_dop853():
    sol = integrate(RHS, Y0_LIN, P_LIN, T_LOG, rtol=1e-12, atol=1e-14)
    assert sol.status == OK and sol.t_final == T_LOG[-1]
    ref, status, _ = solve_scipy(as_callable(RHS, P_LIN), Y0_LIN, T_LOG, None,
                                 1e-13, 1e-15, method="DOP853")
    assert status == OK
    exact = linear_exact(A_LIN, Y0_LIN, T_LOG)
    np.testing.assert_array_equal(sol.states[0], Y0_LIN)
    assert _close(sol.states, ref, 1e-10)
    assert _close(sol.states, exact, 1e-10)


def test_dopri5_nonlinear_matches_dop853():
    sol = integrate(RHS, Y0_LV, P_LV, T_LOG, rtol=1e-12, atol=1e-14)
    assert sol.status == OK
    ref, status, _ = solve_scipy(as_callable(RHS, P_LV), Y0_LV, T_LOG, None,
                                 1e-13, 1e-15, method="DOP853")
    assert status == OK
    assert _close(sol.states, ref, 1e-10)
    # logistic: nonlinear with a closed form
    r, K, y0 = 1.5, 3.0, np.array([0.01])
    sol = integrate(RHS, y0, logistic_params(r, K), T_LOG, rtol=1e-12, atol=1e-14)
    assert sol.status == OK
    assert _close(sol.states, logistic_exact(r, K, y0[0], T_LOG), 1e-10)


def test_dopri5_dense_output_between_steps():
    # loose tolerance -> long steps; the 4th-order interpolant stays within a few tol
    t_eval = np.linspace(0.0, 10.0, 401)
    sol = integrate(RHS, Y0_LIN, P_LIN, t_eval, rtol=1e-6, atol=1e-9)
    assert sol.status == OK and sol.n_steps < 200
    assert _close(sol.states, linear_exact(A_LIN, Y0_LIN, t_eval), 2e-5)


def test_dopri5_user_first_step_and_t_max_beyond_t_eval():
    sol = integrate(RHS, Y0_LIN, P_LIN, [0.5, 1.0], t_max=3.0, dt=1e-3, rtol=1e-10,
                    atol=1e-12)
    assert sol.status == OK and sol.t_final == 3.0
    assert _close(sol.states, linear_exact(A_LIN, Y0_LIN, [0.5, 1.0]), 1e-8)


# --------------------------------------------------------------------- status codes

@pytest.mark.parametrize("method, dt", [("dopri5", None), ("rk4", 0.01), ("euler", 0.01)])
def test_blowup_reports_status_without_raising(method, dt):
    sol = integrate(RHS, [1.0], blowup_params(), [0.5, 2.0], method=method, dt=dt)
    assert sol.status in (NON_FINITE, STEP_UNDERFLOW)
    assert np.isfinite(sol.states[0]).all() and np.isnan(sol.states[1]).all()
    if method == "dopri5":
        assert sol.states[0, 0] == pytest.approx(2.0, rel=1e-6)
        assert sol.t_final == pytest.approx(1.0, abs=1e-6)


def test_scipy_reference_blowup_status():
    states, status, nfev = solve_scipy(as_callable(RHS, blowup_params()), [1.0],
                                       [0.5, 2.0], None, 1e-8, 1e-10)
    assert status in (NON_FINITE, STEP_UNDERFLOW)
    assert states[0, 0] == pytest.approx(2.0, rel=1e-6) and np.isnan(states[1, 0])
    assert nfev > 0


def test_max_steps():
    t_eval = np.linspace(0.0, 10.0, 11)
    sol = integrate(RHS, Y0_LIN, P_LIN, t_eval, max_steps=5)
    assert sol.status == MAX_STEPS and sol.n_steps == 5
    assert 0.0 < sol.t_final < 10.0
    done = t_eval <= sol.t_final
    assert np.isfinite(sol.states[done]).all() and np.isnan(sol.states[~done]).all()
    sol = integrate(RHS, Y0_LIN, P_LIN, t_eval, method="euler", dt=0.1, max_steps=25)
    assert sol.status == MAX_STEPS and sol.t_final == pytest.approx(2.5)
    assert np.isnan(sol.states[3:]).all() and np.isfinite(sol.states[:3]).all()


@pytest.mark.parametrize("method, dt", [("dopri5", None), ("rk4", 0.05)])
def test_settle_stops_early(method, dt):
    t_eval = np.linspace(0.0, 100.0, 201)
    p = linear_params(-np.eye(2))
    sol = integrate(RHS, [1.0, -2.0], p, t_eval, method=method, dt=dt, settle_tol=1e-6)
    assert sol.status == SETTLED
    assert 10.0 < sol.t_final < 20.0                         # |y| = 2 e^{-t} < 1e-6
    final = sol.states[-1]
    assert np.max(np.abs(final)) < 1e-6
    tail = t_eval > sol.t_final
    assert tail.sum() > 100
    np.testing.assert_array_equal(sol.states[tail], np.broadcast_to(final, (tail.sum(), 2)))
    head = ~tail
    exact = np.exp(-t_eval[head])[:, None] * np.array([1.0, -2.0])
    np.testing.assert_allclose(sol.states[head], exact, atol=1e-7)


def test_kernel_never_raises_on_bad_arguments():
    solve = make_solver(RHS)
    args = _kernel_args(Y0_LIN, P_LIN, [0.0, 1.0])
    out = np.empty((3, 2))                                   # wrong row count
    status, *_ = solve(*args, out)
    assert status == INVALID and np.isnan(out).all()
    bad_y0 = (np.array([np.nan, 1.0]),) + args[1:]
    out = np.empty((2, 2))
    status, *_ = solve(*bad_y0, out)
    assert status == NON_FINITE and np.isnan(out).all()
    unsorted = args[:2] + (np.array([1.0, 0.5]),) + args[3:]
    status, *_ = solve(*unsorted, out)
    assert status == INVALID


# --------------------------------------------------------------------- batch

def test_batch_equals_single():
    rng = np.random.default_rng(0)
    P = 7
    Y0 = rng.uniform(0.5, 1.5, size=(P, 2))
    Pm = np.empty((P, P_LIN.size))
    for i in range(P):
        A = A_LIN * rng.uniform(0.5, 2.0)
        Q = np.zeros((2, 2, 2))
        if i == 3:                                   # y0' = y0² blows up at t = 1/y0(0)
            A = np.array([[0.0, 0.0], [0.0, -1.0]])
            Q[0, 0, 0] = 1.0
        elif i % 2:
            Q[0, 0, 1] = -0.3                        # mildly nonlinear
        Pm[i] = quadratic_params(A, Q)
    t_eval = np.concatenate([[0.0], np.logspace(-2, 1.5, 15)])
    batch = make_batch_solver(RHS)
    assert make_batch_solver(RHS) is batch and make_solver(RHS) is make_solver(RHS)
    solve = make_solver(RHS)
    for method, dt in ((0, 0.0), (1, 0.01)):
        out = np.empty((P, t_eval.size, 2))
        st, ns, nr = (np.empty(P, np.int64) for _ in range(3))
        batch(Y0, Pm, t_eval, t_eval[-1], 1e-9, 1e-12, 0.0, 10**6, method, dt, 0.0,
              out, st, ns, nr)
        for i in range(P):
            one = np.empty((t_eval.size, 2))
            status, n_steps, n_rhs, _ = solve(*_kernel_args(Y0[i], Pm[i], t_eval,
                                                            rtol=1e-9, atol=1e-12,
                                                            method=method, dt=dt), one)
            assert (st[i], ns[i], nr[i]) == (status, n_steps, n_rhs)
            np.testing.assert_array_equal(out[i], one)          # bitwise, NaN rows too
        assert st[3] in (NON_FINITE, STEP_UNDERFLOW)
        assert all(st[i] == OK for i in range(P) if i != 3)
    # malformed shapes -> INVALID everywhere, no exception
    st = np.zeros(P, np.int64)
    batch(Y0, Pm[:-1], t_eval, t_eval[-1], 1e-9, 1e-12, 0.0, 10**6, 0, 0.0, 0.0,
          np.empty((P, t_eval.size, 2)), st, st.copy(), st.copy())
    assert (st == INVALID).all()


# --------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, field", [
    (dict(t_eval=[1.0, 0.5]), "t_eval"),
    (dict(t_eval=[-1.0, 0.5]), "t_eval"),
    (dict(t_eval=[]), "t_eval"),
    (dict(t_eval=[0.0, np.inf]), "t_eval"),
    (dict(rtol=0.0), "rtol"),
    (dict(rtol=-1e-8), "rtol"),
    (dict(atol=0.0), "atol"),
    (dict(method="rk45"), "method"),
    (dict(method="rk4"), "dt"),
    (dict(method="euler", dt=0.0), "dt"),
    (dict(dt=-1.0), "dt"),
    (dict(t_max=0.5), "t_max"),
    (dict(y0=[np.nan, 1.0]), "y0"),
    (dict(y0=[[1.0, 0.5]]), "y0"),
    (dict(p=[np.inf]), "p"),
    (dict(max_steps=0), "max_steps"),
    (dict(max_steps=1.5), "max_steps"),
    (dict(settle_tol=-1.0), "settle_tol"),
    (dict(rhs=lambda t, y, p, out: None), "rhs"),
])
def test_validation_names_the_field(kwargs, field):
    args = dict(rhs=RHS, y0=Y0_LIN, p=P_LIN, t_eval=[0.0, 1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        integrate(**args)


def test_scipy_reference_validation():
    with pytest.raises(ValueError, match="^method:"):
        solve_scipy(lambda t, y: -y, [1.0], [1.0], None, 1e-8, 1e-10, method="RK99")
    with pytest.raises(ValueError, match="^t_eval:"):
        solve_scipy(lambda t, y: -y, [1.0], [1.0, 0.0], None, 1e-8, 1e-10)


@pytest.mark.parametrize("method", ["dopri5", "radau5", "auto", "rk4"])
def test_an_empty_interval_returns_the_start(method):
    """t_max = 0 with t_eval = [0]: the start state, status OK, no step (the adaptive
    methods used to divide by the zero first step)."""
    p = linear_params(-np.eye(2))
    sol = integrate(RHS, [1.0, 2.0], p, [0.0], t_max=0.0, method=method,
                    dt=0.1 if method == "rk4" else None)
    assert sol.status == OK and sol.n_steps == 0 and sol.t_final == 0.0
    np.testing.assert_array_equal(sol.states, [[1.0, 2.0]])


def test_method_codes():
    assert METHOD_CODES == {"dopri5": 0, "rk4": 1, "euler": 2, "dopri5_fixed": 3,
                            "radau5": 4, "auto": 5}


# --------------------------------------------------------------------- disk cache

def test_fresh_process_hits_the_disk_cache():
    # run the script here first (compiles or loads, writing the cache), then check
    # that a fresh process loads the explicit kernel (single and batch runs) from the cache.
    child = textwrap.dedent("""
        import numpy as np
        from flowsim.integrate import integrate, make_batch_solver, make_solver
        from flowsim.integrate.testing import quadratic_rhs as RHS, linear_params
        p = linear_params(-np.eye(2))
        integrate(RHS, [1.0, 1.0], p, [1.0])
        b = make_batch_solver(RHS)
        st = np.empty(2, np.int64)
        b(np.ones((2, 2)), np.tile(p, (2, 1)), np.array([1.0]), 1.0, 1e-8, 1e-10, 0.0,
          1000, 0, 0.0, 0.0, np.empty((2, 1, 2)), st, st.copy(), st.copy())
        from flowsim.numerics.jit import compiled_count
        s = make_solver(RHS)
        print(len(s.explicit.stats.cache_hits), len(s.explicit.stats.cache_misses),
              compiled_count())
    """)
    exec(compile(child, "<cache-probe>", "exec"), {})
    res = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    hits, misses, compiled = map(int, res.stdout.split()[-3:])
    assert (hits, misses, compiled) == (1, 0, 0), res.stdout

@pytest.mark.slow

def test_fresh_process_hits_the_cache_for_a_simd_model(tmp_path):
    """The Gaussian two-mode solver (its RHS inlines flowsim.numerics.simd_math: fastmath loops
    and @intrinsic bit casts) under method "auto": a second process, with another hash
    seed, loads every kernel instead of compiling it again (an unordered fastmath set or
    a per-process intrinsic uuid in the cache key would make it compile)."""
    child = textwrap.dedent("""
        import numpy as np
        from flowsim.bench.sweep_throughput import sweep_points
        from flowsim.integrate import integrate, make_solver
        from flowsim.families.gaussian import two_mode as two
        Y0, Pm, _ = sweep_points(1)
        integrate(two.rhs_reverse_kl, Y0[0], Pm[0], [1.0, 100.0], method="auto")
        from flowsim.numerics.jit import compiled_count
        s = make_solver(two.rhs_reverse_kl)
        print(len(s.explicit.stats.cache_hits), compiled_count())
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "nc"), FLOWSIM_PREFETCH="0")
    out = []
    for seed in ("0", "1"):                 # the two orders of a 2-element str set
        env["PYTHONHASHSEED"] = seed
        res = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True,
                             text=True, timeout=600, env=env)
        assert res.returncode == 0, res.stderr[-2000:]
        out.append(tuple(map(int, res.stdout.split()[-2:])))
    assert out[0][0] == 0 and out[0][1] > 0 and out[1] == (1, 0), out
