"""Figure: the point-cloud study's losses on the circle, from one broad random start.

Four von Mises components (κ = 5, uniform weights, random means) flow toward four
peaks at 0°, 90°, 180°, 270° (κ = 50) under each loss; top row the final density of
q over the target, bottom row the weights against time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsim import VonMisesMixture, simulate
from flowsim.plotting import plot_circle_density, plot_weights

from paper_figures.common import pyplot, save_figure, save_results

NAME = "circle_collapse"
TITLE = "Circle flows of the point-cloud losses: which keep all four peaks"
LOSSES = (("matched", "trainable"), ("matched", "fixed"), ("matched_bound", "trainable"),
          ("reverse_kl", "trainable"), ("forward_kl", "trainable"))
TARGET = VonMisesMixture(np.radians([0.0, 90.0, 180.0, 270.0]), 50.0)


def generate(out_dir: Path, fast: bool = False) -> Path:
    init = VonMisesMixture(np.random.default_rng(0).uniform(-np.pi, np.pi, 4), 5.0)
    t_max = 1e3 if fast else 1e4
    data = {"target_mu": TARGET.mu, "target_kappa": TARGET.kappa, "target_weights": TARGET.weights}
    for i, (objective, weights) in enumerate(LOSSES):
        traj = simulate(TARGET, init, objective=objective, weights=weights, t_max=t_max, backend="numba")
        ds = traj.to_xarray()
        data[f"time_{i}"] = ds["time"].values
        data[f"weights_{i}"] = ds["weights"].values
        data[f"mu_{i}"] = ds["mu"].values[-1]
        data[f"kappa_{i}"] = ds["kappa"].values[-1]
        data[f"coverage_{i}"] = traj.diagnostics["coverage"]
        data[f"reverse_kl_{i}"] = traj.diagnostics["reverse_kl"]
    return save_results(out_dir, NAME, data)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    target = VonMisesMixture(d["target_mu"], d["target_kappa"], d["target_weights"])
    fig, axes = plt.subplots(2, len(LOSSES), figsize=(3.0 * len(LOSSES), 5.8))
    fig.subplots_adjust(hspace=0.45)
    for i, (objective, weights) in enumerate(LOSSES):
        w_final = d[f"weights_{i}"][-1]
        q = VonMisesMixture(d[f"mu_{i}"], d[f"kappa_{i}"], w_final / w_final.sum())
        top, bottom = axes[0, i], axes[1, i]
        plot_circle_density(top, target, label="target p", color="0.6", linestyle="--")
        plot_circle_density(top, q, label="q at t_max")
        top.set_title(f"{objective}, {weights} weights\ncoverage {int(d[f'coverage_{i}'])}/4, "
                      f"KL(q‖p) = {float(d[f'reverse_kl_{i}']):.3g}")
        plot_weights(bottom, d[f"time_{i}"], d[f"weights_{i}"])
        bottom.set_ylim(1e-4, 1.5)
    axes[0, 0].legend(loc="upper right")
    axes[1, 0].legend(loc="lower left")
    return save_figure(fig, out_dir, NAME)
