"""The general-K span reduction against the full-space flow in R² (K = M = 3).

The span model's expectations over K − 1 = 2 (or M − 1 = 2) dimensions use a tensor
Gauss–Hermite cubature; here its error is measured against the full-space flow of
flowsim.families.gaussian.reference (a tensor Gauss–Hermite rule on the vectors).
"""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from flowsim.families.gaussian.mixture import GaussianMixture
from flowsim.families.gaussian import span as gaussian_span
from flowsim.api import build_problem, simulate
from flowsim.families.gaussian.reference import full_space_grad

MU = np.array([[0.0, 0.0], [2.0, 0.5], [0.4, 2.1]])
RHO = np.array([0.3, 0.3, 0.4])
NU = np.array([[0.7, -0.6], [1.1, 0.9], [-0.4, 1.2]])
W0 = np.array([0.4, 0.35, 0.25])


@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
def test_cubature_error_converges(objective):
    """Objective error against the full space falls with the nodes per dimension and is
    below 1e-8 at the default (measured: 2.6e-5, 5.2e-7, 1.5e-9 at 10, 20, 40 nodes, reverse KL)."""
    *_, exact = full_space_grad(NU, np.log(W0), 0.0, MU, RHO, 1.0, objective)
    errors = []
    for n in (10, 20, gaussian_span.DEFAULT_N_CUBATURE):
        pr = build_problem(GaussianMixture(MU, RHO), GaussianMixture(NU, W0), objective=objective,
                           weights="trainable", reduction="span", n_cubature=n)
        errors.append(abs(pr.objective(pr.y0) - exact))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-8


def _pairwise(means_q, means_p):
    """Rotation- and origin-free description of a configuration: ‖ν_k − μ_j‖² and ‖ν_k − ν_l‖²."""
    qp = np.sum((means_q[:, None] - means_p[None]) ** 2, -1)
    qq = np.sum((means_q[:, None] - means_q[None]) ** 2, -1)
    return np.concatenate([qp.ravel(), qq.ravel()])


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
def test_span_reduction_three_components_matches_full_space(objective):
    """Weights and all pairwise distances along t ∈ [0, 8] agree to 1e-6 at the default cubature."""
    mu, rho, nu, w0 = MU, RHO, NU, W0
    t_eval = np.linspace(0.0, 8.0, 9)
    tr = simulate(GaussianMixture(mu, rho), GaussianMixture(nu, w0), objective=objective,
                  weights="trainable", t_max=8.0, t_eval=t_eval, backend="numba",
                  rtol=1e-10, atol=1e-11, reduction="span")
    assert tr.status_name == "ok"
    K, d = nu.shape

    def f(t, z):
        gn, gt, _, _ = full_space_grad(z[:K * d].reshape(K, d), z[K * d:], 0.0, mu, rho, 1.0, objective)
        return np.concatenate([-gn.ravel(), -gt])

    z0 = np.concatenate([nu.ravel(), np.log(w0) - np.log(w0).mean()])
    ref = solve_ivp(f, (0, 8.0), z0, method="DOP853", t_eval=t_eval, rtol=1e-10, atol=1e-11).y.T
    worst = 0.0
    for row, y in zip(ref, tr.states):
        q = tr.problem.family.distribution(tr.problem, y)
        p_span = tr.problem.family.target_in_span(tr.problem, y)
        th = row[K * d:]
        w_ref = np.exp(th - th.max()) / np.exp(th - th.max()).sum()
        worst = max(worst, np.max(np.abs(q.weights - w_ref)),
                    np.max(np.abs(_pairwise(q.means, p_span.means)
                                  - _pairwise(row[:K * d].reshape(K, d), mu))))
    assert worst < 1e-6, worst


@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
def test_the_rhs_is_continuous_where_three_means_become_collinear(objective):
    """The cubature drops a principal axis whose eigenvalue falls under EIG_TOL of the
    largest, but keeps n_cubature nodes on every other axis, so the rule does not change
    where the axis leaves: moving the third mean off the line of the other two, through that
    eigenvalue (crossed between 1e-6 and 2e-6 here), changes the RHS without a step (unlike
    a rule that shares its nodes among the axes kept; see the f-divergence cubature)."""
    d = 8
    target_means = np.zeros((2, d))
    target_means[:, 0] = [-2.0, 2.0]
    init_means = np.zeros((3, d))
    init_means[:, 0] = [-1.5, 0.3, 1.8]
    init_means[:, 1] = [0.1, 0.2, 0.3]
    init_means[2, 2] = 0.5
    problem = build_problem(GaussianMixture(target_means, [0.3, 0.7]),
                            GaussianMixture(init_means, [0.2, 0.3, 0.5]),
                            objective=objective, n_cubature=16)
    r = problem.meta["rank"]
    y = problem.y0.copy()
    X = y[:3 * r].reshape(3, r)
    X[2] = X[0] + 1.3 * (X[1] - X[0])
    line = (X[1] - X[0]) / np.linalg.norm(X[1] - X[0])
    off = np.random.default_rng(1).standard_normal(r)
    off -= (off @ line) * line
    direction = np.zeros_like(y)
    direction[2 * r:3 * r] = off / np.linalg.norm(off)
    heights = np.linspace(0.0, 2e-6, 201)
    for h, below in ((heights[0], True), (heights[-1], False)):
        moved = X + h * direction[:3 * r].reshape(3, r)
        lam = np.linalg.eigvalsh((moved - moved[0]) @ (moved - moved[0]).T)
        assert (lam[1] < gaussian_span.EIG_TOL * lam[2]) == below
    values = np.array([problem.rhs(0.0, y + h * direction) for h in heights])
    steps = np.abs(np.diff(values, axis=0)).max(axis=1)
    assert steps.max() < 3 * np.median(steps) + 1e-12
