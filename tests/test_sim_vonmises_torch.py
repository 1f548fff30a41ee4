"""torch von Mises closed forms and circle objectives against independent references."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.training import circle_gd
from flowsim.families.vonmises import torch_losses as V  # noqa: E402
from flowsim.registry import objectives

CIRCLE_OBJECTIVES = tuple(o.name for o in objectives("vonmises"))

T = lambda *a: torch.tensor(a, dtype=torch.float64)  # noqa: E731


@pytest.mark.parametrize("args,ref", [
    ((0, 1, 1, 2), 0.5520980930917163),
    ((0.3, 10, 2.0, 50), 54.78169492150031),
    ((0, 200, 0.05, 100), 0.2215503939738),
    ((1, 0.01, -2, 3), 1.6001823231731866),
])
def test_kl_reference_values(args, ref):
    assert float(V.kl(*T(*args))) == pytest.approx(ref, rel=1e-12)


def test_kl_gradient_matches_closed_form_derivatives():
    from flowsim.families.vonmises.mixture import kl_gradient

    rng = np.random.default_rng(0)
    for _ in range(20):
        mp, mq = rng.uniform(-3, 3, 2)
        kp, kq = rng.uniform(0.1, 80, 2)
        x = torch.tensor([mp, kp, mq, kq], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(V.kl(x[0], x[1], x[2], x[3]), x)
        ref = np.array([float(a) for a in kl_gradient(mp, kp, mq, kq)])
        np.testing.assert_allclose(g.numpy(), ref, rtol=1e-9, atol=1e-11)


def test_mixture_kl_matches_numpy_quadrature():
    from flowsim.families.vonmises.mixture import VonMisesMixture, mixture_kl

    rng = np.random.default_rng(1)
    p = VonMisesMixture(rng.uniform(-3, 3, 3), rng.uniform(1, 40, 3), rng.dirichlet(np.ones(3)))
    q = VonMisesMixture(rng.uniform(-3, 3, 4), rng.uniform(1, 40, 4), rng.dirichlet(np.ones(4)))
    tp = circle_gd.as_target(p)
    tq = circle_gd.as_target(q)
    for a, b, ta, tb in ((p, q, tp, tq), (q, p, tq, tp)):
        n = V.n_nodes(40.0)
        assert float(V.mixture_kl(ta, tb, n)) == pytest.approx(mixture_kl(a, b), rel=1e-9, abs=1e-12)
        assert float(V.mixture_kl(ta, tb, n)) == pytest.approx(float(V.mixture_kl(ta, tb, 2 * n)), abs=1e-12)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 2)])
def test_permutation_matching_equals_linear_sum_assignment(shape):
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(2)
    cost = rng.uniform(0, 10, (200,) + shape)
    P = V.match(torch.tensor(cost)).numpy()
    for c, p in zip(cost, P):
        r, col = linear_sum_assignment(c)
        assert np.sum(p * c) == pytest.approx(c[r, col].sum(), abs=1e-12)
        ref = np.zeros(shape)
        ref[r, col] = 1
        np.testing.assert_array_equal(p, ref)


OBJ = CIRCLE_OBJECTIVES


@pytest.mark.parametrize("objective", OBJ)
@pytest.mark.parametrize("weights", ["trainable", "fixed", "regularised"])
def test_objective_and_gradient_equal_the_circle_flow(objective, weights):
    """Autograd of the torch objective = the ODE side's analytic RHS (independent code);
    regularised: the loss plus the Dirichlet prior (P1) at weight_prior 0.5."""
    from flowsim.api import build_problem
    from flowsim.families.vonmises.mixture import VonMisesMixture

    rng = np.random.default_rng(3)
    for K, M in ((4, 4), (3, 3), (2, 4)):
        tgt = VonMisesMixture(rng.uniform(-3, 3, M), rng.uniform(5, 40, M), rng.dirichlet(np.full(M, 3.0)))
        init = VonMisesMixture(rng.uniform(-3, 3, K), rng.uniform(1, 10, K), rng.dirichlet(np.full(K, 3.0)))
        prior = {"weight_prior": 0.5} if weights == "regularised" else {}
        problem = build_problem(tgt, init, objective=objective, weights=weights, **prior)
        y = torch.tensor(problem.y0)[None]
        p = circle_gd.as_target(tgt)
        n = problem.meta["n_quad"]
        value = float(circle_gd.loss(y, p, objective, weights, n=n, **prior))
        g = circle_gd.gradient(y, p, objective, weights, n=n, **prior)[0].numpy()
        if weights == "fixed":
            g[:K] = 0.0
        # nonsaturating: the torch value adds two sums (E_q and E_p of -log D), the kernel
        # sums once; they differ by rounding (3e-12 relative here)
        rel = 2e-11 if objective == "nonsaturating" else 1e-12
        assert value == pytest.approx(problem.objective(problem.y0), rel=rel, abs=1e-13)
        np.testing.assert_allclose(-g, problem.rhs(0.0, problem.y0), rtol=1e-10, atol=1e-12)


def test_matched_bound_is_an_upper_bound_on_the_mixture_kl():
    rng = np.random.default_rng(4)
    B, K = 64, 4
    q = (torch.log(torch.tensor(rng.dirichlet(np.ones(K), B))), torch.tensor(rng.uniform(-3, 3, (B, K))),
         torch.tensor(rng.uniform(0.5, 60, (B, K))))
    p = (torch.log(torch.tensor(rng.dirichlet(np.ones(K), B))), torch.tensor(rng.uniform(-3, 3, (B, K))),
         torch.tensor(rng.uniform(0.5, 60, (B, K))))
    bound = V.objective("matched_bound", q, p)
    exact = V.mixture_kl(q, p, 2048)
    assert torch.all(bound >= exact - 1e-10)


def test_replicator_identity_for_the_weights():
    """dL/dz_j = w_j (c_j - L) for the matched loss (M1)."""
    rng = np.random.default_rng(5)
    y = torch.tensor(np.r_[rng.normal(size=4), rng.uniform(-3, 3, 4), np.log(rng.uniform(1, 9, 4))])[None]
    p = circle_gd.as_target((np.full(4, 0.25), np.arange(4) * np.pi / 2, np.full(4, 20.0)))
    g = circle_gd.gradient(y, p, "matched")[0, :4]
    logw, mu, kappa = circle_gd.unpack(y)
    cost = V.cost_matrix((logw, mu, kappa), p)
    c = (V.match(cost) * cost).sum(-1)[0]
    w = torch.exp(logw[0])
    L = torch.sum(w * c)
    torch.testing.assert_close(g, w * (c - L), rtol=1e-12, atol=1e-14)
