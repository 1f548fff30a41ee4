"""Figure: the point-cloud study's losses on the circle, from one broad random start.

Four von Mises components (kappa = 5, uniform weights, random means) flow toward four
peaks at 0, 90, 180 and 270 degrees (kappa = 50) under each loss; top row the final
density of q over the target, bottom row the weights against time (log-log).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsim import VonMisesMixture, simulate
from flowsim.plotting import plot_circle_density

from paper_figures.common import load_params, pyplot, save_figure, save_results

NAME = "circle_collapse"
TITLE = "Circle flows of the point-cloud losses: which keep all four peaks"
LOSSES = (("matched", "trainable"), ("matched", "fixed"), ("matched_bound", "trainable"),
          ("reverse_kl", "trainable"), ("forward_kl", "trainable"))
LOSS_NAMES = {"matched": "matched", "matched_bound": "matched bound", "reverse_kl": "reverse KL",
              "forward_kl": "forward KL"}
TARGET = VonMisesMixture(np.radians([0.0, 90.0, 180.0, 270.0]), 50.0)
INIT_KAPPA = 5.0
INIT_SEED = 0


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    init = VonMisesMixture(np.random.default_rng(INIT_SEED).uniform(-np.pi, np.pi, 4), INIT_KAPPA)
    t_max = 10.0 if tiny else (1e3 if fast else 1e4)
    data = {"target_mu": TARGET.mu, "target_kappa": TARGET.kappa, "target_weights": TARGET.weights,
            "init_mu": init.mu}
    for i, (objective, weights) in enumerate(LOSSES):
        traj = simulate(TARGET, init, objective=objective, weights=weights, t_max=t_max, backend="numba")
        ds = traj.to_xarray()
        data[f"time_{i}"] = ds["time"].values
        data[f"weights_{i}"] = ds["weights"].values
        data[f"mu_{i}"] = ds["mu"].values[-1]
        data[f"kappa_{i}"] = ds["kappa"].values[-1]
        data[f"coverage_{i}"] = traj.diagnostics["coverage"]
        data[f"reverse_kl_{i}"] = traj.diagnostics["reverse_kl"]
    params = {"losses": LOSSES, "t_max": t_max, "target_deg": [0, 90, 180, 270], "target_kappa": 50.0,
              "init": f"4 means uniform on the circle from numpy default_rng({INIT_SEED}), kappa {INIT_KAPPA:g}, "
                      "uniform weights", "backend": "numba", "fast": fast, "tiny": tiny}
    return save_results(out_dir, NAME, data, params)


def _kl_text(kl):
    return "< 10⁻⁴" if kl < 1e-4 else f"= {kl:.3g}"


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    p = load_params(results)
    target = VonMisesMixture(d["target_mu"], d["target_kappa"], d["target_weights"])
    fig, axes = plt.subplots(2, len(LOSSES), figsize=(3.0 * len(LOSSES), 5.6), sharey="row")
    fig.subplots_adjust(hspace=0.55, wspace=0.22)
    for i, (objective, weights) in enumerate(LOSSES):
        w_final = d[f"weights_{i}"][-1]
        q = VonMisesMixture(d[f"mu_{i}"], d[f"kappa_{i}"], w_final / w_final.sum())
        top, bottom = axes[0, i], axes[1, i]
        plot_circle_density(top, target, label="target p", color="0.55", linestyle="--", lw=1.6)
        plot_circle_density(top, q, label=f"q at t = {p['t_max']:g}", color="C0", lw=1.2)
        top.set_xticks([-180, -90, 0, 90, 180])
        top.set_xticklabels(["−180", "−90", "0", "90", "180"])
        top.set_title(f"{LOSS_NAMES[objective]}, {weights} weights\ncoverage {int(d[f'coverage_{i}'])}/4, "
                      f"KL(q‖p) {_kl_text(float(d[f'reverse_kl_{i}']))}")
        t = d[f"time_{i}"]
        keep = t > 0
        W = d[f"weights_{i}"][keep]
        for k in range(W.shape[1]):
            bottom.plot(t[keep], W[:, k], color=f"C{k + 1}", label=f"w{k + 1}")
        bottom.set_xscale("log")
        bottom.set_yscale("log")
        bottom.set_ylim(1e-4, 1.5)
        bottom.set_xlabel("gradient-flow time t")
        if np.ptp(W) < 1e-12:
            bottom.text(0.5, 0.62, "all four weights\nfixed at ¼", transform=bottom.transAxes, ha="center",
                        fontsize=8, color="0.3")
    axes[0, 0].set_ylabel("density on the circle")
    axes[1, 0].set_ylabel("weight w_k")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.975), fontsize=8)
    axes[1, 0].legend(loc="lower left", ncol=2, fontsize=8)
    fig.suptitle("Four von Mises components (κ = 5, random means, weights ¼) toward four peaks at 0°, 90°, "
                 "180°, 270° (κ = 50)", y=1.05)
    return save_figure(fig, out_dir, NAME)
