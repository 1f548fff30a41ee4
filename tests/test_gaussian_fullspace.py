"""The reduced Gaussian flows against an independent full-space computation.

d = 2: the gradient flow of the mixture KL is integrated directly on the vectors
(nu_1, nu_2 in R^2, logits, log sigma^2) with every expectation by a 2-D tensor
Gauss–Hermite rule (flowsim.families.gaussian.reference.full_space_grad: no Stein's
lemma, no overlaps, the plain reparametrisation / score formulas), then projected to m,
Q, w and compared with `simulate` over t in [0, 30].
"""
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from flowsim.api import simulate
from flowsim.families.gaussian import reference
from flowsim.families.gaussian.mixture import GaussianMixture

N_GH = 64  # per dimension; sgm(alpha xi) with alpha <= 2.5 is resolved to ~1e-9


def full_space_grad(nu, th, s, mu, rho, tau, objective):
    """The reference's tensor-rule gradient (flowsim.families.gaussian.reference) at N_GH."""
    return reference.full_space_grad(nu, th, s, mu, rho, tau, objective, N_GH)


def full_space_flow(nu0, w0, v0, mu, rho, tau, objective, train_w, train_v, t_eval):
    K, d = nu0.shape

    def f(t, z):
        nu = z[:K * d].reshape(K, d)
        gn, gt, gs, _ = full_space_grad(nu, z[K * d:K * d + K], z[-1], mu, rho, tau, objective)
        return np.concatenate([-gn.ravel(), -gt * train_w, [-gs * train_v]])

    th0 = np.log(w0) - np.log(w0).mean()
    z0 = np.concatenate([nu0.ravel(), th0, [math.log(v0)]])
    sol = solve_ivp(f, (0, t_eval[-1]), z0, method="DOP853", t_eval=t_eval, rtol=1e-10, atol=1e-11)
    assert sol.success
    z = sol.y.T
    nu = z[:, :K * d].reshape(-1, K, d)
    u = nu - mu[0]
    m = u @ (mu[1] - mu[0])
    Q = np.einsum("tka,tla->tkl", u, u)
    th = z[:, K * d:K * d + K]
    w = np.exp(th - th.max(1, keepdims=True))
    return m, Q, w / w.sum(1, keepdims=True), np.exp(z[:, -1])


MU = np.array([[0.0, 0.0], [2.2, 0.6]])
NU = np.array([[0.9, -0.7], [1.3, 0.9]])
T_EVAL = np.linspace(0.0, 30.0, 16)


@pytest.mark.parametrize("objective,weights,train_var", [
    ("reverse_kl", "fixed", False),
    ("reverse_kl", "trainable", False),
    ("reverse_kl", "trainable", True),
    ("forward_kl", "trainable", True),
])
def test_d2_full_space_flow(objective, weights, train_var):
    rho = np.array([0.35, 0.65])
    target = GaussianMixture(MU, rho, var=1.0)
    init = GaussianMixture(NU, [0.55, 0.45], var=0.9)
    tr = simulate(target, init, objective=objective, weights=weights, train_var=train_var,
                  t_max=30.0, t_eval=T_EVAL, backend="numba", rtol=1e-10, atol=1e-11)
    assert tr.status_name == "ok"
    sv = tr.problem.family.state_variables(tr.problem, tr.states)
    m_ref, Q_ref, w_ref, v_ref = full_space_flow(NU, init.weights, init.var, MU, rho, 1.0, objective,
                                                 weights == "trainable", train_var, T_EVAL)
    print(objective, weights, train_var, [float(np.max(np.abs(a - b))) for a, b in ((sv["m"][1], m_ref), (sv["Q"][1], Q_ref), (sv["weights"][1], w_ref), (sv["var"][1], v_ref))])
    assert np.max(np.abs(sv["m"][1] - m_ref)) < 1e-6
    assert np.max(np.abs(sv["Q"][1] - Q_ref)) < 1e-6
    assert np.max(np.abs(sv["weights"][1] - w_ref)) < 1e-6
    assert np.max(np.abs(sv["var"][1] - v_ref)) < 1e-6
    # the objective reported along the way is the full-space KL
    _, _, _, L0 = full_space_grad(NU, np.log(init.weights), math.log(init.var), MU, rho, 1.0, objective)
    assert abs(tr.observables.objective[0] - L0) < 1e-9

