"""Figure: the divergence zoo on the circle: P(collapse) per loss, split by mechanism.

The setting of studies/circle_mode_dropping.toml (the sweep is run from that file, with
fewer seeds and a shorter horizon for --fast): four equal von Mises peaks at 0, 90, 180
and 270 degrees (kappa = 50); q: four components, means uniform on the circle per seed,
kappa = 2, uniform weights; every registered circle loss but wasserstein1 (which needs
fixed steps; studies/circle_mode_dropping_w1.toml), trainable and fixed weights.
Collapsed = coverage < 4 at t_max. Each collapsed run carries one mechanism label
(flowsim.diagnostics, docs/derivations.md D1): mean alignment, vanishing weight or weight
starvation. Bars: P(collapse) among the runs that finished, stacked by mechanism; error
bars: 95% Wilson interval of the total.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsim.diagnostics import MECHANISMS
from flowsim.stats import wilson
from flowsim.sweep import parse_study, run_sweep
from paper_figures.common import pyplot, save_figure, save_results

NAME = "divergence_zoo"
TITLE = "Divergence zoo: P(collapse) per loss on the circle, by mechanism"
STUDY = Path(__file__).resolve().parents[1] / "studies" / "circle_mode_dropping.toml"
COLOURS = {"mean_alignment": "#1f77b4", "vanishing_weight": "#d62728", "weight_starvation": "#ff7f0e"}


def study_text(n_seeds: int, t_max: float, objectives=None) -> str:
    """The study file with `n_seeds` seeds, horizon `t_max` and (optionally) fewer losses."""
    text = STUDY.read_text(encoding="utf-8")
    text = text.replace("seed = { range = 64 }", f"seed = {{ range = {n_seeds} }}")
    text = text.replace("t_max = 10000.0", f"t_max = {float(t_max)!r}")
    if objectives is not None:
        start = text.index('"study.objective" = { values = [')
        end = text.index("]", start)
        listed = ", ".join(f'"{o}"' for o in objectives)
        text = text[:start] + f'"study.objective" = {{ values = [{listed}' + text[end:]
    return text


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    n_seeds = 4 if tiny else (16 if fast else 64)
    t_max = 100.0 if tiny else (1000.0 if fast else 10000.0)
    objectives = ("reverse_kl", "nonsaturating", "js") if tiny else None
    study = parse_study(study_text(n_seeds, t_max, objectives), source=str(STUDY),
                        default_name="circle_mode_dropping")
    store = Path(out_dir) / f"{NAME}_{n_seeds}x{t_max:g}.zarr"
    run_sweep(study, store, resume=store.exists(), figure=False)

    import xarray as xr

    ds = xr.open_zarr(str(store)).load()
    losses = [str(o) for o in ds.objective.values]
    modes = [str(m) for m in ds.weight_mode.values]
    ok = ds["status"].values == 0                      # (objective, weight_mode, seed)
    collapsed = (ds["coverage"].values < 4) & ok
    mech = ds["mechanism"].values
    counts = np.stack([np.sum((mech == i) & collapsed, axis=-1) for i in range(1, len(MECHANISMS))],
                      axis=-1)                          # (objective, weight_mode, mechanism)
    data = {"losses": np.array(losses), "modes": np.array(modes), "n_ok": ok.sum(axis=-1),
            "n_collapsed": collapsed.sum(axis=-1), "counts": counts,
            "mechanisms": np.array(MECHANISMS[1:])}
    params = {"study": "studies/circle_mode_dropping.toml", "n_seeds": n_seeds, "t_max": t_max,
              "losses": losses}
    return save_results(out_dir, NAME, data, params)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()
    d = np.load(results, allow_pickle=False)
    losses, modes = list(d["losses"]), list(d["modes"])
    mechanisms = list(d["mechanisms"])
    order = np.argsort(-d["n_collapsed"].sum(axis=1) / np.maximum(d["n_ok"].sum(axis=1), 1), kind="stable")
    fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    x = np.arange(len(losses))
    for ax, j in zip(axes, range(len(modes))):
        bottom = np.zeros(len(losses))
        n = np.maximum(d["n_ok"][order, j], 1)
        for m, name in enumerate(mechanisms):
            share = d["counts"][order, j, m] / n
            ax.bar(x, share, bottom=bottom, color=COLOURS[name], width=0.7,
                   label=name.replace("_", " "))
            bottom += share
        ci = np.array([wilson(int(k), int(nn)) for k, nn in zip(d["n_collapsed"][order, j], d["n_ok"][order, j])])
        total = d["n_collapsed"][order, j] / n
        ax.errorbar(x, total, yerr=[total - ci[:, 0], ci[:, 1] - total], fmt="none", ecolor="black",
                    capsize=3, lw=1)
        ax.set_xticks(x, [losses[i] for i in order], rotation=30, ha="right")
        ax.set_title(f"{modes[j]} weights")
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("P(collapse) = P(coverage < 4)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Four von Mises peaks (κ = 50), broad random starts, {int(d['n_ok'].max())} runs per bar",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return save_figure(fig, out_dir, NAME)
