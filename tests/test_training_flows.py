"""Normalizing-flow and mixture VI by reverse KL (flowsim.training.flows), read with flowsim.diagnostics."""
import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("zuko")

from flowsim.diagnostics import Observables, summarize  # noqa: E402
from flowsim.gaussian import GaussianMixture  # noqa: E402
from flowsim.training import flows  # noqa: E402
from flowsim.training.flows import (  # noqa: E402
    TorchTarget, evaluate, make_flow, make_mixture, pair_target, reverse_kl_loss, train, train_many,
)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _kl_fell(res):
    """First recorded reverse-KL estimate minus the last, beyond 3 combined standard errors."""
    gap = res.reverse_kl[0] - res.reverse_kl[-1]
    return gap > 3 * math.hypot(res.reverse_kl_se[0], res.reverse_kl_se[-1])


@pytest.mark.slow
# --------------------------------------------------------------------------- collapse / coverage

def test_realnvp_collapses_from_offset_start():
    # Found by experiment (RealNVP, 4 layers, width 32, Adam lr 1e-3, batch 256, STL, 1500
    # steps, rho = 0.5, seeds 0-9): from init "offset" with r = sqrt(Lambda)/2 (q = N(a, I),
    # |a| = the modes' distance from the origin, a's direction random), runs collapsed
    # 0/10 at Lambda = 36, 9/10 at Lambda = 64 (the survivor started orthogonal to Delta)
    # and 10/10 at Lambda = 100; from the identity start 0/10, 1/10 and 7/10. So Lambda = 100,
    # r = 5: every seed ends on one mode with reverse KL log 2 (the lost mode's weight).
    # Seed 0 starts at (3.45, -3.62), between the origin and mode 2. 600 steps at lr 2e-3 here:
    # 9/10 over seeds 0-9 (only seed 7, started at (0.02, 5.0), orthogonal to Delta, kept both).
    target = pair_target(2, 100.0, 0.5)
    q = make_flow("realnvp", 2, init="offset", r=5.0, seed=0)
    res = train(target, q, lr=2e-3, steps=600, batch=256, seed=0, n_records=8, n_eval=2048)
    s = summarize(res.observables())
    assert s["collapsed"] and s["coverage"] == 1
    assert res.mode_mass[-1].min() < 1e-3
    assert abs(res.reverse_kl[-1] - math.log(2)) < 0.05
    assert _kl_fell(res)

@pytest.mark.slow

def test_realnvp_identity_start_keeps_both_modes():
    # Found by experiment: from the exact identity start q = N(0, I), midway between the modes
    # of the Lambda = 36, rho = 0.5 target, RealNVP (4 layers, width 32, Adam lr 1e-3,
    # batch 256, STL) covered both modes for seeds 0-9 (10/10) after 1500 steps, with final
    # mode masses within 0.45-0.55 and reverse KL 0.01-0.03. 600 steps at lr 2e-3 here:
    # also 10/10, final mode masses within 0.43-0.57.
    target = pair_target(2, 36.0, 0.5)
    res = train(target, make_flow("realnvp", 2, seed=0), lr=2e-3, steps=600, batch=256,
                seed=0, n_records=8, n_eval=2048)
    s = summarize(res.observables())
    assert s["coverage"] == 2 and not s["collapsed"]
    assert np.all(np.abs(res.mode_mass[-1] - 0.5) < 0.15)
    assert _kl_fell(res)


# --------------------------------------------------------------------------- estimators

def test_stl_and_plain_agree_in_expectation_and_stl_vanishes_at_optimum():
    # Off the optimum (float64 mixture, separated target): loss values agree sample by
    # sample, and the mean gradients of the two estimators agree within their SEs.
    target = pair_target(2, 16.0, 0.3)
    tt = TorchTarget(target, torch.float64)
    model = make_mixture(2, 2, init_means=[[-1.0, 0.5], [2.0, -0.5]], init_var=0.7,
                         init_weights=[0.6, 0.4], dtype=torch.float64)
    params = list(model.parameters())

    def grads(estimator, seed, n=64):
        g = torch.Generator().manual_seed(seed)
        loss = reverse_kl_loss(model, tt, n, g, estimator)
        return float(loss.detach()), torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params)]).numpy()

    R = 200
    stl = [grads("stl", s) for s in range(R)]
    plain = [grads("plain", s) for s in range(R)]
    np.testing.assert_allclose([v for v, _ in stl], [v for v, _ in plain], rtol=1e-12, atol=1e-12)
    gs, gp = np.array([g for _, g in stl]), np.array([g for _, g in plain])
    se = np.sqrt(gs.var(0, ddof=1) / R + gp.var(0, ddof=1) / R)
    assert np.all(np.abs(gs.mean(0) - gp.mean(0)) < 4 * se + 1e-12)
    # independent draws: the loss values have the same expectation too
    vs = np.array([grads("stl", 10_000 + s)[0] for s in range(R)])
    vp = np.array([v for v, _ in plain])
    assert abs(vs.mean() - vp.mean()) < 4 * math.sqrt(vs.var(ddof=1) / R + vp.var(ddof=1) / R)

    # At the optimum q = p: the STL gradient is zero draw by draw, the plain one is not.
    one = GaussianMixture(np.zeros((1, 2)), None, 1.0)
    flow = make_flow("realnvp", 2, seed=3)
    t1 = TorchTarget(one, torch.float32)
    fparams = [p for p in flow.parameters()]
    norms = {"stl": [], "plain": []}
    for est in norms:
        for s in range(10):
            loss = reverse_kl_loss(flow, t1, 128, torch.Generator().manual_seed(s), est)
            g = torch.autograd.grad(loss, fparams, allow_unused=True)
            norms[est].append(math.sqrt(sum(float((x ** 2).sum()) for x in g if x is not None)))
    assert max(norms["stl"]) < 1e-4
    assert min(norms["plain"]) > 1e-2
    # same for a mixture equal to the target (stratified loss, exact weight gradients)
    mix = make_mixture(2, 2, init_means=target.means, init_var=target.var,
                       init_weights=target.weights, dtype=torch.float64)
    for est, check in (("stl", lambda v: v < 1e-10), ("plain", lambda v: v > 1e-3)):
        for s in range(5):
            loss = reverse_kl_loss(mix, tt, 64, torch.Generator().manual_seed(s), est)
            g = torch.autograd.grad(loss, list(mix.parameters()))
            assert check(math.sqrt(sum(float((x ** 2).sum()) for x in g))), est


# --------------------------------------------------------------------------- mixture model

def test_mixture_log_prob_matches_numpy_and_training_lowers_reverse_kl():
    rng = np.random.default_rng(0)
    means, w, var = rng.normal(size=(3, 4)) * 2, np.array([0.2, 0.5, 0.3]), 0.8
    mix = make_mixture(3, 4, init_means=means, init_var=var, init_weights=w, dtype=torch.float64)
    x = rng.normal(size=(200, 4)) * 3
    ref = GaussianMixture(means, w, var).log_pdf(x)
    got = mix.log_prob(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)

    target = pair_target(2, 36.0, 0.5)
    model = make_mixture(2, 2, init_means=[[-1.0, 1.0], [1.0, -1.0]], init_var=2.0)
    res = train(target, model, lr=0.05, steps=150, batch=128, seed=0, n_records=6, n_eval=2048)
    assert _kl_fell(res)
    assert res.is_mixture and res.component_weights.shape == (len(res.time), 2)
    real, pseudo = summarize(res.observables()), summarize(res.observables(pseudo=True))
    assert real["coverage"] == pseudo["coverage"] == 2
    np.testing.assert_allclose(np.sort(res.component_means[-1][:, 0]), [-3, 3], atol=0.5)


def test_observables_when_q_equals_the_target():
    target = pair_target(3, 25.0, 0.3)
    np.testing.assert_array_equal(target.means, [[-2.5, 0, 0], [2.5, 0, 0]])
    np.testing.assert_array_equal(target.weights, [0.3, 0.7])
    q = make_mixture(2, 3, init_means=target.means, init_var=target.var,
                     init_weights=target.weights, dtype=torch.float64)
    ev = evaluate(target, q, n_eval=8192, seed=1)
    assert np.all(np.abs(ev["mode_mass"] - target.weights) < 3 * ev["mode_mass_se"])
    assert abs(ev["forward_kl"]) < 1e-9 and ev["forward_kl_se"] < 1e-9
    assert abs(ev["reverse_kl"]) < 1e-9
    np.testing.assert_allclose(ev["projected_moment"], [0.0, 25.0], atol=0.5)
    assert np.all(ev["mode_distance"] < 0.2)
    # a flow at its exact identity start equals a standard-normal target
    one = GaussianMixture(np.zeros((1, 2)), None, 1.0)
    ev = evaluate(one, make_flow("spline", 2, seed=0), n_eval=4096, seed=2)
    assert abs(ev["forward_kl"]) < 1e-4 and abs(ev["reverse_kl"]) < 1e-4
    np.testing.assert_allclose(ev["mode_mass"], [1.0])


# --------------------------------------------------------------------------- API details

def test_initialisations_are_exact_and_recording_is_passive():
    x = torch.randn(50, 3, dtype=torch.float64)
    for kind in flows.KINDS:
        q = make_flow(kind, 3, seed=5, dtype=torch.float64)
        ref = -0.5 * (x ** 2).sum(-1) - 1.5 * math.log(2 * math.pi)
        np.testing.assert_allclose(q.log_prob(x).detach(), ref, atol=1e-10)
        q = make_flow(kind, 3, seed=5, init="offset", r=2.5, dtype=torch.float64)
        assert math.isclose(float(q.loc.norm()), 2.5)
        ref = -0.5 * ((x - q.loc) ** 2).sum(-1) - 1.5 * math.log(2 * math.pi)
        np.testing.assert_allclose(q.log_prob(x).detach(), ref, atol=1e-10)
    target = pair_target(2, 16.0, 0.5)
    a = train(target, make_flow("realnvp", 2, seed=1), lr=1e-3, steps=12, batch=32, seed=4,
              n_records=3, n_eval=256)
    b = train(target, make_flow("realnvp", 2, seed=1), lr=1e-3, steps=12, batch=32, seed=4,
              record_steps=[0, 5, 7, 12], n_eval=512)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.loss.shape == (12,) and a.step[0] == 0 and a.step[-1] == 12
    np.testing.assert_allclose(b.time, 1e-3 * np.array([0, 5, 7, 12]))
    obs = a.observables()
    assert isinstance(obs, Observables) and obs.weights.shape == obs.mode_mass.shape == (3, 2)
    runs = train_many(target, lambda s: make_flow("realnvp", 2, seed=s), [4, 4], lr=1e-3,
                      steps=3, batch=16, n_records=2, n_eval=64)
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)


def test_bad_input_names_the_field(monkeypatch):
    target = pair_target(2, 16.0, 0.5)
    q = make_flow("realnvp", 2)
    with pytest.raises(ValueError, match="kind"):
        make_flow("x", 2)
    with pytest.raises(ValueError, match="init"):
        make_flow("realnvp", 2, init="zero")
    with pytest.raises(ValueError, match="^r:"):
        make_flow("realnvp", 2, init="offset")
    with pytest.raises(ValueError, match="estimator"):
        train(target, q, steps=1, estimator="total")
    with pytest.raises(ValueError, match="optimizer"):
        train(target, q, steps=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="device"):
        train(target, q, steps=1, device="tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device"):
        train(target, q, steps=1, device="cuda")
    with pytest.raises(ValueError, match="dtype"):
        train(target, q, steps=1, dtype="float16")
    with pytest.raises(ValueError, match="target"):
        train(pair_target(3, 16.0, 0.5), q, steps=1)
    monkeypatch.setitem(sys.modules, "zuko", None)
    with pytest.raises(ImportError, match=r"flowsim\[flows\]"):
        make_flow("realnvp", 2)
