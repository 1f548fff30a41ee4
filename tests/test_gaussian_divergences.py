"""The f-divergence flows of the Gaussian family (flowsim.families.gaussian.fdivergence,
objectives js, nonsaturating, chi2, hellinger, alpha; docs/derivations.md FG1, FG2).

tests/test_objectives.py already checks, from the registry, the kernels against the numpy
reference (flowsim.families.gaussian.reference.fdivergence_full_space), rhs = −∇value and
the torch losses. Here: the span reduction against integrals over the full R² and R³ that
do not use it (a brute-force Gauss–Legendre grid in x), the gradient against finite
differences, the value against 10^6-sample Monte Carlo, the special cases (identical
mixtures, disjoint components, the α → 0, 1 limits, infinite χ²) and the bad inputs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from flowsim.families import family
from flowsim.families.gaussian.fdivergence import HPARAM, MAX_RANK
from flowsim.families.gaussian.mixture import GaussianMixture
from flowsim.api import build_problem

NAMES = ("js", "nonsaturating", "chi2", "hellinger", "alpha")


def f_of_log(name, ell, a=0.5):
    """The generators as functions of log u, written here once more (numpy)."""
    u = np.exp(ell)
    if name == "js":                       # 2 f_JS(u) − (1 + u) log 2
        return u * ell - (1 + u) * np.logaddexp(0.0, ell)
    if name == "nonsaturating":
        return (1 + u) * (np.logaddexp(0.0, -ell) - math.log(2.0))
    if name == "chi2":
        return np.expm1(ell) ** 2
    if name == "hellinger":
        return 0.5 * np.expm1(0.5 * ell) ** 2
    if name == "alpha":
        return (np.expm1(a * ell) - a * np.expm1(ell)) / (a * (a - 1.0))
    if name == "reverse_kl":
        return -ell
    raise ValueError(name)


def mixtures(d, v, seed, r=None, scale=1.4):
    """K = M = 2 mixtures in R^d (target var 1, init var v); with r < d the four means lie
    in the first r coordinates (so the span has dimension r < d)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, scale, (2, d))
    nu = rng.normal(0.0, scale, (2, d))
    if r is not None:
        mu[:, r:] = 0.0
        nu[:, r:] = 0.0
    return GaussianMixture(mu, [0.35, 0.65], 1.0), GaussianMixture(nu, [0.55, 0.45], v)


def grid_value(target, init, name, a=0.5, width=0.5, nodes=8, pad=9.0, tilt=None):
    """∫ q f(p/q) dx over a box of R^d by a composite Gauss–Legendre rule (panels of
    `width`, `nodes` each): no span, no radial variable, no partition of unity. With
    `tilt` = t the box also holds the centres t μ_j + (1 − t) ν_k of p^t q^(1−t) (χ², α > 1)."""
    d = target.dim
    sd = math.sqrt(max(target.var, init.var))
    tilted = [] if tilt is None else [tilt * m + (1 - tilt) * n for m in target.means
                                      for n in init.means]
    allm = np.vstack([target.means, init.means] + ([np.array(tilted)] if tilted else []))
    xl, wl = np.polynomial.legendre.leggauss(nodes)
    axes, weights = [], []
    for e in range(d):
        lo, hi = allm[:, e].min() - pad * sd, allm[:, e].max() + pad * sd
        n_pan = int(math.ceil((hi - lo) / width))
        edges = np.linspace(lo, hi, n_pan + 1)
        h = np.diff(edges)[:, None]
        axes.append((edges[:-1, None] + 0.5 * h * (xl[None] + 1)).ravel())
        weights.append((0.5 * h * wl[None]).ravel())
    grids = np.meshgrid(*axes, indexing="ij")
    x = np.stack([g.ravel() for g in grids], -1)
    w = weights[0]
    for e in range(1, d):
        w = np.outer(w, weights[e]).ravel()
    lq = init.log_pdf(x)
    ell = target.log_pdf(x) - lq
    return float(w @ (np.exp(lq) * f_of_log(name, ell, a)))


def kernel_value(target, init, name, a=0.5, n_cub=48):
    opts = {"alpha": a} if name == "alpha" else {}
    prob = build_problem(target, init, objective=name, train_var=True, n_cubature=n_cub, **opts)
    return prob, prob.objective(prob.y0)


# ------------------------------------------------------------------ FG1: the reduction

ALL = (("js", 0.5), ("nonsaturating", 0.5), ("chi2", 0.5), ("hellinger", 0.5), ("alpha", 1.5))


@pytest.mark.slow
@pytest.mark.parametrize("d,r,v,cases", [
    (2, None, 1.0, ALL), (2, None, 1.4, ALL),
    (3, None, 1.0, (("js", 0.5), ("hellinger", 0.5))),
    (3, 2, 1.0, (("nonsaturating", 0.5), ("chi2", 0.5))),
    (3, 2, 0.8, (("js", 0.5), ("alpha", 1.5)))])
def test_reduction_equals_the_full_space_integral(d, r, v, cases):
    """R² and R³, equal and unequal variances; (3, 2, ·) has a span of dimension 2 < d, so
    the orthogonal direction is integrated out (v = τ) or kept as the radial variable."""
    target, init = mixtures(d, v, seed=10 * d + (r or 0), r=r)
    for name, a in cases:
        rank = r or d
        prob, got = kernel_value(target, init, name, a, n_cub=160 if rank == 2 else 64)
        assert prob.meta["rank"] == rank
        tilt = 2.0 if name == "chi2" else (a if name == "alpha" and a > 1 else None)
        want = grid_value(target, init, name, a, width=0.5 if d == 2 else 1.0,
                          nodes=8 if d == 2 else 8, tilt=tilt)
        # the kernels' cubature error at these node counts (the grid's is below 1e-10)
        tol = 1e-7 if rank == 2 else 1e-6
        assert got == pytest.approx(want, rel=tol, abs=tol), (name, d, r, v, got, want)


def test_auto_reduction_is_span_for_the_divergences():
    target, init = mixtures(3, 1.0, seed=0)
    prob = family("gaussian").build(target, init, objective="js")
    assert prob.meta["reduction"] == "span"


# ------------------------------------------------------------------ FG2: the gradient

@pytest.mark.slow
@pytest.mark.parametrize("r,v", [(None, 1.0), (2, 1.3)])
def test_rhs_is_minus_the_finite_difference_gradient(r, v):
    """R^4: a 3-dimensional span with v = τ, and a 2-dimensional one with v ≠ τ (radial
    variable). The central differences see the cubature's dependence on the state (its
    axes turn with the means), of the size of its error (~1e-7 of the value at 48 nodes per axis in 3 dimensions)."""
    target, init = mixtures(4, v, seed=3, r=r)
    for name, a in (("js", 0.5), ("chi2", 0.5), ("alpha", 0.3)):
        opts = {"alpha": a} if name == "alpha" else {}
        prob = build_problem(target, init, objective=name, train_var=True,
                             n_cubature=48 if r is None else 96, **opts)
        y = prob.y0 + np.random.default_rng(1).normal(0.0, 0.1, prob.y0.size)
        y[-1] = math.log(v)          # v = τ exactly for v = 1: the equal-variance reduction
        rate = prob.rhs(0.0, y)
        # rounding: the value (χ² here reaches 1e8) over the step 1e-5
        floor = 1e-8 * np.max(np.abs(rate)) + 1e-7
        for i in range(y.size):
            if i == y.size - 1 and v == 1.0:
                continue             # a step in s leaves v = τ (the rate there is tested below)
            h = 1e-5
            yp, ym = y.copy(), y.copy()
            yp[i] += h
            ym[i] -= h
            fd = (prob.objective(yp) - prob.objective(ym)) / (2 * h)
            assert -fd == pytest.approx(rate[i], rel=1e-5, abs=floor), (name, v, i)


def test_variance_rate_is_continuous_at_equal_variances():
    """At v = τ the kernel uses the r-dimensional reduction, just off it the radial rule:
    the two rates of log v agree."""
    target, init = mixtures(4, 1.0, seed=3)
    prob = build_problem(target, init, objective="hellinger", train_var=True, n_cubature=24)
    y = prob.y0.copy()
    at = prob.rhs(0.0, y)[-1]
    y[-1] = 1e-7
    off = prob.rhs(0.0, y)[-1]
    assert off == pytest.approx(at, rel=1e-5, abs=1e-8)


# ------------------------------------------------------------------ value vs Monte Carlo

@pytest.mark.slow
@pytest.mark.parametrize("v", [1.0, 1.25])
def test_value_matches_monte_carlo(v):
    """10^6 samples in R^6 over the mixture q + p (D_f = E_q[h] + E_p[h], h = f(u)/(1 + u)),
    within 3 standard errors."""
    target, init = mixtures(6, v, seed=7, scale=0.8)
    n = 500_000
    xq = init.sample(n, seed=11)
    xp = target.sample(n, seed=12)
    for name, a in (("js", 0.5), ("nonsaturating", 0.5), ("chi2", 0.5), ("hellinger", 0.5),
                    ("alpha", 1.5), ("alpha", -0.5)):
        _, got = kernel_value(target, init, name, a, n_cub=24)
        parts = []
        for x in (xq, xp):
            ell = target.log_pdf(x) - init.log_pdf(x)
            parts.append(f_of_log(name, ell, a) / (1.0 + np.exp(ell)))
        est = parts[0].mean() + parts[1].mean()
        se = math.sqrt(parts[0].var() / n + parts[1].var() / n)
        assert abs(got - est) <= 3 * se, (name, a, v, got, est, se)


# ------------------------------------------------------------------ special cases

def test_identical_mixtures_have_zero_divergence_and_rest():
    target, _ = mixtures(3, 1.0, seed=5)
    init = GaussianMixture(target.means, target.weights, target.var)
    for name in ("chi2", "hellinger", "alpha", "nonsaturating"):
        prob, val = kernel_value(target, init, name, 0.5, n_cub=16)
        assert abs(val) < 1e-12, name
        assert np.max(np.abs(prob.rhs(0.0, prob.y0))) < 1e-12, name
    prob, val = kernel_value(target, init, "js", n_cub=16)
    assert val == pytest.approx(-2 * math.log(2.0), abs=1e-12)          # 2 JS − 2 log 2, JS = 0


def test_far_apart_components():
    """Single components 40σ apart: JS = log 2 (js = 2 JS − 2 log 2 = 0), and
    nonsaturating = KL(q‖p) − 2 log 2 with KL = |Δ|²/(2τ)."""
    d = 3
    mu = np.zeros((1, d))
    nu = np.zeros((1, d))
    nu[0, 0] = 40.0
    target, init = GaussianMixture(mu, [1.0], 1.0), GaussianMixture(nu, [1.0], 1.0)
    _, js = kernel_value(target, init, "js", n_cub=24)
    assert abs(js) < 1e-12
    _, ns = kernel_value(target, init, "nonsaturating", n_cub=24)
    assert ns == pytest.approx(800.0 - 2 * math.log(2.0), rel=1e-12)


@pytest.mark.parametrize("v", [1.0, 1.3])
def test_alpha_limits_are_the_kls(v):
    """α = 1e-6 is KL(q‖p), α = 1 − 1e-6 is KL(p‖q), value and rhs, to O(α) (the
    difference is α E[(log u)²]/2 to leading order) plus the quadrature error."""
    target, init = mixtures(3, v, seed=2, scale=1.0)
    fam = family("gaussian")
    for a, kl in ((1e-6, "reverse_kl"), (1 - 1e-6, "forward_kl")):
        ref = fam.build(target, init, objective=kl, train_var=True, reduction="span")
        prob = build_problem(target, init, objective="alpha", alpha=a, train_var=True,
                             n_cubature=40)
        assert prob.params[HPARAM] == a
        assert prob.objective(prob.y0) == pytest.approx(ref.objective(ref.y0), rel=2e-5, abs=1e-6)
        np.testing.assert_allclose(prob.rhs(0.0, prob.y0), ref.rhs(0.0, ref.y0), rtol=2e-5,
                                   atol=1e-6)


def test_infinite_divergence_is_inf_never_nan():
    target, _ = mixtures(3, 1.0, seed=4)
    init = GaussianMixture(target.means + 0.3, target.weights, 0.45)        # v < τ/2
    prob, val = kernel_value(target, init, "chi2", n_cub=16)
    assert val == math.inf
    out = prob.rhs(0.0, prob.y0)
    assert np.all(np.isinf(out)) and not np.any(np.isnan(out))
    init = GaussianMixture(target.means, target.weights, 0.55)              # τ/2 < v: finite
    _, val = kernel_value(target, init, "chi2", n_cub=16)
    assert math.isfinite(val) and val > 0
    init = GaussianMixture(target.means, target.weights, 0.3)               # α = 1.5: v ≤ τ/3
    _, val = kernel_value(target, init, "alpha", 1.5, n_cub=16)
    assert val == math.inf


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("bad", [0.0, 1.0, math.nan, math.inf, "half", True])
def test_alpha_outside_its_domain_names_the_field(bad):
    target, init = mixtures(2, 1.0, seed=0)
    with pytest.raises(ValueError, match="^alpha: "):
        build_problem(target, init, objective="alpha", alpha=bad)
    with pytest.raises(ValueError, match="^alpha: "):
        family("gaussian").build(target, init, objective="alpha", alpha=bad)


def test_alpha_reaches_the_kernels_through_every_builder():
    """The family builder writes α into p[HPARAM] (span and full coordinates), and the flow
    depends on it."""
    target, init = mixtures(2, 1.0, seed=0)
    for reduction in ("span", "full"):
        a = family("gaussian").build(target, init, objective="alpha", alpha=0.25, reduction=reduction)
        b = family("gaussian").build(target, init, objective="alpha", alpha=0.75, reduction=reduction)
        assert 0.25 in a.params and 0.75 in b.params
        ra, rb = np.empty_like(a.y0), np.empty_like(b.y0)
        a.model.rhs(0.0, a.y0, a.params, ra)
        b.model.rhs(0.0, b.y0, b.params, rb)
        assert np.max(np.abs(ra - rb)) > 1e-6
    assert build_problem(target, init, objective="alpha", alpha=0.25).params[HPARAM] == 0.25
    assert family("gaussian").build(target, init, objective="alpha").params[HPARAM] == 0.5


def test_span_rank_above_the_limit_is_refused():
    rng = np.random.default_rng(0)
    K = M = 3                                     # r = min(d, K + M − 1) = 5 > MAX_RANK
    target = GaussianMixture(rng.normal(size=(M, 8)), None, 1.0)
    init = GaussianMixture(rng.normal(size=(K, 8)), None, 1.0)
    assert K + M - 1 > MAX_RANK
    with pytest.raises(ValueError, match="^init: the f-divergence flows"):
        family("gaussian").build(target, init, objective="hellinger")


@pytest.mark.parametrize("objective", ["js", "nonsaturating", "chi2", "hellinger", "alpha", "reverse_kl", "forward_kl"])
def test_a_non_finite_state_gives_nan_not_an_exception(objective):
    """A solver's trial stage can overflow (the χ²-like α flows blow up); the span kernels then
    write NaN, which the solver reports as a failed step, instead of raising from their
    eigen-decomposition (a sweep crashed on it at α = 2, d = 8)."""
    from flowsim import build_problem
    from flowsim.families.gaussian.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    target = GaussianMixture(rng.normal(0, 2, (3, 4)), [0.3, 0.3, 0.4], 1.0)
    init = GaussianMixture(rng.normal(0, 2, (2, 4)), [0.5, 0.5], 1.0)
    extra = {"alpha": 2.0} if objective == "alpha" else {}
    problem = build_problem(target, init, objective=objective, reduction="span", n_cubature=8, **extra)
    for bad in (np.inf, -np.inf, np.nan):
        y = problem.y0.copy()
        y[1] = bad
        out = problem.rhs(0.0, y)
        assert np.all(np.isnan(out)), bad
    assert np.all(np.isfinite(problem.rhs(0.0, problem.y0)))


def test_the_rhs_is_continuous_where_the_means_become_coplanar_and_radau_finishes():
    """A run of studies/alpha_spectrum.toml (d = 8, α = 0.1, ρ = 0.2, seed 0, 8 nodes per axis)
    stalled in Radau IIA at t ≈ 16 when the rule dropped an axis as the means became
    coplanar (docs/findings.md, the α-spectrum): it now finishes with both modes kept, and
    moving one mean off the line of the converged means, through the eigenvalue where an
    axis used to be dropped, changes the RHS without a step."""
    from flowsim.api import simulate
    from flowsim.families.gaussian.inputs import INIT_STREAM
    from flowsim.families.gaussian.mixture import pair_target, random_means

    target = pair_target(8, 16.0, 0.2)
    init = GaussianMixture(random_means(2, 8, 1.0, seed=[0, INIT_STREAM]), [0.5, 0.5])
    tr = simulate(target, init, objective="alpha", alpha=0.1, n_cubature=8, t_max=1000.0,
                  backend="numba", method="radau5", rtol=1e-7, atol=1e-9, max_steps=5000)
    assert tr.status == 0 and tr.diagnostics["coverage"] == 2
    problem = build_problem(target, init, objective="alpha", alpha=0.1, n_cubature=8)
    r = problem.meta["rank"]
    y = tr.states[-1].copy()
    X = y[:2 * r].reshape(2, r)
    line = (X[1] - X[0]) / np.linalg.norm(X[1] - X[0])
    off = np.random.default_rng(0).standard_normal(r)
    off -= (off @ line) * line
    direction = np.zeros_like(y)
    direction[:r] = off / np.linalg.norm(off)
    values = np.array([problem.rhs(0.0, y + h * direction) for h in np.linspace(0.0, 2e-5, 201)])
    steps = np.abs(np.diff(values, axis=0)).max(axis=1)
    assert steps.max() < 3 * np.median(steps) + 1e-12
