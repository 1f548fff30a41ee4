"""Every registered objective, from the registry: all its pieces are declared, its kernels
equal its independent numpy reference, its rhs is the negative gradient of its value, and
its torch loss computes the same objective. A newly registered objective is tested here
without editing this file."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from flowsim.check import SECTIONS
from flowsim.families import FAMILIES, family, load_all
from numba.core.dispatcher import Dispatcher
from flowsim.registry import Missing, OBJECTIVES, objective, resolve

load_all()
ALL = [o.key for o in OBJECTIVES.values()]


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


@pytest.mark.parametrize("key", ALL)
def test_every_piece_is_declared(key):
    obj = OBJECTIVES.get(key)
    assert obj.family in FAMILIES
    assert obj.description
    assert obj.models, "no kernels"
    for reduction, model in obj.models.items():
        assert isinstance(model.rhs, Dispatcher) and isinstance(model.objective, Dispatcher)
        assert callable(obj.reference.get(reduction)), f"no numpy reference for {reduction}"
    if isinstance(obj.torch_loss, Missing):
        assert obj.torch_loss.reason
    else:
        assert callable(resolve(obj.torch_loss))
    if isinstance(obj.check, Missing):
        assert obj.check.reason
    else:
        assert obj.check in SECTIONS


def test_unknown_objective_names_the_field_in_every_family():
    for name in FAMILIES.names():
        with pytest.raises(ValueError, match="^objective: unknown objective 'nope'"):
            objective(name, "nope")


# --------------------------------------------------------------- problems per reduction

def circle_problems(obj):
    fam = family("vonmises")
    for weights in ("trainable", "fixed"):
        for lam in (0.0, 0.7) if "regularization" in obj.parameters else (None,):
            for K, M in ((3, 3), (2, 4), (4, 2)):
                rng = np.random.default_rng(_seed(obj.name, weights, lam, K, M))
                options = {} if lam is None else {"regularization": lam}
                try:
                    prob = fam.random_problem(obj.name, rng, K, M, weights, **options)
                except ValueError:      # the objective refuses these sizes (check_inputs)
                    continue
                yield f"{weights} λ={lam} K={K} M={M}", prob, rng


def two_mode_problems(obj):
    from flowsim.families.gaussian.mixture import GaussianMixture

    fam = family("gaussian")
    for weights in ("trainable", "fixed"):
        for train_var in (True, False):
            for Lam in (0.5, 16.0, 400.0):
                for rho, tau in ((0.3, 1.0), (0.5, 0.6), (0.85, 2.0)):
                    rng = np.random.default_rng(_seed(obj.name, weights, train_var, Lam, rho, tau))
                    mu = np.zeros((2, 10))
                    mu[1, 0] = math.sqrt(Lam)
                    init = GaussianMixture(rng.normal(0.0, 1.0, (2, 10)), [0.5, 0.5], 1.0)
                    prob = fam.build(GaussianMixture(mu, [rho, 1 - rho], tau), init,
                                     objective=obj.name, weights=weights, train_var=train_var,
                                     reduction="two_mode")
                    yield f"{weights} train_var={train_var} Λ={Lam} ρ={rho} τ={tau}", prob, rng


CONVERGED_CUBATURE = 200   # the kernels' tensor cubature converged (not the default)


def span_problems(obj):
    fam = family("gaussian")
    for K, M, d in ((2, 2, 2), (3, 2, 2), (2, 3, 2), (1, 2, 2), (3, 3, 2), (2, 1, 3)):
        for weights in ("trainable", "fixed"):
            rng = np.random.default_rng(_seed(obj.name, K, M, d, weights))
            prob = fam.random_problem(obj.name, rng, K, M, d, weights, reduction="span",
                                      n_cubature=CONVERGED_CUBATURE)
            yield f"K={K} M={M} d={d} {weights}", prob, rng


PROBLEMS = {"circle": circle_problems, "two_mode": two_mode_problems, "span": span_problems}
# The span reference integrates by a tensor rule in r dimensions: its own error, not the
# kernels', sets this tolerance; it is checked in r <= 2, near the problem's start, where q
# and p have variances of order one (broader q, or r = 3, needs far more nodes).
RTOL = {"circle": 1e-10, "two_mode": 1e-10, "span": 2e-5}


def state(prob, rng, reduction):
    if reduction == "span":
        return prob.y0 + rng.normal(0.0, 0.3, prob.y0.size)
    return prob.family.random_state(prob, rng)


# the Gaussian f-divergences' numpy references integrate ~10^5 nodes per component: slow
CASES = [pytest.param(o.key, r, marks=pytest.mark.slow) if o.family == "gaussian" and r == "span"
         and o.name not in ("reverse_kl", "forward_kl") else (o.key, r)
         for o in OBJECTIVES.values() for r in o.models]


def test_every_reduction_has_problems():
    assert {c.values[1] if hasattr(c, "values") else c[1] for c in CASES} <= set(PROBLEMS)


@pytest.mark.parametrize("key,reduction", CASES)
def test_kernel_matches_its_numpy_reference(key, reduction):
    obj = OBJECTIVES.get(key)
    reference = obj.reference[reduction]
    n = 0
    for label, prob, rng in PROBLEMS[reduction](obj):
        for _ in range(6 if reduction != "span" else 2):
            y = state(prob, rng, reduction)
            if key == "gaussian.chi2":
                # chi2(p||q) is infinite for v <= tau/2 and its integrand nearly singular just
                # above: keep v >= 0.6 tau, where both quadratures resolve it
                y[-1] = max(y[-1], math.log(0.6 * prob.meta["target"].var))
            expected = prob.rhs(0.0, y)
            got = reference(0.0, y, prob.params)
            if np.all(np.isinf(expected)):               # an infinite divergence (chi2, v <= tau/2)
                np.testing.assert_array_equal(got, expected)
                continue
            scale = max(float(np.max(np.abs(expected))), 1e-300)
            err = float(np.max(np.abs(got - expected)))
            assert err <= RTOL[reduction] * scale, (
                f"{key} [{reduction}] {label}: reference differs by {err:.3e} (scale {scale:.3e})"
                f"\n y = {y.tolist()}\n kernel = {expected.tolist()}\n numpy = {got.tolist()}")
            n += 1
    assert n > 0


@pytest.mark.parametrize("key,reduction", CASES)
def test_rhs_is_the_negative_gradient_of_the_value(key, reduction):
    """Central differences of the value kernel along the coordinates that are parameters
    (all of them, except the two-mode ODE's overlaps, which are not)."""
    obj = OBJECTIVES.get(key)
    for label, prob, rng in PROBLEMS[reduction](obj):
        y = prob.family.random_state(prob, rng)
        rate = prob.rhs(0.0, y)
        for i in prob.family.gradient_indices(prob):
            h = 1e-6 * max(1.0, abs(y[i]))
            yp, ym = y.copy(), y.copy()
            yp[i] += h
            ym[i] -= h
            fd = (prob.objective(yp) - prob.objective(ym)) / (2 * h)
            assert abs(-fd - rate[i]) <= 2e-5 * max(1.0, abs(rate[i])), (key, reduction, label, i)
        break


@pytest.mark.parametrize("key", [o.key for o in OBJECTIVES.values() if o.family == "vonmises"
                                 and not isinstance(o.torch_loss, Missing)])
def test_circle_torch_loss_equals_the_kernel_value(key):
    torch = pytest.importorskip("torch")
    obj = OBJECTIVES.get(key)
    loss = obj.load_torch_loss()
    for label, prob, rng in circle_problems(obj):
        y = prob.family.random_state(prob, rng)
        K = prob.meta["n_components"]
        t = prob.meta["target"]
        q = tuple(torch.tensor(a, dtype=torch.float64) for a in
                  (y[:K] - np.log(np.sum(np.exp(y[:K]))), y[K:2 * K], np.exp(y[2 * K:])))
        p = tuple(torch.tensor(a, dtype=torch.float64) for a in (np.log(t.weights), t.mu, t.kappa))
        value = float(loss(q, p, n=prob.meta["n_quad"], regularization=prob.meta["regularization"]))
        assert value == pytest.approx(prob.objective(y), rel=1e-9, abs=1e-12), (key, label)


@pytest.mark.parametrize("key", [o.key for o in OBJECTIVES.values() if o.family == "gaussian"
                                 and not isinstance(o.torch_loss, Missing)])
def test_gaussian_torch_loss_estimates_the_kernel_value(key):
    """The Monte Carlo estimate is within 4 standard errors of the exact value."""
    torch = pytest.importorskip("torch")
    obj = OBJECTIVES.get(key)
    loss = obj.load_torch_loss()
    fam = family("gaussian")
    rng = np.random.default_rng(_seed(key))
    prob = fam.random_problem(obj.name, rng, 2, 2, 5, reduction="span")
    target, init = prob.meta["target"], prob.meta["init"]
    g = torch.Generator().manual_seed(3)
    S, n = 64, 512
    theta = torch.tensor(np.log(init.weights), dtype=torch.float64).expand(S, -1)
    nu = torch.tensor(init.means, dtype=torch.float64).expand(S, -1, -1)
    mu = torch.tensor(target.means, dtype=torch.float64)
    log_rho = torch.tensor(np.log(target.weights), dtype=torch.float64)
    rows = 2 if obj.name == "reverse_kl" else target.n_components
    eps = torch.randn((S, rows, n, target.dim), generator=g, dtype=torch.float64)
    with torch.no_grad():
        est = loss(theta, nu, mu, log_rho, init.var, target.var, eps).numpy()
    exact = prob.objective(prob.y0)
    assert abs(est.mean() - exact) <= 4 * est.std(ddof=1) / math.sqrt(S) + 1e-12
