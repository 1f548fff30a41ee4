"""One matplotlib style and the standard flowsim plots.

    use_style()                          the house style (applied by every plot here)
    plot_circle_density(ax, mixture)     a von Mises mixture as a density on (−π, π]
    plot_weights(ax, time, weights)      weights against log time
    plot_phase(ax, x, y, values)         a phase diagram of one diagnostic over two axes
"""
from __future__ import annotations

import numpy as np

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "font.size": 9,
    "axes.titlesize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.4,
}


def use_style():
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def plot_circle_density(ax, mixture, label=None, n=1024, **kwargs):
    """Density of a VonMisesMixture over θ ∈ (−π, π], in degrees."""
    theta = np.linspace(-np.pi, np.pi, n)
    ax.plot(np.degrees(theta), mixture.pdf(theta), label=label, **kwargs)
    ax.set_xlabel("θ (degrees)")
    ax.set_xlim(-180, 180)
    ax.set_xticks([-180, -90, 0, 90, 180])


def plot_weights(ax, time, weights, title=None):
    """Each component's weight against log time; t = 0 is dropped."""
    keep = time > 0
    for k in range(weights.shape[1]):
        ax.plot(time[keep], weights[keep, k], label=f"w{k + 1}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("gradient-flow time t")
    ax.set_ylabel("weight")
    if title:
        ax.set_title(title)


def plot_phase(ax, x, y, values, xlabel, ylabel, label, cmap="viridis"):
    """Phase diagram: values[i, j] at (x[i], y[j]) as a colour map with a colour bar."""
    values = np.asarray(values, dtype=float)
    mesh = ax.pcolormesh(x, y, values.T, shading="nearest", cmap=cmap)
    ax.figure.colorbar(mesh, ax=ax, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return mesh
