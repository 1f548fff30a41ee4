"""Von Mises closed forms against mpmath quadrature, sympy derivatives and dense grids."""
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from flowsim.families.vonmises.mixture import VonMisesMixture, circle_grid, kl, kl_gradient, mixture_kl, quadrature_size


def kl_by_mpmath(mu_p, kp, mu_q, kq):
    """KL(VM_p ‖ VM_q) = ∫ p log(p/q) by mpmath quadrature at 30 digits, split at the peaks."""
    mp.mp.dps = 30
    mu_p, kp, mu_q, kq = (mp.mpf(x) for x in (mu_p, kp, mu_q, kq))

    def logvm(t, mu, k):
        return k * mp.cos(t - mu) - mp.log(2 * mp.pi * mp.besseli(0, k))

    def integrand(t):
        lp = logvm(t, mu_p, kp)
        return mp.exp(lp) * (lp - logvm(t, mu_q, kq))

    width = 12 / mp.sqrt(kp)
    pts = sorted({float(mu_p - width), float(mu_p), float(mu_p + width)})
    pts = [mu_p - mp.pi] + [mp.mpf(x) for x in pts if mu_p - mp.pi < x < mu_p + mp.pi] + [mu_p + mp.pi]
    return float(mp.quad(integrand, pts))


def test_seed_example_value():
    assert abs(float(kl(0.0, 50.0, math.pi / 4, 50.0)) - 14.49747) < 1e-5


@pytest.mark.parametrize("args", [(0, 1, 1, 2), (0.3, 10, 2.0, 50), (0, 200, 0.05, 100), (1, 0.01, -2, 3),
                                  (0.0, 50.0, math.pi / 4, 50.0), (2.5, 3.0, -2.9, 700.0)])
def test_closed_form_matches_mpmath_quadrature(args):
    assert float(kl(*args)) == pytest.approx(kl_by_mpmath(*args), rel=1e-12, abs=1e-14)


def test_finite_and_nonnegative_up_to_large_kappa():
    kappas = np.logspace(-8, 6, 57)
    kp, kq = np.meshgrid(kappas, kappas)
    for delta in (0.0, 1e-6, 0.3, math.pi):
        value = kl(0.0, kp, delta, kq)
        assert np.all(np.isfinite(value)) and np.all(value >= 0)
    same = kl(0.1, kappas, 0.1, kappas)
    assert np.max(np.abs(same)) < 1e-12


def test_gaussian_limit_at_large_kappa():
    kp, kq, d = 1e5, 2e5, 1e-3
    gauss = 0.5 * (math.log(kp / kq) + kq / kp - 1 + kq * d * d)
    assert float(kl(0, kp, d, kq)) == pytest.approx(gauss, rel=1e-4)


def test_partial_derivatives_equal_sympy():
    mp_, kp_, mq_, kq_ = sp.symbols("mu_p kappa_p mu_q kappa_q", positive=True)
    expr = (sp.log(sp.besseli(0, kq_)) - sp.log(sp.besseli(0, kp_))
            + sp.besseli(1, kp_) / sp.besseli(0, kp_) * (kp_ - kq_ * sp.cos(mp_ - mq_)))
    derivs = [sp.diff(expr, v) for v in (mp_, kp_, mq_, kq_)]
    rng = np.random.default_rng(0)
    for _ in range(6):
        point = {mp_: rng.uniform(-3, 3), kp_: rng.uniform(0.1, 80), mq_: rng.uniform(-3, 3), kq_: rng.uniform(0.1, 80)}
        ours = kl_gradient(point[mp_], point[kp_], point[mq_], point[kq_])
        for d, value in zip(derivs, ours):
            assert float(value) == pytest.approx(float(d.evalf(30, subs=point)), rel=1e-10, abs=1e-12)
        assert float(kl(point[mp_], point[kp_], point[mq_], point[kq_])) == pytest.approx(
            float(expr.evalf(30, subs=point)), rel=1e-12, abs=1e-13)


def test_mixture_kl_converged_and_matches_dense_grid():
    rng = np.random.default_rng(1)
    for kmax in (5.0, 50.0, 200.0, 2000.0):
        p = VonMisesMixture(rng.uniform(-3, 3, 4), rng.uniform(1, kmax, 4), rng.dirichlet(np.ones(4)))
        q = VonMisesMixture(rng.uniform(-3, 3, 3), rng.uniform(1, kmax, 3), rng.dirichlet(np.ones(3)))
        value = mixture_kl(p, q)
        n = quadrature_size(max(p.kappa.max(), q.kappa.max()))
        while abs(mixture_kl(p, q, n=n) - value) > 1e-12 * max(1, value):
            n *= 2
        assert abs(value - mixture_kl(p, q, n=2 * n)) < 1e-10
        dense = 8 * n
        theta = circle_grid(dense) + np.pi / dense
        lp, lq = p.log_pdf(theta), q.log_pdf(theta)
        reference = 2 * np.pi / dense * np.sum(np.exp(lp) * (lp - lq))
        assert abs(value - reference) < 1e-10


def test_single_component_mixture_kl_equals_closed_form():
    p, q = VonMisesMixture(0.4, 30.0), VonMisesMixture(-1.0, 5.0)
    assert mixture_kl(p, q) == pytest.approx(float(kl(0.4, 30.0, -1.0, 5.0)), rel=1e-12)


def test_density_normalised_and_sampling_moments():
    mix = VonMisesMixture([0.5, -2.0], [3.0, 40.0], [0.3, 0.7])
    n = 512
    assert 2 * np.pi / n * np.sum(mix.pdf(circle_grid(n))) == pytest.approx(1.0, abs=1e-13)
    samples = mix.sample(200_000, seed=3)
    first = np.mean(np.exp(1j * samples))
    theta = circle_grid(4096)
    exact = 2 * np.pi / 4096 * np.sum(mix.pdf(theta) * np.exp(1j * theta))
    assert abs(first - exact) < 4 / math.sqrt(200_000)
    assert np.all((samples > -np.pi) & (samples <= np.pi))


@pytest.mark.parametrize("kwargs, field", [
    (dict(mu=[0, 1], kappa=[1, 0]), "kappa"),
    (dict(mu=[0, 1], kappa=[1, -2]), "kappa"),
    (dict(mu=[0, np.nan], kappa=1), "mu"),
    (dict(mu=[0, 1], kappa=[1, np.inf]), "kappa"),
    (dict(mu=[0, 1], kappa=1, weights=[0.7, 0.7]), "weights"),
    (dict(mu=[0, 1], kappa=1, weights=[1.2, -0.2]), "weights"),
    (dict(mu=[0, 1, 2], kappa=[1, 2]), "kappa"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        VonMisesMixture(**kwargs)


def test_kl_rejects_nonpositive_kappa():
    with pytest.raises(ValueError, match="kappa_q"):
        kl(0, 1, 0, 0)
