"""numpy reference right-hand sides of the Gaussian objectives, written without numba.

two_mode   the overlap ODE (G1), (R1)-(R4), (F1)-(F4) of docs/derivations.md in numpy, with
           the 1-D expectations S, P, V vectorised over (pairs, nodes); it reads the
           packed parameters of flowsim.families.gaussian.two_mode.
span       the plain gradient of the mixture KL in the span coordinates, by a tensor
           Gauss–Hermite rule in r dimensions (no Stein's lemma, no logistic-normal
           reduction: the reparametrisation and score formulas), plus the exact term of
           the d − r orthogonal dimensions (S1). It reads the packed parameters of
           flowsim.families.gaussian.span. Its own accuracy is that of the tensor rule
           (~1e-9 for separations up to ~5σ at 48 nodes per dimension).

Both serve as independent cross-checks of the kernels (tests/test_objectives.py), and the
two-mode one as the numpy RHS of the benchmark.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import ndtr

from .quadrature import ALPHA_SWITCH
from .span import HDIM, HEAD, HK, HM, HR, HTAU, HTV, HTW
from .two_mode import DIM, LAM, QOFF, RHO, TAU, TRAIN_V, TRAIN_W


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# --------------------------------------------- gaussian: 1-D expectations


def _quad_block(p, off):
    n_gh, n_t = int(p[off]), int(p[off + 1])
    o = off + 2
    return p[o:o + n_gh], p[o + n_gh:o + 2 * n_gh], p[o + 2 * n_gh:o + 2 * n_gh + n_t], \
        p[o + 2 * n_gh + n_t:o + 2 * n_gh + 2 * n_t]


def spv(beta, alpha, p, off):
    """(S, P, V) = E[sgm, softplus, sgm'](β + α ξ), ξ ~ N(0,1), for arrays β, α (n,).

    α < ALPHA_SWITCH: Gauss–Hermite in ξ; else the closed-form piecewise-linear part (Φ, φ)
    plus the remainder in t = β + α ξ on [0, T] (flowsim.families.gaussian.quadrature.logistic_normal doc).
    Both branches are evaluated on every pair and selected (vectorised)."""
    gx, gw, tt, tw = _quad_block(p, off)
    beta = np.asarray(beta, float)
    a = np.abs(np.asarray(alpha, float))
    # Gauss–Hermite branch, (n, n_gh)
    t = beta[:, None] + a[:, None] * gx[None, :]
    e = np.exp(-np.abs(t))
    inv = 1.0 / (1.0 + e)
    S_gh = np.where(t >= 0.0, inv, e * inv) @ gw
    P_gh = (np.maximum(t, 0.0) + np.log1p(e)) @ gw
    V_gh = (e * inv * inv) @ gw
    # closed form + tail, (n, n_t)
    asafe = np.where(a >= ALPHA_SWITCH, a, 1.0)
    zz = beta / asafe
    Phi = ndtr(zz)
    phi = np.exp(-0.5 * zz * zz) / math.sqrt(2.0 * math.pi)
    c = 1.0 / (math.sqrt(2.0 * math.pi) * asafe)
    zp = (tt[None, :] - beta[:, None]) / asafe[:, None]
    zm = (tt[None, :] + beta[:, None]) / asafe[:, None]
    gp = c[:, None] * np.exp(-0.5 * zp * zp)
    gm = c[:, None] * np.exp(-0.5 * zm * zm)
    et = np.exp(-tt)
    it = 1.0 / (1.0 + et)
    S_t = Phi + (gm - gp) @ (tw * et * it)
    P_t = beta * Phi + asafe * phi + (gp + gm) @ (tw * np.log1p(et))
    V_t = (gp + gm) @ (tw * et * it * it)
    big = a >= ALPHA_SWITCH
    return np.where(big, S_t, S_gh), np.where(big, P_t, P_gh), np.where(big, V_t, V_gh)


# ------------------------------------------------------- gaussian: two mode


def two_mode_reverse_kl(t, y, p):
    """dy/dt of y = [m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s] for KL(q‖p) (R1)-(R4)."""
    return _two_mode(y, p, forward=False)


def two_mode_forward_kl(t, y, p):
    """dy/dt of y = [m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s] for KL(p‖q) (F1)-(F4)."""
    return _two_mode(y, p, forward=True)


def _two_mode(y, p, forward):
    Lam, rho, tau, d = p[LAM], p[RHO], p[TAU], p[DIM]
    m = y[0:2]
    Q = np.array([[y[2], y[3]], [y[3], y[4]]])
    th = y[5:7]
    v = math.exp(y[7])
    w = _softmax(th)
    log_w = np.log(w)
    D = max(Q[0, 0] + Q[1, 1] - 2.0 * Q[0, 1], 0.0)
    out = np.empty(8)
    if not forward:
        # (R1): h_k, alpha_h; a_k = θ_k' − θ_k − D/(2v), alpha_a
        h = math.log((1.0 - rho) / rho) + (m - 0.5 * Lam) / tau
        ak = th[::-1] - th - 0.5 * D / v
        beta = np.concatenate([h, ak])
        alpha = np.array([math.sqrt(v * Lam) / tau] * 2 + [math.sqrt(D / v)] * 2)
        S, P, V = spv(beta, alpha, p, QOFF)
        gamma, Sa = S[:2], S[2:]
        c = 0.5 * np.dot(w, Sa)                       # w_1 E_{q_1} s_2 = w_2 E_{q_2} s_1
        a = w * gamma / tau
        B = np.array([[-w[0] / tau + c / v, -c / v], [-c / v, -w[1] / tau + c / v]])
        F = (0.5 * d * (v / tau - 1.0 - math.log(v / tau)) + np.diag(Q) / (2.0 * tau) + log_w
             + P[2:] - math.log(rho) - P[:2])                                            # (R2)
        L = np.dot(w, F)
        dth = -w * (F - L) if p[TRAIN_W] != 0.0 else np.zeros(2)                        # (R3)
        ds = -(0.5 * d * (v / tau - 1.0) + 0.5 * D / v * np.dot(w, V[2:])
               - 0.5 * v * Lam / tau ** 2 * np.dot(w, V[:2])) if p[TRAIN_V] != 0.0 else 0.0  # (R4)
    else:
        rhos = np.array([rho, 1.0 - rho])
        e = np.array([0.0, m[1] - m[0]])
        b = th[1] - th[0] + (e + 0.5 * (Q[0, 0] - Q[1, 1])) / v                           # (F1)
        S, _, V = spv(b, np.full(2, math.sqrt(tau * D) / v), p, QOFF)
        Es = np.stack([1.0 - S, S])                    # Es[k, j] = E_{p_j} s_k
        rep = tau / v * np.dot(rhos, V)
        Ep = Es @ rhos                                  # E_p s_k
        a = rhos[1] * Es[:, 1] / v                      # (F2) in u = ν − μ_1
        B = (np.diag(-Ep) + rep * np.array([[1.0, -1.0], [-1.0, 1.0]])) / v
        dth = Ep - w if p[TRAIN_W] != 0.0 else np.zeros(2)                               # (F3)
        if p[TRAIN_V] != 0.0:                                                             # (F4)
            dist = np.stack([np.diag(Q), Lam - 2.0 * m + np.diag(Q)])   # |μ_j − ν_k|², (j, k)
            acc = np.dot(rhos, np.sum(Es.T * dist, axis=1) - 2.0 * tau / v * D * V + tau * d)
            ds = -0.5 * d + 0.5 * acc / v
        else:
            ds = 0.0
    # (G1): du_k = a_k Δ + Σ_l B_kl u_l
    out[0:2] = a * Lam + B @ m
    G = np.outer(a, m) + B @ Q
    dQ = G + G.T
    out[2], out[3], out[4] = dQ[0, 0], dQ[0, 1], dQ[1, 1]
    out[5:7] = dth
    out[7] = ds
    return out


# ------------------------------------------------------- gaussian: span (full space)

@lru_cache(maxsize=None)
def tensor_rule(dim: int, n: int):
    """Nodes (n^dim, dim) and weights (n^dim,) of the tensor probabilists' Gauss–Hermite
    rule: sum_i w_i f(z_i) = E f(z), z ~ N(0, I_dim)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    weights = np.ones(1)
    for _ in range(dim):
        weights = np.outer(weights, w).ravel()
    return np.stack([g.ravel() for g in grids], -1), weights


def _log_mix(x, means, logw, var):
    """log of sum_k e^{logw_k} N(x; means_k, var I) and the responsibilities, for x (N, r)."""
    sq = np.sum((x[:, None, :] - means[None]) ** 2, -1)
    a = logw[None] - 0.5 * sq / var - 0.5 * x.shape[1] * np.log(2 * np.pi * var)
    m = a.max(-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(a - m).sum(-1))
    return lse, np.exp(a - lse[:, None])


def full_space_grad(nu, th, s, mu, rho, tau, objective, n=None):
    """(dL/dnu (K, r), dL/dtheta (K,), dL/ds, L) of the mixture KL in R^r by the tensor
    Gauss–Hermite rule: the reparametrisation gradient of E_q[log q - log p] (reverse) or
    the score gradient of E_p[log p - log q] (forward), x = nu_k + sqrt(v) z. The rule has
    n nodes per dimension (default NODES[r]: its error is ~1e-7 or less for variances and
    separations of order one; it converges slowly where q is much broader than p)."""
    r = nu.shape[1]
    Z, WZ = tensor_rule(r, n or NODES[r])
    v = math.exp(s)
    w = _softmax(th)
    lw = np.log(w)
    lr = np.log(rho)
    K = nu.shape[0]
    if objective == "reverse_kl":
        F = np.empty(K)
        g_nu = np.empty_like(nu)
        g_s = 0.0
        for k in range(K):
            x = nu[k] + math.sqrt(v) * Z
            lq, sq = _log_mix(x, nu, lw, v)
            lp, sp = _log_mix(x, mu, lr, tau)
            grad_f = (sq @ nu - x) / v - (sp @ mu - x) / tau
            F[k] = WZ @ (lq - lp)
            g_nu[k] = w[k] * (WZ @ grad_f)
            g_s += w[k] * (WZ @ np.sum(grad_f * math.sqrt(v) * Z / 2.0, -1))
        L = w @ F
        return g_nu, w * (F - L), g_s, L
    g_nu = np.zeros_like(nu)
    es = np.zeros(K)
    g_s = 0.0
    L = 0.0
    for j in range(mu.shape[0]):
        x = mu[j] + math.sqrt(tau) * Z
        lq, sq = _log_mix(x, nu, lw, v)
        lp, _ = _log_mix(x, mu, lr, tau)
        L += rho[j] * (WZ @ (lp - lq))
        for k in range(K):
            g_nu[k] -= rho[j] * (WZ @ (sq[:, k, None] * (x - nu[k]))) / v
            es[k] += rho[j] * (WZ @ sq[:, k])
            g_s -= rho[j] * (WZ @ (sq[:, k] * (np.sum((x - nu[k]) ** 2, -1) / (2 * v) - 0.5 * r)))
    return g_nu, w - es, g_s, L


NODES = {1: 400, 2: 160, 3: 64}


def _span_rhs(y, p, objective, n):
    K, M, r = int(p[HK]), int(p[HM]), int(p[HR])
    tau, d = p[HTAU], p[HDIM]
    T = p[HEAD:HEAD + M * r].reshape(M, r)
    rho = np.exp(p[HEAD + M * r:HEAD + M * r + M])
    X = y[:K * r].reshape(K, r)
    th, s = y[K * r:K * r + K], y[K * r + K]
    g_nu, g_th, g_s, _ = full_space_grad(X, th, s, T, rho, tau, objective, n)
    v = math.exp(s)
    # (S1): the d - r orthogonal dimensions add (d - r)/2 (v/tau - 1 - log(v/tau)) (reverse)
    # or (d - r)/2 (tau/v - 1 + log(v/tau)) (forward) to L
    g_s += 0.5 * (d - r) * ((v / tau - 1.0) if objective == "reverse_kl" else (1.0 - tau / v))
    return np.concatenate([-g_nu.ravel(), -g_th * (p[HTW] != 0.0), [-g_s * (p[HTV] != 0.0)]])


def span_reverse_kl(t, y, p, n=None):
    """dy/dt of the span state y = [X (K r), theta (K), log v] for KL(q‖p), full-space gradient."""
    return _span_rhs(np.asarray(y, float), p, "reverse_kl", n)


def span_forward_kl(t, y, p, n=None):
    """dy/dt of the span state y = [X (K r), theta (K), log v] for KL(p‖q), full-space gradient."""
    return _span_rhs(np.asarray(y, float), p, "forward_kl", n)


# --------------------------------------- gaussian: f-divergences (full space, pathwise)
#
# D_f(p ‖ q) = ∫ q f(p/q) and its plain gradient in the span state [X, θ, s], written
# without the kernels' machinery (flowsim.families.gaussian.fdivergence: no effective
# dimension, no principal axes, no node allocation, no g): the integrals run over the r
# span coordinates (an axis-aligned tensor Gauss–Hermite rule) times, when d > r, the
# radial variable |x_⊥|² (scipy's generalized Gauss–Laguerre rule), with v = τ as well.
# (tests/test_gaussian_divergences.py checks both against integrals over the full R², R³.)
# The gradient is the reparametrisation (pathwise) one, which needs f′ but not g = f − u f′:
#
#   ∂D/∂ν_k = ∫ w_k q_k f′(u) u ∇log u − ∫ p f′(u) s_k (x − ν_k)/v
#   ∂D/∂s   = Σ_k ∫ w_k q_k f′(u) u ∇log u·(x − ν_k)/2 − ∫ p f′(u) Σ_l s_l (|x − ν_l|²/(2v) − d/2)
#   ∂D/∂θ_k = ∫ w_k (q_k − q) f(u) − ∫ p f′(u) (s_k − w_k)
#
# Every integral ∫ H is taken as Σ_c b_c E_{N_c}[H / Z] over the components N_c (mass b_c)
# of Z = p + q (+ the geometric components (ρ_j p_j)^t (w_k q_k)^(1−t) for χ² and α ∉ [0, 1]),
# so that H/Z stays bounded. The generators are written here again, in numpy.

FDIV_NODES = {1: 600, 2: 240, 3: 48, 4: 20}   # per axis of the tensor rule (full space: d axes)
FDIV_NODES_UNEQUAL = {1: 600, 2: 400, 3: 64, 4: 24}  # where v/τ is outside [0.6, 1.7]


@lru_cache(maxsize=None)
def _fdiv_tensor_rule(dim: int, n: int):
    """tensor_rule with scipy's Gauss–Hermite nodes (numpy's overflow above ~300 nodes)."""
    from scipy.special import roots_hermitenorm

    x, w = roots_hermitenorm(n)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    weights = np.ones(1)
    for _ in range(dim):
        weights = np.outer(weights, w).ravel()
    return np.stack([g.ravel() for g in grids], -1), weights
FDIV_RADIAL_NODES = 16


def _fdiv_numpy_generator(name, a):
    """(f, f′) of objective `name` as numpy functions of u (written independently of
    flowsim.divergences), and the exponent t of its geometric components (0: none)."""
    if name == "js":
        def f(u):
            return u * np.log(u) - (1.0 + u) * np.log1p(u)

        def fp(u):
            return -np.log1p(1.0 / u)
        return f, fp, 0.0
    if name == "nonsaturating":
        def f(u):
            return (1.0 + u) * (np.log1p(1.0 / u) - math.log(2.0))

        def fp(u):
            return np.log1p(1.0 / u) - math.log(2.0) - 1.0 / u
        return f, fp, 0.0
    if name == "chi2":
        return (lambda u: (u - 1.0) ** 2), (lambda u: 2.0 * (u - 1.0)), 2.0
    if name == "hellinger":
        return (lambda u: 0.5 * (np.sqrt(u) - 1.0) ** 2), (lambda u: 0.5 - 0.5 / np.sqrt(u)), 0.0
    if name == "alpha":
        def f(u):
            return (np.power(u, a) - 1.0 - a * (u - 1.0)) / (a * (a - 1.0))

        def fp(u):
            return (np.power(u, a - 1.0) - 1.0) / (a - 1.0)
        return f, fp, (a if (a > 1.0 or a < 0.0) else 0.0)
    raise ValueError(f"objective: no numpy f-divergence generator {name!r}")


def _fdiv_unpack(y, p):
    K, M, r = int(p[HK]), int(p[HM]), int(p[HR])
    T = p[HEAD:HEAD + M * r].reshape(M, r)
    rho = np.exp(p[HEAD + M * r:HEAD + M * r + M])
    X = np.asarray(y[:K * r], float).reshape(K, r)
    th = np.asarray(y[K * r:K * r + K], float)
    return K, M, r, T, rho, X, th, math.exp(y[K * r + K])


def _log_gauss(y, zz, c, var, d):
    """log N(x; c, var I_d) at points x = (y, x_⊥), |x_⊥|² = zz: y (N, r), c (J, r) -> (N, J)."""
    sq = np.sum((y[:, None, :] - c[None]) ** 2, -1) + zz[:, None]
    return -0.5 * sq / var - 0.5 * d * math.log(2.0 * math.pi * var)


def _lse(a, axis=-1):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def fdivergence_full_space(y, p, name, a=0.5, n=None, n_radial=FDIV_RADIAL_NODES):
    """(D, dD/dX (K, r), dD/dθ (K,), dD/ds) of D_f(p ‖ q) for the span state y and packed
    parameters p (flowsim.families.gaussian.span layout), by the rule above."""
    from scipy.special import roots_genlaguerre

    f, fp, t = _fdiv_numpy_generator(name, a)
    K, M, r, T, rho, X, th, v = _fdiv_unpack(y, p)
    tau, d = p[HTAU], int(p[HDIM])
    w = _softmax(th)
    lw, lr = np.log(w), np.log(rho)
    comps = [(X[k], v, lw[k]) for k in range(K)] + [(T[j], tau, lr[j]) for j in range(M)]
    if t != 0.0:
        P = t / tau + (1.0 - t) / v
        if P <= 0.0:
            inf = np.full((K, r), np.inf)
            return math.inf, inf, np.full(K, np.inf), math.inf
        for j in range(M):
            for k in range(K):
                c = (t * T[j] / tau + (1.0 - t) * X[k] / v) / P
                # log ∫ (ρ_j p_j)^t (w_k q_k)^(1−t) dx, completing the square in d dimensions
                lg = (t * lr[j] + (1.0 - t) * lw[k]
                      - 0.5 * d * (t * math.log(2 * math.pi * tau) + (1 - t) * math.log(2 * math.pi * v))
                      + 0.5 * d * math.log(2 * math.pi / P)
                      - 0.5 * (t / tau) * ((1 - t) / v) / P * np.sum((T[j] - X[k]) ** 2))
                comps.append((c, 1.0 / P, lg))
    D = r
    far = not 0.6 <= v / tau <= 1.7          # one family much narrower: more nodes
    Zn, Zw = _fdiv_tensor_rule(D, n or (FDIV_NODES_UNEQUAL if far else FDIV_NODES)[D])
    if d > r:
        tr, twr = roots_genlaguerre(n_radial, 0.5 * (d - r) - 1.0)
        Rn, Rw = 2.0 * tr, twr / twr.sum()
    else:
        Rn, Rw = np.zeros(1), np.ones(1)
    lb = np.array([c[2] for c in comps])
    lbmax = lb.max()
    e_hi, e_lo = 700.0 / max(1.0, t), 700.0 / max(1.0, -t)
    val = 0.0
    gX = np.zeros((K, r))
    gth = np.zeros(K)
    gs = 0.0
    for centre, var, lmass in comps:
        sd = math.sqrt(var)
        pts = np.concatenate([centre, np.zeros(D - r)])[None, :] + sd * Zn     # (N, D)
        yy = np.repeat(pts[:, :r], Rn.size, axis=0)
        zz = np.repeat(np.sum(pts[:, r:] ** 2, -1), Rn.size) + np.tile(var * Rn, pts.shape[0])
        wt = np.repeat(Zw, Rn.size) * np.tile(Rw, pts.shape[0]) * math.exp(lmass - lbmax)
        a_q = lw[None] + _log_gauss(yy, zz, X, v, d)            # log w_k q_k(x), (N, K)
        a_p = lr[None] + _log_gauss(yy, zz, T, tau, d)          # log ρ_j p_j(x), (N, M)
        lq, lp = _lse(a_q), _lse(a_p)
        parts = [lq, lp]
        if t != 0.0:
            parts.append(_lse((t * a_p[:, :, None] + (1 - t) * a_q[:, None, :]).reshape(len(lq), -1)))
        lz = _lse(np.stack(parts, -1))
        s_q = np.exp(a_q - lq[:, None])                          # variational responsibilities
        pi_p = np.exp(a_p - lp[:, None])                         # target responsibilities
        ell = np.clip(lp - lq, -e_lo, e_hi)
        u = np.exp(ell)
        fu, fpu = f(u), fp(u)
        qz = np.exp(lq - lz)                                     # q/Z, p/Z, w_k q_k/Z
        pz = np.exp(lp - lz)
        wqz = np.exp(a_q - lz[:, None])
        grad_lu = (pi_p @ T - yy) / tau - (s_q @ X - yy) / v    # ∇_y log u, (N, r)
        zterm = zz * (1.0 / v - 1.0 / tau)                       # x_⊥·∇_⊥ log u
        val += wt @ (qz * fu)
        for k in range(K):
            dyk = yy - X[k]
            gX[k] += (wt * wqz[:, k] * fpu * u) @ grad_lu - (wt * pz * fpu * s_q[:, k]) @ dyk / v
            gth[k] += wt @ ((wqz[:, k] - w[k] * qz) * fu - pz * fpu * (s_q[:, k] - w[k]))
            gs += 0.5 * (wt * wqz[:, k] * fpu * u) @ (np.sum(grad_lu * dyk, -1) + zterm)
        sq_nu = np.sum((yy[:, None, :] - X[None]) ** 2, -1) + zz[:, None]       # |x − ν_l|²
        gs -= (wt * pz * fpu) @ np.sum(s_q * (sq_nu / (2 * v) - 0.5 * d), -1)
    sc = math.exp(lbmax)
    return val * sc, gX * sc, gth * sc, gs * sc


def _span_fdiv_rhs(name):
    def rhs(t, y, p, n=None):
        from .fdivergence import DEFAULT_ALPHA, HPARAM

        a = p[HPARAM] if p[HPARAM] != 0.0 else DEFAULT_ALPHA
        _, gX, gth, gs = fdivergence_full_space(np.asarray(y, float), p, name, a, n)
        if not np.isfinite(gs):                  # an infinite divergence: +inf, as the kernels
            return np.full(y.size, np.inf)
        return np.concatenate([-gX.ravel(), -gth * (p[HTW] != 0.0), [-gs * (p[HTV] != 0.0)]])
    rhs.__name__ = rhs.__qualname__ = f"span_{name}"
    rhs.__doc__ = (f"dy/dt of the span state y = [X (K r), θ (K), log v] for the {name} "
                   "f-divergence: the pathwise gradient of fdivergence_full_space.")
    return rhs


span_js = _span_fdiv_rhs("js")
span_nonsaturating = _span_fdiv_rhs("nonsaturating")
span_chi2 = _span_fdiv_rhs("chi2")
span_hellinger = _span_fdiv_rhs("hellinger")
span_alpha = _span_fdiv_rhs("alpha")
