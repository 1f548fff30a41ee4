"""Figure F5: when do normalizing flows lose a mode, beside the mixture theory?

The study studies/normalizing_flows.py (table and settings in
studies/results/normalizing_flows.md): target pair_target(d, Lambda = 16, rho), reverse KL,
the same time budget t = eta * steps for every model; mixtures from random_means(2, d) as
the quickstart, flows from exactly N(0, I_d). Kept = coverage 2 at t (each mode j holds
q-mass M_j >= rho_j / 2).

(a) the q-mass on the minor mode (rho = 0.2) of a RealNVP against training time, for a
    seed that loses that mode and a seed that keeps it, at the dimension where the study's
    RealNVP cell is closest to an even split; dotted: rho/2 (the coverage threshold) and
    rho (the target's weight).
(b, c) P(both modes kept) at t against d for every model of the study, rho = 1/2 and
    rho = 0.2, with 95% Wilson intervals (markers offset sideways to keep the bars apart).

Data: by default the study's run cache studies/results/normalizing_flows_runs.jsonl (the
data file records its path, sha256, the number of runs read and the study's command). If
the cache is missing, or with tiny=True, generate() runs a small version of the study
itself (RealNVP and the two ODEs, fewer d, seeds and steps) and records that instead.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from flowsim.stats import wilson

from paper_figures.common import load_params, pyplot, save_figure, save_results

NAME = "nf_collapse"
TITLE = "Normalizing flows beside the mixture theory: mode mass over time, P(both modes kept) against d"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "studies" / "results" / "normalizing_flows_runs.jsonl"
STUDY_COMMAND = "python studies/normalizing_flows.py"
MODELS = ("ode_trainable", "ode_fixed", "mc_trainable", "mc_fixed", "realnvp", "spline")
LABELS = {"ode_trainable": "mixture ODE, trainable w", "ode_fixed": "mixture ODE, fixed w",
          "mc_trainable": "mixture MC, trainable w", "mc_fixed": "mixture MC, fixed w",
          "realnvp": "RealNVP", "spline": "spline flow"}
STYLE = {"ode_trainable": ("C3", "-", "o"), "ode_fixed": ("C0", "-", "s"),
         "mc_trainable": ("C3", ":", "o"), "mc_fixed": ("C0", ":", "s"),
         "realnvp": ("C2", "-", "D"), "spline": ("C4", "-", "^")}
RHOS = (0.5, 0.2)


def _read_cache(path):
    runs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return runs, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _horizon(runs):
    """The study's time budget: the last recorded time of its trained models."""
    return max(r["time"][-1] for r in runs if r["model"] in ("realnvp", "spline") and r.get("time"))


def _small_study(tiny):
    """A small in-process version of the study: RealNVP and the two ODEs."""
    import torch

    from flowsim import GaussianMixture, simulate
    from flowsim.diagnostics import coverage
    from flowsim.gaussian import pair_target, random_means
    from flowsim.training.flows import make_flow, train

    torch.set_num_threads(1)
    dims, seeds, eta, steps = ((2,), 2, 0.05, 40) if tiny else ((2, 8), 3, 0.05, 200)
    t_max = eta * steps
    runs = []
    for rho in RHOS:
        target_w = np.array([rho, 1 - rho])
        for d in dims:
            target = pair_target(d, 16.0, rho)
            for seed in range(seeds):
                for w in ("trainable", "fixed"):
                    tr = simulate(target, GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5]),
                                  objective="reverse_kl", weights=w, t_max=t_max, backend="numba",
                                  rtol=1e-7, atol=1e-9)
                    runs.append({"model": f"ode_{w}", "d": d, "rho": rho, "seed": seed,
                                 "kept": bool(tr.diagnostics["coverage"] == 2)})
                res = train(target, make_flow("realnvp", d, seed=seed), lr=eta, steps=steps, batch=128,
                            optimizer="sgd", estimator="stl", seed=seed, n_records=12, n_eval=1024)
                runs.append({"model": "realnvp", "d": d, "rho": rho, "seed": seed,
                             "kept": bool(coverage(res.mode_mass[-1], target_w) == 2),
                             "time": res.time.tolist(), "mode_mass": res.mode_mass.tolist()})
    return runs, {"source": "in-process small study", "dims": dims, "seeds": seeds, "eta": eta, "steps": steps,
                  "t_max": t_max, "Lambda": 16.0, "flow": "realnvp, 4 layers, hidden (32, 32), batch 128, SGD, STL"}


def generate(out_dir: Path, fast: bool = False, tiny: bool = False, cache: Path | None = None) -> Path:
    cache = Path(cache) if cache is not None else CACHE
    if not tiny and cache.is_file():
        raw, sha = _read_cache(cache)
        T = _horizon(raw)
        runs = [{"model": r["model"], "d": r["d"], "rho": r["rho"], "seed": r["seed"],
                 "kept": r["horizon"][f"{T:g}"]["coverage"] == 2, "time": r.get("time"),
                 "mode_mass": r.get("mode_mass")} for r in raw]
        source = {"source": "study cache", "path": str(cache.relative_to(ROOT) if cache.is_relative_to(ROOT) else cache),
                  "sha256": sha, "n_runs": len(raw), "command": STUDY_COMMAND, "t_max": T, "Lambda": 16.0}
    else:
        runs, source = _small_study(tiny)
        T = source["t_max"]
    data = {}
    models = [m for m in MODELS if any(r["model"] == m for r in runs)]
    dims = sorted({r["d"] for r in runs})
    for m in models:
        for i, rho in enumerate(RHOS):
            k = np.zeros(len(dims), int)
            n = np.zeros(len(dims), int)
            for j, d in enumerate(dims):
                cell = [r for r in runs if r["model"] == m and r["rho"] == rho and r["d"] == d]
                k[j], n[j] = sum(r["kept"] for r in cell), len(cell)
            data[f"k_{m}_{i}"], data[f"n_{m}_{i}"] = k, n
    # (a): a losing and a keeping RealNVP seed at rho = 0.2
    flows = [r for r in runs if r["model"] == "realnvp" and r["rho"] == 0.2 and r.get("mode_mass")]
    best, pick = None, {}
    for d in dims:
        cell = [r for r in flows if r["d"] == d]
        if not cell:
            continue
        p = np.mean([r["kept"] for r in cell])
        lost, kept = [r for r in cell if not r["kept"]], [r for r in cell if r["kept"]]
        score = abs(p - 0.5) if lost and kept else 1.0 + abs(p - 0.5)
        if best is None or score < best:
            best = score
            pick = {"lost": min(lost, key=lambda r: r["seed"]) if lost else None,
                    "kept": min(kept, key=lambda r: r["seed"]) if kept else None}
    for tag, r in pick.items():
        if r is not None:
            data[f"series_{tag}_time"] = np.asarray(r["time"], float)
            data[f"series_{tag}_mass"] = np.asarray(r["mode_mass"], float)
            data[f"series_{tag}_seed"] = r["seed"]
            data[f"series_{tag}_d"] = r["d"]
    params = {"fast": fast, "tiny": tiny, "models": models, "dims": dims, "rhos": RHOS, "t_max": T,
              "data": source}
    return save_results(out_dir, NAME, data, params)


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()

    d = np.load(results)
    p = load_params(results)
    dims = np.array(p["dims"])
    models = p["models"]
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.7), gridspec_kw={"width_ratios": [1.0, 1.15, 1.15]})
    fig.subplots_adjust(wspace=0.3)
    ax = axes[0]
    rho = 0.2
    for tag, color, ls in (("lost", "C3", "-"), ("kept", "C2", "--")):
        if f"series_{tag}_time" not in d:
            continue
        t, mm = d[f"series_{tag}_time"], d[f"series_{tag}_mass"]
        keep = t > 0
        word = "loses" if tag == "lost" else "keeps"
        ax.plot(t[keep], mm[keep, 0], color=color, ls=ls, marker="o", ms=3,
                label=f"seed {int(d[f'series_{tag}_seed'])} ({word} the minor mode), d = {int(d[f'series_{tag}_d'])}")
    ax.axhline(rho / 2, color="0.4", ls=":", lw=1.0)
    ax.axhline(rho, color="0.4", ls=":", lw=1.0)
    ax.annotate("ρ/2: coverage threshold", (0.02, rho / 2), xycoords=("axes fraction", "data"), xytext=(0, -3),
                textcoords="offset points", va="top", fontsize=8, color="0.3")
    ax.annotate("ρ", (0.02, rho), xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                va="bottom", fontsize=8, color="0.3")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.0)
    ax.set_xlabel("training time t = η · steps")
    ax.set_ylabel("q-mass on the minor mode, M₁")
    ax.set_title("(a) RealNVP, ρ = 0.2: minor-mode mass", loc="left")
    ax.legend(loc="lower left", fontsize=8)

    n_m = len(models)
    offsets = np.exp(np.linspace(-0.3, 0.3, n_m)) if n_m > 1 else np.ones(1)
    for i, rho in enumerate(p["rhos"]):
        ax = axes[1 + i]
        for j, m in enumerate(models):
            k, n = d[f"k_{m}_{i}"], d[f"n_{m}_{i}"]
            ok = n > 0
            if not np.any(ok):
                continue
            prop = k[ok] / n[ok]
            ci = np.array([wilson(int(a), int(b)) for a, b in zip(k[ok], n[ok])])
            color, ls, marker = STYLE[m]
            ax.errorbar(dims[ok] * offsets[j], prop, yerr=[prop - ci[:, 0], ci[:, 1] - prop], color=color, ls=ls,
                        marker=marker, ms=4, mfc="w" if m.startswith("mc") else color, capsize=2, lw=1.2,
                        label=LABELS[m])
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims)
        ax.set_xticklabels([str(int(x)) for x in dims])
        ax.minorticks_off()
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("dimension d")
        ax.set_ylabel(f"P(both modes kept at t = {p['t_max']:g})")
        ax.set_title(f"({'bc'[i]}) ρ = {rho:g}", loc="left")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.62, -0.1), fontsize=8)
    src = p["data"]
    note = (f"data: {src['source']}" + (f" ({src['n_runs']} runs, {src['command']})" if "n_runs" in src else "")
            + "; bars: 95% Wilson intervals")
    fig.text(0.99, 0.99, note, ha="right", va="top", fontsize=8, color="0.35")
    return save_figure(fig, out_dir, NAME)
