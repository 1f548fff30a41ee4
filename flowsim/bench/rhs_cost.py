"""How cheap could the Gaussian two-mode RHS be?  A measurement, not a model.

`python -m flowsim.bench.rhs_cost [--json] [--points N]` measures, for the sweep's flow
(reverse KL, trainable weights, fixed variance; flowsim.bench.sweep_throughput):

1. the fewest nodes that keep the 1-D expectations S, P, V of
   flowsim.gaussian.logistic_normal within TOL = 1e-10 (P relative to max(1, |β|)):
   Gauss–Hermite for α < 1.2 (against 160 nodes), and composite Gauss–Legendre tail
   rules on [0, T] for α ≥ 1.2 (against the model's 12 × 8 rule on [0, 40]);
2. `rhs_fast`, the same flow with those rules and shared exponentials: the tail
   constants e^{-t}, sgm(−t) and log(1 + e^{-t}) folded into the weights once, the
   mirrored Gaussian g(−t) = g(t)·exp(−2t|β|/α²) (β < 0 by S(−β) = 1 − S(β),
   P(−β) = P(β) − β), V skipped (the variance is fixed): 2 exponentials per tail node
   instead of 4 transcendentals, 40 tail nodes instead of 96, 32 Hermite nodes instead of 48;
3. its bare cost against the model's `rhs`, its largest deviation from it, and the sweep
   throughput it gives through the same `make_batch_solver`, with and without settle_tol,
   beside the model's and (when installed) diffrax's on the same points in the same run;
4. the same question for the circle mixture KLs (flowsim.bench.circle_cost).

The models are not changed; these are what-ifs for them.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from numba import njit
from scipy.special import roots_legendre

from ..gaussian import hermite_rule, logistic_normal, tail_rule
from ..models import gaussian_two_mode as two

TOL = 1e-10
FAST_N_GH = 32
FAST_EDGES = np.array([0.0, 2.0, 5.0, 9.0, 15.0, 25.0])
FAST_PER_PANEL = 8
FAST_T_CUT = 25.0
ALPHA_SWITCH = 1.2
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ------------------------------------------------------------- 1. node counts

def composite_rule(edges, per_panel):
    xl, wl = roots_legendre(per_panel)
    t = [0.5 * (b - a) * xl + 0.5 * (a + b) for a, b in zip(edges[:-1], edges[1:])]
    w = [0.5 * (b - a) * wl for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate(t), np.concatenate(w)


def _block(n_gh, t, tw):
    x, w = hermite_rule(n_gh)
    return np.concatenate([[float(n_gh), float(len(t))], x, w, t, tw])


def _grid(q, betas, alphas):
    out = np.empty(3)
    res = np.empty((betas.size, alphas.size, 3))
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            logistic_normal(b, a, q, 0, out)
            res[i, j] = out
    return res


def _err(res, ref, betas):
    e = np.abs(res - ref)
    e[..., 1] /= np.maximum(1.0, np.abs(betas))[:, None]
    return float(e.max())


TAIL_CANDIDATES = {
    "12x8 on [0,40] (model)": (np.array([0, 1, 2, 3, 4, 6, 8, 11, 14, 18, 23, 30, 40.0]), 8),
    "12x6 on [0,40]": (np.array([0, 1, 2, 3, 4, 6, 8, 11, 14, 18, 23, 30, 40.0]), 6),
    "8x8 on [0,26]": (np.array([0, 1, 2, 3.5, 5.5, 8, 12, 18, 26.0]), 8),
    "6x8 on [0,25]": (np.array([0, 1.5, 3.5, 6.5, 11, 17, 25.0]), 8),
    "5x8 on [0,25]": (FAST_EDGES, 8),
    "7x6 on [0,25]": (np.array([0, 1.5, 3, 5, 8, 12, 18, 25.0]), 6),
    "4x8 on [0,25]": (np.array([0, 2.5, 7, 14, 25.0]), 8),
}


def node_study(quick=False):
    """{'hermite': [(n, err)], 'tail': [(name, nodes, err)], 'hermite_for_tol', ...}."""
    betas = np.linspace(-60.0, 60.0, 61 if quick else 241)
    a_gh = np.linspace(0.0, 1.19, 12 if quick else 24)
    t, tw = tail_rule()
    ref = _grid(_block(160, t, tw), betas, a_gh)
    herm = [(n, _err(_grid(_block(n, t, tw), betas, a_gh), ref, betas))
            for n in (16, 20, 24, 28, 32, 40, 48)]
    a_t = np.concatenate([np.linspace(1.2, 5.0, 10 if quick else 20),
                          np.geomspace(5.0, 100.0, 10 if quick else 20)])
    ref = _grid(_block(48, t, tw), betas, a_t)
    tails = []
    for name, (edges, k) in TAIL_CANDIDATES.items():
        tt, ww = composite_rule(edges, k)
        tails.append((name, int(tt.size), _err(_grid(_block(48, tt, ww), betas, a_t), ref, betas)))
    ok_h = [n for n, e in herm if e <= TOL]
    ok_t = [(n, name) for name, n, e in tails if e <= TOL]
    return {"hermite": herm, "tail": tails, "hermite_for_tol": min(ok_h) if ok_h else None,
            "tail_for_tol": min(ok_t)[0] if ok_t else None,
            "tail_rule_for_tol": min(ok_t)[1] if ok_t else None, "tol": TOL}


# ---------------------------------------------------------- 2. the fast RHS

def fast_block(n_gh=FAST_N_GH, edges=FAST_EDGES, per_panel=FAST_PER_PANEL):
    """[n_gh, n_t, gh_x, gh_w, t, w·sgm(−t), w·log(1 + e^{-t})] (constants folded in)."""
    x, w = hermite_rule(n_gh)
    t, tw = composite_rule(edges, per_panel)
    e = np.exp(-t)
    return np.concatenate([[float(n_gh), float(t.size)], x, w, t, tw * e / (1.0 + e),
                           tw * np.log1p(e)])


def fast_params(p_model, **kw):
    """The model's p with the fast block appended (its offset is len(p_model))."""
    return np.concatenate([p_model, fast_block(**kw)])


@njit(cache=True)
def sp_fast(beta, alpha, q, off, out):
    """out[0:2] = (S, P) = E[sgm, softplus](β + α ξ) from a `fast_block` at q[off:]."""
    n_gh = int(q[off])
    n_t = int(q[off + 1])
    a = abs(alpha)
    if not (a >= ALPHA_SWITCH):
        xs = off + 2
        ws = xs + n_gh
        s = 0.0
        p = 0.0
        for i in range(n_gh):
            t = beta + a * q[xs + i]
            e = math.exp(-abs(t))
            inv = 1.0 / (1.0 + e)
            wi = q[ws + i]
            s += wi * (inv if t >= 0.0 else e * inv)
            p += wi * (max(t, 0.0) + math.log1p(e))
        out[0] = s
        out[1] = p
        return
    b = abs(beta)
    z = b / a
    Phi = 0.5 * math.erfc(-z / math.sqrt(2.0))
    s = Phi
    p = b * Phi + a * _INV_SQRT2PI * math.exp(-0.5 * z * z)
    if (b - FAST_T_CUT) / a < 9.0:
        ts = off + 2 + 2 * n_gh
        c = _INV_SQRT2PI / a
        h = 0.5 / (a * a)
        k = 2.0 * b / (a * a)
        for i in range(n_t):
            t = q[ts + i]
            dd = t - b
            gp = c * math.exp(-h * dd * dd)
            gm = gp * math.exp(-k * t)
            s += q[ts + n_t + i] * (gm - gp)
            p += q[ts + 2 * n_t + i] * (gp + gm)
    if beta < 0.0:
        s = 1.0 - s
        p = p - b
    out[0] = s
    out[1] = p


@njit(cache=True)
def rhs_fast(t, y, p, out):
    """The reverse-KL two-mode flow (R1)-(R3), (G1) with fixed variance, on the fast rules.

    p = fast_params(model p); the fast block starts after the model's quadrature block."""
    Lam = p[two.LAM]
    rho = p[two.RHO]
    tau = p[two.TAU]
    off = two.QOFF + 2 + 2 * int(p[two.QOFF]) + 2 * int(p[two.QOFF + 1])
    v = math.exp(y[two.LOGV])
    dlt = y[two.TH2] - y[two.TH1]
    lse = max(dlt, 0.0) + math.log1p(math.exp(-abs(dlt)))
    lw1 = -lse
    lw2 = dlt - lse
    w1 = math.exp(lw1)
    w2 = math.exp(lw2)
    D = max(y[two.Q11] + y[two.Q22] - 2.0 * y[two.Q12], 0.0)
    buf = np.empty(2)
    lr = math.log1p(-rho) - math.log(rho)
    ah = math.sqrt(v * Lam) / tau
    aa = math.sqrt(D / v)
    sp_fast(lr + (y[two.M1] - 0.5 * Lam) / tau, ah, p, off, buf)
    g1 = buf[0]
    ph1 = buf[1]
    sp_fast(lr + (y[two.M2] - 0.5 * Lam) / tau, ah, p, off, buf)
    g2 = buf[0]
    ph2 = buf[1]
    sp_fast(dlt - 0.5 * D / v, aa, p, off, buf)   # a_1 = θ_2 − θ_1 − D/(2v)
    sa1 = buf[0]
    pa1 = buf[1]
    sp_fast(-dlt - 0.5 * D / v, aa, p, off, buf)
    sa2 = buf[0]
    pa2 = buf[1]
    c = 0.5 * (w1 * sa1 + w2 * sa2)
    a1 = w1 * g1 / tau
    a2 = w2 * g2 / tau
    b11 = -w1 / tau + c / v
    b22 = -w2 / tau + c / v
    b12 = -c / v
    m1 = y[two.M1]
    m2 = y[two.M2]
    q11 = y[two.Q11]
    q12 = y[two.Q12]
    q22 = y[two.Q22]
    out[two.M1] = a1 * Lam + b11 * m1 + b12 * m2
    out[two.M2] = a2 * Lam + b12 * m1 + b22 * m2
    out[two.Q11] = 2.0 * (a1 * m1 + b11 * q11 + b12 * q12)
    out[two.Q12] = (a1 * m2 + b11 * q12 + b12 * q22) + (a2 * m1 + b12 * q11 + b22 * q12)
    out[two.Q22] = 2.0 * (a2 * m2 + b12 * q12 + b22 * q22)
    if p[two.TRAIN_W] != 0.0:
        # F_1 - F_2: the common terms (variance, log rho) cancel
        dF = 0.5 * (q11 - q22) / tau + (lw1 - lw2) + (pa1 - pa2) - (ph1 - ph2)
        dth = -w1 * w2 * dF
        out[two.TH1] = dth
        out[two.TH2] = -dth
    else:
        out[two.TH1] = 0.0
        out[two.TH2] = 0.0
    out[two.LOGV] = 0.0


# ------------------------------------------------------------- 3. measure

def run(n_points=2000, quick=False) -> dict:
    from . import sweep_throughput as sw
    from .cases import random_gaussian_state

    res = {"nodes": node_study(quick)}
    Y0, Pm, _ = sw.sweep_points(n_points)
    Pf = np.ascontiguousarray(np.stack([fast_params(p) for p in Pm]))
    t_eval = sw.log_times(sw.T_MAX)
    # deviation of rhs_fast from the model at random states and along trajectories
    rng = np.random.default_rng(7)
    worst = 0.0
    out_m = np.empty(8)
    out_f = np.empty(8)
    states = [random_gaussian_state(rng, sw.LAM, d=8) for _ in range(300)]
    for i, y in enumerate(states):
        two.rhs(0.0, y, Pm[i % len(Pm)], out_m)
        rhs_fast(0.0, y, Pf[i % len(Pf)], out_f)
        worst = max(worst, float(np.max(np.abs(out_f - out_m)) / max(np.max(np.abs(out_m)), 1e-300)))
    res["max_rel_rhs_diff_random"] = worst
    # sweep: model vs fast, all threads, with and without settle_tol
    sw.run_batch(Y0[:4], Pm[:4], t_eval)
    sw.run_batch(Y0[:4], Pf[:4], t_eval, rhs=rhs_fast)
    sw.run_batch(Y0[:4], Pf[:4], t_eval, rhs=rhs_fast, settle_tol=sw.SETTLE_TOL)
    s_m, y_m, _, nr_m = sw.run_batch(Y0, Pm, t_eval)
    c_m = sw.LAST_CPU[0]
    s_f, y_f, st_f, nr_f = sw.run_batch(Y0, Pf, t_eval, rhs=rhs_fast)
    c_f = sw.LAST_CPU[0]
    s_fs, y_fs, _, nr_fs = sw.run_batch(Y0, Pf, t_eval, rhs=rhs_fast, settle_tol=sw.SETTLE_TOL)
    c_fs = sw.LAST_CPU[0]
    # bare RHS cost at the states the sweep visits (saved rows of a few trajectories)
    from ..integrate import make_solver
    Ys = []
    for i in range(0, min(n_points, 40), 8):
        o = np.empty((t_eval.size, 8))
        make_solver(two.rhs)(Y0[i], Pm[i], t_eval, sw.T_MAX, sw.RTOL, sw.ATOL, 0.0, 10**6, 0,
                             0.0, 0.0, o)
        Ys.append(o)
    Ys = np.concatenate(Ys)
    from .trajectories import bare_rhs_seconds
    res.update({
        "points": int(n_points),
        "rhs_model_us": bare_rhs_seconds(two.rhs, Ys, Pm[0]) * 1e6,
        "rhs_fast_us": bare_rhs_seconds(rhs_fast, Ys, Pf[0]) * 1e6,
        "sweep_model_s": s_m, "sweep_fast_s": s_f, "sweep_fast_settle_s": s_fs,
        "sweep_model_cpu_s": c_m, "sweep_fast_cpu_s": c_f, "sweep_fast_settle_cpu_s": c_fs,
        "points_per_s_model": n_points / s_m, "points_per_s_fast": n_points / s_f,
        "points_per_s_fast_settle": n_points / s_fs,
        "rhs_evals_per_point": float(np.mean(nr_m)),
        "rhs_evals_per_point_fast_settle": float(np.mean(nr_fs)),
        "max_abs_final_diff_fast": float(np.nanmax(np.abs(y_f - y_m))),
        "max_abs_final_diff_fast_settle_weights": float(np.nanmax(np.abs(
            sw._weights(y_fs) - sw._weights(y_m)))),
        "fast_status_ok": int(np.sum(st_f == 0)),
    })
    res["rhs_speedup"] = res["rhs_model_us"] / res["rhs_fast_us"]
    from . import diffrax_peer
    if diffrax_peer.available():             # the peer on the same points, in this run
        dx = diffrax_peer.run(n_points, y_ref=y_m)
        res["diffrax_points_per_s"] = dx["points_per_s"]
        res["diffrax_cpu_s"] = dx["cpu_s"]
        res["fast_speedup_vs_diffrax"] = res["points_per_s_fast"] / dx["points_per_s"]
        res["fast_settle_speedup_vs_diffrax"] = res["points_per_s_fast_settle"] / dx["points_per_s"]
        res["model_speedup_vs_diffrax"] = res["points_per_s_model"] / dx["points_per_s"]
    from .circle_cost import circle_what_if
    res["circle"] = circle_what_if(quick)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m flowsim.bench.rhs_cost")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--points", type=int, default=2000)
    args = ap.parse_args(argv)
    res = run(args.points, args.quick)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    nd = res["nodes"]
    print(f"nodes for {nd['tol']:g}: Gauss–Hermite {nd['hermite_for_tol']} (model 48); tail "
          f"{nd['tail_for_tol']} = {nd['tail_rule_for_tol']} (model 96)")
    for n, e in nd["hermite"]:
        print(f"  hermite {n:3d}  err {e:.1e}")
    for name, n, e in nd["tail"]:
        print(f"  tail {name:24s} {n:3d} nodes  err {e:.1e}")
    for obj, r in res["circle"].items():
        print(f"circle {obj}: kernel {r['kernel_us']:.2f} µs, what-if {r['fast_us']:.2f} µs "
              f"({r['speedup']:.2f}×), max rel diff {r['max_rel_diff']:.1e}, N = {r['n_quad']}")
    for k, v in res.items():
        if k not in ("nodes", "circle"):
            print(f"{k:40s} {v:.4g}" if isinstance(v, float) else f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
