"""Figure F2: the reduced ODE against full d-dimensional Monte Carlo VI, at d = 100 and 1000.

The setting of the check's `gauss` section (flowsim/check/gauss.py, gaussian_setup):
target rho N(mu_1, I) + (1 - rho) N(mu_2, I) with |mu_2 - mu_1|^2 = Lambda = 16 along a
random direction, rho = RHO; q starts with nu_1 at 0.3 and nu_2 at 0.7 of the way from
mu_1 to mu_2 plus random orthogonal parts of norm ~1.5, weights 1/2, variance 1;
trainable weights, reverse KL. Lines: the ODE (flowsim.simulate, rtol 1e-10, atol 1e-12,
as the check's flow). Markers: flowsim.training.gaussian_vi.run (plain gradient descent
with step ETA, STL estimator, N draws per component per step) in the full R^d, SEEDS
independent streams of draws from the same start; mean over seeds with a 95% interval of
the mean (1.96 standard errors; most are smaller than the markers). Rows: the overlaps
m_k / Lambda = <nu_k - mu_1, Delta> / Lambda (0 at mu_1, 1 at mu_2), Q_kk / Lambda =
|nu_k - mu_1|^2 / Lambda, the weights w_k, and the exact KL(q || p) of each run's mixture.
Gradient descent is the Euler method of the flow, so the markers carry an O(ETA) bias
besides the noise (the check's `scaling` rows measure it).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowsim import simulate

from paper_figures.common import load_params, pyplot, save_figure, save_results

NAME = "ode_vs_simulation"
TITLE = "ODE against full-d Monte Carlo VI: overlaps, weights and KL at d = 100 and 1000"
DIMS = (100, 1000)
RHO = 0.3
LAMBDA = 16.0
SETUP_SEED = 0


def _sizes(fast, tiny):
    if tiny:
        return dict(eta=0.1, n=8, seeds=2, t_mc=(0.2, 0.4, 0.8), dims=DIMS)
    if fast:
        return dict(eta=0.05, n=32, seeds=8, t_mc=(0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0), dims=DIMS)
    return dict(eta=0.02, n=64, seeds=16, t_mc=(0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0), dims=DIMS)


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    import torch

    from flowsim.check.gauss import gaussian_setup
    from flowsim.training import gaussian_vi

    torch.set_num_threads(1)
    sz = _sizes(fast, tiny)
    t_mc = np.array(sz["t_mc"])
    t_max = float(t_mc[-1])
    t_ode = np.unique(np.concatenate([[0.0], np.geomspace(t_mc[0] / 2, t_max, 80), t_mc]))
    data = {"dims": np.array(sz["dims"]), "t_ode": t_ode, "t_mc": t_mc}
    for i, d in enumerate(sz["dims"]):
        target, init = gaussian_setup(d, RHO, SETUP_SEED, lam=LAMBDA)
        tr = simulate(target, init, objective="reverse_kl", weights="trainable", t_max=t_max, t_eval=t_ode,
                      rtol=1e-10, atol=1e-12)
        ds = tr.to_xarray(max_dim=0)
        Q = ds["Q"].values
        data[f"ode_m_{i}"] = ds["m"].values
        data[f"ode_Q_{i}"] = np.stack([Q[:, 0, 0], Q[:, 1, 1]], axis=-1)
        data[f"ode_w_{i}"] = ds["weights"].values
        data[f"ode_kl_{i}"] = ds["reverse_kl"].values
        rec = gaussian_vi.run(target, init, weights="trainable", lr=sz["eta"], n=sz["n"],
                              t_eval=np.concatenate([[0.0], t_mc]), n_seeds=sz["seeds"], seed=1000 + d,
                              optimizer="gd", estimator="stl", device="cpu")
        v = rec.variables
        Qs = v["Q"]
        series = {"m": v["m"], "Q": np.stack([Qs[..., 0, 0], Qs[..., 1, 1]], axis=-1), "w": v["weights"],
                  "kl": v["reverse_kl"]}
        for name, x in series.items():
            x = np.asarray(x, float)[1:]                         # (T, S, ...) without t = 0
            data[f"mc_{name}_{i}"] = x.mean(axis=1)
            data[f"mc_{name}_se_{i}"] = x.std(axis=1, ddof=1) / math.sqrt(x.shape[1])
    params = dict(sz, rho=RHO, Lambda=LAMBDA, setup="flowsim.check.gauss.gaussian_setup(d, rho, seed=0, lam=16)",
                  ode={"rtol": 1e-10, "atol": 1e-12, "backend": "scipy", "weights": "trainable"},
                  mc="flowsim.training.gaussian_vi.run(optimizer='gd', estimator='stl'), seed = 1000 + d",
                  fast=fast, tiny=tiny)
    return save_results(out_dir, NAME, data, params)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    p = load_params(results)
    lam = float(p["Lambda"])
    dims = d["dims"]
    rows = (("m", "overlap m_k / Λ", lam), ("Q", "Q_kk / Λ = |ν_k − μ₁|² / Λ", lam), ("w", "weight w_k", 1.0),
            ("kl", "KL(q‖p)", 1.0))
    fig, axes = plt.subplots(len(rows), len(dims), figsize=(3.6 * len(dims) + 0.4, 2.0 * len(rows) + 0.6),
                             sharex=True, sharey="row", squeeze=False)
    t_ode, t_mc = d["t_ode"], d["t_mc"]
    keep = t_ode > 0
    z = 1.96
    for c, dim in enumerate(dims):
        for r, (name, label, scale) in enumerate(rows):
            ax = axes[r, c]
            ode = d[f"ode_{name}_{c}"][keep] / scale
            mc, se = d[f"mc_{name}_{c}"] / scale, d[f"mc_{name}_se_{c}"] / scale
            if name == "kl":
                ax.plot(t_ode[keep], ode, color="k", lw=1.3)
                ax.errorbar(t_mc, mc, yerr=z * se, fmt="o", ms=4, mfc="w", mec="k", ecolor="k", capsize=2)
                ax.set_yscale("log")
            else:
                for k in range(2):
                    ax.plot(t_ode[keep], ode[:, k], color=f"C{k}", lw=1.3)
                    ax.errorbar(t_mc, mc[:, k], yerr=z * se[:, k], fmt="o", ms=4, mfc="w", mec=f"C{k}",
                                ecolor=f"C{k}", capsize=2)
            if name == "m":
                for y, lab in ((0.0, "μ₁"), (1.0, "μ₂")):
                    ax.axhline(y, color="0.6", lw=0.8, ls="--")
                    ax.annotate(lab, (1.0, y), xycoords=("axes fraction", "data"), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=8, color="0.4")
            if name == "w":
                ax.axhline(p["rho"], color="0.6", lw=0.8, ls="--")
                ax.axhline(1 - p["rho"], color="0.6", lw=0.8, ls="--")
            if c == 0:
                ax.set_ylabel(label)
            if r == 0:
                ax.set_title(f"d = {int(dim)}")
            if r == len(rows) - 1:
                ax.set_xlabel("gradient-flow time t = η · steps")
            ax.set_xscale("log")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="C0", lw=1.3, label="component 1, ODE"),
               Line2D([], [], color="C0", ls="", marker="o", mfc="w", ms=4, label="component 1, Monte Carlo VI"),
               Line2D([], [], color="C1", lw=1.3, label="component 2, ODE"),
               Line2D([], [], color="C1", ls="", marker="o", mfc="w", ms=4, label="component 2, Monte Carlo VI")]
    fig.legend(handles=handles, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"Reverse KL, trainable weights, Λ = {lam:g}, ρ = {p['rho']:g}: lines the ODE, markers "
                 f"Monte Carlo VI in ℝᵈ (gradient descent η = {p['eta']:g},\n{p['n']} draws per component, "
                 f"mean of {p['seeds']} seeds; bars: 95% interval of the mean, mostly inside the markers; "
                 f"dashed: μ₁, μ₂ and ρ, 1 − ρ)", fontsize=9)
    fig.subplots_adjust(hspace=0.25)
    return save_figure(fig, out_dir, NAME)
