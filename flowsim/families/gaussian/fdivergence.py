"""f-divergence flows of isotropic Gaussian mixtures, reduced exactly to the span of the means.

Target p = Σ_j ρ_j N(μ_j, τ I_d), variational q = Σ_k w_k N(ν_k, v I_d), w = softmax(θ),
v = e^s; state y = [X (K r), θ (K), s] and parameters p in the layout of
flowsim.families.gaussian.span (T_j, X_k the coordinates of μ_j, ν_k in an orthonormal
basis of span{μ_j − μ_1, ν_k − μ_1}, origin μ_1). The objective is

    D_f(p ‖ q) = E_q[f(u)],   u = p/q,   f a generator of flowsim.divergences (f, f′ kernels),

and its flow needs g(u) = f(u) − u f′(u), because ∂_φ ∫ q f(p/q) = ∫ (∂_φ q) g(p/q) (FD1).

Reduction (docs/derivations.md FG1). The orthogonal complement of the span enters every
density through |x_⊥|² only. With v = τ it cancels from u, so E_q[f(u)] is an integral over
the r-dimensional span, and, since log(p/q) is then a function of the linear log-weights
⟨x, μ_j⟩/τ, ⟨x, ν_k⟩/τ, it is integrated along the principal axes of those functionals,
all r of them. With v ≠ τ the ratio keeps the radial variable
R = |x_⊥|²/σ_c², a χ²_{d−r} variable under a sampling component of variance σ_c²: one more
dimension, integrated by an n-point generalized Gauss–Laguerre rule (N_RADIAL nodes).

Integration (FG1). Every integral ∫ H(x) dx of the flow is written over the mixture

    Z = p + q (+ Σ_jk (ρ_j p_j)^t (w_k q_k)^(1−t)  when the generator grows like u^t, t ∉ [0, 1]),
    ∫ H = Σ_c b_c E_{N_c}[H / Z],

each component N_c of Z (mass b_c) sampled by its own rule: q_k (K), p_j (M) and, for χ²
(t = 2) and the α-divergence with α > 1 or α < 0 (t = α), the K M geometric components
(ρ_j p_j)^t (w_k q_k)^(1−t) = γ_jk N(c_jk, I/P_jk), P_jk = t/τ + (1 − t)/v (Gaussians again).
So the integrands H/Z stay bounded where u is huge or tiny: q f(u)/Z ≈ f(u)/(1 + u + u^t).
The rule per component is a tensor probabilists' Gauss–Hermite rule with n_cubature nodes
(the block of p) per principal axis, times the radial rule when v ≠ τ.
The nodes are shared among the principal axes by the log-ratios' slopes, and an axis whose
share falls just above a rule size of the table blends that rule with the next one
(`_allocate`), so the rule changes continuously with the state. Before, the axes whose
eigenvalue fell under 1e-13 of the largest were dropped: where the means became coplanar
one axis left, every rule changed at once, the RHS jumped by the rule's error (6.6e-5 at
8 nodes), and Radau IIA stalled on that surface (docs/findings.md, the α-spectrum).
Where some P_jk ≤ 0 the divergence is infinite (χ²: v ≤ τ/2): the value is +inf and the
rhs is +inf (the integrator stops with status non_finite), never NaN. Log-ratios are
clamped to |log u| ≤ LOG_EDGE / max(1, |t|) before f, g are evaluated (beyond, components
would be ~35 standard deviations apart).

Vector flow (FG2), with W_k = ∫ w_k q_k g(u), G_k = ∫ w_k q_k g(u) (y − X_k),
V_k = ∫ w_k q_k g(u) |x − ν_k|²:

    dX_k/dt = −G_k / v,   dθ_k/dt = −(W_k − w_k Σ_l W_l),   ds/dt = −Σ_k (V_k/(2v) − d W_k/2).

Accuracy and cost: measured by `python studies/fdiv_cubature.py` (studies/results/fdiv_cubature.md)
at K = M = 2, d = 10 (a 3-dimensional span) against a rule of 80 nodes per axis: the RHS
error falls from ~2e-4 at 8 nodes to ~3e-8 at 32 and ≤ 5e-10 at 48 (relative ≤ 3e-10),
so DEFAULT_N_CUBATURE is 48; one RHS call then costs about 0.1 s, about 10^4
times the reverse KL's two-mode RHS (a few microseconds).
"""
from __future__ import annotations

import math

import numpy as np

from ...divergences import generator as named_generator
from ...numerics.jit import kernel
from .span import HDIM, HPARAM, HTAU, HTV, HTW, _fill, _offsets, finite_state

__all__ = ["HPARAM", "DEFAULT_ALPHA", "DEFAULT_N_CUBATURE", "N_RADIAL", "LOG_EDGE", "MAX_RANK", "GENERATORS",
           "MINIMAX_GAN", "NONSATURATING_GAN", "laguerre_rule", "tilt_of"]

DEFAULT_ALPHA = 0.5     # the alpha objective's default (read when p[HPARAM] is 0, i.e. unpacked)
N_RADIAL = 24           # generalized Gauss–Laguerre nodes for R ~ χ²_{d−r} (v ≠ τ only)
LOG_EDGE = 700.0
SKIP_LOG_MASS = 60.0    # a component of Z with b_c < e^−60 max b is not sampled
TINY = 1e-280           # below this a group's relative sum is redone in logs
EQUAL_VAR_TOL = 1e-12   # |v/τ − 1| below this: the equal-variance reduction (no radial rule)
MAX_RANK = 4            # the tensor rule runs over r ≤ 4 span dimensions
TILT_NONE, TILT_TWO, TILT_ALPHA = 0, 1, 2
DEFAULT_N_CUBATURE = 48  # nodes per principal axis: RHS error <= 1e-9 at K = M = 2 (studies/fdiv_cubature.py)


MINIMAX_GAN = named_generator("minimax_gan")
NONSATURATING_GAN = named_generator("nonsaturating_gan")
_CHI2 = named_generator("chi2")
_HELL = named_generator("hellinger")
_ALPHA = named_generator("alpha")
_chi2_f, _chi2_fp = _CHI2.f, _CHI2.fprime
_hell_f, _hell_fp = _HELL.f, _HELL.fprime
_alpha_f, _alpha_fp = _ALPHA.f, _ALPHA.fprime
_gan_f, _gan_fp = MINIMAX_GAN.f, MINIMAX_GAN.fprime
_nonsat_f, _nonsat_fp = NONSATURATING_GAN.f, NONSATURATING_GAN.fprime

# objective name -> (generator, tilt mode); the kernels select the generator by its code
# (the index here) in `_f_g`, a branch per node, so that every kernel is module-level and
# disk-cached (a dispatcher passed down as an argument would not be: numba keeps its
# address as a dynamic global)
GENERATORS = {"js": (MINIMAX_GAN, TILT_NONE), "nonsaturating": (NONSATURATING_GAN, TILT_NONE),
              "chi2": (_CHI2, TILT_TWO), "hellinger": (_HELL, TILT_NONE),
              "alpha": (_ALPHA, TILT_ALPHA)}
G_JS, G_NONSAT, G_CHI2, G_HELL, G_ALPHA = range(5)


@kernel
def _f_g(code, u, a):
    """(f(u), g(u) = f(u) − u f′(u)) of generator `code` (the order of GENERATORS)."""
    if code == G_JS:
        fv = _gan_f(u, a)
        dv = _gan_fp(u, a)
    elif code == G_NONSAT:
        fv = _nonsat_f(u, a)
        dv = _nonsat_fp(u, a)
    elif code == G_CHI2:
        fv = _chi2_f(u, a)
        dv = _chi2_fp(u, a)
    elif code == G_HELL:
        fv = _hell_f(u, a)
        dv = _hell_fp(u, a)
    else:
        fv = _alpha_f(u, a)
        dv = _alpha_fp(u, a)
    return fv, fv - u * dv


def tilt_of(name: str, a: float = 0.0) -> float:
    """The exponent t of the geometric components of Z for objective `name` (0: none)."""
    mode = GENERATORS[name][1]
    if mode == TILT_TWO:
        return 2.0
    if mode == TILT_ALPHA and (a > 1.0 or a < 0.0):
        return float(a)
    return 0.0


# ------------------------------------------------------------------ rules and layout

@kernel
def laguerre_rule(k, n):
    """(R, weights summing to 1) of the n-point Gauss rule for E h(R), R ~ χ²_k (k > 0):
    generalized Gauss–Laguerre in t = R/2 with weight t^(k/2 − 1) e^−t (Golub–Welsch)."""
    a = 0.5 * k - 1.0
    J = np.zeros((n, n))
    for i in range(n):
        J[i, i] = 2.0 * i + a + 1.0
        if i + 1 < n:
            b = math.sqrt((i + 1.0) * (i + 1.0 + a))
            J[i, i + 1] = b
            J[i + 1, i] = b
    lam, V = np.linalg.eigh(J)
    R = np.empty(n)
    w = np.empty(n)
    tot = 0.0
    for i in range(n):
        R[i] = 2.0 * max(lam[i], 0.0)
        w[i] = V[0, i] * V[0, i]
        tot += w[i]
    for i in range(n):
        w[i] /= tot
    return R, w


def _gh_table(sizes):
    x, w, off = [], [], [0]
    for n in sizes:
        xn, wn = np.polynomial.hermite_e.hermegauss(int(n))
        x.append(xn)
        w.append(wn / wn.sum())
        off.append(off[-1] + int(n))
    return np.concatenate(x), np.concatenate(w), np.array(off[:-1], dtype=np.int64)


# probabilists' Gauss–Hermite rules (weights summing to 1) of these sizes, as constants
GH_SIZES = np.array([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 36, 40, 48, 56,
                     64, 72, 80, 96, 112, 128, 160, 192, 256], dtype=np.int64)
_GH_X, _GH_W, _GH_OFF = _gh_table(GH_SIZES)
MIN_AXIS_NODES = 6
BLEND = 0.1             # the part of the gap between two rule sizes where an axis blends them


@kernel
def _allocate(C, n, Ur, ncub, sig):
    """The 1-D rule of each principal axis (the r columns of Ur, largest first), as (nodes
    per axis, node table (r, L), weight table (r, L)): about ncub^r nodes in all, each
    axis's share proportional to the steepest log-ratio slope along it (at least
    MIN_AXIS_NODES, at most the largest table rule). An axis that wants `want` nodes,
    G_j < want < G_{j+1} for table sizes G, takes the rule G_{j+1}, except in the lowest
    BLEND of that gap, where it takes the convex blend (1 − λ) G_j + λ G_{j+1},
    λ = (want − G_j) / (BLEND (G_{j+1} − G_j)): a rule again (weights summing to 1), equal
    to G_j and G_{j+1} at the ends, so the rule, and with it the RHS, changes continuously
    with the state where a rounding to the table would switch (FG1)."""
    r = Ur.shape[1]
    last = GH_SIZES.shape[0] - 1
    sizes = np.zeros(max(r, 1), dtype=np.int64)
    width = GH_SIZES[last - 1] + GH_SIZES[last]     # the largest blend
    nodes = np.zeros((max(r, 1), width))
    weights = np.zeros((max(r, 1), width))
    if r == 0:
        return sizes, nodes, weights
    slope = np.empty(r)
    lsum = 0.0
    for e in range(r):
        mxs = 0.0
        for i in range(n):
            for i2 in range(i + 1, n):
                acc = 0.0
                for e2 in range(C.shape[1]):
                    acc += (C[i, e2] - C[i2, e2]) * Ur[e2, e]
                mxs = max(mxs, abs(acc) / sig)
        slope[e] = max(mxs, 0.5)
        lsum += math.log(slope[e])
    scale = ncub * math.exp(-lsum / r)
    for e in range(r):
        want = min(max(scale * slope[e], MIN_AXIS_NODES), GH_SIZES[last])
        j = 0
        while GH_SIZES[j] < want - 1e-9 and j < last:
            j += 1
        lam = 1.0
        if j > 0:
            lam = min((want - GH_SIZES[j - 1]) / (BLEND * (GH_SIZES[j] - GH_SIZES[j - 1])), 1.0)
        m = 0
        if lam < 1.0:
            for i in range(GH_SIZES[j - 1]):
                nodes[e, m] = _GH_X[_GH_OFF[j - 1] + i]
                weights[e, m] = (1.0 - lam) * _GH_W[_GH_OFF[j - 1] + i]
                m += 1
        for i in range(GH_SIZES[j]):
            nodes[e, m] = _GH_X[_GH_OFF[j] + i]
            weights[e, m] = lam * _GH_W[_GH_OFF[j] + i]
            m += 1
        sizes[e] = m
    return sizes, nodes, weights


@kernel
def _layout(p):
    """The span layout's sizes and offsets (flowsim.families.gaussian.span `_offsets`)."""
    K, M, r, ncub, t_off, lr_off, cx_off, cw_off, _ = _offsets(p)
    return K, M, r, ncub, t_off, lr_off, cx_off, cw_off


@kernel
def _node(lq, lp, K, M, t):
    """At one node, from the log-masses lq[k] = log(w_k q_k), lp[j] = log(ρ_j p_j) (any common
    shift): (log q, log p, log Z), Z = p + q (+ the geometric terms when t ≠ 0)."""
    mq = -math.inf
    for k in range(K):
        mq = max(mq, lq[k])
    sq = 0.0
    for k in range(K):
        sq += math.exp(lq[k] - mq)
    Lq = mq + math.log(sq)
    mp = -math.inf
    for j in range(M):
        mp = max(mp, lp[j])
    sp = 0.0
    for j in range(M):
        sp += math.exp(lp[j] - mp)
    Lp = mp + math.log(sp)
    mz = max(Lq, Lp)
    LG = -math.inf
    if t != 0.0:
        mg = -math.inf
        for j in range(M):
            for k in range(K):
                mg = max(mg, t * lp[j] + (1.0 - t) * lq[k])
        sg = 0.0
        for j in range(M):
            for k in range(K):
                sg += math.exp(t * lp[j] + (1.0 - t) * lq[k] - mg)
        LG = mg + math.log(sg)
        mz = max(mz, LG)
    sz = math.exp(Lq - mz) + math.exp(Lp - mz)
    if t != 0.0:
        sz += math.exp(LG - mz)
    return Lq, Lp, mz + math.log(sz)


@kernel
def _terms(y, p, out, want, code, tilt_mode, a_default):
    """D_f(p ‖ q) of the full d-dimensional mixtures (FG1); with `want`, out = −∇_y D_f (FG2)."""
    if not finite_state(y):
        _fill(out, math.nan)
        return math.nan
    K, M, r, ncub, t_off, lr_off, cx_off, cw_off = _layout(p)
    tau = p[HTAU]
    d = p[HDIM]
    train_w = p[HTW] != 0.0
    train_v = p[HTV] != 0.0
    a = p[HPARAM]
    if a == 0.0:
        a = a_default
    X = y[:K * r].reshape((K, r))
    th = y[K * r:K * r + K]
    v = math.exp(y[K * r + K])
    mth = -math.inf
    for k in range(K):
        mth = max(mth, th[k])
    tot = 0.0
    for k in range(K):
        tot += math.exp(th[k] - mth)
    lw = np.empty(K)
    w = np.empty(K)
    for k in range(K):
        lw[k] = th[k] - mth - math.log(tot)
        w[k] = math.exp(lw[k])
    T = p[t_off:t_off + M * r].reshape((M, r))
    lr = p[lr_off:lr_off + M]
    t = 0.0
    if tilt_mode == TILT_TWO:
        t = 2.0
    elif tilt_mode == TILT_ALPHA and (a > 1.0 or a < 0.0):
        t = a
    n_geo = K * M if t != 0.0 else 0
    nc = K + M + n_geo
    # the components of Z: q_k, p_j, then the geometric (j, k); centres, variances, log-masses
    C = np.empty((nc, r))
    var = np.empty(nc)
    lm = np.empty(nc)
    for k in range(K):
        C[k] = X[k]
        var[k] = v
        lm[k] = lw[k]
    for j in range(M):
        C[K + j] = T[j]
        var[K + j] = tau
        lm[K + j] = lr[j]
    if t != 0.0:
        ga = t / tau
        gb = (1.0 - t) / v
        P = ga + gb
        if not P > 0.0:                      # ∫ p^t q^(1−t) diverges: D_f = +inf
            if want:
                _fill(out, math.inf)
            return math.inf
        for j in range(M):
            for k in range(K):
                i = K + M + j * K + k
                d2 = 0.0
                for e in range(r):
                    C[i, e] = (ga * T[j, e] + gb * X[k, e]) / P
                    d2 += (T[j, e] - X[k, e]) ** 2
                var[i] = 1.0 / P
                lm[i] = (t * lr[j] + (1.0 - t) * lw[k]
                         - 0.5 * d * (t * math.log(2.0 * math.pi * tau)
                                      + (1.0 - t) * math.log(2.0 * math.pi * v))
                         + 0.5 * d * math.log(2.0 * math.pi / P) - 0.5 * ga * gb / P * d2)
    e_hi = LOG_EDGE / max(1.0, t)
    e_lo = LOG_EDGE / max(1.0, -t)
    u_hi = math.exp(e_hi)
    u_lo = math.exp(-e_lo)
    # centred at u = 1: ∫ q f = f(1) + ∫ q (f − f(1)), and g(1) drops out of every gradient
    # (∫ ∂q = 0), so near q = p the integrands, and the cubature's errors, vanish with u − 1
    f1, g1 = _f_g(code, 1.0, a)
    # below |log u| = e_lo the generator is continued linearly in log u from the edge (exact
    # for f = a + b u + c log u, to e^−700 for the bounded ones); d_lo = u f′(u) there
    f_lo, g_lo = _f_g(code, u_lo, a)
    d_lo = f_lo - g_lo
    # above e_hi, q f(u) = p^te q^(1−te) φ(ℓ), φ = f(u) u^−te continued linearly in ℓ, and
    # q g(u) = p^te q^(1−te) ψ, ψ = g(u) u^−te held at its edge value (te = max(t, 1): f
    # grows like u^te, so φ and ψ tend to constants or grow like ℓ)
    te = max(t, 1.0)
    f_hi, g_hi = _f_g(code, u_hi, a)
    scl = math.exp(-te * e_hi)
    phi_hi = f_hi * scl
    psi_hi = g_hi * scl
    dphi_hi = ((1.0 - te) * f_hi - g_hi) * scl
    equal = abs(v / tau - 1.0) <= EQUAL_VAR_TOL
    if equal or d <= r:
        Rn = np.zeros(1)
        Rw = np.ones(1)
    else:
        Rn, Rw = laguerre_rule(d - r, N_RADIAL)
    nR = Rn.shape[0]
    lmax = -math.inf
    for c in range(nc):
        lmax = max(lmax, lm[c])
    n = K + M
    logn = np.empty(n)                       # log-mass − (d/2) log(2π var) of q_k, p_j
    for i in range(n):
        logn[i] = lm[i] - 0.5 * d * math.log(2.0 * math.pi * var[i])
    val = 0.0
    Wt = np.zeros(K)
    Gt = np.zeros((K, r))
    Vt = np.zeros(K)
    Wc = np.empty(K)
    Mc = np.empty((K, r))
    lq = np.empty(K)
    lp = np.empty(M)
    eq = np.empty(K)
    gk = np.empty(K)
    diff = np.empty((n, r))
    base = np.empty(n)
    B = np.empty((n, r))
    xi = np.empty(r)
    eta = np.empty(r)
    idx = np.zeros(r, dtype=np.int64)
    DX = np.empty((K, r))
    # principal axes of the pairwise differences of the centres of q and p (the normals of
    # the log-ratio functionals), largest first; all r of them, also where some eigenvalues
    # vanish (dropping those axes would make the RHS jump where one falls under a threshold)
    S = np.zeros((r, r))
    for i in range(n):
        for i2 in range(i + 1, n):
            for e1 in range(r):
                for e2 in range(r):
                    S[e1, e2] += (C[i, e1] - C[i2, e1]) * (C[i, e2] - C[i2, e2])
    _, U = np.linalg.eigh(S)
    Ur = np.empty((r, r))
    for e in range(r):
        for e2 in range(r):
            Ur[e2, e] = U[e2, r - 1 - e]
    # nodes per axis: ncub^r in all, shared in proportion to the steepest pairwise slope
    # of the log-ratios along each axis (|<C_i − C_i', U_e>| / σ, σ² = the smallest variance)
    sz_ax, x_ax, w_ax = _allocate(C, n, Ur, ncub, math.sqrt(min(v, tau)))
    for c in range(nc):
        if lm[c] < lmax - SKIP_LOG_MASS:
            continue
        bc = math.exp(lm[c] - lmax)
        sig2 = var[c]
        sig = math.sqrt(sig2)
        for i in range(n):
            for e in range(r):
                diff[i, e] = C[i, e] - C[c, e]
        for i in range(n):
            d2 = 0.0
            for e in range(r):
                d2 += diff[i, e] * diff[i, e]
            for e in range(r):
                acc = 0.0
                for e2 in range(r):
                    acc += diff[i, e2] * Ur[e2, e]
                B[i, e] = acc
            if equal:                        # log(a_i N_i / N_c), linear in eta
                base[i] = lm[i] - 0.5 * d2 / sig2
                for e in range(r):
                    B[i, e] /= sig
            else:                            # |y − C_i|² = d2 − 2σ B·η + σ²|η|²
                base[i] = d2
        for k in range(K):
            Wc[k] = 0.0
            for e in range(r):
                Mc[k, e] = 0.0
                DX[k, e] = C[c, e] - X[k, e]
        total = 1
        for e in range(r):
            total *= sz_ax[e]
            idx[e] = 0
        extra0 = sig2 * (d - r) if equal else 0.0
        for node in range(total):
            rem = node
            w0 = bc
            eta2 = 0.0
            for e in range(r):
                idx[e] = rem % sz_ax[e]
                rem //= sz_ax[e]
                eta[e] = x_ax[e, idx[e]]
                w0 *= w_ax[e, idx[e]]
                eta2 += eta[e] * eta[e]
            for e2 in range(r):
                acc = 0.0
                for e in range(r):
                    acc += Ur[e2, e] * eta[e]
                xi[e2] = acc
            for m in range(nR):
                if equal:
                    for i in range(n):
                        acc = base[i]
                        for e in range(r):
                            acc += B[i, e] * eta[e]
                        if i < K:
                            lq[i] = acc
                        else:
                            lp[i - K] = acc
                    zz = extra0
                else:
                    zz = sig2 * Rn[m]
                    for i in range(n):
                        acc = 0.0
                        for e in range(r):
                            acc += B[i, e] * eta[e]
                        sq = base[i] - 2.0 * sig * acc + sig2 * eta2
                        li = logn[i] - 0.5 * (sq + zz) / var[i]
                        if i < K:
                            lq[i] = li
                        else:
                            lp[i - K] = li
                wn = w0 * Rw[m]
                # q, p and Z relative to the node's largest term: e_q[k] = w_k q_k e^−mx, ...
                mx = -math.inf
                for k in range(K):
                    mx = max(mx, lq[k])
                for j in range(M):
                    mx = max(mx, lp[j])
                if t != 0.0:
                    for j in range(M):
                        for k in range(K):
                            mx = max(mx, t * lp[j] + (1.0 - t) * lq[k])
                sq_ = 0.0
                for k in range(K):
                    eq[k] = math.exp(lq[k] - mx)
                    sq_ += eq[k]
                sp_ = 0.0
                for j in range(M):
                    sp_ += math.exp(lp[j] - mx)
                sz = sq_ + sp_
                if t != 0.0:
                    for j in range(M):
                        for k in range(K):
                            sz += math.exp(t * lp[j] + (1.0 - t) * lq[k] - mx)
                edge = False
                Lq = Lp = LZ = 0.0
                vnode = 0.0
                if sq_ > TINY and sp_ > TINY:    # then |log u| < 650
                    u = sp_ / sq_
                    if u <= u_hi:
                        fv, gv = _f_g(code, u, a)
                        inv = 1.0 / sz
                        vnode = sq_ * inv * (fv - f1)
                        for k in range(K):
                            gk[k] = eq[k] * inv * (gv - g1)
                    else:
                        Lq = mx + math.log(sq_)
                        Lp = mx + math.log(sp_)
                        LZ = mx + math.log(sz)
                        edge = True
                else:                            # a group underflows: logs per group
                    Lq, Lp, LZ = _node(lq, lp, K, M, t)
                    ell = Lp - Lq
                    if ell > e_hi:
                        edge = True
                    else:
                        if ell < -e_lo:          # below the edge: f(e^ℓ) linear in ℓ
                            fv = f_lo + d_lo * (ell + e_lo)
                            gv = fv - d_lo
                        else:
                            fv, gv = _f_g(code, math.exp(ell), a)
                        vnode = math.exp(Lq - LZ) * (fv - f1)
                        for k in range(K):
                            gk[k] = math.exp(lq[k] - LZ) * (gv - g1)
                if edge:                         # above the edge: the p^te q^(1−te) form
                    ell = Lp - Lq
                    wt = math.exp(te * Lp + (1.0 - te) * Lq - LZ)
                    vnode = wt * (phi_hi + dphi_hi * (ell - e_hi)) - f1 * math.exp(Lq - LZ)
                    for k in range(K):
                        gk[k] = (math.exp(lq[k] - Lq) * wt * psi_hi
                                 - g1 * math.exp(lq[k] - LZ))
                val += wn * vnode
                if want:
                    for k in range(K):
                        sk = wn * gk[k]
                        Wc[k] += sk
                        for e in range(r):
                            Mc[k, e] += sk * xi[e]
                        if train_v:
                            dd = zz
                            for e in range(r):
                                dd += (DX[k, e] + sig * xi[e]) ** 2
                            Vt[k] += sk * dd
        if want:
            for k in range(K):
                Wt[k] += Wc[k]
                for e in range(r):
                    Gt[k, e] += Wc[k] * DX[k, e] + sig * Mc[k, e]
    scale = math.exp(lmax)
    value = f1 + val * scale
    if not want:
        return value if math.isfinite(value) else math.inf
    if not (math.isfinite(value) and math.isfinite(scale)):
        _fill(out, math.inf)
        return math.inf
    for i in range(out.shape[0]):
        out[i] = 0.0
    sw = 0.0
    for k in range(K):
        sw += Wt[k]
    for k in range(K):
        for e in range(r):
            out[k * r + e] = -scale * Gt[k, e] / v
        if train_w:
            out[K * r + k] = -scale * (Wt[k] - w[k] * sw)
    if train_v:
        acc = 0.0
        for k in range(K):
            acc += Vt[k] / (2.0 * v) - 0.5 * d * Wt[k]
        out[K * r + K] = -scale * acc
    for i in range(out.shape[0]):
        if not math.isfinite(out[i]):
            _fill(out, math.inf)
            return math.inf
    return value




# ------------------------------------------------------------------ one pair per objective
# (module-level, so the compiled solvers over them are disk-cached too)

@kernel
def rhs_js(t, y, p, out):
    """dy/dt = −∇_y [2 JS(p, q) − 2 log 2] (FG2)."""
    _terms(y, p, out, True, G_JS, TILT_NONE, 0.0)


@kernel
def js_value(y, p):
    """2 JS(p, q) − 2 log 2 of the d-dimensional mixtures (FG1)."""
    return _terms(y, p, np.empty(0), False, G_JS, TILT_NONE, 0.0)


@kernel
def rhs_nonsaturating(t, y, p, out):
    """dy/dt = −∇_y [KL(q ‖ p) − 2 JS(p, q)] (FG2)."""
    _terms(y, p, out, True, G_NONSAT, TILT_NONE, 0.0)


@kernel
def nonsaturating_value(y, p):
    """KL(q ‖ p) − 2 JS(p, q) (FG1)."""
    return _terms(y, p, np.empty(0), False, G_NONSAT, TILT_NONE, 0.0)


@kernel
def rhs_chi2(t, y, p, out):
    """dy/dt = −∇_y χ²(p ‖ q) (FG2)."""
    _terms(y, p, out, True, G_CHI2, TILT_TWO, 0.0)


@kernel
def chi2_value(y, p):
    """χ²(p ‖ q) = ∫ p²/q − 1 (FG1); +inf where v ≤ τ/2."""
    return _terms(y, p, np.empty(0), False, G_CHI2, TILT_TWO, 0.0)


@kernel
def rhs_hellinger(t, y, p, out):
    """dy/dt = −∇_y H²(p, q) (FG2)."""
    _terms(y, p, out, True, G_HELL, TILT_NONE, 0.0)


@kernel
def hellinger_value(y, p):
    """H²(p, q) = 1 − ∫ √(p q) (FG1)."""
    return _terms(y, p, np.empty(0), False, G_HELL, TILT_NONE, 0.0)


@kernel
def rhs_alpha(t, y, p, out):
    """dy/dt = −∇_y D_α(p ‖ q), α = p[HPARAM] (DEFAULT_ALPHA when 0) (FG2)."""
    _terms(y, p, out, True, G_ALPHA, TILT_ALPHA, DEFAULT_ALPHA)


@kernel
def alpha_value(y, p):
    """Amari's D_α(p ‖ q) = (∫ p^α q^(1−α) − 1)/(α(α − 1)) (FG1)."""
    return _terms(y, p, np.empty(0), False, G_ALPHA, TILT_ALPHA, DEFAULT_ALPHA)


KERNELS = {"js": (rhs_js, js_value), "nonsaturating": (rhs_nonsaturating, nonsaturating_value),
           "chi2": (rhs_chi2, chi2_value), "hellinger": (rhs_hellinger, hellinger_value),
           "alpha": (rhs_alpha, alpha_value)}
