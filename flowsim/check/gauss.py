"""gauss: Monte Carlo reparameterised VI (flowsim.training.gaussian_vi, plain GD, STL estimator)
against the Gaussian flow, d in {100, 1000}, rho in {0.5, 0.3}, every weight mode:
m_k, Q_kl, w_1 at 5 log-spaced times; a row shows the time with the largest |gap| / SE and
agrees when every time is within 3 SE of the eta -> 0 extrapolation. Final coverage of the
two side by side. The weights also run "regularised" (the Dirichlet prior of
Settings.weight_prior, docs/derivations.md P1)."""
from __future__ import annotations

import math

import numpy as np

from .core import Context, Row, extrapolated_row, weight_options


def gaussian_setup(d: int, rho: float, seed: int, lam: float = 16.0, spread: float = 1.5):
    """Target rho N(mu_1, I) + (1 - rho) N(mu_2, I), |mu_2 - mu_1|^2 = lam along a random
    direction; q starts with nu_1 at 0.3, nu_2 at 0.7 of the way from mu_1 to mu_2, plus
    random orthogonal parts of norm ~ spread, equal weights, var 1 (= the target's)."""
    from ..families.gaussian.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    mu = np.stack([np.zeros(d), math.sqrt(lam) * u])
    g = rng.standard_normal((2, d)) * spread / math.sqrt(d)
    nu = np.stack([mu[0] + 0.3 * (mu[1] - mu[0]) + g[0], mu[0] + 0.7 * (mu[1] - mu[0]) + g[1]])
    return GaussianMixture(mu, [rho, 1 - rho], 1.0), GaussianMixture(nu, [0.5, 0.5], 1.0)


def _flow_gaussian(target, init, weights, t_eval, **prior):
    from ..api import simulate

    tr = simulate(target, init, objective="reverse_kl", weights=weights, t_max=float(t_eval[-1]),
                  t_eval=t_eval, rtol=1e-10, atol=1e-12, **prior)
    ds = tr.to_xarray()
    return {"m": ds["m"].values, "Q": ds["Q"].values, "weights": ds["weights"].values,
            "coverage": tr.diagnostics["coverage"]}


def _series(rec_or_flow, name):
    """{label: (T,) or (T, S)} of the compared quantities m_1, m_2, Q_11, Q_12, Q_22, w_1."""
    get = rec_or_flow if isinstance(rec_or_flow, dict) else rec_or_flow.variables
    m, Q, w = get["m"], get["Q"], get["weights"]
    return {"m_1": m[..., 0], "m_2": m[..., 1], "Q_11": Q[..., 0, 0], "Q_12": Q[..., 0, 1],
            "Q_22": Q[..., 1, 1], "w_1": w[..., 0]}


GAUSS_TIMES = (0.4, 1.2, 2.4, 4.8, 10.0)   # ~log-spaced, multiples of every step used


def run(ctx: Context):
    """Rows per (d, rho, weights, quantity): flow vs simulation at step eta (mean ± SE over
    seeds). Agreement is judged on the eta -> 0 Richardson value 2 sim(eta) - sim(2 eta)
    (± its SE): plain GD is Euler, so sim(eta) carries an O(eta) bias that the scaling rows
    measure; removing it leaves Monte Carlo error only, which must be within 3 SE."""
    from ..training import gaussian_vi

    s = ctx.settings
    times = np.array(GAUSS_TIMES)
    t_eval = np.concatenate([[0.0], times])
    for d in s.gauss_dims:
        for rho in s.gauss_rhos:
            target, init = gaussian_setup(d, rho, s.seed)
            for weights in s.weight_modes:
                tag = f"gauss d={d} rho={rho} {weights}"
                prior = weight_options(weights, s)
                flow = _flow_gaussian(target, init, weights, t_eval, **prior)
                recs = [gaussian_vi.run(target, init, weights=weights, lr=lr, n=s.gauss_n,
                                        t_eval=t_eval, n_seeds=s.gauss_seeds, seed=s.seed + d + j,
                                        device=ctx.device, **prior)
                        for j, lr in enumerate((s.gauss_lr, 2 * s.gauss_lr))]
                fs = _series(flow, "flow")
                ss, s2 = _series(recs[0], "sim"), _series(recs[1], "sim")
                for q in fs:
                    f = fs[q][1:]
                    ctx.rows.append(extrapolated_row(f"{tag}: {q}", times, f, ss[q][1:], s2[q][1:]))
                cov = np.array([recs[0].diagnostics(k)["coverage"] for k in range(recs[0].n_runs)], float)
                ctx.rows.append(Row(f"{tag}: final coverage", flow["coverage"], cov.mean(),
                                    cov.std(ddof=1) / math.sqrt(cov.size) if cov.size > 1 else 0.0,
                                    bool(abs(cov.mean() - flow["coverage"]) < 0.5)))
