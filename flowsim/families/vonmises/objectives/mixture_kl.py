"""Gradient flows of the exact mixture KLs on the circle (remedy A of seed 000).

Symbols: nodes θ_n = −π + 2πn/N, h = 2π/N; a_kn = log w_k + log VM(θ_n; μ_k, κ_k);
log q_n = logsumexp_k a_kn; log p_n the target log density (precomputed in p);
r_kn = exp(a_kn − log q_n) the responsibilities.

    reverse_kl   L = h Σ_n q_n (log q_n − log p_n)        ≈ KL(q ‖ p)
    forward_kl   L = h Σ_n p_n (log p_n − log q_n)        ≈ KL(p ‖ q)
    reverse_kl under a temperature schedule (flowsim.schedule; docs/derivations.md, B1):
                 L_β = h Σ_n q_n (log q_n − β log p_n)  ≈ E_q[log q] − β E_q[log p]

The periodic trapezoid rule is spectrally accurate (K1). Per node, one
exponential per component e_kn = exp(a_kn − max_k a_kn) serves log q_n, q_n, ∂q_n
and r_kn = e_kn / Σ_k e_kn. The gradients are
the exact derivatives of these discrete sums, with the density derivatives under
the sum (∂ log VM/∂μ = κ sin(θ − μ), ∂ log VM/∂s = κ (cos(θ − μ) − A(κ)), s = log κ,
∂ a_kn/∂z_j = δ_kj − w_j):

    ∂L_rev/∂φ = h Σ_n (log q_n − log p_n + 1) ∂q_n/∂φ
    ∂L_fwd/∂φ = −h Σ_n p_n ∂ log q_n/∂φ = −h Σ_n p_n Σ_k r_kn ∂a_kn/∂φ

Annealed (B1): the entropy part h Σ_n q_n log q_n contributes (log q_n + 1) ∂q_n/∂φ and
the target part h Σ_n q_n log p_n contributes log p_n ∂q_n/∂φ, so the node factor is

    g_n = log q_n − β log p_n + 1,     ∂L_β/∂φ = h Σ_n g_n ∂q_n/∂φ,

with β = β(t) read from the schedule tail of p (right after the log p(θ_n) block:
`own_end`). The plain kernels run the vectorised code with β = 1.0 (β·x = x exactly, so
their results are unchanged bit for bit); the per-node logsumexp fallback keeps its plain
form and has an annealed twin, `_reverse_kl_loss_lse_annealed` (giving the plain function a
β argument changed how numba compiles it, by an ulp). The annealed model's value kernel is
the plain KL(q ‖ p) (β = 1, the objective the schedule anneals towards): a value kernel has
no t.
"""
from __future__ import annotations

import math

import numpy as np

from ....numerics.simd_math import REASSOC, exp_simd, log_simd
from ....numerics.special import bessel_ratio, i0e, logsumexp
from ....problem import FlowModel
from ..params import HEADER, grid_slices, sizes
from ....numerics.jit import kernel
from ....registry import Objective, register_objective
from ....schedule import beta_at
from .. import reference

REVERSE, FORWARD = 0, 1
LOG_2PI = math.log(2.0 * math.pi)
Q_TINY = 1e-280


@kernel
def own_end(p):
    """Where the model's own part of p ends (5 + 3M + 3N): a schedule's tail starts here."""
    return HEADER + 3 * int(p[1]) + 3 * int(p[4])


@kernel
def _mixture_kl_loss_lse(y, p, out, direction):
    """Value of the discrete mixture KL in `direction`; writes −∇L into out (per-node
    logsumexp: safe when some q_n underflows, i.e. κ ≳ 350)."""
    k, _, trainable, _, n = sizes(p)
    cos_t, sin_t, log_p = grid_slices(p)
    z = y[:k]
    mu = y[k:2 * k]
    kap = np.exp(y[2 * k:3 * k])
    log_w = z - logsumexp(z)
    w = np.exp(log_w)
    cos_mu, sin_mu = np.cos(mu), np.sin(mu)
    log_norm = np.empty(k)
    a_ratio = np.empty(k)
    for i in range(k):
        log_norm[i] = log_w[i] - kap[i] - LOG_2PI - np.log(i0e(kap[i]))
        a_ratio[i] = bessel_ratio(kap[i])
    for i in range(3 * k):
        out[i] = 0.0
    h = 2.0 * np.pi / n
    a = np.empty(k)
    c = np.empty(k)
    sn = np.empty(k)
    value = 0.0
    for t in range(n):
        amax = -np.inf
        for i in range(k):
            c[i] = cos_t[t] * cos_mu[i] + sin_t[t] * sin_mu[i]
            sn[i] = sin_t[t] * cos_mu[i] - cos_t[t] * sin_mu[i]
            a[i] = log_norm[i] + kap[i] * c[i]
            amax = max(amax, a[i])
        total = 0.0
        for i in range(k):
            a[i] = np.exp(a[i] - amax)
            total += a[i]
        log_q = amax + np.log(total)
        if direction == REVERSE:
            scale = np.exp(amax)
            q = total * scale
            value += h * q * (log_q - log_p[t])
            g = h * (log_q - log_p[t] + 1.0) * scale
            for i in range(k):
                out[k + i] -= g * a[i] * kap[i] * sn[i]
                out[2 * k + i] -= g * a[i] * kap[i] * (c[i] - a_ratio[i])
                if trainable:
                    out[i] -= g * (a[i] - w[i] * total)
        else:
            pt = np.exp(log_p[t])
            value += h * pt * (log_p[t] - log_q)
            g = h * pt / total
            for i in range(k):
                out[k + i] += g * a[i] * kap[i] * sn[i]
                out[2 * k + i] += g * a[i] * kap[i] * (c[i] - a_ratio[i])
                if trainable:
                    out[i] += g * (a[i] - w[i] * total)
    return value


@kernel
def _reverse_kl_loss_lse_annealed(y, p, out, beta):
    """The REVERSE branch of `_mixture_kl_loss_lse` with the annealed node factor
    g_n = log q_n − β log p_n + 1 (B1): value L_β, −∇L_β into out. A separate function, so
    that the compiled plain kernels (and their results) stay exactly what they were."""
    k, _, trainable, _, n = sizes(p)
    cos_t, sin_t, log_p = grid_slices(p)
    z = y[:k]
    mu = y[k:2 * k]
    kap = np.exp(y[2 * k:3 * k])
    log_w = z - logsumexp(z)
    w = np.exp(log_w)
    cos_mu, sin_mu = np.cos(mu), np.sin(mu)
    log_norm = np.empty(k)
    a_ratio = np.empty(k)
    for i in range(k):
        log_norm[i] = log_w[i] - kap[i] - LOG_2PI - np.log(i0e(kap[i]))
        a_ratio[i] = bessel_ratio(kap[i])
    for i in range(3 * k):
        out[i] = 0.0
    h = 2.0 * np.pi / n
    a = np.empty(k)
    c = np.empty(k)
    sn = np.empty(k)
    value = 0.0
    for t in range(n):
        amax = -np.inf
        for i in range(k):
            c[i] = cos_t[t] * cos_mu[i] + sin_t[t] * sin_mu[i]
            sn[i] = sin_t[t] * cos_mu[i] - cos_t[t] * sin_mu[i]
            a[i] = log_norm[i] + kap[i] * c[i]
            amax = max(amax, a[i])
        total = 0.0
        for i in range(k):
            a[i] = np.exp(a[i] - amax)
            total += a[i]
        log_q = amax + np.log(total)
        scale = np.exp(amax)
        q = total * scale
        value += h * q * (log_q - beta * log_p[t])
        g = h * (log_q - beta * log_p[t] + 1.0) * scale
        for i in range(k):
            out[k + i] -= g * a[i] * kap[i] * sn[i]
            out[2 * k + i] -= g * a[i] * kap[i] * (c[i] - a_ratio[i])
            if trainable:
                out[i] -= g * (a[i] - w[i] * total)
    return value


@kernel(fastmath=REASSOC, error_model="numpy")
def _mixture_kl_loss(y, p, out, direction, beta=1.0):
    """Value of the discrete mixture KL in `direction`; writes −∇L into out. REVERSE with
    beta: the annealed L_β = h Σ_n q_n (log q_n − β log p_n) and its gradient (B1);
    beta = 1.0 is the plain reverse KL (K1).

    Node loops in the unscaled form q_kn = W_k e_kn, W_k = w_k/(2π i0e(κ_k)),
    e_kn = exp(κ_k (cos(θ_n − μ_k) − 1)) ∈ (0, 1], written with flowsim.numerics.simd_math so
    they vectorise. Falls back to the per-node logsumexp form when some q_n < Q_TINY.
    """
    k, _, trainable, _, n = sizes(p)
    cos_t, sin_t, log_p = grid_slices(p)
    z = y[:k]
    kap = np.exp(y[2 * k:3 * k])
    log_w = z - logsumexp(z)
    h = 2.0 * np.pi / n
    w = np.exp(log_w)
    cm = np.cos(y[k:2 * k])
    sm = np.sin(y[k:2 * k])
    norm_w = np.empty(k)                     # W_k
    e = np.empty((k, n))
    q = np.zeros(n)
    for i in range(k):
        ki = kap[i]
        norm_w[i] = w[i] / (2.0 * np.pi * i0e(ki))
        ei = e[i]
        for t in range(n):
            x = exp_simd(ki * (cos_t[t] * cm[i] + sin_t[t] * sm[i] - 1.0))
            ei[t] = x
            q[t] += norm_w[i] * x
    qmin = np.inf
    for t in range(n):
        qmin = min(qmin, q[t])
    if not (qmin >= Q_TINY):
        if direction == REVERSE and beta != 1.0:
            return _reverse_kl_loss_lse_annealed(y, p, out, beta)
        return _mixture_kl_loss_lse(y, p, out, direction)
    g = np.empty(n)
    value = 0.0
    s_q = 0.0                                # Σ_n g_n q_n, shared by every component
    if direction == REVERSE:
        for t in range(n):
            lq = log_simd(q[t])
            value += q[t] * (lq - beta * log_p[t])
            g[t] = lq - beta * log_p[t] + 1.0
            s_q += g[t] * q[t]
        sign = -h
    else:
        for t in range(n):
            pt = exp_simd(log_p[t])
            value += pt * (log_p[t] - log_simd(q[t]))
            g[t] = pt / q[t]
            s_q += pt
        sign = h
    for i in range(k):
        ei = e[i]
        s_sin = 0.0
        s_cos = 0.0
        s_e = 0.0
        for t in range(n):
            ge = g[t] * ei[t]
            s_sin += ge * (sin_t[t] * cm[i] - cos_t[t] * sm[i])
            s_cos += ge * (cos_t[t] * cm[i] + sin_t[t] * sm[i])
            s_e += ge
        wn = sign * norm_w[i]
        out[k + i] = wn * kap[i] * s_sin
        out[2 * k + i] = wn * kap[i] * (s_cos - bessel_ratio(kap[i]) * s_e)
        out[i] = (wn * s_e - sign * w[i] * s_q) if trainable else 0.0
    return h * value


@kernel
def rhs_reverse_kl(t, y, p, out):
    _mixture_kl_loss(y, p, out, REVERSE, 1.0)


@kernel
def objective_reverse_kl(y, p):
    return _mixture_kl_loss(y, p, np.empty(y.size), REVERSE, 1.0)


@kernel
def rhs_reverse_kl_annealed(t, y, p, out):
    """−∇L_β(t) of the annealed reverse KL (B1), β(t) from the schedule tail at own_end(p)."""
    o = own_end(p)
    _mixture_kl_loss(y, p, out, REVERSE, beta_at(t, p[o], p[o + 1], p[o + 2]))


@kernel
def rhs_forward_kl(t, y, p, out):
    _mixture_kl_loss(y, p, out, FORWARD)


@kernel
def objective_forward_kl(y, p):
    return _mixture_kl_loss(y, p, np.empty(y.size), FORWARD)


for _name, _rhs, _value, _doc in (
        ("reverse_kl", rhs_reverse_kl, objective_reverse_kl, "KL(q||p) of the mixtures (trapezoid rule)"),
        ("forward_kl", rhs_forward_kl, objective_forward_kl, "KL(p||q) of the mixtures (trapezoid rule)")):
    register_objective(Objective(
        family="vonmises", name=_name, description=_doc,
        models={"circle": FlowModel(f"vonmises.{_name}", _rhs, _value)},
        reference={"circle": getattr(reference, _name)},
        torch_loss=f"flowsim.families.vonmises.torch_losses:{_name}",
        check="circle",
        # B1: the value kernel of the annealed model is the plain KL(q||p) (beta = 1)
        annealed={"circle": FlowModel(f"vonmises.{_name}.annealed", rhs_reverse_kl_annealed,
                                      objective_reverse_kl)} if _name == "reverse_kl" else {}))
