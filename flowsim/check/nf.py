"""nf: a normalizing flow (RealNVP, flowsim.training.flows) beside the mixture flow it is
compared with in studies/normalizing_flows.py, on the quickstart's target.

Target pair_target(d, Lambda = 16, rho); the mixture ODE (flowsim.simulate, trainable and
fixed weights) from random_means(2, d, scale=1, seed), the RealNVP from exactly N(0, I_d),
trained by plain SGD (STL) with step ETA for the same time t = ETA * steps. Outcome:
coverage 2 at t (both modes kept).

Rows per (d, rho):
  * "P(both kept)": flow = the ODE's fraction (trainable weights), sim = the RealNVP's,
    sem = the RealNVP's binomial standard error; agree when the 95% Wilson intervals
    overlap. Informational: the two are different models, and the study finds that they
    disagree (the flow starts between the modes, the mixture's components far from both).
  * at rho = 1/2, "RealNVP keeps both modes in every seed" is REQUIRED: from its N(0, I)
    start, midway between two equal modes, the flow's mode masses stay near 1/2 throughout
    (the study: every seed at d = 2 and 8, t = 50; tests/test_training_flows.py: 10/10 at
    Lambda = 36), so a failure means the training or the observables broke.
  * at rho = 0.2, the median final q-mass on the minor mode (informational), beside the
    ODE's.
"""
from __future__ import annotations

import math

import numpy as np

from .core import Context, Row, section_sizes

LAMBDA = 16.0
FAST = dict(dims=(2, 8), rhos=(0.5, 0.2), seeds=3, eta=0.05, steps=200, batch=128, n_eval=1024)
FULL = dict(dims=(2, 8, 32), rhos=(0.5, 0.2), seeds=16, eta=0.05, steps=1000, batch=128, n_eval=2048)


def sizes(ctx: Context, **overrides) -> dict:
    return section_sizes(ctx, "nf", FAST, FULL, **overrides)


def _ode(d, rho, seed, weights, t_max):
    from ..api import simulate
    from ..families.gaussian.mixture import GaussianMixture, pair_target, random_means

    tr = simulate(pair_target(d, LAMBDA, rho), GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5]),
                  objective="reverse_kl", weights=weights, t_max=t_max, backend="numba", rtol=1e-7, atol=1e-9)
    return tr.diagnostics["coverage"] == 2, float(tr.diagnostics["mode_mass"][0])


def _flow(d, rho, seed, s, device):
    from ..diagnostics import coverage
    from ..families.gaussian.mixture import pair_target
    from ..training.flows import make_flow, train

    res = train(pair_target(d, LAMBDA, rho), make_flow("realnvp", d, seed=seed), lr=s["eta"], steps=s["steps"],
                batch=s["batch"], estimator="stl", optimizer="sgd", seed=seed, device=device, n_records=2,
                n_eval=s["n_eval"])
    mm = res.mode_mass[-1]
    return bool(coverage(mm, np.array([rho, 1 - rho])) == 2), float(mm[0])


def run(ctx: Context, **overrides):
    from ..stats import wilson

    s = sizes(ctx, **overrides)
    t_max = s["eta"] * s["steps"]
    seeds = [ctx.settings.seed + i for i in range(s["seeds"])]
    dev = ctx.device.type if hasattr(ctx.device, "type") else str(ctx.device)
    for d in s["dims"]:
        for rho in s["rhos"]:
            tag = f"nf d={d} rho={rho:g} t={t_max:g}"
            ode = [_ode(d, rho, seed, "trainable", t_max) for seed in seeds]
            ode_fixed = [_ode(d, rho, seed, "fixed", t_max) for seed in seeds]
            nf = [_flow(d, rho, seed, s, dev) for seed in seeds]
            n = len(seeds)
            k_ode, k_fix, k_nf = (sum(x[0] for x in runs) for runs in (ode, ode_fixed, nf))
            p_ode, p_nf = k_ode / n, k_nf / n
            lo_o, hi_o = wilson(k_ode, n)
            lo_n, hi_n = wilson(k_nf, n)
            ctx.rows.append(Row(f"{tag}: P(both kept), ODE trainable vs RealNVP", p_ode, p_nf,
                                math.sqrt(max(p_nf * (1 - p_nf), 0.0) / n), bool(lo_n <= hi_o and lo_o <= hi_n),
                                required=False,
                                note=f"informational: different models; ODE fixed weights {k_fix}/{n}, "
                                     f"RealNVP {k_nf}/{n}, ODE trainable {k_ode}/{n}"))
            if rho == 0.5:
                ctx.rows.append(Row(f"{tag}: RealNVP keeps both modes in every seed (from N(0, I))", 1.0, p_nf,
                                    0.0, bool(k_nf == n), required=True,
                                    note="the flow starts midway between two equal modes"))
            else:
                ctx.rows.append(Row(f"{tag}: median q-mass on the minor mode, ODE trainable vs RealNVP",
                                    float(np.median([x[1] for x in ode])), float(np.median([x[1] for x in nf])),
                                    float("nan"), True, required=False,
                                    note=f"informational; rho = {rho:g} is the target's weight, rho/2 the "
                                         "coverage threshold"))
