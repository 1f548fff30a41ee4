"""Weight modes: the regularised mode's Dirichlet prior (docs/derivations.md, P1) on every
reduction, composed with geometries and schedules, against numpy and finite differences;
its validation; and what it does to the vanishing-weight collapse."""
from __future__ import annotations

import numpy as np
import pytest

from flowsim import GaussianMixture, VonMisesMixture, build_problem, simulate
from flowsim.families.gaussian.mixture import pair_target, random_means
from flowsim.numerics.jit import rhs_identity
from flowsim.weight_modes import DEFAULT_WEIGHT_PRIOR, WEIGHT_MODES, weight_prior_penalty

GT = GaussianMixture(np.array([[-2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]), [0.3, 0.7], 1.0)
GQ = GaussianMixture(np.array([[0.5, 1.0, 0.0, 0.3], [-0.5, 0.0, 1.0, 0.0]]), [0.6, 0.4], 1.2)
GQ3 = GaussianMixture(np.array([[0.5, 1.0, 0.0, 0.3], [-0.5, 0.0, 1.0, 0.0], [0.0, -1.0, 0.5, 0.0]]),
                      [0.5, 0.3, 0.2], 1.0)
CT = VonMisesMixture(np.radians([0.0, 90.0, 180.0, 270.0]), 20.0)
CQ = VonMisesMixture([0.3, 1.2, 2.9, -1.4], [3.0, 2.0, 4.0, 3.0], [0.4, 0.3, 0.2, 0.1])
LAM = 0.37

CASES = {   # name: (target, init, options, offset of the logits in y)
    "circle": (CT, CQ, {}, 0),
    "two_mode": (GT, GQ, {"reduction": "two_mode", "train_var": True}, 5),
    "span": (GT, GQ3, {"reduction": "span", "train_var": True}, 3 * 4),
    "full": (GT, GQ3, {"reduction": "full", "train_var": True}, 3 * 4),
}


def _pair(case, objective="reverse_kl", **options):
    target, init, base, _ = CASES[case]
    kw = {**base, **options}
    plain = build_problem(target, init, objective=objective, weights="trainable", **kw)
    prior = build_problem(target, init, objective=objective, weights="regularised", weight_prior=LAM, **kw)
    return plain, prior


def _state(problem, rng, offset, K):
    y = problem.y0.copy()
    y[offset:offset + K] += rng.normal(0.0, 0.8, K)
    return y


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.parametrize("case", list(CASES))
def test_the_prior_adds_its_gradient_to_the_logits_and_its_value_to_the_objective(case):
    plain, prior = _pair(case)
    offset, K = CASES[case][3], prior.meta["n_components"]
    assert prior.meta["weights"] == "regularised" and prior.meta["weight_prior"] == LAM
    rng = np.random.default_rng(3)
    for _ in range(3):
        y = _state(plain, rng, offset, K)
        w = _softmax(y[offset:offset + K])
        diff = prior.rhs(0.7, y) - plain.rhs(0.7, y)
        expect = np.zeros_like(y)
        expect[offset:offset + K] = -LAM * (w - 1.0 / K)
        np.testing.assert_allclose(diff, expect, atol=1e-13)
        penalty = LAM * (-np.mean(np.log(w)) - np.log(K))
        assert prior.objective(y) - plain.objective(y) == pytest.approx(penalty, abs=1e-12)
        assert weight_prior_penalty(y[offset:offset + K], LAM) == pytest.approx(penalty, abs=1e-14)


@pytest.mark.parametrize("case", ["circle", "two_mode", "span"])
def test_the_regularised_flow_is_the_gradient_of_its_objective(case):
    _, prior = _pair(case)
    offset, K = CASES[case][3], prior.meta["n_components"]
    y = _state(prior, np.random.default_rng(5), offset, K)
    idx = prior.family.gradient_indices(prior)
    assert set(range(offset, offset + K)) <= set(idx)
    rate = prior.rhs(0.0, y)
    h = 1e-6
    for i in idx:
        e = np.zeros_like(y)
        e[i] = h
        fd = (prior.objective(y + e) - prior.objective(y - e)) / (2 * h)
        assert rate[i] == pytest.approx(-fd, rel=1e-6, abs=1e-7), i


def test_a_geometry_acts_on_the_regularised_gradient():
    rng = np.random.default_rng(7)
    for case in ("circle", "span"):
        offset = CASES[case][3]
        plain, prior = _pair(case, geometry="natural")
        K = prior.meta["n_components"]
        y = _state(plain, rng, offset, K)
        w = _softmax(y[offset:offset + K])
        diff = (prior.rhs(0.0, y) - plain.rhs(0.0, y))[offset:offset + K]
        np.testing.assert_allclose(diff, -LAM * (w - 1.0 / K) / w, atol=1e-12)     # Fisher-Rao: 1/w_k
    euclid = _pair("full")[1]
    adam = _pair("full", geometry="adam", eps=1e-3)[1]
    y = _state(euclid, rng, 12, 3)
    g = euclid.rhs(0.0, y)
    np.testing.assert_allclose(adam.rhs(0.0, y), g / (np.abs(g) + 1e-3), rtol=1e-12, atol=1e-15)
    ode = _pair("full", geometry="adam_ode", lr=1e-2)[1]
    n = y.size
    z = np.concatenate([y, rng.normal(0, 0.1, n), rng.uniform(0.1, 1.0, n)])
    out = ode.rhs(0.5, z)
    np.testing.assert_allclose(out[n:2 * n], (1 - 0.9) / 1e-2 * (-g - z[n:2 * n]), rtol=1e-12, atol=1e-12)


def test_the_prior_composes_with_a_schedule():
    sched = {"kind": "linear", "beta0": 0.1, "rate": 0.01}
    plain, prior = _pair("two_mode", schedule=sched)
    y = _state(plain, np.random.default_rng(11), 5, 2)
    w = _softmax(y[5:7])
    diff = prior.rhs(3.0, y) - plain.rhs(3.0, y)
    np.testing.assert_allclose(diff[5:7], -LAM * (w - 0.5), atol=1e-13)
    np.testing.assert_allclose(np.delete(diff, [5, 6]), 0.0, atol=0.0)


def test_regularised_solvers_are_disk_cacheable_and_distinct_per_layout_of_p():
    names = set()
    for geometry, extra in (("euclidean", {}), ("adam", {}), ("adam_ode", {"lr": 1e-3})):
        prior = build_problem(GT, GQ3, objective="reverse_kl", weights="regularised",
                              reduction="full", geometry=geometry, **extra)
        name = rhs_identity(prior.model.rhs)
        assert name is not None and "dirichlet" in name
        names.add(name)
    assert len(names) == 3


def test_bad_weight_modes_and_priors_name_the_field():
    assert WEIGHT_MODES == ("trainable", "fixed", "regularised")
    with pytest.raises(ValueError, match="^weights: must be one of .*'regularised'"):
        build_problem(GT, GQ, objective="reverse_kl", weights="dirichlet")
    with pytest.raises(ValueError, match="^weight_prior: only weights 'regularised'"):
        build_problem(GT, GQ, objective="reverse_kl", weights="trainable", weight_prior=0.1)
    for bad in (0.0, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="^weight_prior:"):
            build_problem(CT, CQ, objective="reverse_kl", weights="regularised", weight_prior=bad)
    default = build_problem(CT, CQ, objective="reverse_kl", weights="regularised")
    assert default.meta["weight_prior"] == DEFAULT_WEIGHT_PRIOR


@pytest.mark.parametrize("seed", [0, 1])
def test_the_prior_stops_the_vanishing_weight_that_gradient_descent_shows(seed):
    """d = 128, Λ = 16, ρ = 0.2: the trainable flow loses the minor mode's weight; with the
    default prior the minor weight settles near ρ (biased toward 1/2 by O(λ))."""
    target = pair_target(128, 16.0, 0.2, 1.0)
    init = GaussianMixture(random_means(2, 128, 1.0, seed), [0.5, 0.5], 1.0)
    kw = dict(objective="reverse_kl", t_max=5000.0, backend="numba", rtol=1e-7, atol=1e-9)
    plain = simulate(target, init, weights="trainable", **kw)
    prior = simulate(target, init, weights="regularised", **kw)
    assert plain.status == 0 and prior.status == 0
    assert plain.diagnostics["collapsed"] and plain.observables.weights[-1].min() < 1e-3
    assert not prior.diagnostics["collapsed"]
    w = np.sort(prior.observables.weights[-1])
    assert 0.2 < w[0] < 0.21


def test_kl_from_uniform_is_the_direct_sum_for_numpy_and_torch():
    """P1: KL(u‖w) = Σ_k (1/K) log((1/K)/w_k), the one formula the flows' penalty and both
    torch trainings use."""
    import torch

    from flowsim.weight_modes import kl_from_uniform

    rng = np.random.default_rng(3)
    w = rng.dirichlet(np.ones(5), size=4)
    direct = np.sum((1 / 5) * np.log((1 / 5) / w), axis=-1)
    np.testing.assert_allclose(kl_from_uniform(np.log(w)), direct, rtol=1e-13)
    np.testing.assert_allclose(kl_from_uniform(torch.log(torch.tensor(w))).numpy(), direct, rtol=1e-13)
    assert kl_from_uniform(np.log(np.full(3, 1 / 3))) == pytest.approx(0.0, abs=1e-15)
