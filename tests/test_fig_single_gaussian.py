"""Figure F7 (paper_figures.fig_single_gaussian): one Gaussian fitted to 1/2 N(-a, 1) + 1/2 N(a, 1).

* forward KL: the closed-form optimum (0, log(1 + a^2)) against a numerical minimisation
  of the module's quadrature of KL(p||q), which is itself checked against an independent
  rule (moments in closed form, entropy of p by composite Gauss–Legendre);
* reverse KL at a = 3: `stationary_points` (adaptive quadrature, trust-exact / hybr on the
  analytic gradient) against an independent computation written here (KL(q||p) from the
  two densities by composite Gauss–Legendre in x, minimised by Nelder–Mead; saddles as
  roots of its finite-difference gradient); symmetry of the two mode-seeking minima; the
  centre point is a minimum (as measured: Hessian eigenvalues 0.133 and 2.11); the analytic
  Hessian against finite differences;
* the project's flow (flowsim.simulate, numba backend) ends at those minima from starts in
  each basin, rests at every stationary point, and the forward flow ends at the moment match;
* generate(fast=True) -> plot writes a PNG from a data file that records its parameters
  and the package version.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize
from scipy.special import logsumexp

import flowsim
from paper_figures import fig_single_gaussian as F

A = 3.0
_GX, _GW = np.polynomial.legendre.leggauss(20)


# ------------------------------------------------------------------ independent rules

def _composite(lo, hi, panels):
    e = np.linspace(lo, hi, panels + 1)
    h = np.diff(e)
    x = (0.5 * (e[:-1] + e[1:]))[:, None] + 0.5 * h[:, None] * _GX
    return x.ravel(), (0.5 * h[:, None] * _GW).ravel()


def _log_p(x, a):
    comps = np.stack([-0.5 * (x + a) ** 2, -0.5 * (x - a) ** 2])
    return logsumexp(comps, axis=0) + math.log(0.5) - 0.5 * math.log(2 * math.pi)


def _reverse_kl_independent(mu, s, a=A):
    """KL(q||p) = int q (log q - log p) dx, composite Gauss–Legendre on mu +/- 13 sigma."""
    sig = math.exp(0.5 * s)
    x, w = _composite(mu - 13 * sig, mu + 13 * sig, 160)
    lq = -0.5 * ((x - mu) / sig) ** 2 - 0.5 * math.log(2 * math.pi) - 0.5 * s
    return float(np.sum(w * np.exp(lq) * (lq - _log_p(x, a))))


def _fd_grad(f, p, h=1e-4):
    p = np.asarray(p, float)
    return np.array([(f(*(p + h * e)) - f(*(p - h * e))) / (2 * h) for e in np.eye(2)])


def _fd_hess(f, p, h=1e-3):
    p = np.asarray(p, float)
    H = np.array([(_fd_grad(f, p + h * e) - _fd_grad(f, p - h * e)) / (2 * h) for e in np.eye(2)])
    return 0.5 * (H + H.T)


def _nelder_mead(f, x0):
    res = optimize.minimize(lambda p: f(*p), x0, method="Nelder-Mead",
                            options={"xatol": 1e-11, "fatol": 1e-16, "maxiter": 5000, "maxfev": 10000})
    return res.x, res.fun


@pytest.fixture(scope="module")
def points():
    return F.stationary_points(A)


# -------------------------------------------------------------------------- forward

@pytest.mark.parametrize("a", [0.5, 1.0, 2.0, 3.0, 4.5])
def test_forward_optimum_is_moment_match_and_the_numerical_minimum(a):
    mu, s = F.forward_optimum(a)
    assert mu == 0.0 and s == pytest.approx(math.log(1 + a * a), abs=1e-14)
    x, fx = _nelder_mead(lambda m, v: F.forward_kl_quadrature(m, v, a), [0.7, 0.3])
    assert abs(x[0] - mu) < 1e-6 and abs(x[1] - s) < 1e-6
    assert F.forward_kl_quadrature(mu, s, a) <= fx + 1e-12
    # the quadrature itself: KL(p||q) = -H(p) + log(2 pi v)/2 + (1 + a^2 + mu^2)/(2 v)
    xs, ws = _composite(-a - 15, a + 15, 400)
    lp = _log_p(xs, a)
    neg_entropy = float(np.sum(ws * np.exp(lp) * lp))
    for m, v in [(0.0, s), (0.8, -0.5), (-1.5, 2.0)]:
        ref = neg_entropy + 0.5 * math.log(2 * math.pi) + 0.5 * v + (1 + a * a + m * m) / (2 * math.exp(v))
        assert F.forward_kl_quadrature(m, v, a) == pytest.approx(ref, abs=1e-11)


# -------------------------------------------------------------------------- reverse

def test_reverse_kl_quadrature_and_grid_match_independent_rule():
    rng = np.random.default_rng(7)
    mus, ss = rng.uniform(-6, 6, 12), rng.uniform(-3, 4, 12)
    for m, s in zip(mus, ss):
        assert F.reverse_kl_quadrature(m, s, A) == pytest.approx(_reverse_kl_independent(m, s), abs=1e-11)
    grid = F.reverse_kl_grid(mus, ss, A)
    ref = np.array([F.reverse_kl_quadrature(m, s, A) for m, s in zip(mus, ss)])
    assert np.max(np.abs(grid - ref)) < 1e-10


def test_gradient_and_hessian_match_finite_differences():
    for p in [(-2.0, 0.5), (0.7, 2.5), (3.5, -1.0), (0.0, 1.0)]:
        g = F.reverse_kl_gradient(*p, A)
        assert np.allclose(g, _fd_grad(lambda m, s: _reverse_kl_independent(m, s), p, 1e-4), atol=1e-7)
        H = F.reverse_kl_hessian(*p, A)
        Hfd = np.array([(F.reverse_kl_gradient(*(np.asarray(p) + 1e-5 * e), A)
                         - F.reverse_kl_gradient(*(np.asarray(p) - 1e-5 * e), A)) / 2e-5 for e in np.eye(2)])
        assert np.allclose(H, Hfd, atol=1e-6)


def test_stationary_points_are_three_minima_and_two_saddles(points):
    kinds = [p.kind for p in points]
    assert kinds == ["minimum", "saddle", "minimum", "saddle", "minimum"], points
    left, sl, centre, sr, right = points
    # mode-seeking minima: symmetric, pulled slightly inward from +/- a
    assert left.mu == pytest.approx(-right.mu, abs=1e-9)
    assert left.log_var == pytest.approx(right.log_var, abs=1e-9)
    assert left.kl == pytest.approx(right.kl, abs=1e-12)
    assert 0.9 * A < right.mu < A
    assert 0.0 < right.log_var < 0.1
    # the symmetric point is a minimum (not a saddle) in (mu, log sigma^2), with a higher KL
    assert centre.mu == 0.0
    assert min(centre.eigenvalues) > 0.05
    assert centre.kl > right.kl + 0.1
    # saddles between the centre and each mode, above both
    assert sl.mu == pytest.approx(-sr.mu, abs=1e-9) and 0 < sr.mu < right.mu
    assert sr.eigenvalues[0] < -0.1 < 0.1 < sr.eigenvalues[1]
    assert sr.kl > centre.kl and sr.kl == pytest.approx(sl.kl, abs=1e-12)
    for p in points:
        assert np.max(np.abs(F.reverse_kl_gradient(p.mu, p.log_var, A))) < 1e-10


@pytest.mark.parametrize("index, start", [(0, (-2.5, 0.5)), (2, (0.3, 2.3)), (4, (2.5, 0.5))])
def test_minima_match_independent_nelder_mead(points, index, start):
    x, fx = _nelder_mead(_reverse_kl_independent, start)
    p = points[index]
    assert abs(x[0] - p.mu) < 1e-6 and abs(x[1] - p.log_var) < 1e-6
    assert abs(fx - p.kl) < 1e-9


@pytest.mark.parametrize("index, start", [(1, (-1.6, 1.2)), (3, (1.6, 1.2))])
def test_saddles_match_independent_root_and_hessian(points, index, start):
    res = optimize.root(lambda q: _fd_grad(_reverse_kl_independent, q), start, tol=1e-13)
    assert res.success
    p = points[index]
    assert abs(res.x[0] - p.mu) < 1e-6 and abs(res.x[1] - p.log_var) < 1e-6
    assert abs(_reverse_kl_independent(*res.x) - p.kl) < 1e-9
    eig = np.linalg.eigvalsh(_fd_hess(_reverse_kl_independent, res.x))
    assert np.allclose(eig, p.eigenvalues, atol=1e-4)


def test_centre_hessian_independent(points):
    c = points[2]
    eig = np.linalg.eigvalsh(_fd_hess(_reverse_kl_independent, (c.mu, c.log_var)))
    assert np.allclose(eig, c.eigenvalues, atol=1e-4) and eig[0] > 0.05


# ----------------------------------------------------------------------------- flow

@pytest.mark.parametrize("order", [1.0, -1.0])
def test_user_coordinates_are_the_api_means_and_variance(order):
    # The target's modes in either order (the reduction's origin is the first mean, so the
    # internal coordinates change sign with the order): the helper must return the same
    # user-coordinate path, starting at the initial (mu0, log sigma0^2) and ending at tr.final.
    target = flowsim.GaussianMixture([[-order * A], [order * A]], [0.5, 0.5], 1.0)
    init = flowsim.GaussianMixture([[-5.0]], [1.0], math.exp(0.3))
    tr = flowsim.simulate(target, init, objective="reverse_kl", weights="fixed", t_max=50.0,
                          t_eval=[0.0, 1.0, 50.0], train_var=True, backend="numba", rtol=1e-10, atol=1e-12)
    mean, lv = F.user_coordinates(tr)
    assert mean.shape == (3, 1, 1) and lv.shape == (3,)
    assert mean[0, 0, 0] == pytest.approx(-5.0, abs=1e-12) and lv[0] == pytest.approx(0.3, abs=1e-12)
    assert np.allclose(mean[-1], tr.final.means, atol=1e-12)
    assert lv[-1] == pytest.approx(math.log(tr.final.var), abs=1e-12)
    # it descends toward the left mode-seeking minimum from this start, whatever the order
    assert -A < mean[-1, 0, 0] < -0.9 * A and mean[1, 0, 0] > -5.0
    # and the path is the one of the other order (same flow in user coordinates)
    other = flowsim.GaussianMixture(target.means[::-1], [0.5, 0.5], 1.0)
    tr2 = flowsim.simulate(other, init, objective="reverse_kl", weights="fixed", t_max=50.0,
                           t_eval=[0.0, 1.0, 50.0], train_var=True, backend="numba", rtol=1e-10, atol=1e-12)
    mean2, lv2 = F.user_coordinates(tr2)
    assert np.allclose(mean2, mean, atol=1e-8) and np.allclose(lv2, lv, atol=1e-8)


@pytest.mark.parametrize("start, index", [((-4.0, 1.0), 0), ((-1.0, -2.0), 0), ((0.4, 3.0), 2),
                                          ((-1.0, 2.0), 2), ((4.0, -1.0), 4), ((5.5, 3.5), 4)])
def test_reverse_flow_ends_at_the_quadrature_minimum(points, start, index):
    t, mu, lv, status = F.run_flow(A, *start, t_eval=[0.0, F.T_MAX])
    p = points[index]
    assert status == "ok"
    assert mu[0] == pytest.approx(start[0], abs=1e-12) and lv[0] == pytest.approx(start[1], abs=1e-12)
    assert abs(mu[-1] - p.mu) < 1e-5 and abs(lv[-1] - p.log_var) < 1e-5


def test_flow_rests_at_every_stationary_point(points):
    for p in points:
        _, mu, lv, status = F.run_flow(A, p.mu, p.log_var, t_max=5.0, t_eval=[0.0, 5.0])
        assert status == "ok"
        assert abs(mu[-1] - p.mu) < 1e-7 and abs(lv[-1] - p.log_var) < 1e-7


def test_forward_flow_ends_at_moment_match():
    _, mu, lv, status = F.run_flow(A, 1.5, -1.0, objective="forward_kl", t_eval=[0.0, F.T_MAX])
    assert status == "ok"
    assert abs(mu[-1]) < 1e-5 and abs(lv[-1] - math.log(1 + A * A)) < 1e-5


@pytest.mark.slow
# --------------------------------------------------------------------------- figure

def test_generate_fast_then_plot(tmp_path, points):
    results = F.generate(tmp_path, fast=True)
    assert results.is_file() and results.name == f"{F.NAME}.npz"
    d = np.load(results)
    assert str(d["flowsim_version"]) == flowsim.__version__
    params = json.loads(str(d["params_json"]))
    assert params["a"] == A and params["fast"] is True and params["flowsim_version"] == flowsim.__version__
    assert params["basin_grid"] == [11, 11] and params["t_max"] == F.T_MAX
    assert float(d["a"]) == A
    assert np.allclose(d["sp_mu"], [p.mu for p in points], atol=1e-8)
    assert np.allclose(d["sp_kl"], [p.kl for p in points], atol=1e-10)
    code = d["basin_code"]
    assert code.shape == (11, 11)
    assert set(np.unique(code)) == {F.LEFT, F.CENTRE, F.RIGHT}
    # mirror symmetry mu0 -> -mu0 swaps the mode basins and keeps the centre
    swap = np.array([F.RIGHT, F.CENTRE, F.LEFT, F.OTHER])
    assert np.array_equal(code[::-1], swap[code])
    ends = d["basin_end"]
    for c, i in ((F.LEFT, 0), (F.CENTRE, 2), (F.RIGHT, 4)):
        assert np.max(np.abs(ends[code == c] - [points[i].mu, points[i].log_var])) < 1e-5
    assert np.allclose(d["forward_flow_end"], [0.0, math.log(1 + A * A)], atol=1e-5)
    image = F.plot(results, tmp_path)
    assert image.is_file() and image.suffix == ".png" and image.stat().st_size > 20000
