"""Figure: mean alignment with fixed weights, outcome map over the initial projections.

The setting of studies/gaussian_alignment.py, rebuilt from the public API: target
rho N(0, I) + (1 - rho) N(sqrt(Lambda) e_1, I) in d = 3, rho = 1/2, fixed weights 1/2;
component k starts at nu_k = (m_k/Lambda) sqrt(Lambda) e_1 +/- 0.5 e_2 (opposite orthogonal
offsets, so the components are distinct), reverse KL up to t_max = 2000. The m_2 grid is
staggered by half a cell: starts with m_1 = m_2 exactly lie on an invariant manifold of the
flow (the mirror symmetry e_2 -> -e_2 keeps m_1 = m_2), where the components stay aligned;
at Lambda = 16 a 1e-12 asymmetry already splits them, so those cells would show round-off,
not the generic outcome. Each cell is
the outcome at t_max (flowsim.diagnostics): both modes recovered (coverage 2), mean
alignment, or other. Drawn: the one-component basin boundary m* = Lambda/2 +
log(rho/(1 - rho)) (docs/derivations.md, R1) on both axes; at large separation collapse happens iff
both m_k(0) lie on the same side of it, at Lambda = 16 the repulsion rescues the
off-diagonal starts.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowsim import GaussianMixture, simulate

from paper_figures.common import pyplot, save_figure, save_results

NAME = "mean_alignment"
TITLE = "Mean alignment (fixed weights): outcome over m1(0)/Λ × m2(0)/Λ at Λ = 16 and 100"
LAMBDAS = (16.0, 100.0)
RHO = 0.5
OFFSET = 0.5
T_MAX = 2000.0
OUTCOMES = ("both modes recovered", "mean alignment", "other")


def boundary(Lam, rho=RHO):
    """m* / Lambda with m* = Lambda/2 + log(rho/(1 - rho)) (docs/derivations.md, R1)."""
    return 0.5 + math.log(rho / (1.0 - rho)) / Lam


def outcome_map(Lam, grid, grid2=None, rho=RHO, t_max=T_MAX):
    """codes[i, j] (0 recovered, 1 mean alignment, 2 other) and final KL(q||p) at
    m_1(0)/Lambda = grid[i], m_2(0)/Lambda = grid2[j] (default grid2 = grid)."""
    grid2 = grid if grid2 is None else grid2
    s = math.sqrt(Lam)
    target = GaussianMixture(np.array([[0.0, 0.0, 0.0], [s, 0.0, 0.0]]), [rho, 1.0 - rho])
    t_eval = np.r_[0.0, np.geomspace(1e-2, t_max, 40)]
    codes = np.zeros((len(grid), len(grid2)), dtype=int)
    kl = np.zeros((len(grid), len(grid2)))
    for i, a in enumerate(grid):
        for j, b in enumerate(grid2):
            nu = np.array([[a * s, OFFSET, 0.0], [b * s, -OFFSET, 0.0]])
            tr = simulate(target, GaussianMixture(nu, [0.5, 0.5]), objective="reverse_kl",
                          weights="fixed", t_max=t_max, t_eval=t_eval, backend="numba",
                          settle_tol=1e-9)
            dg = tr.diagnostics
            codes[i, j] = 0 if dg["coverage"] == 2 else (1 if dg["mean_alignment"] else 2)
            kl[i, j] = dg["reverse_kl"]
    return codes, kl


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    n = 5 if tiny else (13 if fast else 31)
    grid = np.linspace(-0.25, 1.25, n)
    grid2 = grid + 0.5 * (grid[1] - grid[0])   # staggered: no cell on the invariant diagonal m_1 = m_2
    t_max = 200.0 if tiny else T_MAX
    data = {"grid": grid, "grid2": grid2, "Lambdas": np.array(LAMBDAS), "rho": RHO, "t_max": t_max}
    for i, Lam in enumerate(LAMBDAS):
        codes, kl = outcome_map(Lam, grid, grid2, t_max=t_max)
        data[f"codes_{i}"] = codes
        data[f"kl_{i}"] = kl
    params = {"Lambdas": LAMBDAS, "rho": RHO, "d": 3, "offset": OFFSET, "t_max": t_max, "grid_points": n,
              "weights": "fixed 1/2", "settle_tol": 1e-9, "backend": "numba", "fast": fast, "tiny": tiny}
    return save_results(out_dir, NAME, data, params)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    d = np.load(results)
    grid, grid2 = d["grid"], d["grid2"]
    rho = float(d["rho"])
    colors = ("#8fd18f", "#e07b6a", "#bbbbbb")
    cmap = ListedColormap(colors)
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N)
    lams = d["Lambdas"]
    fig, axes = plt.subplots(1, len(lams), figsize=(4.0 * len(lams), 3.8), squeeze=False)
    fig.subplots_adjust(wspace=0.35)
    for i, Lam in enumerate(lams):
        ax = axes[0, i]
        codes = d[f"codes_{i}"]
        ax.pcolormesh(grid, grid2, codes.T, shading="nearest", cmap=cmap, norm=norm)
        lim = (min(grid[0], grid2[0]), max(grid[-1], grid2[-1]))
        ax.plot(lim, lim, color="0.3", lw=0.8, ls=":")
        b = boundary(float(Lam), rho)
        ax.axvline(b, color="k", lw=1.0, ls="--")
        ax.axhline(b, color="k", lw=1.0, ls="--")
        kl_al = d[f"kl_{i}"][codes == 1]
        note = f", aligned KL = {np.median(kl_al):.3f}" if kl_al.size else ""
        ax.set_title(f"Λ = {float(Lam):g}: {np.mean(codes == 0):.0%} recovered{note}")
        ax.set_xlabel("m₁(0) / Λ")
        ax.set_ylabel("m₂(0) / Λ")
        ax.set_aspect("equal")
        ax.grid(False)
    present = [k for k in range(len(OUTCOMES)) if any(np.any(d[f"codes_{i}"] == k) for i in range(len(lams)))]
    handles = [Patch(color=colors[k], label=OUTCOMES[k]) for k in present]
    handles.append(plt.Line2D([], [], color="k", ls="--", label="m = Λ/2 + log(ρ/(1−ρ))"))
    handles.append(plt.Line2D([], [], color="0.3", ls=":", label="m₁ = m₂ (invariant: exactly symmetric "
                              "starts stay aligned)"))
    ncol = 2
    rows = -(-len(handles) // ncol)
    order = [handles[r * ncol + c] for c in range(ncol) for r in range(rows) if r * ncol + c < len(handles)]
    fig.legend(handles=order, loc="upper center", ncol=ncol, bbox_to_anchor=(0.5, 0.02))
    fig.suptitle(f"Fixed weights 1/2, reverse KL, ρ = {rho:g}, d = 3, orthogonal offsets ±{OFFSET:g}, "
                 f"t = {float(d['t_max']):g}")
    return save_figure(fig, out_dir, NAME)
