import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from flowsim.numerics import special as S

GRID = np.concatenate([[0.0], np.logspace(-8, 6, 20001)])
GRID = np.concatenate([GRID, -GRID[1:]])

# log-spaced points in [1e-8, 1e6] plus points on both sides of every branch switch
MP_POINTS = np.unique(np.concatenate([
    np.logspace(-8, 6, 141),
    [0.999, 1.0, 1.001, 7.999, 8.0, 8.001, 29.99, 30.0, 30.01, 0.37, 2.5, 13.7, 50.0, 123.4],
]))


def _mp_reference(k):
    with mp.workdps(45):  # >= 30 correct digits left after log(1 + O(k^2)) at k = 1e-8
        km = mp.mpf(float(k))
        i0 = mp.besseli(0, km)
        a = mp.besseli(1, km) / i0
        return {
            "log_i0": mp.log(i0),
            "A": a,
            "u": 1 - a,
            "Ap": 1 - a / km - a * a,
        }


@pytest.fixture(scope="module")
def mp_table():
    return [_mp_reference(k) for k in MP_POINTS]


def _max_rel(got, refs, key):
    return max(float(abs(mp.mpf(float(g)) / r[key] - 1)) for g, r in zip(got, refs))


@pytest.mark.parametrize("ours, ref", [(S.i0e, sc.i0e), (S.i1e, sc.i1e)])
def test_scaled_bessel_matches_scipy(ours, ref):
    got, want = ours(GRID), ref(GRID)
    nz = want != 0
    assert np.all(got[~nz] == 0)
    np.testing.assert_allclose(got[nz], want[nz], rtol=1e-14, atol=0)


def test_scaled_bessel_parity_and_origin():
    x = GRID[GRID > 0]
    assert S.i0e(0.0) == 1.0 and S.i1e(0.0) == 0.0
    np.testing.assert_array_equal(S.i0e(-x), S.i0e(x))
    np.testing.assert_array_equal(S.i1e(-x), -S.i1e(x))


@pytest.mark.parametrize("name, fn, rtol", [
    ("log_i0", S.log_i0, 1e-14),
    ("A", S.bessel_ratio, 1e-14),
    ("u", S.one_minus_bessel_ratio, 1e-13),
    ("Ap", S.bessel_ratio_prime, 1e-13),
])
def test_bessel_family_against_mpmath(mp_table, name, fn, rtol):
    assert _max_rel(fn(MP_POINTS), mp_table, name) < rtol


def test_bessel_family_finite_and_signed():
    k = GRID[GRID > 0]
    a, u, ap, li = S.bessel_ratio(k), S.one_minus_bessel_ratio(k), S.bessel_ratio_prime(k), S.log_i0(k)
    for v in (a, u, ap, li):
        assert np.all(np.isfinite(v))
    assert np.all((a >= 0) & (a < 1))
    assert np.all(u > 0) and np.all(ap > 0) and np.all(li > 0)
    assert np.all(np.diff(a) >= 0) and np.all(np.diff(ap) <= 1e-15 * ap[1:])
    np.testing.assert_array_equal(S.bessel_ratio(-k), -a)
    np.testing.assert_array_equal(S.bessel_ratio_prime(-k), ap)
    np.testing.assert_array_equal(S.log_i0(-k), li)
    assert S.bessel_ratio(0.0) == 0.0 and S.bessel_ratio_prime(0.0) == 0.5
    assert S.log_i0(0.0) == 0.0 and S.one_minus_bessel_ratio(0.0) == 1.0


def test_bessel_limits():
    assert S.bessel_ratio(np.inf) == 1.0 and S.bessel_ratio(-np.inf) == -1.0
    assert S.one_minus_bessel_ratio(np.inf) == 0.0 and S.bessel_ratio_prime(np.inf) == 0.0
    assert S.log_i0(np.inf) == np.inf
    with np.errstate(invalid="ignore"):
        for f in (S.i0e, S.i1e, S.log_i0, S.bessel_ratio, S.one_minus_bessel_ratio, S.bessel_ratio_prime):
            assert np.isnan(f(np.nan))


def test_small_and_large_k_series():
    k = np.array([1e-8, 1e-4, 1e-3])
    np.testing.assert_allclose(S.bessel_ratio(k), k / 2 - k**3 / 16, rtol=1e-12)
    np.testing.assert_allclose(S.bessel_ratio_prime(k), 0.5 - 3 * k**2 / 16, rtol=1e-12)
    np.testing.assert_allclose(S.log_i0(k), k**2 / 4 - k**4 / 64, rtol=1e-12)
    k = np.array([1e4, 1e5, 1e6])
    np.testing.assert_allclose(S.one_minus_bessel_ratio(k), 1 / (2 * k) + 1 / (8 * k**2) + 1 / (8 * k**3) + 25 / (128 * k**4), rtol=1e-14)
    np.testing.assert_allclose(S.bessel_ratio_prime(k), 1 / (2 * k**2) + 1 / (4 * k**3) + 3 / (8 * k**4) + 25 / (32 * k**5), rtol=1e-14)


def test_sympy_log_i0_derivative_is_bessel_ratio():
    k = sp.Symbol("k", positive=True)
    lhs = sp.diff(sp.log(sp.besseli(0, k)), k)
    diff = lhs - sp.besseli(1, k) / sp.besseli(0, k)
    rng = np.random.default_rng(1)
    for v in rng.uniform(0.01, 40.0, 6):
        assert abs(diff.evalf(40, subs={k: sp.Float(v, 40)})) < 1e-30
        assert abs(lhs.evalf(30, subs={k: sp.Float(v, 30)}) - S.bessel_ratio(v)) < 1e-14


def test_bessel_ratio_prime_matches_finite_difference():
    k = np.linspace(0.2, 60.0, 301)
    h = 1e-4 * k
    fd = (S.bessel_ratio(k + h) - S.bessel_ratio(k - h)) / (2 * h)
    np.testing.assert_allclose(S.bessel_ratio_prime(k), fd, rtol=1e-7)


def test_reference_values():
    # I0(50) = 2.93255378384933633e20, A(50) = 0.98994896737849775 (mpmath, 30 digits);
    # A(50) is not sqrt(0.98) = 0.98994949...
    assert math.exp(S.log_i0(50.0)) == pytest.approx(2.93255378e20, rel=1e-8)
    assert S.bessel_ratio(50.0) == pytest.approx(0.98994897, rel=1e-8)
    assert S.bessel_ratio(50.0) == pytest.approx(0.98994896737849775, rel=1e-15)


X = np.array([-1000.0, -745.0, -40.0, -1.0, -1e-12, 0.0, 1e-12, 0.5, 40.0, 745.0, 1000.0])


def test_sigmoid_family():
    for f, ref in [(S.sigmoid, sc.expit), (S.log_sigmoid, sc.log_expit), (S.softplus, lambda x: np.logaddexp(0.0, x))]:
        got = f(X)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, ref(X), rtol=1e-15, atol=1e-300)
    assert S.sigmoid(-1000.0) == 0.0 and S.sigmoid(1000.0) == 1.0
    np.testing.assert_allclose(S.sigmoid(X) + S.sigmoid(-X), 1.0, rtol=1e-15)


def test_logsumexp_and_softmax_extremes():
    for a in [X, np.array([1000.0, 1000.0]), np.array([-1000.0, -1001.0]), np.array([-np.inf, 0.0])]:
        assert S.logsumexp(a) == pytest.approx(sc.logsumexp(a), rel=1e-15)
        out = np.empty_like(a)
        assert S.softmax(a, out) is out
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, sc.softmax(a), rtol=1e-14, atol=1e-300)
        assert out.sum() == pytest.approx(1.0, rel=1e-15)
    assert S.logsumexp(np.full(3, -np.inf)) == -np.inf
    assert S.logsumexp(np.array([0.0, np.inf])) == np.inf
    assert np.isnan(S.logsumexp(np.array([0.0, np.nan])))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-700.0, 700.0), min_size=1, max_size=12))
def test_logsumexp_softmax_property(vals):
    a = np.array(vals)
    assert S.logsumexp(a) == pytest.approx(sc.logsumexp(a), rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(S.softmax(a, np.empty_like(a)), sc.softmax(a), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 20])
def test_gauss_hermite_moments(n):
    x, w = S.gauss_hermite(n)
    assert x.shape == w.shape == (n,)
    assert w.sum() == pytest.approx(1.0, rel=1e-14)
    for p in range(2 * n):
        exact = 0.0 if p % 2 else float(sc.factorial2(p - 1)) if p else 1.0
        scale = np.dot(w, np.abs(x) ** p)
        assert abs(np.dot(w, x**p) - exact) <= 1e-13 * scale
    if n >= 3:
        assert np.dot(w, x**4) == pytest.approx(3.0, rel=1e-13)


def test_ufuncs_callable_in_njit():
    @njit
    def kernel(k, x):
        return (S.i0e(k) + S.i1e(k) + S.log_i0(k) + S.bessel_ratio(k) + S.one_minus_bessel_ratio(k)
                + S.bessel_ratio_prime(k) + S.sigmoid(x) + S.log_sigmoid(x) + S.softplus(x)
                + S.chbevl(0.5, S._I0_A))

    k, x = 3.7, -0.4
    want = (S.i0e(k) + S.i1e(k) + S.log_i0(k) + S.bessel_ratio(k) + S.one_minus_bessel_ratio(k)
            + S.bessel_ratio_prime(k) + S.sigmoid(x) + S.log_sigmoid(x) + S.softplus(x)
            + S.chbevl(0.5, S._I0_A))
    assert kernel(k, x) == pytest.approx(want, rel=1e-15)

    @njit
    def uses_arrays(z):
        out = np.empty_like(z)
        S.softmax(z, out)
        return S.logsumexp(z), out

    lse, p = uses_arrays(np.array([0.0, 1.0, 2.0]))
    assert lse == pytest.approx(sc.logsumexp([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(p, sc.softmax([0.0, 1.0, 2.0]), rtol=1e-15)
