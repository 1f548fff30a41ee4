"""The reduced RHS against torch autograd of a Monte Carlo KL in the full space, d = 50 and 1000.

For each state, the d-dimensional mixture KL is estimated by Monte Carlo with common
random numbers (reparametrised samples x = nu_k + sigma z for the reverse KL, samples of
p for the forward KL), differentiated by torch autograd with respect to the vectors
nu_k, the logits and log sigma^2, and projected on Delta and u_l to give dm/dt, dQ/dt,
dtheta/dt, ds/dt. The estimate is split into B independent batches; the reduced RHS must
lie within 3 standard errors of the batch mean for every coordinate.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.families.gaussian.mixture import GaussianMixture, random_means  # noqa: E402
from flowsim.families.gaussian import family as gf  # noqa: E402

B, N = 12, 1000


def _log_mix(x, means, logw, var):
    d = x.shape[1]
    sq = (x * x).sum(-1, keepdim=True) - 2.0 * x @ means.T + (means * means).sum(-1)[None]
    a = logw[None] - 0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * var)
    return torch.logsumexp(a, -1)


def mc_flow(mu, rho, tau, nu0, th0, s0, objective, gen):
    """Per-batch (dm, dQ11, dQ12, dQ22, dth1, dth2, ds) estimates, shape (B, 7)."""
    mu_t = torch.tensor(mu)
    lr = torch.log(torch.tensor(rho))
    tau_t = torch.tensor(tau, dtype=torch.float64)
    d = mu.shape[1]
    delta = mu_t[1] - mu_t[0]
    rows = []
    for _ in range(B):
        nu = torch.tensor(nu0, requires_grad=True)
        th = torch.tensor(th0, requires_grad=True)
        s = torch.tensor(s0, requires_grad=True)
        lw = torch.log_softmax(th, 0)
        v = torch.exp(s)
        if objective == "reverse_kl":
            w = torch.exp(lw)
            L = 0.0
            for k in range(2):
                z = torch.randn(N, d, generator=gen, dtype=torch.float64)
                x = nu[k] + torch.sqrt(v) * z
                L = L + w[k] * (_log_mix(x, nu, lw, v) - _log_mix(x, mu_t, lr, tau_t)).mean()
        else:
            L = 0.0
            for j in range(2):
                z = torch.randn(N, d, generator=gen, dtype=torch.float64)
                x = mu_t[j] + torch.sqrt(tau_t) * z
                L = L + torch.exp(lr[j]) * (_log_mix(x, mu_t, lr, tau_t) - _log_mix(x, nu, lw, v)).mean()
        g_nu, g_th, g_s = torch.autograd.grad(L, (nu, th, s))
        u = torch.tensor(nu0) - mu_t[0]
        vel = -g_nu
        dm = vel @ delta
        dQ = vel @ u.T + u @ vel.T
        rows.append(np.r_[dm.numpy(), dQ[0, 0].item(), dQ[0, 1].item(), dQ[1, 1].item(),
                          -g_th.numpy(), -g_s.item()])
    return np.array(rows)


def _states(d, seed):
    rng = np.random.default_rng(seed)
    mu = np.zeros((2, d))
    mu[1] = rng.normal(size=d)
    mu[1] *= 4.0 / np.linalg.norm(mu[1])          # Lambda = 16
    spread = random_means(2, d, scale=1.0, seed=rng)
    close = 0.5 * (mu[0] + mu[1]) + random_means(2, d, scale=1.5 / math.sqrt(d), seed=rng)
    return mu, [spread, close]


@pytest.mark.slow
@pytest.mark.parametrize("d", [50, 1000])
@pytest.mark.parametrize("objective", ["reverse_kl", "forward_kl"])
def test_rhs_matches_torch_monte_carlo(d, objective):
    mu, states = _states(d, seed=d)
    rho = np.array([0.4, 0.6])
    gen = torch.Generator().manual_seed(1234 + d)
    for nu, var in zip(states, (1.0, 0.8)):
        w0 = np.array([0.45, 0.55])
        tgt = GaussianMixture(mu, rho, var=1.0)
        ini = GaussianMixture(nu, w0, var=var)
        P = gf.build(tgt, ini, objective=objective, weights="trainable", train_var=True)
        r = P.rhs(0.0, P.y0)
        ode = np.r_[r[:5], r[5:7], r[7]]
        est = mc_flow(mu, rho, 1.0, nu, P.y0[5:7].copy(), P.y0[7], objective, gen)
        mean = est.mean(0)
        se = est.std(0, ddof=1) / math.sqrt(B)
        z = np.abs(ode - mean) / np.maximum(se, 1e-300)
        print(objective, d, 'max z', float(z.max()), 'max |ode-mc|/|ode|', float(np.max(np.abs(ode - mean)) / np.max(np.abs(ode))))
        assert np.all(z < 3.0), (ode, mean, se, z)
