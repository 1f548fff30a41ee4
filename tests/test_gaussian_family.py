"""Gaussian family: input validation, density/sampling, reductions agreeing, invariants, limits."""
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from flowsim.families.gaussian.mixture import GaussianMixture, pair_target, random_means
from flowsim.families.gaussian import family as gf
from flowsim.families.gaussian import two_mode as two
from flowsim.api import simulate


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs,field", [
    (dict(means=[1.0, 2.0]), "means"),
    (dict(means=[[0.0, np.nan]]), "means"),
    (dict(means=[[0.0, 1.0], [1.0, 2.0]], weights=[0.5, 0.6]), "weights"),
    (dict(means=[[0.0, 1.0], [1.0, 2.0]], weights=[1.0, 0.0]), "weights"),
    (dict(means=[[0.0, 1.0], [1.0, 2.0]], weights=[1.2, -0.2]), "weights"),
    (dict(means=[[0.0, 1.0]], var=0.0), "var"),
    (dict(means=[[0.0, 1.0]], var=-1.0), "var"),
    (dict(means=[[0.0, 1.0]], var=np.inf), "var"),
])
def test_bad_mixture_names_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        GaussianMixture(**kwargs)


def test_bad_problem_names_field():
    tgt = GaussianMixture([[0.0, 0.0], [3.0, 0.0]])
    with pytest.raises(ValueError, match="^init.means"):
        gf.build(tgt, GaussianMixture(np.zeros((2, 3))), objective="reverse_kl")
    with pytest.raises(ValueError, match="^objective"):
        gf.build(tgt, GaussianMixture(np.ones((2, 2))), objective="no_such_loss")
    with pytest.raises(ValueError, match="^weights"):
        gf.build(tgt, GaussianMixture(np.ones((2, 2))), objective="reverse_kl", weights="frozen")
    with pytest.raises(ValueError, match="^reduction"):
        gf.build(tgt, GaussianMixture(np.ones((3, 2))), objective="reverse_kl", reduction="two_mode")
    with pytest.raises(ValueError, match="^n_quad"):
        gf.build(tgt, GaussianMixture(np.ones((2, 2))), objective="reverse_kl", n_quad=3)
    with pytest.raises(ValueError, match="^bogus"):
        gf.build(tgt, GaussianMixture(np.ones((2, 2))), objective="reverse_kl", bogus=1)
    with pytest.raises(ValueError, match="^target"):
        gf.build("p", GaussianMixture(np.ones((2, 2))), objective="reverse_kl")
    with pytest.raises(ValueError, match="^scale"):
        random_means(2, 3, scale=np.nan)


def test_density_and_sampling():
    means = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])
    g = GaussianMixture(means, [0.3, 0.7], var=0.6)
    x = np.random.default_rng(1).normal(size=(5, 3))
    ref = np.log(0.3 * multivariate_normal(means[0], 0.6 * np.eye(3)).pdf(x)
                 + 0.7 * multivariate_normal(means[1], 0.6 * np.eye(3)).pdf(x))
    assert np.allclose(g.log_pdf(x), ref, atol=1e-12)
    s, lab = g.sample(40000, seed=3, return_labels=True)
    assert abs(lab.mean() - 0.7) < 4 * math.sqrt(0.21 / 40000)
    assert np.allclose(s[lab == 1].mean(0), means[1], atol=0.03)
    assert np.allclose(np.var(s[lab == 0] - means[0], axis=0), 0.6, rtol=0.05)
    assert np.array_equal(g.sample(5, seed=7), g.sample(5, seed=np.random.default_rng(7)))
    r = random_means(4, 1000, scale=2.0, seed=0)
    assert r.shape == (4, 1000) and abs(np.mean(np.sum(r ** 2, 1)) / 1000 - 4.0) < 0.2
    assert np.array_equal(r, random_means(4, 1000, scale=2.0, seed=0))


def test_random_means_at_a_radius_are_the_same_draws_normalised():
    c = np.array([1.0, -2.0, 0.5])
    r = random_means(5, 3, seed=4, center=c, radius=2.5)
    assert np.allclose(np.linalg.norm(r - c, axis=1), 2.5, rtol=0, atol=1e-14)
    u = random_means(5, 3, scale=1.0, seed=4)
    assert np.allclose((r - c) / 2.5, u / np.linalg.norm(u, axis=1, keepdims=True), atol=1e-15)
    with pytest.raises(ValueError, match="^radius"):
        random_means(2, 3, radius=-1.0)


def test_a_study_init_takes_a_radius_or_a_scale_not_both():
    from flowsim.families.gaussian.inputs import INPUTS

    target = pair_target(6, 16.0)
    fields = {"kind": "pair"}
    init = INPUTS.init["random"].build({"K": 3, "radius": 1.5}, 2, target, fields)
    assert np.allclose(np.linalg.norm(init.means, axis=1), 1.5)
    with pytest.raises(ValueError, match="^init.radius"):
        INPUTS.init["random"].build({"K": 3, "radius": 1.5, "scale": 1.0}, 2, target, fields)


# ------------------------------------------------------- two_mode vs span (K=M=2)
def _overlap_rates_from_span(problem, ydot):
    K, r = 2, problem.meta["rank"]
    X = problem.y0[:K * r].reshape(K, r)
    dX = ydot[:K * r].reshape(K, r)
    Tc = problem.meta["target_coords"]
    m = dX @ Tc[1]
    Q = dX @ X.T + X @ dX.T
    return np.array([m[0], m[1], Q[0, 0], Q[0, 1], Q[1, 1]]), ydot[K * r:]


@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_mode_equals_span_rhs(objective, seed):
    rng = np.random.default_rng(seed)
    d = [3, 20, 200][seed]
    mu = rng.normal(size=(2, d)) * 3.0 / math.sqrt(d)
    nu = rng.normal(size=(2, d)) * [0.5, 1.0, 2.0][seed]
    tgt = GaussianMixture(mu, [0.2, 0.8], var=[1.0, 0.7, 1.6][seed])
    ini = GaussianMixture(nu, [0.45, 0.55], var=[0.9, 1.2, 0.5][seed])
    opts = dict(objective=objective, weights="trainable", train_var=True)
    P2 = gf.build(tgt, ini, **opts)
    Ps = gf.build(tgt, ini, reduction="span", **opts)
    assert P2.model.name.startswith("gaussian.two_mode.") and Ps.model.name.startswith("gaussian.span.")
    r2 = P2.rhs(0.0, P2.y0)
    ov, rest = _overlap_rates_from_span(Ps, Ps.rhs(0.0, Ps.y0))
    scale = np.max(np.abs(r2))
    assert np.max(np.abs(r2[:5] - ov)) < 1e-8 * scale
    assert np.max(np.abs(r2[5:] - rest)) < 1e-8 * scale
    assert abs(P2.objective(P2.y0) - Ps.objective(Ps.y0)) < 1e-8


@pytest.mark.parametrize("weights", ["fixed", "trainable"])
def test_two_mode_equals_span_trajectory(weights):
    rng = np.random.default_rng(5)
    d = 30
    tgt = GaussianMixture(np.vstack([np.zeros(d), np.r_[4.0, np.zeros(d - 1)]]), [0.5, 0.5])
    ini = GaussianMixture(random_means(2, d, scale=0.4, seed=rng), [0.5, 0.5])
    t_eval = np.linspace(0, 20, 11)
    kw = dict(objective="reverse_kl", weights=weights, t_max=20.0, t_eval=t_eval, backend="numba",
              rtol=1e-11, atol=1e-12)
    a = simulate(tgt, ini, **kw)
    b = simulate(tgt, ini, reduction="span", **kw)
    va = a.problem.family.state_variables(a.problem, a.states)
    vb = b.problem.family.state_variables(b.problem, b.states)
    for key in ("m", "Q", "weights"):
        assert np.max(np.abs(va[key][1] - vb[key][1])) < 1e-8, key


# ------------------------------------------------------------------ invariants
def test_objective_never_increases_and_diagnostics():
    d = 64
    tgt = GaussianMixture(np.vstack([np.zeros(d), np.r_[4.0, np.zeros(d - 1)]]), [0.5, 0.5])
    ini = GaussianMixture(random_means(2, d, scale=1.0, seed=11), [0.5, 0.5])
    for obj in ("reverse_kl", "forward_kl"):
        t_eval = np.r_[0.0, np.geomspace(0.01, 200.0, 61)[:-1], 200.0]
        tr = simulate(tgt, ini, objective=obj, weights="trainable", t_max=200.0, t_eval=t_eval,
                      backend="numba", train_var=True)
        L = tr.observables.objective
        assert np.all(np.diff(L) <= 1e-9 * (1 + np.abs(L[:-1]))), obj
        key = obj
        assert np.allclose(L, getattr(tr.observables, key), atol=1e-12)
        ds = tr.to_xarray()
        assert ds["Q"].dims == ("time", "component", "component2")
        assert set(("m", "weights", "mode_mass", "collapse_time")) <= set(ds.variables) | set(tr.diagnostics)


def test_symmetric_start_stays_symmetric():
    # reflection x -> mu_1 + mu_2 - x swaps the modes; rho = 1/2 and nu_2 = mirror of nu_1.
    d = 5
    mu = np.zeros((2, d))
    mu[1, 0] = 3.0
    nu1 = np.array([0.7, 0.4, -0.3, 0.2, 0.1])
    nu = np.vstack([nu1, mu[0] + mu[1] - nu1])
    tgt = GaussianMixture(mu, [0.5, 0.5])
    for obj in ("reverse_kl", "forward_kl"):
        tr = simulate(tgt, GaussianMixture(nu, [0.5, 0.5], var=0.7), objective=obj, weights="trainable",
                      train_var=True, t_max=50.0, backend="numba", rtol=1e-10, atol=1e-12)
        sv = tr.problem.family.state_variables(tr.problem, tr.states)
        m, Q, w = sv["m"][1], sv["Q"][1], sv["weights"][1]
        Lam = 9.0
        assert np.max(np.abs(m[:, 0] + m[:, 1] - Lam)) < 1e-8
        assert np.max(np.abs(Q[:, 1, 1] - (Lam - 2 * m[:, 0] + Q[:, 0, 0]))) < 1e-8
        assert np.max(np.abs(w[:, 0] - 0.5)) < 1e-10
        mm = tr.observables.mode_mass
        assert np.max(np.abs(mm - 0.5)) < 1e-10


def test_single_gaussian_closed_form():
    # K = M = 1: KL(N(nu, v I)||N(mu, tau I)) = d/2 (v/tau - 1 - log v/tau) + |nu - mu|^2/(2 tau);
    # flow nu(t) = mu + (nu0 - mu) e^{-t/tau}; ds/dt = -d/2 (v/tau - 1).
    d, tau, v0 = 40, 1.7, 0.3
    mu = np.linspace(-1, 1, d)[None]
    nu0 = random_means(1, d, scale=1.0, seed=2)
    tr = simulate(GaussianMixture(mu, var=tau), GaussianMixture(nu0, var=v0), objective="reverse_kl",
                  weights="trainable", train_var=True, t_max=5.0, t_eval=np.linspace(0, 5, 6),
                  backend="numba", rtol=1e-11, atol=1e-12)
    X = tr.states[:, :tr.problem.meta["rank"]]
    basis = tr.problem.meta["basis"]
    nu_t = mu + X @ basis
    exact = mu + (nu0 - mu) * np.exp(-tr.time / tau)[:, None]
    assert np.max(np.abs(nu_t - exact)) < 1e-8
    # ds/dt = -d/2 (v/tau - 1), v = e^s: logistic, v(t) = tau / (1 + (tau/v0 - 1) e^{-d t/2})
    v_exact = tau / (1 + (tau / v0 - 1) * np.exp(-d * tr.time / 2))
    assert np.max(np.abs(np.exp(tr.states[:, -1]) - v_exact)) < 1e-8
    for y, t in zip(tr.states, tr.time):
        v = math.exp(y[-1])
        sq = float(np.sum((mu + y[:tr.problem.meta["rank"]] @ basis - mu) ** 2))
        kl = 0.5 * d * (v / tau - 1 - math.log(v / tau)) + sq / (2 * tau)
        assert abs(tr.problem.objective(y) - kl) < 1e-10


# ------------------------------------------------------------------ hard limits
RHS = {"reverse_kl": two.rhs_reverse_kl, "forward_kl": two.rhs_forward_kl}
VALUE = {"reverse_kl": two.reverse_kl, "forward_kl": two.forward_kl}


def _p(Lam=16.0, rho=0.5, d=10):
    return two.pack_params(Lam, rho, 1.0, d, True, True, 48)


def test_coincident_components_are_continuous():
    p = _p()
    base = np.array([3.0, 3.0, 5.0, 5.0, 5.0, 0.2, -0.2, 0.1])
    out0 = np.empty(8)
    two.rhs_reverse_kl(0.0, base, p, out0)
    assert np.all(np.isfinite(out0))
    for eps in (1e-6, 1e-3):
        y = base.copy()
        y[two.Q22] += eps      # D = eps
        out = np.empty(8)
        two.rhs_reverse_kl(0.0, y, p, out)
        assert np.max(np.abs(out - out0)) < 50 * eps


@pytest.mark.parametrize("theta", [30.0, 200.0, 700.0])
def test_extreme_weights_are_finite(theta):
    for obj in RHS:
        p = _p()
        y = np.array([1.0, 9.0, 6.0, 2.0, 40.0, theta, -theta, 0.0])
        out = np.empty(8)
        RHS[obj](0.0, y, p, out)
        assert np.all(np.isfinite(out)) and np.isfinite(VALUE[obj](y, p))


def test_large_separation_matches_span_and_limits():
    # Lambda = 1e4: gamma is a (smoothed) step; check against the span reduction and the
    # exact large-alpha limits: component 1 at mu_1, component 2 at mu_2.
    Lam = 1e4
    for obj in RHS:
        p = _p(Lam=Lam)
        y = np.array([0.0, Lam, 4.0, 0.0, Lam + 4.0, 0.0, 0.0, 0.0])
        out = np.empty(8)
        RHS[obj](0.0, y, p, out)
        assert np.all(np.isfinite(out))
        # at the exact optimum of a d = 10 problem with q = p, every derivative vanishes
        # except those from the orthogonal offsets |u_k|^2 - m_k^2/Lam = 4 (pull to the mode)
        assert abs(out[two.M1]) < 1e-9 and abs(out[two.M2]) < 1e-9
        assert abs(out[two.Q12]) < 1e-9
    res = np.empty((2, 2))
    two.mode_responsibilities(np.array([0.0, Lam, 0.0, 0.0, Lam, 0.0, 0.0, 0.0]), _p(Lam=Lam), res)
    assert np.allclose(res, np.eye(2), atol=1e-15)


@pytest.mark.parametrize("objective, reduction", [("reverse_kl", "two_mode"), ("reverse_kl", "span"),
                                                  ("alpha", "span"), ("reverse_kl", "full")])
def test_a_run_stopped_by_max_steps_reports_its_observables_without_raising(objective, reduction):
    """Times a run did not reach hold NaN states; their observables are NaN, the reached ones
    are computed, and the status names the failure."""
    from flowsim import simulate
    from flowsim.families.gaussian.mixture import pair_target, random_means

    target = pair_target(6, 16.0, 0.5, 1.0)
    init = GaussianMixture(random_means(2, 6, 1.0, 0), [0.5, 0.5], 1.0)
    extra = {"alpha": 0.5, "n_cubature": 8} if objective == "alpha" else {}
    tr = simulate(target, init, objective=objective, reduction=reduction, t_max=100.0,
                  backend="numba", max_steps=5, **extra)
    assert tr.status_name == "max_steps"
    reached = np.all(np.isfinite(tr.states), axis=1)
    assert reached[0] and not reached[-1]
    obs = tr.observables
    assert np.all(np.isnan(obs.objective[~reached])) and np.all(np.isfinite(obs.objective[reached]))
    assert tr.diagnostics["status"] == "max_steps"
