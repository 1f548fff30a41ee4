"""How cheap could the circle mixture-KL RHS be?  A what-if, not a model.

`circle_kl_fast` is flowsim.models.circle_mixture_kl (same layout, same trapezoid
nodes) with K + 1 transcendentals per node instead of 2K + 2; `circle_what_if` measures
its bare cost against the kernels and its largest deviation from them.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..special import i0e as _i0e, i1e as _i1e


@njit(cache=True)
def circle_kl_fast(t, y, p, out, forward):
    """flowsim.models.circle_mixture_kl with K + 1 transcendentals per node instead of
    2K + 2: e_kn = exp(a_kn − max_k a_kn) computed once serves log q_n, q_n, ∂q_n/∂a_kn
    (= e_kn · e^{max}) and r_kn (= e_kn / Σ_k e_kn); p_n = exp(log p_n) once per node."""
    k = int(p[0])
    m = int(p[1])
    trainable = p[2] > 0.5
    n = int(p[4])
    o = 5 + 3 * m
    z = y[:k]
    zmax = z.max()
    lse = 0.0
    for i in range(k):
        lse += math.exp(z[i] - zmax)
    lse = zmax + math.log(lse)
    kap = np.empty(k)
    cm = np.empty(k)
    sm = np.empty(k)
    ln = np.empty(k)
    ar = np.empty(k)
    w = np.empty(k)
    for i in range(k):
        kap[i] = math.exp(y[2 * k + i])
        cm[i] = math.cos(y[k + i])
        sm[i] = math.sin(y[k + i])
        w[i] = math.exp(z[i] - lse)
        ln[i] = z[i] - lse - kap[i] - math.log(2.0 * math.pi) - math.log(_i0e(kap[i]))
        ar[i] = _i1e(kap[i]) / _i0e(kap[i])
    for i in range(3 * k):
        out[i] = 0.0
    h = 2.0 * math.pi / n
    a = np.empty(k)
    c = np.empty(k)
    sn = np.empty(k)
    for tn in range(n):
        ct = p[o + tn]
        st = p[o + n + tn]
        lp = p[o + 2 * n + tn]
        amax = -np.inf
        for i in range(k):
            c[i] = ct * cm[i] + st * sm[i]
            sn[i] = st * cm[i] - ct * sm[i]
            a[i] = ln[i] + kap[i] * c[i]
            if a[i] > amax:
                amax = a[i]
        s = 0.0
        for i in range(k):
            a[i] = math.exp(a[i] - amax)
            s += a[i]
        log_q = amax + math.log(s)
        if forward:
            g = h * math.exp(lp) / s
            gw = 0.0
            for i in range(k):
                gr = g * a[i]
                out[k + i] += gr * kap[i] * sn[i]
                out[2 * k + i] += gr * kap[i] * (c[i] - ar[i])
                if trainable:
                    out[i] += gr
            if trainable:
                gw = h * math.exp(lp)
                for i in range(k):
                    out[i] -= gw * w[i]
        else:
            scale = math.exp(amax)
            q = scale * s
            g = h * (log_q - lp + 1.0) * scale
            for i in range(k):
                dq = g * a[i]
                out[k + i] -= dq * kap[i] * sn[i]
                out[2 * k + i] -= dq * kap[i] * (c[i] - ar[i])
                if trainable:
                    out[i] -= dq - g * w[i] * s
    return 0.0


@njit(cache=True)
def circle_reverse_kl_fast(t, y, p, out):
    circle_kl_fast(t, y, p, out, False)


@njit(cache=True)
def circle_forward_kl_fast(t, y, p, out):
    circle_kl_fast(t, y, p, out, True)


def circle_what_if(quick=False) -> dict:
    """Bare cost and agreement of the circle what-ifs against the kernels, at the
    benchmark case's trajectory states and at random states."""
    from ..integrate import integrate
    from ..simulation import log_times
    from .cases import circle_problem, circle_target, circle_init, random_circle_state
    from .trajectories import bare_rhs_seconds
    from ..simulation import build_problem

    res = {}
    rng = np.random.default_rng(3)
    for obj, fast in (("reverse_kl", circle_reverse_kl_fast), ("forward_kl", circle_forward_kl_fast)):
        prob = build_problem(circle_target(), circle_init(), objective=obj)
        sol = integrate(prob.model.rhs, prob.y0, prob.params, log_times(50.0), t_max=50.0)
        worst = 0.0
        for seed in range(3 if quick else 10):
            pr = circle_problem(obj, "trainable", 0.0, 3, 3, seed=seed)
            for _ in range(20):
                yy = random_circle_state(rng, 3)
                ref = pr.rhs(0.0, yy)
                got = np.empty_like(ref)
                fast(0.0, yy, pr.params, got)
                worst = max(worst, float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))))
        t_k = bare_rhs_seconds(prob.model.rhs, sol.states, prob.params)
        t_f = bare_rhs_seconds(fast, sol.states, prob.params)
        res[obj] = {"kernel_us": t_k * 1e6, "fast_us": t_f * 1e6, "speedup": t_k / t_f,
                    "max_rel_diff": worst, "n_quad": int(prob.params[4])}
    return res
