"""Figure: one d = 128 random start under reverse KL, fixed vs trainable weights.

Target rho N(mu_1, I) + (1 - rho) N(mu_2, I), mu_1,2 = -/+ (sqrt(Lambda)/2) e_1, Lambda = 16,
rho = 1/2; initial means random_means(2, 128, scale=1, seed) (as in
studies/gaussian_vanishing.py), initial weights 1/2. Rows: the overlaps m_k / Lambda
(0 at mu_1, 1 at mu_2), Q_kk / Lambda (= |nu_k - mu_1|^2 / Lambda) and the weights, against
log time. Left: fixed weights (both modes recovered); right: trainable weights, where one
weight dies (w_k < 1e-3, dotted line) while its mean is still far from every mode, so the
mean freezes: vanishing weight. The seed is the first one (from 0) whose trainable run ends
in vanishing_weight.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowsim import GaussianMixture, simulate
from flowsim.diagnostics import EPS_WEIGHT
from flowsim.gaussian import random_means
from flowsim import log_times

from paper_figures.common import pyplot, save_figure, save_results

NAME = "gaussian_flow"
TITLE = "Gaussian flow at d = 128: fixed weights recover both modes, trainable weights vanish"
D = 128
LAMBDA = 16.0
RHO = 0.5
MODES = ("fixed", "trainable")


def _target():
    mu = np.zeros((2, D))
    mu[0, 0], mu[1, 0] = -0.5 * math.sqrt(LAMBDA), 0.5 * math.sqrt(LAMBDA)
    return GaussianMixture(mu, [RHO, 1.0 - RHO])


def _run(seed, weights, t_max):
    init = GaussianMixture(random_means(2, D, scale=1.0, seed=seed), [0.5, 0.5])
    return simulate(_target(), init, objective="reverse_kl", weights=weights, t_max=t_max,
                    t_eval=log_times(t_max, per_decade=20, decades=7), backend="numba",
                    rtol=1e-7, atol=1e-9)


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    t_max = 1e2 if tiny else (1e3 if fast else 1e4)
    max_seed = 4 if tiny else 32
    seed, trajs = None, {}
    for s in range(max_seed):
        tr = _run(s, "trainable", t_max)
        if tr.diagnostics["vanishing_weight"] or s == max_seed - 1:
            seed, trajs["trainable"] = s, tr
            break
    trajs["fixed"] = _run(seed, "fixed", t_max)
    data = {"seed": seed, "d": D, "Lambda": LAMBDA, "rho": RHO, "t_max": t_max}
    for i, wm in enumerate(MODES):
        ds = trajs[wm].to_xarray()
        dg = trajs[wm].diagnostics
        data[f"time_{i}"] = ds["time"].values
        data[f"m_{i}"] = ds["m"].values
        data[f"Qkk_{i}"] = np.stack([ds["Q"].values[:, 0, 0], ds["Q"].values[:, 1, 1]], axis=-1)
        data[f"weights_{i}"] = ds["weights"].values
        data[f"distance_{i}"] = ds["distance"].values
        data[f"coverage_{i}"] = dg["coverage"]
        data[f"vanishing_{i}"] = dg["vanishing_weight"]
        data[f"reverse_kl_{i}"] = dg["reverse_kl"]
    params = {"d": D, "Lambda": LAMBDA, "rho": RHO, "t_max": t_max, "seed": seed,
              "seed_rule": f"first seed in 0..{max_seed - 1} whose trainable run ends in vanishing_weight",
              "init": "random_means(2, d, scale=1, seed), weights 1/2, variance 1",
              "solver": {"backend": "numba", "rtol": 1e-7, "atol": 1e-9}, "fast": fast, "tiny": tiny}
    return save_results(out_dir, NAME, data, params)


def _first_below(t, w, level):
    idx = np.nonzero(w < level)[0]
    return float(t[idx[0]]) if idx.size else None


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    Lam = float(d["Lambda"])
    fig, axes = plt.subplots(3, 2, figsize=(7.5, 7.0), sharex=True, sharey="row")
    colors = ("C0", "C1")
    for i, wm in enumerate(MODES):
        t = d[f"time_{i}"]
        keep = t > 0
        t = t[keep]
        m = d[f"m_{i}"][keep] / Lam
        Q = d[f"Qkk_{i}"][keep] / Lam
        w = d[f"weights_{i}"][keep]
        r = d[f"distance_{i}"][keep]
        ax_m, ax_q, ax_w = axes[:, i]
        for k in range(2):
            ax_m.plot(t, m[:, k], color=colors[k], label=f"component {k + 1}")
            ax_q.plot(t, Q[:, k], color=colors[k])
            ax_w.plot(t, w[:, k], color=colors[k])
        for y, lab in ((0.0, "μ₁"), (1.0, "μ₂")):
            for ax in (ax_m, ax_q):
                ax.axhline(y, color="0.5", lw=0.8, ls="--")
                if i == len(MODES) - 1:
                    ax.annotate(lab, (1.0, y), xycoords=("axes fraction", "data"), xytext=(3, 0),
                                textcoords="offset points", va="center", fontsize=8, color="0.4")
        ax_w.axhline(EPS_WEIGHT, color="0.5", lw=0.8, ls=":")
        verdict = "vanishing weight" if bool(d[f"vanishing_{i}"]) else f"coverage {int(d[f'coverage_{i}'])}/2"
        ax_m.set_title(f"{wm} weights: {verdict},\nKL(q‖p) = {float(d[f'reverse_kl_{i}']):.3g}")
        if wm == "trainable":
            k_dead = int(np.argmin(w[-1]))
            t_w = _first_below(t, w[:, k_dead], EPS_WEIGHT)
            if t_w is not None:
                for ax in (ax_m, ax_q, ax_w):
                    ax.axvline(t_w, color=colors[k_dead], lw=0.8, ls=":")
                ax_w.text(0.03, 0.05, f"w{k_dead + 1} < 10⁻³ at t = {t_w:.3g} (dotted);\nat t = {t[-1]:g} its "
                          f"mean is still\n{r[-1, k_dead]:.1f} σ* from a mode", transform=ax_w.transAxes,
                          fontsize=8, va="bottom")
        elif np.ptp(w) < 1e-12:
            ax_w.text(0.5, 0.62, "both weights fixed at ½", transform=ax_w.transAxes, ha="center", fontsize=8,
                      color="0.3")
        ax_w.set_yscale("log")
        ax_w.set_xscale("log")
        ax_w.set_xlabel("gradient-flow time t")
        ax_w.set_ylim(max(1e-8, float(np.min(d[f"weights_{1}"][1:])) / 3), 2.0)
    axes[0, 0].set_ylabel("m_k / Λ")
    axes[1, 0].set_ylabel("Q_kk / Λ = |ν_k − μ₁|² / Λ")
    axes[2, 0].set_ylabel("weight w_k")
    axes[0, 0].legend(loc="center left", fontsize=8)
    fig.suptitle(f"Reverse KL, d = {int(d['d'])}, Λ = {Lam:g}, ρ = {float(d['rho']):g}, "
                 f"random_means seed {int(d['seed'])}")
    return save_figure(fig, out_dir, NAME)
