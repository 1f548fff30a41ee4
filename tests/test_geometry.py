"""Optimiser geometries: the composition with every objective's kernel, the full-coordinate
Gaussian flow, the metrics against independent computations, and the limits between them."""
from __future__ import annotations

import numpy as np
import pytest

from flowsim import GaussianMixture, VonMisesMixture, build_problem, simulate
from flowsim.geometry import GEOMETRIES

GT = GaussianMixture(np.array([[-2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]]), [0.3, 0.7], 1.0)
GQ = GaussianMixture(np.array([[0.5, 1.0, 0.0, 0.3], [-0.5, 0.0, 1.0, 0.0]]), [0.5, 0.5], 1.0)
CT = VonMisesMixture(np.radians([0.0, 90.0, 180.0, 270.0]), 20.0)
CQ = VonMisesMixture([0.3, 1.2, 2.9, -1.4], [3.0, 2.0, 4.0, 3.0], [0.4, 0.3, 0.2, 0.1])
T = np.array([0.0, 0.5, 2.0, 8.0])


def test_every_geometry_is_declared_once_and_unknown_ones_name_the_field():
    assert set(GEOMETRIES.names()) == {"euclidean", "adam", "adam_ode", "natural", "wfr"}
    with pytest.raises(ValueError, match="^geometry: unknown geometry 'rmsprop'"):
        build_problem(GT, GQ, objective="reverse_kl", geometry="rmsprop")


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
def test_full_coordinates_equal_the_overlap_and_span_flows(objective):
    kw = dict(objective=objective, t_max=8.0, t_eval=T, backend="numba", rtol=1e-11, atol=1e-12,
              train_var=True)
    ref = simulate(GT, GQ, **kw)                 # the overlap ODE
    assert ref.problem.meta["reduction"] == "two_mode"
    for reduction in ("span", "full"):
        tr = simulate(GT, GQ, reduction=reduction, **kw)
        a, b = tr.to_xarray(), ref.to_xarray()
        for name in ("m", "Q", "weights", "var"):
            np.testing.assert_allclose(a[name].values, b[name].values, atol=2e-8, err_msg=name)
        np.testing.assert_allclose(tr.final.means, ref.final.means, atol=2e-8)


def test_euclidean_is_the_plain_flow_bit_for_bit():
    a = simulate(CT, CQ, objective="matched", t_max=2.0, backend="numba")
    b = simulate(CT, CQ, objective="matched", t_max=2.0, backend="numba", geometry="euclidean")
    np.testing.assert_array_equal(a.states, b.states)
    assert a.problem.model is b.problem.model


def test_coordinatewise_geometries_refuse_rotation_invariant_reductions():
    with pytest.raises(ValueError, match="^reduction: 'adam' is coordinate-wise"):
        build_problem(GT, GQ, objective="reverse_kl", geometry="adam", reduction="span")
    with pytest.raises(ValueError, match="^reduction: the overlap ODE"):
        build_problem(GT, GQ, objective="reverse_kl", geometry="natural", reduction="two_mode")
    assert build_problem(GT, GQ, objective="reverse_kl", geometry="adam").meta["reduction"] == "full"


@pytest.mark.parametrize("bad, field", [
    (dict(geometry="adam_ode"), "lr"),
    (dict(geometry="adam_ode", lr=0.0), "lr"),
    (dict(geometry="adam", eps=-1.0), "eps"),
    (dict(geometry="adam_ode", lr=1e-3, betas=(1.0, 0.9)), "betas"),
    (dict(geometry="adam", lr=1e-3), "lr"),
])
def test_bad_geometry_parameters_name_the_field(bad, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        build_problem(CT, CQ, objective="reverse_kl", **bad)


def test_circle_natural_metric_is_the_block_diagonal_fisher():
    """1/scale = w_k × Fisher of VM(μ_k, κ_k) in (μ, log κ), and the categorical Fisher in the
    logits (diag(w) − w wᵀ on the direction of a logit alone: w_k (1 − w_k), but the natural
    gradient of the logits is ∇_z L / w_k as ∇_z L sums to zero)."""
    from scipy.special import i0e, i1e

    from flowsim.families.vonmises.params import natural_scale
    prob = build_problem(CT, CQ, objective="reverse_kl", geometry="natural")
    y = prob.y0[:prob.n_base]
    s = np.empty(y.size)
    natural_scale(y, prob.params, s)
    K = 4
    w = CQ.weights
    rng = np.random.default_rng(0)
    for k in range(K):
        kap = CQ.kappa[k]
        theta = rng.vonmises(CQ.mu[k], kap, 400_000)
        d_mu = kap * np.sin(theta - CQ.mu[k])
        A = i1e(kap) / i0e(kap)
        d_s = kap * (np.cos(theta - CQ.mu[k]) - A)
        for i, score in ((K + k, d_mu), (2 * K + k, d_s)):
            fisher = np.mean(score ** 2)
            se = np.std(score ** 2) / np.sqrt(score.size)
            assert abs(1.0 / (w[k] * s[i]) - fisher) < 4 * se, (k, i)
        assert s[k] == pytest.approx(1.0 / w[k])


def test_gaussian_natural_metric_is_the_block_diagonal_fisher():
    from flowsim.families.gaussian.span import natural_scale
    prob = build_problem(GT, GQ, objective="reverse_kl", geometry="natural", train_var=True)
    y = prob.y0[:prob.n_base]
    s = np.empty(y.size)
    natural_scale(y, prob.params, s)
    K, r, d, v = 2, prob.meta["rank"], GT.dim, GQ.var
    for k in range(K):
        # Fisher of N(ν, v I) in ν: I / v, weighted by w_k
        assert np.allclose(s[k * r:(k + 1) * r], v / GQ.weights[k])
        assert s[K * r + k] == pytest.approx(1.0 / GQ.weights[k])
    # Fisher of the shared log-variance: Σ_k w_k × d/2 (score d/2 (|x−ν|²/(d v) − 1))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200_000, d))
    score = 0.5 * (np.sum(x ** 2, axis=1) - d)
    assert abs(1.0 / s[K * r + K] - np.mean(score ** 2)) < 4 * np.std(score ** 2) / np.sqrt(x.shape[0])

@pytest.mark.slow

def test_adam_limit_converges_as_its_smoothing_shrinks():
    finals = []
    for smoothing in (1e-1, 1e-2, 1e-3):
        tr = simulate(CT, CQ, objective="reverse_kl", t_max=3.0, backend="numba", geometry="adam",
                      smoothing=smoothing)
        assert tr.status_name == "ok"
        finals.append(tr.states[-1])
    gaps = [np.max(np.abs(finals[i] - finals[-1])) for i in range(2)]
    assert gaps[0] > gaps[1] > 0 and gaps[1] < 0.05

@pytest.mark.slow

def test_adam_ode_tends_to_the_limit_flow_as_the_step_shrinks():
    """adam_ode at learning rate η against the smoothed limit flow (same ε): the gap falls
    with η (the moments relax on the time scale η/(1 − β₂))."""
    limit = simulate(CT, CQ, objective="reverse_kl", t_max=2.0, backend="numba", geometry="adam",
                     eps=1e-3, smoothing=1e-3).states[-1]
    gaps = []
    for lr in (1e-2, 1e-3, 1e-4):
        tr = simulate(CT, CQ, objective="reverse_kl", t_max=2.0, backend="numba",
                      geometry="adam_ode", lr=lr, betas=(0.9, 0.99), eps=1e-3)
        assert tr.status_name == "ok"
        gaps.append(np.max(np.abs(tr.states[-1][:limit.size] - limit)))
    assert gaps[0] > gaps[1] > gaps[2]

@pytest.mark.slow

def test_adam_ode_state_carries_the_moments_and_the_family_reads_the_model_part():
    tr = simulate(GT, GQ, objective="reverse_kl", t_max=1.0, backend="numba", geometry="adam_ode",
                  lr=1e-2)
    n = tr.problem.n_base
    assert tr.states.shape[1] == 3 * n
    assert np.all(tr.states[0, n:] == 0.0) and np.any(tr.states[-1, n:] != 0.0)
    assert tr.final.means.shape == (2, 4) and np.isfinite(tr.diagnostics["reverse_kl"])


def test_natural_gradient_removes_the_weight_from_the_mean_speed():
    """dX_k/dt = (v/w_k) (−∂L/∂X_k): a light component's mean moves as fast as a heavy one's
    under the same force, while in the euclidean flow it moves w_k times slower."""
    q = GaussianMixture(GQ.means, [0.95, 0.05], 1.0)
    e = build_problem(GT, q, objective="reverse_kl", reduction="span")
    n = build_problem(GT, q, objective="reverse_kl", geometry="natural")
    r = e.meta["rank"]
    ve, vn = e.rhs(0.0, e.y0), n.rhs(0.0, n.y0)
    for k, w in enumerate(q.weights):
        np.testing.assert_allclose(vn[k * r:(k + 1) * r], ve[k * r:(k + 1) * r] / w, rtol=1e-12)


def test_auto_integrates_the_adam_limit_flow_with_dopri5():
    """method "auto" means the builder's choice (flowsim.geometry.method_for): DOPRI5 for the
    Gaussian adam limit flow, where the stiffness switch to Radau IIA stalls (A1); the
    circle's adam flow keeps "auto"."""
    from flowsim.families.gaussian.inputs import INIT_STREAM
    from flowsim.families.gaussian.mixture import pair_target, random_means

    target = pair_target(32, 16.0, 0.5, 1.0)
    init = GaussianMixture(random_means(2, 32, 1.0, seed=[1, INIT_STREAM]), [0.5, 0.5], 1.0)
    kw = dict(objective="reverse_kl", geometry="adam", t_max=10.0, backend="numba", rtol=1e-7,
              atol=1e-9, max_steps=8000)
    tr = simulate(target, init, **kw)
    assert tr.options["method"] == "dopri5" and tr.status_name == "ok"
    stalled = simulate(target, init, method="radau5", **kw)
    assert stalled.status_name == "max_steps"
    euclid = simulate(target, init, objective="reverse_kl", t_max=1.0, backend="numba")
    assert euclid.options["method"] == "auto"
    circle = simulate(CT, CQ, objective="reverse_kl", geometry="adam", t_max=1.0, backend="numba")
    assert circle.options["method"] == "auto"
