"""Temperature schedules (flowsim.schedule) and the annealed reverse-KL kernels
(docs/derivations.md, B1): β(t) of each kind; bad input names the field; β = 1 is the plain
flow bit for bit; the annealed rhs is minus the gradient of L_β = E_q[log q] − β E_q[log p]
at fixed t, against a value computed here independently (trapezoid sums on the circle, a
tensor Gauss–Hermite rule in R^d); the two-mode and span reductions are the images of the
full-coordinate flow; every geometry composes with a schedule; a study file sweeps it."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import i0e, logsumexp

from flowsim import GaussianMixture, VonMisesMixture, build_problem, simulate
from flowsim.families.gaussian import span as gspan
from flowsim.families.gaussian import two_mode as gtwo
from flowsim.families.gaussian.mixture import pair_target
from flowsim.families.vonmises.mixture import circle_grid
from flowsim.families.vonmises.objectives import mixture_kl as cm
from flowsim.families.vonmises.params import natural_scale as circle_natural_scale
from flowsim.registry import objective as lookup
from flowsim.schedule import KINDS, beta_at, check_schedule, schedule_tail

LINEAR = {"kind": "linear", "beta0": 0.2, "rate": 0.1}
GEOMETRIC = {"kind": "geometric", "beta0": 0.05, "rate": 0.7}
CONSTANT = {"kind": "constant", "beta0": 0.6}
ONE = {"kind": "constant", "beta0": 1.0}


def beta_of(schedule, t):
    """β(t) written out here (not through the kernel)."""
    b0, r = schedule["beta0"], schedule.get("rate", 0.0)
    if schedule["kind"] == "constant":
        return b0
    if schedule["kind"] == "linear":
        return min(1.0, b0 + r * t)
    return min(1.0, b0 * math.exp(r * t))


# ------------------------------------------------------------------------ β(t)

@pytest.mark.parametrize("kind, beta0, rate, t, expected", [
    ("constant", 0.3, 0.0, 0.0, 0.3), ("constant", 0.3, 0.0, 1e6, 0.3),
    ("constant", 1.0, 0.0, 5.0, 1.0),
    ("linear", 0.1, 0.01, 0.0, 0.1), ("linear", 0.1, 0.01, 50.0, 0.6),
    ("linear", 0.1, 0.01, 89.0, 0.99), ("linear", 0.1, 0.01, 95.0, 1.0),
    ("linear", 0.1, 0.01, 1e9, 1.0),
    ("geometric", 0.01, 0.1, 0.0, 0.01), ("geometric", 0.01, 0.1, 10.0, 0.01 * math.e),
    ("geometric", 0.01, 0.1, 46.0, 0.01 * math.exp(4.6)), ("geometric", 0.01, 0.1, 47.0, 1.0),
    ("geometric", 0.01, 0.1, 1e12, 1.0),        # exp argument capped: no overflow
])
def test_beta_of_each_kind(kind, beta0, rate, t, expected):
    assert beta_at(t, float(KINDS[kind]), beta0, rate) == pytest.approx(expected, rel=1e-14)


def test_check_schedule_fills_the_rate_of_a_constant_schedule_and_packs_the_tail():
    assert check_schedule({"kind": "constant", "beta0": 0.5}) == {"kind": "constant", "beta0": 0.5,
                                                                  "rate": 0.0}
    s = check_schedule({"kind": "geometric", "beta0": 0.25, "rate": 3})
    np.testing.assert_array_equal(schedule_tail(s), [KINDS["geometric"], 0.25, 3.0])


# -------------------------------------------------------------------- bad input

CT = VonMisesMixture([0.0, 2.0, -2.0], [20.0, 20.0, 20.0], [0.5, 0.3, 0.2])
CQ = VonMisesMixture([0.4, 1.6, -2.7], [4.0, 3.0, 5.0], [0.4, 0.35, 0.25])
GT = pair_target(4, 16.0, 0.5)
GQ = GaussianMixture(np.random.default_rng(0).normal(0.0, 1.0, (2, 4)), [0.5, 0.5], 1.0)


@pytest.mark.parametrize("schedule, field", [
    ({"kind": "cosine", "beta0": 0.5, "rate": 1.0}, "schedule.kind"),
    ({"beta0": 0.5, "rate": 1.0}, "schedule.kind"),
    ({"kind": "linear", "rate": 1.0}, "schedule.beta0"),
    ({"kind": "linear", "beta0": 0.0, "rate": 1.0}, "schedule.beta0"),
    ({"kind": "linear", "beta0": -0.1, "rate": 1.0}, "schedule.beta0"),
    ({"kind": "linear", "beta0": 1.5, "rate": 1.0}, "schedule.beta0"),
    ({"kind": "geometric", "beta0": float("nan"), "rate": 1.0}, "schedule.beta0"),
    ({"kind": "linear", "beta0": 0.5}, "schedule.rate"),
    ({"kind": "linear", "beta0": 0.5, "rate": 0.0}, "schedule.rate"),
    ({"kind": "geometric", "beta0": 0.5, "rate": -1.0}, "schedule.rate"),
    ({"kind": "linear", "beta0": 0.5, "rate": 1.0, "tau": 2.0}, "schedule.tau"),
    ("linear", "schedule"),
])
@pytest.mark.parametrize("target, init", [(CT, CQ), (GT, GQ)], ids=["circle", "gaussian"])
def test_bad_schedule_names_the_field(schedule, field, target, init):
    with pytest.raises(ValueError, match=f"^{field}:"):
        build_problem(target, init, objective="reverse_kl", schedule=schedule)


@pytest.mark.parametrize("fam, target, init, objective", [
    ("vonmises", CT, CQ, "forward_kl"), ("vonmises", CT, CQ, "matched"),
    ("gaussian", GT, GQ, "forward_kl")])
def test_only_the_reverse_kl_anneals(fam, target, init, objective):
    with pytest.raises(ValueError, match="^schedule: the objective .* has no annealed form"):
        build_problem(target, init, objective=objective, schedule=LINEAR)
    assert not lookup(fam, objective).annealed
    assert set(lookup(fam, "reverse_kl").annealed) == set(lookup(fam, "reverse_kl").models)


# ------------------------------------------------------------- problems, states

def circle_problem(schedule, weights="trainable", seed=0, K=3, M=3):
    rng = np.random.default_rng(seed)
    target = VonMisesMixture(rng.uniform(-np.pi, np.pi, M), rng.uniform(2.0, 25.0, M),
                             rng.dirichlet(np.ones(M)))
    init = VonMisesMixture(rng.uniform(-np.pi, np.pi, K), rng.uniform(1.0, 20.0, K),
                           rng.dirichlet(np.ones(K)))
    kw = {} if schedule is None else {"schedule": schedule}
    return build_problem(target, init, objective="reverse_kl", weights=weights, **kw), rng


def gauss_pair(seed, K=2, M=2, d=4, spread=0.6):
    """Mixtures close enough (separations of order one standard deviation) for a tensor
    Gauss–Hermite rule of 20 nodes per axis to converge to ~1e-11."""
    rng = np.random.default_rng(seed)
    target = GaussianMixture(rng.normal(0.0, spread, (M, d)), rng.dirichlet(np.full(M, 4.0)),
                             rng.uniform(0.8, 1.3))
    init = GaussianMixture(rng.normal(0.0, spread, (K, d)), rng.dirichlet(np.full(K, 4.0)),
                           rng.uniform(0.8, 1.3))
    return target, init


def gauss_problem(target, init, schedule, reduction, weights="trainable", **kw):
    if schedule is not None:
        kw["schedule"] = schedule
    return build_problem(target, init, objective="reverse_kl", weights=weights, train_var=True,
                         reduction=reduction, n_cubature=200, **kw)


# ----------------------------------------------------------- β = 1: the plain flow

@pytest.mark.parametrize("weights", ["trainable", "fixed"])
def test_beta_one_is_the_plain_circle_flow_bit_for_bit(weights):
    for seed in range(3):
        plain, rng = circle_problem(None, weights, seed)
        for schedule, t in ((ONE, 0.0), (ONE, 7.0), (LINEAR, 8.0), (LINEAR, 100.0),
                            ({"kind": "geometric", "beta0": 0.5, "rate": 2.0}, 0.35)):
            ann, _ = circle_problem(schedule, weights, seed)
            assert ann.model.name == "vonmises.reverse_kl.annealed"
            for _ in range(3):
                y = plain.family.random_state(plain, rng)
                np.testing.assert_array_equal(ann.rhs(t, y), plain.rhs(t, y))
                assert ann.objective(y) == plain.objective(y)    # the value is the plain KL


def test_beta_one_is_the_plain_circle_flow_on_the_logsumexp_path():
    """κ in the thousands: q_n underflows and the kernel takes its per-node logsumexp form."""
    target = VonMisesMixture([0.0, 2.0], [3000.0, 2000.0], [0.5, 0.5])
    init = VonMisesMixture([1.0, -2.0], [1500.0, 900.0], [0.3, 0.7])
    plain = build_problem(target, init, objective="reverse_kl")
    ann = build_problem(target, init, objective="reverse_kl", schedule=ONE)
    np.testing.assert_array_equal(ann.rhs(0.0, ann.y0), plain.rhs(0.0, plain.y0))
    half = build_problem(target, init, objective="reverse_kl", schedule=CONSTANT)
    assert not np.array_equal(half.rhs(0.0, half.y0), plain.rhs(0.0, plain.y0))


@pytest.mark.parametrize("reduction", ["two_mode", "span", "full"])
@pytest.mark.parametrize("weights", ["trainable", "fixed"])
@pytest.mark.parametrize("train_var", [True, False])
def test_beta_one_is_the_plain_gaussian_flow_bit_for_bit(reduction, weights, train_var):
    rng = np.random.default_rng(1)
    for Lam in (0.5, 16.0, 400.0):
        target = pair_target(6, Lam, 0.3, 0.8)
        for _ in range(3):
            init = GaussianMixture(rng.normal(0.0, 1.5, (2, 6)), rng.dirichlet([3.0, 3.0]),
                                   rng.uniform(0.5, 2.0))
            kw = dict(objective="reverse_kl", weights=weights, train_var=train_var,
                      reduction=reduction)
            plain = build_problem(target, init, **kw)
            for schedule, t in ((ONE, 0.0), (LINEAR, 8.0), (LINEAR, 50.0)):
                ann = build_problem(target, init, schedule=schedule, **kw)
                assert ann.model.name == f"gaussian.{reduction}.reverse_kl.annealed"
                y = ann.y0.copy()
                np.testing.assert_array_equal(ann.rhs(t, y), plain.rhs(t, y))
                assert ann.objective(y) == plain.objective(y)
            low = build_problem(target, init, schedule=CONSTANT, **kw)
            assert not np.array_equal(low.rhs(0.0, low.y0), plain.rhs(0.0, plain.y0))


def test_schedule_tail_starts_where_each_layout_ends():
    plain, _ = circle_problem(None)
    ann, _ = circle_problem(LINEAR)
    assert cm.own_end(ann.params) == plain.params.size
    np.testing.assert_array_equal(ann.params[plain.params.size:], schedule_tail(check_schedule(LINEAR)))
    for reduction, mod in (("two_mode", gtwo), ("span", gspan)):
        plain = build_problem(GT, GQ, objective="reverse_kl", reduction=reduction)
        ann = build_problem(GT, GQ, objective="reverse_kl", reduction=reduction, schedule=LINEAR)
        assert mod.own_end(ann.params) == plain.params.size == ann.params.size - 3
    plain = build_problem(GT, GQ, objective="reverse_kl", reduction="full")
    ann = build_problem(GT, GQ, objective="reverse_kl", reduction="full", schedule=LINEAR)
    from flowsim.families.gaussian import full
    _, ps, _ = full.to_span(ann.y0, ann.params)
    assert gspan.own_end(ps) == ps.size - 3 and ann.params.size == plain.params.size + 3
    np.testing.assert_array_equal(ps[-3:], schedule_tail(check_schedule(LINEAR)))


# ------------------------------------------------- −∇L_β: independent values

def circle_value(prob, y, beta):
    """h Σ_n q_n (log q_n − β log p_n) by numpy on the kernel's nodes."""
    K, N = prob.meta["n_components"], prob.meta["n_quad"]
    target = prob.meta["target"]
    theta = circle_grid(N)[:, None]
    z, mu, kap = y[:K], y[K:2 * K], np.exp(y[2 * K:])
    log_q = logsumexp(z - logsumexp(z) + kap * (np.cos(theta - mu) - 1.0)
                      - np.log(2 * np.pi * i0e(kap)), axis=1)
    log_p = logsumexp(np.log(target.weights) + target.kappa * (np.cos(theta - target.mu) - 1.0)
                      - np.log(2 * np.pi * i0e(target.kappa)), axis=1)
    return 2 * np.pi / N * np.sum(np.exp(log_q) * (log_q - beta * log_p))


@pytest.mark.parametrize("schedule, t", [(LINEAR, 1.5), (GEOMETRIC, 2.0), (CONSTANT, 3.0)])
@pytest.mark.parametrize("weights", ["trainable", "fixed"])
def test_circle_annealed_rhs_is_minus_the_gradient_of_L_beta(schedule, t, weights):
    beta = beta_of(schedule, t)
    assert beta < 0.9
    for seed in range(2):
        prob, rng = circle_problem(schedule, weights, seed)
        y = prob.family.random_state(prob, rng)
        rate = prob.rhs(t, y)
        assert circle_value(prob, y, 1.0) == pytest.approx(prob.objective(y), rel=1e-11)
        for i in prob.family.gradient_indices(prob):
            h = 1e-5 * max(1.0, abs(y[i]))
            f = []
            for step in (2, 1, -1, -2):
                yy = y.copy()
                yy[i] += step * h
                f.append(circle_value(prob, yy, beta))
            fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
            assert abs(-fd - rate[i]) <= 1e-7 * max(1.0, np.abs(rate).max()), (i, -fd, rate[i])
        if weights == "fixed":
            assert np.all(rate[:prob.meta["n_components"]] == 0.0)


@pytest.mark.parametrize("kappa_scale", [0.3, 5.0, 60.0])
def test_circle_annealed_logsumexp_form_equals_the_vectorised_form(kappa_scale):
    rng = np.random.default_rng(11)
    target = VonMisesMixture(rng.uniform(-np.pi, np.pi, 3), kappa_scale * rng.uniform(0.5, 1.5, 3),
                             rng.dirichlet(np.ones(3)))
    init = VonMisesMixture(rng.uniform(-np.pi, np.pi, 3), kappa_scale * rng.uniform(0.2, 1.0, 3),
                           rng.dirichlet(np.ones(3)))
    prob = build_problem(target, init, objective="reverse_kl", schedule=CONSTANT)
    fast, safe = np.empty(prob.y0.size), np.empty(prob.y0.size)
    v_fast = cm._mixture_kl_loss(prob.y0, prob.params, fast, cm.REVERSE, 0.6)
    v_safe = cm._reverse_kl_loss_lse_annealed(prob.y0, prob.params, safe, 0.6)
    assert v_fast == pytest.approx(v_safe, rel=1e-12, abs=1e-13)
    assert v_fast == pytest.approx(circle_value(prob, prob.y0, 0.6), rel=1e-11, abs=1e-13)
    np.testing.assert_allclose(fast, safe, rtol=1e-10, atol=1e-12 * np.abs(safe).max())
    np.testing.assert_allclose(prob.rhs(0.0, prob.y0), fast, rtol=1e-13, atol=1e-300)


def test_circle_annealed_rhs_on_the_logsumexp_path_is_minus_the_gradient():
    """κ = 1500–3000: q_n underflows and the annealed kernel takes its logsumexp twin."""
    target = VonMisesMixture([0.0, 2.0], [3000.0, 2000.0], [0.5, 0.5])
    init = VonMisesMixture([0.05, 1.95], [1500.0, 2500.0], [0.3, 0.7])
    prob = build_problem(target, init, objective="reverse_kl", schedule=CONSTANT)
    y = prob.y0
    rate = prob.rhs(0.0, y)
    assert np.all(np.isfinite(rate))
    for i in prob.family.gradient_indices(prob):
        h = 1e-6
        f = []
        for step in (2, 1, -1, -2):
            yy = y.copy()
            yy[i] += step * h
            f.append(circle_value(prob, yy, 0.6))
        fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
        assert abs(-fd - rate[i]) <= 1e-6 * max(1.0, np.abs(rate).max()), (i, -fd, rate[i])


def gauss_value(means, logits, s, target, beta, n=20):
    """E_q[log q] − β E_q[log p] of the d-dimensional mixtures by a tensor Gauss–Hermite rule
    (n nodes per axis) under each component of q."""
    d = target.dim
    v, tau = math.exp(s), target.var
    w = np.exp(logits - logsumexp(logits))
    x1, w1 = hermegauss(n)
    w1 = w1 / w1.sum()
    Z = np.stack(np.meshgrid(*[x1] * d, indexing="ij"), -1).reshape(-1, d)
    W = np.prod(np.stack(np.meshgrid(*[w1] * d, indexing="ij"), -1).reshape(-1, d), axis=1)

    def log_mix(X, centres, log_weights, var):
        sq = np.sum((X[:, None, :] - centres[None]) ** 2, -1)
        return logsumexp(log_weights - sq / (2 * var), axis=1) - 0.5 * d * math.log(2 * math.pi * var)

    total = 0.0
    for k in range(means.shape[0]):
        X = means[k] + math.sqrt(v) * Z
        log_q = log_mix(X, means, np.log(w), v)
        log_p = log_mix(X, target.means, np.log(target.weights), tau)
        total += w[k] * np.sum(W * (log_q - beta * log_p))
    return total


@pytest.mark.slow
@pytest.mark.parametrize("K, M, d", [(2, 2, 4), (3, 2, 3), (2, 3, 3)])
@pytest.mark.parametrize("schedule, t", [(LINEAR, 1.5), (GEOMETRIC, 2.0)])
def test_gaussian_annealed_rhs_is_minus_the_gradient_of_L_beta(K, M, d, schedule, t):
    """The full coordinates (means in R^d, logits, log v) are all parameters; d = 4 with
    K = M = 2 has an orthogonal complement (r = 3), so the (d − r) term of B1 is checked."""
    beta = beta_of(schedule, t)
    target, init = gauss_pair(K * 10 + M + d, K, M, d)
    prob = gauss_problem(target, init, schedule, "full")
    y = prob.y0.copy()
    rate = prob.rhs(t, y)

    def value(yy):
        return gauss_value(yy[:K * d].reshape(K, d), yy[K * d:K * d + K], yy[-1], target, beta)

    assert gauss_value(init.means, np.log(init.weights), math.log(init.var), target, 1.0) == \
        pytest.approx(prob.objective(y), rel=1e-8, abs=1e-10)
    for i in range(y.size):
        h = 1e-4
        f = []
        for step in (2, 1, -1, -2):
            yy = y.copy()
            yy[i] += step * h
            f.append(value(yy))
        fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
        assert abs(-fd - rate[i]) <= 2e-7 * max(1.0, np.abs(rate).max()), (i, -fd, rate[i])


@pytest.mark.parametrize("schedule, t", [(LINEAR, 1.5), (GEOMETRIC, 2.0), (CONSTANT, 0.0)])
def test_two_mode_and_span_are_the_images_of_the_full_annealed_flow(schedule, t):
    """dm_k = ⟨dν_k, Δ⟩, dQ_kl = ⟨dν_k, u_l⟩ + ⟨u_k, dν_l⟩, dX_k = B dν_k; logits and log v
    equal, for random means, weights and variances in d = 6 (and the span with K = 3)."""
    rng = np.random.default_rng(7)
    for Lam in (0.5, 9.0, 100.0):
        target = pair_target(6, Lam, 0.35, 0.9)
        for K in (2, 3):
            init = GaussianMixture(rng.normal(0.0, 1.2, (K, 6)), rng.dirichlet(np.full(K, 3.0)),
                                   rng.uniform(0.6, 1.6))
            full = gauss_problem(target, init, schedule, "full")
            f = full.rhs(t, full.y0)
            dnu, rest = f[:K * 6].reshape(K, 6), f[K * 6:]
            scale = np.abs(f).max()
            span = gauss_problem(target, init, schedule, "span")
            g = span.rhs(t, span.y0)
            r = span.meta["rank"]
            np.testing.assert_allclose(g[:K * r].reshape(K, r), dnu @ span.meta["basis"].T,
                                       atol=1e-9 * scale)
            np.testing.assert_allclose(g[K * r:], rest, atol=1e-9 * scale)
            if K != 2:
                continue
            two = gauss_problem(target, init, schedule, "two_mode")
            h = two.rhs(t, two.y0)
            u = init.means - target.means[0]
            delta = target.means[1] - target.means[0]
            dQ = dnu @ u.T + u @ dnu.T
            expect = np.array([dnu[0] @ delta, dnu[1] @ delta, dQ[0, 0], dQ[0, 1], dQ[1, 1],
                               *rest])
            np.testing.assert_allclose(h, expect, atol=1e-9 * max(scale, np.abs(expect).max()))


def test_annealing_splits_the_entropy_from_the_target_term():
    """L_β = E_q[log q] − β E_q[log p] is affine in β, so is its rhs (B1):
    rhs(0.5) − rhs(0.2) = rhs(0.8) − rhs(0.5)."""
    prob_c, rng = circle_problem(None)
    y = prob_c.family.random_state(prob_c, rng)
    target, init = gauss_pair(3, 2, 2, 5)
    cases = [(lambda s: circle_problem(s)[0], y)]
    cases.append((lambda s: gauss_problem(target, init, s, "two_mode"), None))
    cases.append((lambda s: gauss_problem(target, init, s, "span"), None))
    for make, state in cases:
        rates = {}
        for b in (0.2, 0.5, 0.8):
            prob = make({"kind": "constant", "beta0": b})
            rates[b] = prob.rhs(0.0, prob.y0 if state is None else state)
        np.testing.assert_allclose(rates[0.5] - rates[0.2], rates[0.8] - rates[0.5],
                                   atol=1e-10 * np.abs(rates[0.8]).max())


# ---------------------------------------------------------------- geometries

GEOMETRIES = [("natural", {}), ("adam", {}), ("adam_ode", {"lr": 0.05})]


@pytest.mark.slow
@pytest.mark.parametrize("geometry, extra", GEOMETRIES)
@pytest.mark.parametrize("fam", ["circle", "gaussian"])
def test_schedule_composes_with_every_geometry(geometry, extra, fam):
    """The composed kernel reads β from the schedule tail, not from the geometry's entries
    after it: its rate is the geometry applied to the euclidean annealed rate; β = 1 gives
    the plain geometry flow bit for bit; the flow integrates."""
    target, init = (CT, CQ) if fam == "circle" else (GT, GQ)
    t = 1.5
    base = build_problem(target, init, objective="reverse_kl", schedule=LINEAR,
                         **({} if fam == "circle" else {"reduction": "span" if geometry == "natural" else "full"}))
    prob = build_problem(target, init, objective="reverse_kl", schedule=LINEAR, geometry=geometry,
                         **extra)
    one = build_problem(target, init, objective="reverse_kl", schedule=ONE, geometry=geometry, **extra)
    plain = build_problem(target, init, objective="reverse_kl", geometry=geometry, **extra)
    n = base.y0.size
    rng = np.random.default_rng(2)
    y = prob.y0 + rng.normal(0.0, 0.1, prob.y0.size)
    if geometry == "adam_ode":
        y[n:] = rng.normal(0.0, 0.1, 2 * n) ** 2       # moment estimates (v >= 0)
    g = base.rhs(t, y[:n])                             # −∇L_β(t)
    out = prob.rhs(t, y)
    if geometry == "natural":
        s = np.empty(n)
        (circle_natural_scale if fam == "circle" else gspan.natural_scale)(y[:n], base.params, s)
        np.testing.assert_allclose(out, g * s, rtol=1e-13, atol=1e-300)
    elif geometry == "adam":
        np.testing.assert_allclose(out, g / (np.abs(g) + 1e-3), rtol=1e-13)
    else:
        lr, b1, b2 = 0.05, 0.9, 0.999
        np.testing.assert_allclose(out[n:2 * n], (1 - b1) / lr * (-g - y[n:2 * n]), rtol=1e-13)
        np.testing.assert_allclose(out[2 * n:], (1 - b2) / lr * (g * g - y[2 * n:]), rtol=1e-13,
                                   atol=1e-15)
    np.testing.assert_array_equal(one.rhs(t, y), plain.rhs(t, y))
    assert not np.array_equal(out, plain.rhs(t, y))
    tr = simulate(target, init, objective="reverse_kl", schedule=LINEAR, geometry=geometry,
                  t_max=5.0, backend="numba", rtol=1e-7, atol=1e-9, **extra)
    assert tr.status_name == "ok" and np.all(np.isfinite(tr.states))
    assert tr.problem.meta["schedule"] == check_schedule(LINEAR)


def test_annealed_flow_tends_to_the_plain_flow_as_beta0_tends_to_one():
    """A flow integrated with a schedule: with β₀ → 1 its final state approaches the plain
    one; at β₀ = 1 it is the plain flow to the last bit."""
    kw = dict(objective="reverse_kl", t_max=20.0, backend="numba", rtol=1e-9, atol=1e-11)
    plain = simulate(GT, GQ, **kw)
    same = simulate(GT, GQ, schedule=ONE, **kw)
    np.testing.assert_array_equal(same.states, plain.states)
    gaps = []
    for b0 in (0.5, 0.9, 0.99):
        tr = simulate(GT, GQ, schedule={"kind": "constant", "beta0": b0}, **kw)
        gaps.append(np.abs(tr.states[-1] - plain.states[-1]).max())
    assert gaps[0] > gaps[1] > gaps[2] > 0.0


# ---------------------------------------------------------------- study files

STUDY = """
[study]
name = "annealed"
family = "gaussian"
objective = "{objective}"
weights = "trainable"

[target]
kind = "pair"
Lambda = 16.0
rho = 0.5
d = 8

[init]
kind = "random"
K = 2

[schedule]
kind = "linear"
beta0 = {beta0}
rate = 0.01

[solver]
t_max = 60.0
rtol = 1e-7
atol = 1e-9

[output]
chunk_size = 8

[axes]
"schedule.beta0" = {{ values = [0.1, 1.0], name = "beta0" }}
"schedule.rate" = {{ values = [0.01, 1.0], name = "rate" }}
seed = {{ range = 2 }}
"""


def test_a_study_file_sweeps_the_schedule(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("zarr")
    from flowsim.sweep import parse_study, run_sweep
    from flowsim.sweep.points import make_objects

    study = parse_study(STUDY.format(objective="reverse_kl", beta0=0.1))
    run_sweep(study, tmp_path / "a.zarr")
    ds = xr.open_zarr(str(tmp_path / "a.zarr")).load()
    assert ds.weights.dims == ("beta0", "rate", "seed", "component")
    assert list(ds.beta0.values) == [0.1, 1.0] and list(ds.rate.values) == [0.01, 1.0]
    assert np.all(ds.status.values == 0)
    # β₀ = 1: β ≡ 1 whatever the rate, the same flow
    np.testing.assert_array_equal(ds.weights.sel(beta0=1.0, rate=0.01).values,
                                  ds.weights.sel(beta0=1.0, rate=1.0).values)
    assert not np.allclose(ds.weights.sel(beta0=0.1, rate=0.01).values,
                           ds.weights.sel(beta0=1.0, rate=0.01).values)
    # one annealed point against simulate() with the same schedule
    cfg = study.point_config([0.1, 0.01, 1])
    target, init = make_objects(cfg)
    tr = simulate(target, init, objective="reverse_kl", t_max=60.0, backend="numba", rtol=1e-7,
                  atol=1e-9, schedule={"kind": "linear", "beta0": 0.1, "rate": 0.01})
    np.testing.assert_allclose(ds.weights.sel(beta0=0.1, rate=0.01, seed=1).values,
                               tr.diagnostics["weights"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("objective, beta0, field", [
    ("reverse_kl", "1.5", "schedule.beta0"), ("forward_kl", "0.1", "schedule")])
def test_a_bad_schedule_in_a_study_names_the_field(objective, beta0, field):
    from flowsim.sweep import StudyError, parse_study

    text = STUDY.format(objective=objective, beta0=beta0).split("[axes]")[0] + "[axes]\nseed = { range = 2 }\n"
    with pytest.raises(StudyError, match=f"^{field}:"):
        parse_study(text)
    with pytest.raises(StudyError, match="^schedule.*unknown"):
        parse_study(text.replace("rate = 0.01", "rate = 0.01\ntau = 3.0"))


# ------------------------------------------------------------ torch training

def test_torch_annealed_gradient_estimates_the_annealed_flow():
    """The gradient of gaussian_vi's annealed Monte Carlo loss (STL estimator, the log p term
    weighted by β) is −rhs of the annealed flow within 4 standard errors over 64 seeds."""
    torch = pytest.importorskip("torch")
    from flowsim.families.gaussian.torch_losses import reverse_kl
    from flowsim.training.gaussian_vi import log_p_term

    target, init = gauss_pair(5, 2, 2, 3, spread=1.0)
    init = GaussianMixture(init.means, init.weights, target.var)
    t, beta = 1.5, beta_of(LINEAR, 1.5)
    prob = build_problem(target, init, objective="reverse_kl", reduction="full", schedule=LINEAR)
    rate = prob.rhs(t, prob.y0)[:2 * 3 + 2]
    S, n = 64, 4096
    f64 = dict(dtype=torch.float64)
    nu = torch.tensor(init.means, **f64).expand(S, -1, -1).clone().requires_grad_(True)
    theta = torch.log(torch.tensor(init.weights, **f64)).expand(S, -1).clone().requires_grad_(True)
    mu = torch.tensor(target.means, **f64)
    log_rho = torch.log(torch.tensor(target.weights, **f64))
    eps = torch.randn((S, 2, n, 3), generator=torch.Generator().manual_seed(0), **f64)
    v = float(init.var)
    loss = (reverse_kl(theta, nu, mu, log_rho, v, target.var, eps, "stl")
            + (1.0 - beta) * log_p_term(theta, nu, mu, log_rho, v, target.var, eps)).sum()
    g_nu, g_th = torch.autograd.grad(loss, [nu, theta])
    est = -torch.cat([g_nu.reshape(S, -1), g_th], 1).numpy()        # (S, K d + K)
    se = est.std(0, ddof=1) / math.sqrt(S)
    assert np.all(np.abs(est.mean(0) - rate) <= 4 * se + 1e-10), (est.mean(0), rate, se)
    plain = build_problem(target, init, objective="reverse_kl", reduction="full").rhs(t, prob.y0)[:8]
    assert np.any(np.abs(est.mean(0) - plain) > 6 * se)             # β matters here


def test_torch_training_schedule_argument():
    pytest.importorskip("torch")
    from flowsim.training import gaussian_vi

    target = pair_target(3, 16.0, 0.5)
    init = GaussianMixture(np.random.default_rng(0).normal(0.0, 1.0, (2, 3)), [0.5, 0.5], 1.0)
    kw = dict(lr=0.05, n=8, t_eval=[0.5, 1.0], n_seeds=2, seed=3, observe=False)
    plain = gaussian_vi.run(target, init, **kw)
    one = gaussian_vi.run(target, init, schedule=ONE, **kw)
    low = gaussian_vi.run(target, init, schedule=LINEAR, **kw)
    for name in ("m", "Q", "theta"):
        np.testing.assert_array_equal(one.variables[name], plain.variables[name])
    assert not np.allclose(low.variables["m"], plain.variables["m"])
    assert low.meta["schedule"] == check_schedule(LINEAR) and "schedule" not in plain.meta
    with pytest.raises(ValueError, match="^schedule: the objective 'forward_kl'"):
        gaussian_vi.run(target, init, objective="forward_kl", schedule=LINEAR, **kw)
    with pytest.raises(ValueError, match="^schedule.rate:"):
        gaussian_vi.run(target, init, schedule={"kind": "linear", "beta0": 0.5, "rate": 0.0}, **kw)
