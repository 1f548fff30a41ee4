"""Vanishing weight: P(both modes recovered) vs d, fixed vs trainable weights.

Setting (docs/findings.md, vanishing weight; the same geometry as the sweep's `pair`
target): target p = rho N(mu_1, I) + (1 - rho) N(mu_2, I) in R^d with
mu_1,2 = -/+ (sqrt(Lambda)/2) e_1, so the random initial means nu_k = random_means(2, d,
scale=1, seed) start around the midpoint; Lambda = 16, rho = 1/2, reverse KL, initial
weights 1/2, 1/2 (kept in the fixed-weight runs, softmax logits in the trainable ones).

For every (d, seed) both weight modes run from the same initialisation. Reported:
1. P(recovered) = P(coverage = 2 at t_max) with its binomial standard error, and how the
   lost runs are classified at t_max (flowsim.diagnostics): vanishing_weight,
   mean_alignment, or neither ("other").
2. For trainable runs that lose a mode: the losing component k (smallest final weight),
   t_w = first time w_k < 1e-3, against the time its mean would need to reach a mode:
   T_fix = first time component k of the fixed-weight run from the same initialisation is
   within 1 sigma* of a mode, and the linearised estimate T_lin = ln(r_k(0)) / w_k(0)
   (the offset decays like e^{-w t}; r_k(0) in units of sigma*).
3. Settling: t_max, how many runs the integrator declared at rest (status "settled"), the
   latest classification change (collapse_time), and for the frozen components the
   relative change of their distance to the nearest mode over the last decade of time.
   `--settle-check` re-runs the lost trainable runs (up to N per d) to 10 t_max and
   counts outcome changes (writes gaussian_vanishing_settle.md).

Run: python studies/gaussian_vanishing.py [--seeds 32] [--t-max 1e4] [--settle-check]
"""
from __future__ import annotations

import argparse
import math
import pathlib
import time

import numpy as np

from flowsim.stats import wilson
from flowsim.diagnostics import EPS_WEIGHT, classify
from flowsim.gaussian import GaussianMixture, random_means
from flowsim import log_times, simulate

RESULTS = pathlib.Path(__file__).parent / "results"
DIMS = (2, 8, 32, 128, 512)
LAMBDA = 16.0
T_MAX = 1e4
SETTLE_TOL = 1e-7
PER_DECADE = 40
DECADES = 8
RTOL, ATOL = 1e-7, 1e-9
HORIZONS = (10.0, 100.0, 1e3, 1e4)
HELD_RADIUS = 1.0   # "both modes held": each mode has its own live component within 1 sigma*

def pair_target(d, Lam=LAMBDA, rho=0.5):
    """rho N(-sqrt(Lam)/2 e_1, I) + (1 - rho) N(+sqrt(Lam)/2 e_1, I) in R^d."""
    mu = np.zeros((2, d))
    mu[0, 0], mu[1, 0] = -0.5 * math.sqrt(Lam), 0.5 * math.sqrt(Lam)
    return GaussianMixture(mu, [rho, 1.0 - rho])


def first_crossing(time, values, level):
    """First time values <= level, log-log interpolated between saved points (nan if never)."""
    below = np.nonzero(values <= level)[0]
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0 or time[i - 1] <= 0:
        return float(time[i])
    t0, t1, v0, v1 = time[i - 1], time[i], values[i - 1], values[i]
    if not (v0 > 0 and v1 > 0) or v0 == v1:
        return float(t1)
    f = (math.log(level) - math.log(v0)) / (math.log(v1) - math.log(v0))
    return float(math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0))))


def run_one(d, seed, weights, *, objective="reverse_kl", rho=0.5, Lam=LAMBDA, t_max=T_MAX):
    """One flow from random_means(2, d, 1, seed): outcome, diagnostics and the curves we need."""
    target = pair_target(d, Lam, rho)
    init = GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5])
    t_eval = log_times(t_max, per_decade=PER_DECADE, decades=DECADES)
    tr = simulate(target, init, objective=objective, weights=weights, t_max=t_max, t_eval=t_eval,
                  backend="numba", rtol=RTOL, atol=ATOL, settle_tol=SETTLE_TOL)
    dg = tr.diagnostics
    obs = tr.observables
    w_end, near, dist = obs.weights[-1], obs.nearest_mode[-1], obs.distance[-1]
    held = {int(near[k]) for k in range(2) if w_end[k] >= EPS_WEIGHT and dist[k] < HELD_RADIUS}
    if dg["coverage"] == 2:
        outcome = "recovered"
    elif dg["vanishing_weight"]:
        outcome = "vanishing_weight"
    elif dg["mean_alignment"]:
        outcome = "mean_alignment"
    else:
        outcome = "other"
    return {"d": d, "seed": seed, "weights": weights, "outcome": outcome, "status": dg["status"],
            "collapse_time": dg["collapse_time"], "reverse_kl": dg["reverse_kl"],
            "forward_kl": dg["forward_kl"], "final_weights": dg["weights"],
            "held": len(held) == 2,
            "uncovered": [j for j in range(2) if dg["mode_mass"][j] < 0.5 * target.weights[j]],
            "time": obs.time, "w": obs.weights, "dist": obs.distance,
            "coverage_t": classify(obs)["coverage"]}


def run_grid(dims, n_seeds, *, objective="reverse_kl", rho=0.5, Lam=LAMBDA, t_max=T_MAX,
             weight_modes=("fixed", "trainable")):
    """{(weights, d): [run_one(...) for seed]} and the wall time per (weights, d)."""
    runs, wall = {}, {}
    for d in dims:
        for wm in weight_modes:
            t0 = time.perf_counter()
            runs[wm, d] = [run_one(d, s, wm, objective=objective, rho=rho, Lam=Lam, t_max=t_max)
                           for s in range(n_seeds)]
            wall[wm, d] = time.perf_counter() - t0
    return runs, wall


def recovery_table(runs, wall, dims, weight_modes=("fixed", "trainable")):
    """Markdown: P(recovered) +- binomial s.e. and Wilson interval, outcome counts, the strict
    'both modes held' rate, median final KLs, settling and wall time per (d, weights)."""
    head = ("| d | weights | P(recovered) | ± s.e. | 95% CI (Wilson) | recovered | vanishing_weight | "
            "mean_alignment | other |")
    head += (" both modes held | uncovered mode 1 / 2 | median KL(q‖p) | median KL(p‖q) | settled / n | "
             "max collapse_time | wall (s) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for d in dims:
        for wm in weight_modes:
            rs = runs[wm, d]
            n = len(rs)
            cnt = {k: sum(r["outcome"] == k for r in rs)
                   for k in ("recovered", "vanishing_weight", "mean_alignment", "other")}
            p = cnt["recovered"] / n
            se = math.sqrt(p * (1 - p) / n)
            lo, hi = wilson(cnt["recovered"], n)
            settled = sum(r["status"] == "settled" for r in rs)
            bad = sorted({r["status"] for r in rs if r["status"] not in ("ok", "settled")})
            row = (f"| {d} | {wm} | {p:.2f} | {se:.2f} | [{lo:.2f}, {hi:.2f}] | {cnt['recovered']} | "
                   f"{cnt['vanishing_weight']} | {cnt['mean_alignment']} | {cnt['other']} |")
            lost1 = sum(0 in r["uncovered"] for r in rs)
            lost2 = sum(1 in r["uncovered"] for r in rs)
            row += (f" {sum(r['held'] for r in rs)} | {lost1} / {lost2} | "
                    f"{np.median([r['reverse_kl'] for r in rs]):.3g} | {np.median([r['forward_kl'] for r in rs]):.3g} | "
                    f"{settled}/{n}{' (' + ','.join(bad) + ')' if bad else ''} | "
                    f"{max(r['collapse_time'] for r in rs):.3g} | {wall[wm, d]:.1f} |")
            lines.append(row)
    return "\n".join(lines)


def horizon_table(runs, dims, times, weight_modes=("fixed", "trainable")):
    """Markdown: P(coverage 2 at time t) for several horizons t <= t_max, from the saved states."""
    lines = ["| d | weights | " + " | ".join(f"t = {t:g}" for t in times) + " |",
             "|---|---|" + "---|" * len(times)]
    for d in dims:
        for wm in weight_modes:
            rs = runs[wm, d]
            cells = []
            for t in times:
                i = [int(np.searchsorted(r["time"], t * (1 - 1e-9))) for r in rs]
                cells.append(f"{np.mean([r['coverage_t'][j] == 2 for r, j in zip(rs, i)]):.2f}")
            lines.append(f"| {d} | {wm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def race(runs, dims, t_max=T_MAX):
    """Per d: the trainable runs that lose a mode, t_w vs the mean-travel times."""
    rows = {}
    for d in dims:
        recs = []
        for tr_run, fx_run in zip(runs["trainable", d], runs["fixed", d]):
            if tr_run["outcome"] == "recovered":
                continue
            k = int(np.argmin(tr_run["final_weights"]))
            t = tr_run["time"]
            t_w = first_crossing(t, tr_run["w"][:, k], EPS_WEIGHT)
            t_10 = first_crossing(t, tr_run["w"][:, k], 0.1 * tr_run["w"][0, k])
            t_fix = first_crossing(fx_run["time"], fx_run["dist"][:, k], 1.0)
            r0 = fx_run["dist"][0, k]
            t_lin = math.log(r0) / 0.5 if r0 > 1 else 0.0
            # frozen check: relative change of the dead component's distance over the last decade
            last = t >= t[-1] / 10
            dk = tr_run["dist"][last, k]
            drift = float(abs(dk[-1] - dk[0]) / max(dk[0], 1e-12))
            r_tw = (float(np.interp(math.log(t_w), np.log(t[1:]), tr_run["dist"][1:, k]))
                    if np.isfinite(t_w) and t_w > 0 else float("nan"))
            recs.append({"seed": tr_run["seed"], "outcome": tr_run["outcome"], "t_w": t_w, "t_10": t_10, "t_fix": t_fix,
                         "t_lin": t_lin, "r0": r0, "r_tw": r_tw, "r_end": float(tr_run["dist"][-1, k]),
                         "w_end": float(tr_run["w"][-1, k]), "drift": drift})
        rows[d] = recs
    return rows


def _med(x):
    x = np.asarray([v for v in x if np.isfinite(v)], float)
    return float(np.median(x)) if x.size else float("nan")


def race_table(rows, dims):
    lines = ["| d | lost | w_k < 1e-3 reached | median t_w | median T_fix | median t_w / T_fix | "
             "t_w < T_fix | median t_10 / T_fix | t_10 < T_fix | median T_lin | median t_w / T_lin | median r_k(0) | median r_k(t_w) | "
             "median r_k(t_max) | median w_k(t_max) | max rel. drift of r_k, last decade |",
             "|" + "---|" * 16]
    for d in dims:
        recs = rows[d]
        if not recs:
            lines.append(f"| {d} | 0 |" + " – |" * 14)
            continue
        tw = np.array([r["t_w"] for r in recs])
        tf = np.array([r["t_fix"] for r in recs])
        tl = np.array([r["t_lin"] for r in recs])
        ok = np.isfinite(tw)
        both = ok & np.isfinite(tf)
        t10 = np.array([r["t_10"] for r in recs])
        both10 = np.isfinite(t10) & np.isfinite(tf)
        lines.append(
            f"| {d} | {len(recs)} | {int(ok.sum())} | {_med(tw):.3g} | {_med(tf):.3g} | "
            f"{_med(tw[both] / tf[both]) if both.any() else float('nan'):.3g} | "
            f"{int(np.sum(tw[both] < tf[both]))}/{int(both.sum())} | "
            f"{_med(t10[both10] / tf[both10]) if both10.any() else float('nan'):.3g} | "
            f"{int(np.sum(t10[both10] < tf[both10]))}/{int(both10.sum())} | {_med(tl):.3g} | "
            f"{_med(tw[ok] / np.where(tl[ok] > 0, tl[ok], np.nan)):.3g} | "
            f"{_med([r['r0'] for r in recs]):.3g} | {_med([r['r_tw'] for r in recs]):.3g} | "
            f"{_med([r['r_end'] for r in recs]):.3g} | "
            f"{_med([r['w_end'] for r in recs]):.2g} | {max(r['drift'] for r in recs):.2g} |")
    return "\n".join(lines)


def settle_check(runs, rows, dims, per_d, t_max, **kw):
    """Re-run lost trainable runs to 10 t_max (all of them if per_d is None, else the per_d per d
    whose frozen component drifted most over the last decade); count recoveries."""
    lines = [f"| d | n | lost at t = {t_max:g} | re-run to t = {10 * t_max:g} | recovered by then | "
             f"P(recovered) at t = {t_max:g} | at t = {10 * t_max:g} | median r_k(t_max) of those that "
             "recovered / stayed lost | recovery times |", "|---|---|---|---|---|---|---|---|---|"]
    for d in dims:
        order = sorted(rows[d], key=lambda r: -r["drift"])
        order = order if per_d is None else order[:per_d]
        n = len(runs["trainable", d])
        n_rec = n - len(rows[d])
        rec_r, lost_r, rec_t = [], [], []
        for rec in order:
            r2 = run_one(d, rec["seed"], "trainable", t_max=10 * t_max, **kw)
            if r2["outcome"] == "recovered":
                rec_r.append(rec["r_end"])
                rec_t.append(r2["collapse_time"])
            else:
                lost_r.append(rec["r_end"])
        p10 = f"{(n_rec + len(rec_r)) / n:.2f}" if len(order) == len(rows[d]) else "(subset)"
        lines.append(f"| {d} | {n} | {len(rows[d])} | {len(order)} | {len(rec_r)} | {n_rec / n:.2f} | {p10} | "
                     f"{_med(rec_r):.3g} / {_med(lost_r):.3g} | "
                     f"{', '.join(f'{t:.2g}' for t in sorted(rec_t)) or '–'} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--t-max", type=float, default=T_MAX)
    ap.add_argument("--settle-check", type=int, nargs="?", const=-1, default=0, metavar="N",
                    help="also re-run the lost trainable runs to 10 t_max (all, or the N per d whose "
                         "frozen component drifts most); slow: minutes per d >= 128")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    runs, wall = run_grid(DIMS, args.seeds, t_max=args.t_max)
    rows = race(runs, DIMS, args.t_max)
    lines = [
        f"# Vanishing weight: P(both modes recovered) vs d (Lambda = {LAMBDA:g}, rho = 1/2, reverse KL)", "",
        f"{args.seeds} initialisations random_means(2, d, scale=1, seed) per d (seeds 0..{args.seeds - 1}), "
        "target modes at -/+ (sqrt(Lambda)/2) e_1, initial weights 1/2; the fixed and trainable runs of one "
        f"seed start from the same means. numba DOPRI5, rtol {RTOL:g}, atol {ATOL:g}, t_max = {args.t_max:g}, "
        f"early stop when max|dy/dt| < {SETTLE_TOL:g} (status 'settled'). Outcome at t_max: 'recovered' = "
        "coverage 2; otherwise the flowsim.diagnostics flag (vanishing_weight: some w_k < 1e-3 with its mean "
        "> 3 sigma* from every mode; mean_alignment: two live components on one mode). 'both modes held' "
        "(stricter, counts): each mode has its own live component (w_k >= 1e-3) within 1 sigma*. "
        "'uncovered mode j': runs with M_j < rho_j / 2 at t_max.", "",
        "## P(recovered)", "",
        recovery_table(runs, wall, DIMS), "",
        "## Trainable runs that lose a mode: weight death vs mean travel", "",
        "k = the component with the smaller final weight. t_w: first time w_k < 1e-3 (log-log interpolated, "
        f"{PER_DECADE} saved points per decade). T_fix: first time component k of the fixed-weight run from the "
        "same initialisation is within 1 sigma* of a mode. T_lin = ln r_k(0) / w_k(0) = 2 ln r_k(0), the "
        "linearised travel time (offset ~ e^{-w t}). t_10: first time w_k < w_k(0)/10, from which its "
        "mean moves at most a tenth as fast as in the fixed run. Last column: |r_k(t_max) - r_k(t_max/10)| / r_k(t_max/10) "
        "for the frozen component.", "",
        race_table(rows, DIMS), "",
        "## P(recovered) against the time horizon", "",
        "Coverage 2 at saved time t, from the same runs (a practical budget: t = learning rate × steps).", "",
        horizon_table(runs, DIMS, sorted({t for t in HORIZONS if t < args.t_max} | {args.t_max})), "",
    ]
    lines.append(f"Total wall time {time.perf_counter() - start:.0f} s (shared 2-core machine).")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gaussian_vanishing.md").write_text(text + "\n")
    if args.settle_check:
        t0 = time.perf_counter()
        per_d = None if args.settle_check < 0 else args.settle_check
        sc = settle_check(runs, rows, DIMS, per_d, args.t_max)
        which = ("All lost trainable runs" if per_d is None else
                 f"The {per_d} lost trainable runs per d whose frozen component drifted most over the last decade")
        text = "\n".join([f"# Settle check for gaussian_vanishing (t_max = {args.t_max:g})", "",
                          f"{which} re-run to 10 t_max with everything else unchanged.", "", sc, "",
                          f"Wall time {time.perf_counter() - t0:.0f} s."])
        print(text)
        (RESULTS / "gaussian_vanishing_settle.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
