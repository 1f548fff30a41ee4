"""Figure: P(both modes recovered) against dimension, fixed vs trainable weights.

The study of studies/gaussian_vanishing.py (same geometry and solver), rebuilt from the
public API: reverse KL, Lambda = 16, rho = 1/2, modes at -/+ (sqrt(Lambda)/2) e_1,
initial means random_means(2, d, scale=1, seed), initial weights 1/2. Recovered =
coverage 2 at t_max (flowsim.diagnostics). Error bars: 95% Wilson binomial intervals.
Thin dashed/dotted lines: the same runs at the earlier horizons t = 100, 1000 (the lost
trainable runs are metastable: a dead component keeps drifting slowly and may come back, so
P(recovered) grows with the horizon at moderate d; see docs/findings.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsim import GaussianMixture, log_times, simulate
from flowsim.gaussian import pair_target, random_means
from flowsim.stats import wilson

from paper_figures.common import pyplot, save_figure, save_results

NAME = "vanishing_weight"
TITLE = "Vanishing weight: P(both modes recovered) vs d, fixed vs trainable weights"
DIMS = (2, 8, 32, 128, 512)
LAMBDA = 16.0
RHO = 0.5
MODES = ("fixed", "trainable")


def recovered(d, seed, weights, t_max, horizons=()):
    """(coverage == 2, vanishing_weight, mean_alignment) at t_max for one seed, then
    coverage == 2 at each earlier horizon t (saved times)."""
    target = pair_target(d, LAMBDA, RHO)
    init = GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5])
    tr = simulate(target, init, objective="reverse_kl", weights=weights, t_max=t_max,
                  t_eval=np.union1d(log_times(t_max, per_decade=5, decades=7), horizons),
                  backend="numba", rtol=1e-7, atol=1e-9, settle_tol=1e-7)
    dg = tr.diagnostics
    cov = tr.to_xarray()["coverage"]
    early = [bool(cov.sel(time=t).item() == 2) for t in horizons]
    return (dg["coverage"] == 2, dg["vanishing_weight"], dg["mean_alignment"], *early)


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    dims = (2, 32, 128) if tiny else DIMS
    n_seeds = 3 if tiny else (8 if fast else 32)
    t_max = 1e2 if tiny else (1e3 if fast else 1e4)
    horizons = np.array([t for t in (1e2, 1e3) if t < t_max])
    data = {"dims": np.array(dims), "n_seeds": n_seeds, "t_max": t_max, "Lambda": LAMBDA, "rho": RHO,
            "horizons": horizons}
    for i, wm in enumerate(MODES):
        res = np.array([[recovered(d, s, wm, t_max, horizons) for s in range(n_seeds)] for d in dims])
        data[f"recovered_{i}"] = res[..., 0].sum(axis=1)
        data[f"vanishing_{i}"] = res[..., 1].sum(axis=1)
        data[f"alignment_{i}"] = res[..., 2].sum(axis=1)
        data[f"recovered_h_{i}"] = res[..., 3:].sum(axis=1)   # (dims, horizons)
    params = {"dims": dims, "n_seeds": n_seeds, "t_max": t_max, "horizons": horizons, "Lambda": LAMBDA, "rho": RHO,
              "init": "random_means(2, d, scale=1, seed), weights 1/2", "objective": "reverse_kl",
              "solver": {"backend": "numba", "rtol": 1e-7, "atol": 1e-9, "settle_tol": 1e-7},
              "fast": fast, "tiny": tiny}
    return save_results(out_dir, NAME, data, params)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    dims = d["dims"]
    n = int(d["n_seeds"])
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    handles = []
    for i, (wm, color, shift) in enumerate(zip(MODES, ("C0", "C3"), (0.9, 1.1))):
        k = d[f"recovered_{i}"]
        p = k / n
        lo_hi = np.array([wilson(int(x), n) for x in k])
        h = ax.errorbar(dims * shift, p, yerr=[p - lo_hi[:, 0], lo_hi[:, 1] - p], marker="o", ms=4,
                        capsize=3, color=color, label=f"{wm} weights, t = {float(d['t_max']):g}", zorder=3)
        group = [h]
        for j, (t_h, ls) in reversed(list(enumerate(zip(d["horizons"], ("--", ":"))))):
            (line,) = ax.plot(dims * shift, d[f"recovered_h_{i}"][:, j] / n, ls=ls, lw=1.0, color=color,
                              alpha=0.75, label=f"{wm} weights, t = {float(t_h):g}")
            group.append(line)
        handles.extend(group)
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims)
    ax.set_xticklabels([str(int(x)) for x in dims])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("dimension d")
    ax.set_ylabel("P(both modes recovered)")
    ax.set_title(f"Reverse KL, Λ = {float(d['Lambda']):g}, ρ = {float(d['rho']):g}, {n} seeds per d;\n"
                 "error bars: 95% Wilson intervals (at the last time t)")
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return save_figure(fig, out_dir, NAME)
