"""The circle f-divergences (js, nonsaturating, chi2, hellinger, alpha) and wasserstein1:
what tests/test_objectives.py does not already check (it checks every registered
objective's kernels against its numpy reference, rhs = −∇value at one state, and the torch
value). Here: the gradient against finite differences in more states (both weight modes,
several α, large κ where q underflows and the log-space edges are used), the value against
Monte Carlo, the special cases, the nonsaturating and minimax GAN gradient identities in
torch, a user-registered generator, and bad input naming the field."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import i0e

from flowsim import build_problem, simulate
from flowsim.divergences import generator, make_generator
from flowsim.families.vonmises.mixture import VonMisesMixture
from flowsim.families.vonmises.objectives import fdivergence as fd
from flowsim.registry import OBJECTIVES, objective

FDIVS = ("js", "nonsaturating", "chi2", "hellinger", "alpha")
ALL = FDIVS + ("wasserstein1",)


def vm_pdf(theta, mix):
    """Mixture density, numpy (independent of the kernels)."""
    th = np.asarray(theta)[..., None]
    comp = np.exp(mix.kappa * (np.cos(th - mix.mu) - 1.0)) / (2 * np.pi * i0e(mix.kappa))
    return comp @ mix.weights


def fd_gradient(prob, y, step=1e-6):
    grad = np.empty(y.size)
    for i in range(y.size):
        e = step * max(1.0, abs(y[i]))
        yp, ym = y.copy(), y.copy()
        yp[i] += e
        ym[i] -= e
        grad[i] = (prob.objective(yp) - prob.objective(ym)) / (2 * e)
    return grad


def assert_rate_is_minus_gradient(prob, y, rtol=2e-6):
    rate = prob.rhs(0.0, y)
    K = prob.meta["n_components"]
    idx = slice(0, None) if prob.meta["weights"] == "trainable" else slice(K, None)
    g = fd_gradient(prob, y)
    scale = max(np.abs(rate[idx]).max(), 1e-300)
    np.testing.assert_allclose(rate[idx], -g[idx], rtol=0, atol=rtol * scale + 1e-11)
    if prob.meta["weights"] == "fixed":
        assert np.all(rate[:K] == 0.0)


# ------------------------------------------------------------------ gradients

MODERATE = [
    (VonMisesMixture([0.3, 2.2, -2.0], [8.0, 25.0, 3.0], [0.5, 0.3, 0.2]),
     VonMisesMixture([0.0, 1.5], [4.0, 12.0], [0.6, 0.4])),
    (VonMisesMixture([0.0, math.pi / 2, math.pi, -math.pi / 2], 50.0),
     VonMisesMixture([0.4, 1.2, 2.0, -2.5], [2.0, 3.0, 2.5, 4.0])),
]
# κ = 400: q underflows (per-node logsumexp path) and log p/q passes the ±600 edges
LARGE_KAPPA = (VonMisesMixture([0.0, 2.0], [400.0, 300.0], [0.5, 0.5]),
               VonMisesMixture([0.05, 1.9, -2.5], [350.0, 420.0, 380.0], [0.4, 0.4, 0.2]))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("weights", ["trainable", "fixed"])
@pytest.mark.parametrize("case", range(len(MODERATE)))
def test_rhs_is_minus_the_finite_difference_gradient(name, weights, case):
    target, init = MODERATE[case]
    prob = build_problem(target, init, objective=name, weights=weights)
    assert_rate_is_minus_gradient(prob, prob.y0)


@pytest.mark.parametrize("alpha", [-0.7, 0.2, 0.8, 1.7, 3.0])
def test_alpha_gradient_at_several_alphas(alpha):
    target, init = MODERATE[0]
    prob = build_problem(target, init, objective="alpha", alpha=alpha)
    assert prob.params[3] == alpha and prob.meta["alpha"] == alpha
    assert_rate_is_minus_gradient(prob, prob.y0)
    ref = OBJECTIVES.get("vonmises.alpha").reference["circle"](0.0, prob.y0, prob.params)
    np.testing.assert_allclose(prob.rhs(0.0, prob.y0), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("name", FDIVS + ("reverse_kl", "forward_kl"))
def test_large_kappa_log_space_paths(name):
    """Underflowing q and |log p/q| > 600: finite value, rhs = −FD gradient, and the kernel
    equals the numpy reference (closed forms in log p − log q, no edge continuation)."""
    target, init = LARGE_KAPPA
    prob = build_problem(target, init, objective=name)
    y = prob.y0
    v = prob.objective(y)
    assert math.isfinite(v) or name == "chi2"
    if not math.isfinite(v):
        assert v == math.inf                    # χ² here is genuinely beyond float range
        return
    rate = prob.rhs(0.0, y)
    assert np.all(np.isfinite(rate))
    ref = objective("vonmises", name).reference["circle"](0.0, y, prob.params)
    np.testing.assert_allclose(rate, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    assert_rate_is_minus_gradient(prob, y, rtol=1e-5)


def test_infinite_divergence_is_inf_never_nan():
    far = (VonMisesMixture([0.0], [2000.0]), VonMisesMixture([math.pi], [2000.0]))
    prob = build_problem(*far, objective="chi2")
    assert prob.objective(prob.y0) == math.inf
    for name in ("js", "nonsaturating", "hellinger", "alpha", "reverse_kl", "forward_kl",
                 "wasserstein1"):
        prob = build_problem(*far, objective=name)
        assert math.isfinite(prob.objective(prob.y0)), name
        assert np.all(np.isfinite(prob.rhs(0.0, prob.y0))), name


# ------------------------------------------------------------------ Monte Carlo

F_NUMPY = {   # f(u) written here, not taken from the package
    "js": lambda u: u * np.log(u) - (1 + u) * np.log1p(u),
    "nonsaturating": lambda u: (1 + u) * np.log((1 + u) / (2 * u)),
    "chi2": lambda u: (u - 1) ** 2,
    "hellinger": lambda u: 0.5 * (np.sqrt(u) - 1) ** 2,
    "alpha": lambda u: (u ** 0.5 - 1 - 0.5 * (u - 1)) / (0.5 * (0.5 - 1)),
}


def sample(mix, n, rng):
    comp = rng.choice(mix.n_components, size=n, p=mix.weights)
    return rng.vonmises(mix.mu[comp], mix.kappa[comp])


@pytest.mark.parametrize("name", FDIVS)
def test_value_against_monte_carlo(name):
    """E_q[f(p/q)] from 10^6 draws of q, within 3 standard errors of the kernel value."""
    target = VonMisesMixture([0.2, 1.8], [8.0, 12.0], [0.55, 0.45])
    init = VonMisesMixture([0.0, 1.5, 2.5], [3.0, 4.0, 5.0], [0.4, 0.4, 0.2])
    prob = build_problem(target, init, objective=name)
    rng = np.random.default_rng(20240611)
    x = sample(init, 10 ** 6, rng)
    vals = F_NUMPY[name](vm_pdf(x, target) / vm_pdf(x, init))
    mean, se = vals.mean(), vals.std(ddof=1) / math.sqrt(vals.size)
    assert abs(prob.objective(prob.y0) - mean) <= 3 * se, (prob.objective(prob.y0), mean, se)


def test_wasserstein1_against_empirical_cdfs():
    """W1 from the empirical CDFs of 10^6 draws of p and of q (min over the shift c of
    ∫ |F̂_p − F̂_q − c| on a fine grid), within 5e-3 (its sampling error is ~1e-3)."""
    target = VonMisesMixture([0.2, 1.8], [8.0, 12.0], [0.55, 0.45])
    init = VonMisesMixture([0.0, 2.5, -2.0], [3.0, 4.0, 5.0], [0.4, 0.4, 0.2])
    prob = build_problem(target, init, objective="wasserstein1")
    rng = np.random.default_rng(7)
    grid = np.linspace(-np.pi, np.pi, 20001)
    fp = np.searchsorted(np.sort(sample(target, 10 ** 6, rng)), grid) / 10 ** 6
    fq = np.searchsorted(np.sort(sample(init, 10 ** 6, rng)), grid) / 10 ** 6
    diff = fp - fq
    c = np.median(diff)
    w1 = np.trapezoid(np.abs(diff - c), grid)
    assert abs(prob.objective(prob.y0) - w1) < 5e-3, (prob.objective(prob.y0), w1)


# ------------------------------------------------------------------ special cases

DISJOINT = (VonMisesMixture([0.0], [2000.0]), VonMisesMixture([math.pi], [2000.0]))


def test_js_of_disjoint_peaks_is_log_2():
    prob = build_problem(*DISJOINT, objective="js")
    js_value = 0.5 * (prob.objective(prob.y0) + 2 * math.log(2))     # L = 2 JS − 2 log 2
    assert js_value == pytest.approx(math.log(2), abs=1e-12)
    grad = prob.rhs(0.0, prob.y0)                                    # saturated, resolved
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() < 1e-200


def test_identical_mixtures_have_zero_divergence():
    p = VonMisesMixture([0.3, 2.0, -1.0], [5.0, 30.0, 2.0], [0.3, 0.5, 0.2])
    for name in ("chi2", "hellinger", "alpha", "nonsaturating"):
        prob = build_problem(p, p, objective=name)
        assert abs(prob.objective(prob.y0)) < 1e-13, name
        assert np.abs(prob.rhs(0.0, prob.y0)).max() < 1e-12, name
    prob = build_problem(p, p, objective="js")
    assert prob.objective(prob.y0) == pytest.approx(-2 * math.log(2), abs=1e-13)
    prob = build_problem(p, p, objective="wasserstein1")
    assert abs(prob.objective(prob.y0)) < 1e-13


@pytest.mark.parametrize("weights", ["trainable", "fixed"])
@pytest.mark.parametrize("alpha,limit", [(1e-6, "reverse_kl"), (1 - 1e-6, "forward_kl")])
def test_alpha_limits_are_the_kls(alpha, limit, weights):
    """The α-divergence differs from its KL limit by O(min(α, 1 − α)): here 2e-6 relative."""
    target, init = MODERATE[0]
    a = build_problem(target, init, objective="alpha", alpha=alpha, weights=weights)
    b = build_problem(target, init, objective=limit, weights=weights)
    rng = np.random.default_rng(3)
    for y in (a.y0, a.y0 + rng.normal(0, 0.3, a.y0.size)):
        assert a.objective(y) == pytest.approx(b.objective(y), rel=2e-5)
        ra, rb = a.rhs(0.0, y), b.rhs(0.0, y)
        np.testing.assert_allclose(ra, rb, rtol=0, atol=2e-5 * np.abs(rb).max())


@pytest.mark.parametrize("d", [0.5, 1.5, 3.0, 3.6])
def test_w1_of_point_like_peaks_is_the_arc_distance(d):
    prob = build_problem(VonMisesMixture([0.0], [1e4]), VonMisesMixture([d], [1e4]),
                         objective="wasserstein1")
    arc = min(d, 2 * math.pi - d)
    assert prob.objective(prob.y0) == pytest.approx(arc, abs=1e-6)
    # dW1/dμ_q = sign(d) on the short arc: the mean moves toward the target at unit speed
    assert prob.rhs(0.0, prob.y0)[1] == pytest.approx(-1.0 if d < math.pi else 1.0, abs=1e-6)


def test_w1_of_a_mixture_with_itself_is_zero():
    p = VonMisesMixture([0.3, 2.0, -1.0], [5.0, 30.0, 2.0], [0.3, 0.5, 0.2])
    prob = build_problem(p, p, objective="wasserstein1")
    assert abs(prob.objective(prob.y0)) < 1e-13


# ------------------------------------------------------------------ torch: GAN gradients

def _torch_state(prob):
    import torch

    K = prob.meta["n_components"]
    y = torch.tensor(prob.y0, dtype=torch.float64, requires_grad=True)
    t = prob.meta["target"]
    p = tuple(torch.tensor(a, dtype=torch.float64) for a in (np.log(t.weights), t.mu, t.kappa))
    return y, p, K


def _q(y, K):
    import torch

    return torch.log_softmax(y[:K], -1), y[K:2 * K], torch.exp(y[2 * K:])


def test_nonsaturating_gradient_is_the_detached_discriminator_gradient():
    """autograd of the registered torch loss = autograd of E_q[−log D] with D = p/(p+q)
    detached (written here) = −rhs of the kernel (KL(q‖p) − 2 JS); and it is not the
    gradient of E_q[log((p+q)/p)] with D re-optimised (D not detached)."""
    torch = pytest.importorskip("torch")
    from flowsim.families.vonmises import torch_losses as V

    target, init = MODERATE[0]
    prob = build_problem(target, init, objective="nonsaturating")
    y, p, K = _torch_state(prob)
    n = prob.meta["n_quad"]
    (g_loss,) = torch.autograd.grad(V.nonsaturating(_q(y, K), p, n=n), y)

    theta = V.grid(n)
    h = 2 * math.pi / n

    def generator_loss(detach):
        lq = V.mixture_log_pdf(theta, *_q(y, K))
        lp = V.mixture_log_pdf(theta, *p)
        log_d = lp - torch.logaddexp(lp, lq)
        if detach:
            log_d = log_d.detach()
        return h * torch.sum(torch.exp(lq) * -log_d)

    (g_fixed,) = torch.autograd.grad(generator_loss(True), y)
    (g_reopt,) = torch.autograd.grad(generator_loss(False), y)
    rate = prob.rhs(0.0, prob.y0)
    scale = np.abs(rate).max()
    np.testing.assert_allclose(g_loss.numpy(), g_fixed.numpy(), rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(g_fixed.numpy(), -rate, rtol=0, atol=1e-9 * scale)
    assert np.abs(g_reopt.numpy() + rate).max() > 1e-2 * scale


def test_minimax_gradient_with_d_fixed_equals_d_reoptimised():
    """Envelope theorem: the gradient of max_D V(D, q) = 2 JS − 2 log 2 (the js kernel and its
    torch loss) equals the gradient of E_q[log(1 − D)] with D = D* held fixed."""
    torch = pytest.importorskip("torch")
    from flowsim.families.vonmises import torch_losses as V

    target, init = MODERATE[0]
    prob = build_problem(target, init, objective="js")
    y, p, K = _torch_state(prob)
    n = prob.meta["n_quad"]
    (g_value,) = torch.autograd.grad(V.js(_q(y, K), p, n=n), y)
    theta = V.grid(n)
    lq = V.mixture_log_pdf(theta, *_q(y, K))
    lp = V.mixture_log_pdf(theta, *p)
    log_1md = (lq - torch.logaddexp(lp, lq)).detach()
    (g_fixed,) = torch.autograd.grad(2 * math.pi / n * torch.sum(torch.exp(lq) * log_1md), y)
    rate = prob.rhs(0.0, prob.y0)
    scale = np.abs(rate).max()
    np.testing.assert_allclose(g_value.numpy(), g_fixed.numpy(), rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(g_value.numpy(), -rate, rtol=0, atol=1e-9 * scale)


@pytest.mark.slow
# ------------------------------------------------------------------ a user's generator

def test_register_a_user_generator_and_refuse_one_without_derivative():
    with pytest.raises(ValueError, match="^fprime:"):
        make_generator("no_derivative", generator("js").f, None)
    gen = generator("js")                           # plain JS(p, q), f(1) = 0
    obj = fd.register_fdivergence("js_plain", gen, "JS(p, q)")
    try:
        assert objective("vonmises", "js_plain") is obj
        assert not obj.torch_loss and obj.torch_loss.reason
        prob = build_problem(*DISJOINT, objective="js_plain")
        assert prob.objective(prob.y0) == pytest.approx(math.log(2), abs=1e-12)
        target, init = MODERATE[0]
        prob = build_problem(target, init, objective="js_plain")
        assert_rate_is_minus_gradient(prob, prob.y0)
        ref = obj.reference["circle"](0.0, prob.y0, prob.params)
        np.testing.assert_allclose(prob.rhs(0.0, prob.y0), ref, atol=1e-10 * np.abs(ref).max())
        js = build_problem(target, init, objective="js")   # 2 JS − 2 log 2
        assert js.objective(js.y0) == pytest.approx(2 * prob.objective(prob.y0) - 2 * math.log(2),
                                                    rel=1e-12)
        assert fd.fdivergence_kernels(gen) is fd.fdivergence_kernels(gen)   # cached per process
    finally:
        OBJECTIVES.unregister(obj.key)
    # one name, one generator: the name is the closures' identity (their symbol names)
    other = make_generator("chi2", generator("hellinger").f, generator("hellinger").fprime)
    with pytest.raises(ValueError, match="^generator: another generator named 'chi2'"):
        fd.fdivergence_kernels(other)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, float("nan"), float("inf"), "x", True, None, [0.5]])
def test_alpha_outside_its_domain_names_the_field(bad):
    target, init = MODERATE[0]
    with pytest.raises(ValueError, match="^alpha:"):
        build_problem(target, init, objective="alpha", alpha=bad)


def test_alpha_is_an_option_of_alpha_only_and_unknown_objectives_are_named():
    target, init = MODERATE[0]
    with pytest.raises(ValueError, match="alpha"):
        build_problem(target, init, objective="js", alpha=0.5)
    with pytest.raises(ValueError, match="^objective: unknown objective 'kl_zoo'"):
        build_problem(target, init, objective="kl_zoo")
    with pytest.raises(ValueError, match="regularization"):
        build_problem(target, init, objective="alpha", regularization=0.5)


def test_alpha_through_simulate_and_a_study_file():
    from flowsim.sweep import StudyError, parse_study
    from flowsim.sweep.points import build_point

    target, init = MODERATE[0]
    tr = simulate(target, init, objective="alpha", alpha=0.25, t_max=1.0)
    assert tr.problem.meta["alpha"] == 0.25 and tr.problem.params[3] == 0.25
    study = """
[study]
family = "vonmises"
objective = "alpha"
[target]
kind = "uniform"
M = 2
kappa = 10.0
[init]
kind = "random"
K = 2
kappa = 2.0
[options]
alpha = %s
[solver]
t_max = 1.0
[axes]
%s
"""
    st = parse_study(study % ("0.5", '"options.alpha" = { values = [0.25, 2.0] }'))
    pts = [build_point(st.point_config([a])) for a in (0.25, 2.0)]
    assert [pt.params[3] for pt in pts] == [0.25, 2.0]
    with pytest.raises(StudyError, match="^options.alpha:"):
        parse_study(study % ("1.0", "seed = { range = 2 }"))
