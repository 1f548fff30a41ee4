"""Figure F1: a mixture and a normalizing flow trained by reverse KL on one 2-D bimodal target.

Target p = 1/2 N(-4 e_1, I) + 1/2 N(+4 e_1, I) (pair_target(2, Lambda = 64, rho = 1/2));
the modes are the black crosses. Three models, one row each, all from the same seeded
start, q_0 ~ N(a, I) with a = make_flow's offset for seed SEED and r = R0 (a = (0.69,
-0.72): q_0 puts about a quarter of its mass on mode 1 and the rest on mode 2). This start
loses a mode: measured with this module's settings over seeds 0-5, RealNVP ended with one
mode in 6/6 runs and the ODE mixture in 6/6 (4 of them flagged mean_alignment); at this separation
flowsim/training/flows.py records collapse from most offset starts as well.

  * ODE mixture: the reverse-KL gradient flow of q = w_1 N(nu_1, I) + w_2 N(nu_2, I)
    (flowsim.simulate, trainable weights, variance fixed at 1), nu_k(0) = a + 0.5 xi_k,
    xi_k ~ N(0, I) from numpy default_rng(SEED), w_k(0) = 1/2;
  * MC mixture: the same q and start trained by plain SGD (flowsim.training.flows
    make_mixture + train, its variance held fixed, STL gradients, BATCH draws per step);
  * RealNVP: flowsim.training.flows.make_flow("realnvp", 2, init="offset", r=R0,
    seed=SEED), q_0 = N(a, I) exactly, trained by plain SGD (STL, BATCH draws per step).

Every model is trained with step ETA, so t = ETA * steps is the gradient-flow time of the
ODE in every row. Columns: four training times. Each panel: the density of q (filled
contours, one colour scale for all panels) and the mode masses M_j = E_q[pi_j] (exact for
the ODE, Monte Carlo with 4096 draws for the trained models). The flow trains in segments between the shown
times (plain SGD keeps no state; segment i draws from torch seed SEED + 1000 i).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowsim import GaussianMixture, simulate
from flowsim.gaussian import pair_target

from paper_figures.common import load_params, pyplot, save_figure, save_results

NAME = "nf_contours"
TITLE = "Mixture (ODE, MC) and RealNVP under reverse KL on a 2-D bimodal target: contours over time"
LAMBDA = 64.0
R0 = 1.0
RHO = 0.5
SEED = 0
ETA = 0.02
BATCH = 128
MODELS = ("ode", "mc", "realnvp")
ROW_LABELS = {"ode": "mixture, ODE", "mc": "mixture, MC (SGD)", "realnvp": "RealNVP (SGD)"}
LIM = 8.0


def _start(seed=SEED):
    from flowsim.training.flows import make_flow

    flow = make_flow("realnvp", 2, init="offset", r=R0, seed=seed)
    a = flow.loc.detach().numpy().astype(float)
    nu = a + 0.5 * np.random.default_rng(seed).standard_normal((2, 2))
    return a, nu


def _grid(n):
    x = np.linspace(-LIM, LIM, n)
    X, Y = np.meshgrid(x, x, indexing="xy")
    return x, np.stack([X.ravel(), Y.ravel()], axis=-1)


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    import torch

    from flowsim.training.flows import evaluate, make_flow, make_mixture, train

    torch.set_num_threads(1)
    times = np.array([0.0, 0.3, 2.0, 20.0]) if not tiny else np.array([0.0, 0.1, 0.4, 1.0])
    n_grid = 41 if tiny else (81 if fast else 161)
    target = pair_target(2, LAMBDA, RHO)
    a, nu = _start()
    x, pts = _grid(n_grid)
    data = {"x": x, "times": times, "target_means": target.means, "a": a, "nu0": nu}

    # ODE mixture
    tr = simulate(target, GaussianMixture(nu, [0.5, 0.5]), objective="reverse_kl", weights="trainable",
                  t_max=float(times[-1]), t_eval=times, backend="numba", rtol=1e-9, atol=1e-11)
    ds = tr.to_xarray()
    dens, mass = [], []
    for i in range(len(times)):
        m, w = ds["means"].values[i], ds["weights"].values[i]
        dens.append(np.exp(GaussianMixture(m, w / w.sum(), 1.0).log_pdf(pts)))
        mass.append(ds["mode_mass"].values[i])
    data["density_ode"], data["mass_ode"] = np.array(dens), np.array(mass)
    data["weights_ode"] = ds["weights"].values
    data["means_ode"] = ds["means"].values
    data["verdict_ode"] = _verdict(tr.diagnostics)

    # MC mixture (SGD, variance held fixed) and RealNVP (SGD), trained in segments
    models = {"mc": make_mixture(2, 2, init_means=nu, init_var=1.0, init_weights=[0.5, 0.5], seed=SEED,
                                 dtype=torch.float64),
              "realnvp": make_flow("realnvp", 2, init="offset", r=R0, seed=SEED)}
    models["mc"].log_var.requires_grad_(False)
    steps = np.rint(times / ETA).astype(int)
    for name, q in models.items():
        dens, mass, weights, means, kl = [], [], [], [], []
        done, res = 0, None
        for i, s in enumerate(steps):
            if s > done:
                res = train(target, q, lr=ETA, steps=int(s - done), batch=BATCH, optimizer="sgd", estimator="stl",
                      seed=SEED + 1000 * i, n_records=2, n_eval=256)
                done = int(s)
            with torch.no_grad():
                lp = q.log_prob(torch.as_tensor(pts, dtype=next(q.parameters()).dtype))
            dens.append(np.exp(lp.double().numpy()))
            ev = evaluate(target, q, n_eval=4096 if not tiny else 1024, seed=7 + i)
            mass.append(ev["mode_mass"])
            kl.append(ev["reverse_kl"])
            if name == "mc":
                weights.append(q.weights.detach().double().numpy().copy())
                means.append(q.means.detach().double().numpy().copy())
        data[f"density_{name}"], data[f"mass_{name}"] = np.array(dens), np.array(mass)
        data[f"kl_{name}"] = np.array(kl)
        if weights:
            data[f"weights_{name}"], data[f"means_{name}"] = np.array(weights), np.array(means)
        if name == "mc" and res is not None:
            data[f"verdict_{name}"] = _verdict(res.summary())
        else:
            cov = int(np.sum(mass[-1] >= 0.5 * target.weights))
            data[f"verdict_{name}"] = "collapsed: one mode kept" if cov < 2 else "both modes kept"
    params = {"Lambda": LAMBDA, "rho": RHO, "seed": SEED, "r": R0, "eta": ETA, "batch": BATCH, "times": times,
              "grid": n_grid, "fast": fast, "tiny": tiny, "start_offset": a, "mixture_means0": nu,
              "ode": {"backend": "numba", "rtol": 1e-9, "atol": 1e-11, "weights": "trainable"},
              "mc": "flowsim.training.flows.make_mixture(2, 2) + train(optimizer='sgd', estimator='stl'), "
                    "log_var held fixed",
              "realnvp": "flowsim.training.flows.make_flow('realnvp', 2, init='offset', r=1) + "
                         "train(optimizer='sgd', estimator='stl')",
              "flow_segment_seeds": [SEED + 1000 * i for i in range(len(times))]}
    return save_results(out_dir, NAME, data, params)


def _verdict(dg):
    if dg["coverage"] == 2:
        return "both modes kept"
    how = "vanishing weight" if dg["vanishing_weight"] else ("mean alignment" if dg["mean_alignment"] else "")
    return "collapsed" + (f" ({how})" if how else "")


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm

    d = np.load(results)
    p = load_params(results)
    x, times, mu = d["x"], d["times"], d["target_means"]
    n = x.size
    vmax = max(float(np.max(d[f"density_{m}"])) for m in MODELS)
    levels = np.concatenate([[1e-4], np.geomspace(3e-3, 1.0, 12) * vmax])
    norm = BoundaryNorm(levels, 256, extend="max")
    fig, axes = plt.subplots(len(MODELS), len(times), figsize=(2.15 * len(times) + 0.9, 2.2 * len(MODELS) + 0.6),
                             sharex=True, sharey=True)
    for r, m in enumerate(MODELS):
        for c, t in enumerate(times):
            ax = axes[r, c]
            z = d[f"density_{m}"][c].reshape(n, n)
            cf = ax.contourf(x, x, z, levels=levels, cmap="Blues", norm=norm, extend="max")
            ax.contour(x, x, z, levels=levels[1::2], colors="C0", linewidths=0.4)
            ax.plot(mu[:, 0], mu[:, 1], "x", color="k", ms=7, mew=1.8, zorder=5)
            if m != "realnvp":
                w = d[f"weights_{m}"][c]
                for k in range(w.size):
                    nu = d[f"means_{m}"][c][k]
                    ax.plot(nu[0], nu[1], "o", ms=3 + 6 * math.sqrt(w[k]), mfc="w", mec=f"C{k + 1}", mew=1.4,
                            zorder=6)
            M = d[f"mass_{m}"][c]
            note = f"M₁ = {M[0]:.2f}, M₂ = {M[1]:.2f}"
            if m != "realnvp":
                note += f"\nw = {w[0]:.2f}, {w[1]:.2f}"
            ax.text(0.03, 0.03, note, transform=ax.transAxes, fontsize=8, va="bottom",
                    bbox=dict(boxstyle="round,pad=0.2", fc="w", ec="none", alpha=0.8))
            ax.set_aspect("equal")
            ax.grid(False)
            if r == 0:
                ax.set_title(f"t = {t:g}")
            if r == len(MODELS) - 1:
                ax.set_xlabel("x₁")
            if c == 0:
                ax.set_ylabel(f"{ROW_LABELS[m]}\nx₂")
        axes[r, -1].text(1.04, 0.5, str(d[f"verdict_{m}"]), transform=axes[r, -1].transAxes, rotation=90,
                         va="center", ha="left", fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="x", color="k", ms=7, mew=1.8, label="target modes"),
               Line2D([], [], ls="", marker="o", mfc="w", mec="C1", mew=1.4, ms=6,
                      label="mixture component means (marker size grows with the weight)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, bbox_to_anchor=(0.45, -0.01))
    cb = fig.colorbar(cf, ax=axes, shrink=0.6, pad=0.06, ticks=[levels[1], levels[len(levels) // 2], levels[-1]],
                      format="%.2g")
    cb.set_label("density q(x) (log-spaced levels)")
    fig.suptitle(f"Reverse KL toward ½N(−{math.sqrt(p['Lambda']) / 2:g}e₁, I) + ½N(+{math.sqrt(p['Lambda']) / 2:g}e₁, I)"
                 f" (× = modes); every model starts at q₀ ≈ N(a, I), a = ({d['a'][0]:.2f}, {d['a'][1]:.2f});\n"
                 f"plain SGD, step η = {p['eta']:g}, t = η·steps", fontsize=9)
    return save_figure(fig, out_dir, NAME)
