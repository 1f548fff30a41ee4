"""divergences: Monte Carlo gradient descent on the f-divergence torch losses
(flowsim.training.fdiv_vi, plain GD, pathwise gradients) against the Gaussian f-divergence
flows (flowsim.families.gaussian.objectives.fdivergence), in d = 100: every Gaussian
objective whose `check` is "divergences" (js, nonsaturating, chi2, hellinger, alpha at
α = 0.5, and α = 1.5 outside --fast), from the gauss section's start (target Λ = 16,
ρ = 0.5, q between the modes with random orthogonal parts, v = τ = 1, trainable weights;
χ² and α > 1 start nearer the modes, `START`).

Rows per (objective, quantity) for m_1, m_2, Q_11, Q_12, Q_22, w_1: the time with the
largest |gap| / SE; a row agrees when at every time the flow is within 3 SE of the η → 0
Richardson value 2 sim(η) − sim(2η) (± its SE), as in the gauss section: plain GD is Euler,
and the extrapolation removes its O(η) bias, leaving Monte Carlo error.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .core import Context, extrapolated_row

# sizes: full and --fast (ctx.settings.fast); the flow's cubature is n_cubature per axis
SETTINGS = {
    False: {"dims": (100,), "rhos": (0.5, 0.3), "lr": 0.02, "n": 64, "seeds": 16,
            "times": (0.4, 1.2, 2.4, 4.8), "alphas": (0.5, 1.5), "n_cubature": 32},
    True: {"dims": (100,), "rhos": (0.5,), "lr": 0.05, "n": 32, "seeds": 16,
           "times": (0.4, 1.2, 2.4, 4.8), "alphas": (0.5,), "n_cubature": 20},
}
# where q starts: the components at these fractions of the way from mu_1 to mu_2, plus
# random orthogonal parts of norm ~ spread. chi^2 (and alpha > 1) start closer: their
# Monte Carlo gradients are heavy-tailed (E_q[u^4] ~ exp(6 |nu - mu|^2 / tau))
START = {"default": ((0.3, 0.7), 1.5), "chi2": ((0.15, 0.85), 0.5), "alpha>1": ((0.15, 0.85), 0.5)}


def setup(d: int, rho: float, seed: int, where=(0.3, 0.7), spread: float = 1.5, lam: float = 16.0):
    """Target rho N(mu_1, I) + (1 - rho) N(mu_2, I), |mu_2 - mu_1|^2 = lam along a random
    direction; q's means at `where` of the way from mu_1 to mu_2 plus random orthogonal
    parts of norm ~ spread, equal weights, var 1 (the gauss section's start for the default)."""
    from ..families.gaussian.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    mu = np.stack([np.zeros(d), math.sqrt(lam) * u])
    g = rng.standard_normal((2, d)) * spread / math.sqrt(d)
    nu = np.stack([mu[0] + f * (mu[1] - mu[0]) + g[k] for k, f in enumerate(where)])
    return GaussianMixture(mu, [rho, 1 - rho], 1.0), GaussianMixture(nu, [0.5, 0.5], 1.0)


# step and batch per objective (relative to the settings): the Monte Carlo gradients of χ²
# and of α = 0.5 (= 4 H², four times Hellinger's) are large and heavy-tailed, and plain GD
# at the default step throws some seeds far off
LR_SCALE = {"chi2": 0.1, "alpha": 0.25}
N_SCALE = {"chi2": 4, "alpha": 2}
TIMES_SCALE = {"chi2": 0.25}


def _start(name, alpha):
    if name == "chi2":
        return START["chi2"]
    if name == "alpha" and alpha is not None and alpha > 1.0:
        return START["alpha>1"]
    return START["default"]


def objectives():
    """The Gaussian objectives this section checks (their `check` is "divergences")."""
    from ..registry import objectives as registered

    return [o.name for o in registered("gaussian") if o.check == "divergences"]


def _cases(cfg):
    for name in objectives():
        for a in (cfg["alphas"] if name == "alpha" else (None,)):
            yield name, a


def flow_series(target, init, name, alpha, t_eval, n_cubature):
    """m_1, m_2, Q_11, Q_12, Q_22, w_1 of the flow at t_eval (span reduction, DOPRI5)."""
    from ..api import build_problem
    from ..integrate import integrate

    options = {"n_cubature": n_cubature, **({} if alpha is None else {"alpha": alpha})}
    prob = build_problem(target, init, objective=name, weights="trainable", **options)
    res = integrate(prob.model.rhs, prob.y0, prob.params, t_eval, t_max=float(t_eval[-1]),
                    method="dopri5", rtol=1e-9, atol=1e-11)
    var = prob.family.state_variables(prob, res.states)
    return _series({"m": var["m"][1], "Q": var["Q"][1], "weights": var["weights"][1]}), int(res.status)


def _series(get):
    m, Q, w = get["m"], get["Q"], get["weights"]
    return {"m_1": m[..., 0], "m_2": m[..., 1], "Q_11": Q[..., 0, 0], "Q_12": Q[..., 0, 1],
            "Q_22": Q[..., 1, 1], "w_1": w[..., 0]}


def run(ctx: Context):
    from ..training import fdiv_vi

    cfg = SETTINGS[bool(ctx.settings.fast)]
    seed = ctx.settings.seed
    for d in cfg["dims"]:
        for rho in cfg["rhos"]:
            for name, alpha in _cases(cfg):
                where, spread = _start(name, alpha)
                target, init = setup(d, rho, seed, where, spread)
                times = np.array(cfg["times"]) * TIMES_SCALE.get(name, 1.0)
                t_eval = np.concatenate([[0.0], times])
                lr = cfg["lr"] * LR_SCALE.get(name, 1.0)
                n = cfg["n"] * N_SCALE.get(name, 1)
                tag = f"divergences {name}{'' if alpha is None else f' a={alpha:g}'} d={d} rho={rho}"
                flow, status = flow_series(target, init, name, alpha, t_eval, cfg["n_cubature"])
                recs = [fdiv_vi.run(target, init, objective=name, lr=eta, n=n, t_eval=t_eval,
                                    n_seeds=cfg["seeds"], seed=seed + d + 7 * j, alpha=alpha,
                                    device=ctx.device)
                        for j, eta in enumerate((lr, 2 * lr))]
                s1, s2 = _series(recs[0].variables), _series(recs[1].variables)
                for q in flow:
                    f = flow[q][1:]
                    row = extrapolated_row(f"{tag}: {q}", times, f, s1[q][1:], s2[q][1:])
                    ctx.rows.append(dataclasses.replace(
                        row, agree=bool(status == 0 and np.all(np.isfinite(f)) and row.agree)))
