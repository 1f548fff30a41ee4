"""Exact reduction of the K-component / M-mode Gaussian-mixture flow to the span of the means.

Target p = sum_j rho_j N(mu_j, tau I_d), variational q = sum_k w_k N(nu_k, v I_d).
Every mean velocity of either KL flow is a combination of the differences mu_j - nu_k,
nu_l - nu_k (derivation below), so the affine span A = mu_1 + span{mu_j - mu_1, nu_k - mu_1}
(dimension r <= K + M - 1, and <= d) is invariant. In an orthonormal basis of A - mu_1,
with T_j, X_k in R^r the coordinates of mu_j, nu_k, both mixtures factor as
(r-dim mixture) x N(0, var I_{d-r}), hence

(S1) KL(q||p) = KL_r(q_r||p_r) + (d - r)/2 (v/tau - 1 - log(v/tau)),
     KL(p||q) = KL_r(p_r||q_r) + (d - r)/2 (tau/v - 1 + log(v/tau)),

and the flow of y = [X (K x r, row-major), theta (K), s = log v] is the d-dim flow exactly.

Vector flows (Stein's lemma; pi_j, s_k target / variational responsibilities):
(S2) reverse: dX_k/dt = w_k (sum_j E_{q_k}[pi_j] T_j - X_k)/tau + sum_l C_kl (X_k - X_l)/v,
     C_kl = (w_k E_{q_k}[s_l] + w_l E_{q_l}[s_k]) / 2  (equal terms; symmetrised);
     dtheta_k/dt = -w_k (F_k - L), F_k = E_{q_k}[log q - log p];
     ds/dt = -[d/2 (v/tau - 1) + 1/(2v) sum_k w_k E_{q_k} sum_{l<l'} s_l s_l' |X_l - X_l'|^2
               - v/(2 tau^2) sum_k w_k E_{q_k} sum_{i<j} pi_i pi_j |T_i - T_j|^2].
(S3) forward: dX_k/dt = (1/v) sum_j rho_j { E_{p_j}[s_k] (T_j - X_k)
                          + (tau/v) (E_{p_j}[s_k] X_k - sum_l E_{p_j}[s_k s_l] X_l) };
     dtheta_k/dt = E_p[s_k] - w_k;
     ds/dt = -d/2 + 1/(2v) sum_j rho_j [ sum_k E_{p_j}[s_k] |T_j - X_k|^2
               - (tau/v) sum_{k,l} E_{p_j}[s_k s_l] |X_k - X_l|^2 + tau d ].

(B1) Annealed reverse KL under a temperature schedule (flowsim.schedule),
     L_beta = E_q[log q] - beta E_q[log p] = sum_k w_k F_k^beta,
     F_k^beta = E_{q_k}[log q] - beta E_{q_k}[log p] (the orthogonal complement's part:
     (d - r)/2 (beta v/tau - 1 - log(v/tau) + (beta - 1) log(2 pi tau))).
     S2 split: the attraction w_k (sum_j E_{q_k}[pi_j] T_j - X_k)/tau comes from log p (times
     beta), the repulsion sum_l C_kl (X_k - X_l)/v from log q;
     dtheta_k/dt = -w_k (F_k^beta - L_beta);
     ds/dt = -[d/2 (beta v/tau - 1) + 1/(2v) sum_k w_k E_{q_k} sum_{l<l'} s_l s_l' |X_l - X_l'|^2
               - beta v/(2 tau^2) sum_k w_k E_{q_k} sum_{i<j} pi_i pi_j |T_i - T_j|^2]
     (-d/2 and the s_l s_l' sum from the entropy, d/2 v/tau and the pi_i pi_j sum from log p).
     beta = beta(t) is read from the schedule tail right after the 1-D quadrature block
     (`own_end`; in the full layout the span part of p carries it); the plain kernels run
     the same code with beta = 1.0 (unchanged bit for bit). The annealed model's value
     kernel is the plain KL(q||p) (beta = 1, what the schedule anneals towards).

Expectations. Under x ~ N(c, v' I_r), the log-ratios l_i(x) = log(w_i N_i(x)/N_0(x)) of an
n-component mixture are an n-dim Gaussian vector b + A z of rank n_e <= n - 1; after an
eigen-decomposition of A A^T they are b + U sqrt(lam) eta, eta ~ N(0, I_{n_e}). So every
expectation is over n_e <= K - 1 (variational) or M - 1 (target) dimensions, not r:
n_e = 1 with n = 2 uses the 1-D rule of flowsim.families.gaussian.quadrature.logistic_normal
(error < 5e-11); otherwise a tensor Gauss–Hermite cubature with n_cubature nodes per
dimension, whose error grows with the separations relative to the variances (the
softmax turns into a near-step). Measured against the converged full-space gradient over
random two-dimensional configurations with K or M = 3 (`python studies/span_cubature.py`,
table in docs/findings.md): at the default 80 nodes the median relative RHS error is
2e-11 to 1e-5 and the worst 4e-3 (reverse KL, M = 3, q narrow against the target's
spacing); at 40 nodes the median reaches 2e-4 and the worst 2e-2. Where that matters,
raise n_cubature (the cost grows as n_cubature^n_e). For K = M = 2 this reproduces
flowsim.families.gaussian.two_mode.

Symbols
-------
==========  ==================================================================
r           dimension of the span (`rank`)
T_j, X_k    coordinates of mu_j, nu_k in the span basis (origin mu_1)
tau, v, s   target variance, variational variance, s = log v
theta_k     softmax logits, w = softmax(theta)
n_e         effective dimension of an expectation (see above)
==========  ==================================================================
"""
from __future__ import annotations

import math

import numpy as np

from .quadrature import logistic_normal, quadrature_params, hermite_rule
from ...numerics.jit import kernel
from ...schedule import beta_at

HK, HM, HR, HTAU, HDIM, HRESERVED, HTW, HTV, HNCUB = range(9)
HPARAM = 9              # the objective's own parameter (the alpha objective's α)
HEAD = 12
DEFAULT_N_CUBATURE = 80
EIG_TOL = 1e-13


def span_coordinates(target_means, init_means, tol=1e-10):
    """(basis (r, d), T (M, r), X (K, r)) for span{mu_j - mu_1, nu_k - mu_1}, origin mu_1."""
    mu = np.asarray(target_means, float)
    nu = np.asarray(init_means, float)
    V = np.vstack([mu[1:] - mu[0], nu - mu[0]])
    scale = max(1.0, float(np.max(np.abs(V))) if V.size else 1.0)
    if V.shape[0] == 0:
        basis = np.zeros((1, mu.shape[1]))
        basis[0, 0] = 1.0
    else:
        _, sv, vt = np.linalg.svd(V, full_matrices=False)
        keep = sv > tol * scale * max(V.shape)
        basis = vt[keep] if np.any(keep) else vt[:1]
    return basis, (mu - mu[0]) @ basis.T, (nu - mu[0]) @ basis.T


def pack_params(T, rho, tau, d, K, train_w, train_v, n_gh, n_cub):
    """p = [K, M, r, tau, d, 0, train_w, train_v, n_cub, 0, 0, 0 | T (M r) | log rho (M) |
    cubature nodes (n_cub) | cubature weights (n_cub) | 1-D quadrature block] (the objective
    is the kernel's: rhs_reverse_kl or rhs_forward_kl)."""
    T = np.asarray(T, float)
    M, r = T.shape
    head = np.zeros(HEAD)
    head[:9] = [K, M, r, tau, d, 0.0, float(train_w), float(train_v), n_cub]
    cx, cw = hermite_rule(n_cub)
    return np.concatenate([head, T.ravel(), np.log(np.asarray(rho, float)), cx, cw,
                           quadrature_params(n_gh)])


def pack_state(X, weights, var):
    th = np.log(np.asarray(weights, float))
    return np.concatenate([np.asarray(X, float).ravel(), th - th.mean(), [math.log(var)]])


def unpack_state(states, K, r):
    """(X (T, K, r), theta (T, K), s (T,)) from states (T, K r + K + 1)."""
    states = np.atleast_2d(states)
    X = states[:, :K * r].reshape(-1, K, r)
    return X, states[:, K * r:K * r + K], states[:, K * r + K]


@kernel
def finite_state(y):
    """Whether every entry of y is finite (a solver's trial stage may not be: the kernels
    then write NaN, which the solver reports as a failed step, instead of reaching a
    linear-algebra routine that raises on it)."""
    for i in range(y.shape[0]):
        if not math.isfinite(y[i]):
            return False
    return True


@kernel
def _fill(out, x):
    for i in range(out.shape[0]):
        out[i] = x


@kernel
def _offsets(p):
    K = int(p[HK])
    M = int(p[HM])
    r = int(p[HR])
    ncub = int(p[HNCUB])
    t_off = HEAD
    lr_off = t_off + M * r
    cx_off = lr_off + M
    cw_off = cx_off + ncub
    q_off = cw_off + ncub
    return K, M, r, ncub, t_off, lr_off, cx_off, cw_off, q_off


@kernel
def own_end(p):
    """Where the model's own part of p ends (the end of its 1-D quadrature block,
    2 + 2 n_gh + 5 n_t entries from q_off): a schedule's tail starts here."""
    q_off = _offsets(p)[8]
    return q_off + 2 + 2 * int(p[q_off]) + 5 * int(p[q_off + 1])


@kernel
def mixture_expectations(lw, C, var, c, vx, p, es, ess):
    """For x ~ N(c, vx I_r) and the mixture sum_i e^{lw_i} N(C_i, var I_r) (lw normalised):
    es[i] = E s_i(x), ess[i, l] = E s_i s_l, return E log(sum_i e^{lw_i} N_i(x) / N_0(x)).

    l_i(x) = lw_i + (<x - C_0, C_i - C_0> - |C_i - C_0|^2 / 2)/var = b_i + A_i z.
    """
    K_, M_, r, ncub, _, _, cx_off, cw_off, q_off = _offsets(p)
    n = lw.shape[0]
    b = np.empty(n)
    A = np.empty((n, r))
    sv = math.sqrt(vx) / var
    for i in range(n):
        dot = 0.0
        nrm = 0.0
        for a in range(r):
            dd = C[i, a] - C[0, a]
            dot += (c[a] - C[0, a]) * dd
            nrm += dd * dd
            A[i, a] = sv * dd
        b[i] = lw[i] + (dot - 0.5 * nrm) / var
    for i in range(n):
        es[i] = 0.0
        for l in range(n):
            ess[i, l] = 0.0
    if n == 1:
        es[0] = 1.0
        ess[0, 0] = 1.0
        return b[0]
    if n == 2:
        alpha = 0.0
        for a in range(r):
            alpha += A[1, a] * A[1, a]
        alpha = math.sqrt(alpha)
        buf = np.empty(3)
        logistic_normal(b[1] - b[0], alpha, p, q_off, buf)
        es[1] = buf[0]
        es[0] = 1.0 - buf[0]
        ess[0, 1] = buf[2]
        ess[1, 0] = buf[2]
        ess[0, 0] = es[0] - buf[2]
        ess[1, 1] = es[1] - buf[2]
        return b[0] + buf[1]
    Sig = A @ A.T
    lam, U = np.linalg.eigh(Sig)
    lmax = max(lam[n - 1], 0.0)
    ne = 0
    for e in range(n):
        if lam[e] > EIG_TOL * max(lmax, 1.0):
            ne += 1
    L = np.empty((n, max(ne, 1)))
    col = 0
    for e in range(n):
        if lam[e] > EIG_TOL * max(lmax, 1.0):
            sq = math.sqrt(lam[e])
            for i in range(n):
                L[i, col] = U[i, e] * sq
            col += 1
    total = 1
    for e in range(ne):
        total *= ncub
    idx = np.zeros(max(ne, 1), dtype=np.int64)
    ell = np.empty(n)
    sm = np.empty(n)
    elog = 0.0
    for node in range(total):
        wgt = 1.0
        rem = node
        for e in range(ne):
            idx[e] = rem % ncub
            rem //= ncub
            wgt *= p[cw_off + idx[e]]
        mx = -math.inf
        for i in range(n):
            v_ = b[i]
            for e in range(ne):
                v_ += L[i, e] * p[cx_off + idx[e]]
            ell[i] = v_
            mx = max(mx, v_)
        tot = 0.0
        for i in range(n):
            sm[i] = math.exp(ell[i] - mx)
            tot += sm[i]
        elog += wgt * (mx + math.log(tot))
        for i in range(n):
            si = sm[i] / tot
            es[i] += wgt * si
            for l in range(n):
                ess[i, l] += wgt * si * sm[l] / tot
    return elog


@kernel
def _unpack(y, p):
    K, M, r, ncub, t_off, lr_off, cx_off, cw_off, q_off = _offsets(p)
    X = y[:K * r].reshape((K, r))
    th = y[K * r:K * r + K]
    mx = -math.inf
    for k in range(K):
        mx = max(mx, th[k])
    tot = 0.0
    for k in range(K):
        tot += math.exp(th[k] - mx)
    lw = np.empty(K)
    for k in range(K):
        lw[k] = th[k] - mx - math.log(tot)
    T = p[t_off:t_off + M * r].reshape((M, r))
    lr = p[lr_off:lr_off + M].copy()
    return K, M, r, X, lw, np.exp(lw), T, lr, math.exp(y[K * r + K])


@kernel
def _sq(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += (a[i] - b[i]) ** 2
    return s


@kernel
def reverse_terms(y, p, F, gam, cq, pvar, qvar, beta):
    """F_k, gam[k, j] = E_{q_k} pi_j, cq[k, l] = E_{q_k} s_l, E_{q_k} of the two variance
    sums of (S2) into pvar[k], qvar[k]; returns L = KL(q||p) (S1). With beta: F_k^beta
    and L_beta of the annealed objective (B1)."""
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    tau = p[HTAU]
    d = p[HDIM]
    esp = np.empty(M)
    essp = np.empty((M, M))
    esq = np.empty(K)
    essq = np.empty((K, K))
    L = 0.0
    cd = 0.5 * (d - r) * (beta * (v / tau) - 1.0 - math.log(v / tau)
                          + (beta - 1.0) * math.log(2.0 * math.pi * tau))
    for k in range(K):
        xk = X[k]
        lse_p = mixture_expectations(lr, T, tau, xk, v, p, esp, essp)
        lse_q = mixture_expectations(lw, X, v, xk, v, p, esq, essq)
        elogp = -0.5 * r * math.log(2 * math.pi * tau) - 0.5 * (_sq(xk, T[0]) + r * v) / tau + lse_p
        elogq = -0.5 * r * math.log(2 * math.pi * v) - 0.5 * (_sq(xk, X[0]) + r * v) / v + lse_q
        F[k] = elogq - beta * elogp + cd
        L += w[k] * F[k]
        pv = 0.0
        for i in range(M):
            gam[k, i] = esp[i]
            for j in range(i + 1, M):
                pv += essp[i, j] * _sq(T[i], T[j])
        qv = 0.0
        for i in range(K):
            cq[k, i] = esq[i]
            for j in range(i + 1, K):
                qv += essq[i, j] * _sq(X[i], X[j])
        pvar[k] = pv
        qvar[k] = qv
    return L


@kernel
def forward_terms(y, p, es, ess):
    """es[j, k] = E_{p_j} s_k, ess[j, k, l] = E_{p_j} s_k s_l; returns L = KL(p||q) (S1)."""
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    tau = p[HTAU]
    d = p[HDIM]
    esp = np.empty(M)
    essp = np.empty((M, M))
    e1 = np.empty(K)
    e2 = np.empty((K, K))
    L = 0.5 * (d - r) * (tau / v - 1.0 + math.log(v / tau))
    rho = np.exp(lr)
    for j in range(M):
        tj = T[j]
        lse_p = mixture_expectations(lr, T, tau, tj, tau, p, esp, essp)
        lse_q = mixture_expectations(lw, X, v, tj, tau, p, e1, e2)
        elogp = -0.5 * r * math.log(2 * math.pi * tau) - 0.5 * (_sq(tj, T[0]) + r * tau) / tau + lse_p
        elogq = -0.5 * r * math.log(2 * math.pi * v) - 0.5 * (_sq(tj, X[0]) + r * tau) / v + lse_q
        L += rho[j] * (elogp - elogq)
        for k in range(K):
            es[j, k] = e1[k]
            for l in range(K):
                ess[j, k, l] = e2[k, l]
    return L


@kernel
def rhs_reverse_kl(t, y, p, out):
    """dy/dt = -grad_y KL(q||p), y = [X (K r), theta (K), log v] (S2)."""
    _rhs_reverse(y, p, out, 1.0)


@kernel
def rhs_reverse_kl_annealed(t, y, p, out):
    """dy/dt = -grad_y L_beta(t), L_beta = E_q[log q] - beta(t) E_q[log p] (B1, S2 split),
    beta(t) from the schedule tail at own_end(p)."""
    o = own_end(p)
    _rhs_reverse(y, p, out, beta_at(t, p[o], p[o + 1], p[o + 2]))


@kernel
def rhs_forward_kl(t, y, p, out):
    """dy/dt = -grad_y KL(p||q), y = [X (K r), theta (K), log v] (S3)."""
    _rhs_forward(y, p, out)


@kernel
def _settings(p):
    """(τ, d, whether the weights train, whether the variance trains) of the parameters p."""
    return p[HTAU], p[HDIM], p[HTW] != 0.0, p[HTV] != 0.0


@kernel
def _prepared(y, out):
    """Whether the state is finite; out is zeroed if so and NaN-filled if not."""
    ok = finite_state(y)
    _fill(out, 0.0 if ok else math.nan)
    return ok


@kernel
def _rhs_reverse(y, p, out, beta):
    """dy/dt = -grad_y L of the reverse KL (S2), annealed with beta (B1; beta = 1.0 is the
    plain reverse KL)."""
    if not _prepared(y, out):
        return
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    tau, d, tw, tv = _settings(p)
    F = np.empty(K)
    gam = np.empty((K, M))
    cq = np.empty((K, K))
    pvar = np.empty(K)
    qvar = np.empty(K)
    L = reverse_terms(y, p, F, gam, cq, pvar, qvar, beta)
    for k in range(K):
        for a in range(r):
            acc = -X[k, a]
            for j in range(M):
                acc += gam[k, j] * T[j, a]
            rep = 0.0
            for l in range(K):
                if l != k:
                    C = 0.5 * (w[k] * cq[k, l] + w[l] * cq[l, k])
                    rep += C * (X[k, a] - X[l, a])
            out[k * r + a] = beta * (w[k] * acc / tau) + rep / v
        if tw:
            out[K * r + k] = -w[k] * (F[k] - L)
    if tv:
        sq_ = 0.0
        sp_ = 0.0
        for k in range(K):
            sq_ += w[k] * qvar[k]
            sp_ += w[k] * pvar[k]
        out[K * r + K] = -(0.5 * d * (beta * (v / tau) - 1.0) + 0.5 * sq_ / v
                           - beta * (0.5 * v * sp_ / (tau * tau)))


@kernel
def _rhs_forward(y, p, out):
    """dy/dt = -grad_y KL(p||q) (S3)."""
    if not _prepared(y, out):
        return
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    tau, d, tw, tv = _settings(p)
    es = np.empty((M, K))
    ess = np.empty((M, K, K))
    forward_terms(y, p, es, ess)
    rho = np.exp(lr)
    for k in range(K):
        esk = 0.0
        for j in range(M):
            esk += rho[j] * es[j, k]
        for a in range(r):
            acc = 0.0
            for j in range(M):
                inner = es[j, k] * (T[j, a] - X[k, a]) + tau / v * es[j, k] * X[k, a]
                for l in range(K):
                    inner -= tau / v * ess[j, k, l] * X[l, a]
                acc += rho[j] * inner
            out[k * r + a] = acc / v
        if tw:
            out[K * r + k] = esk - w[k]
    if tv:
        acc = 0.0
        for j in range(M):
            inner = tau * d
            for k in range(K):
                inner += es[j, k] * _sq(T[j], X[k])
                for l in range(K):
                    inner -= tau / v * ess[j, k, l] * _sq(X[k], X[l])
            acc += rho[j] * inner
        out[K * r + K] = -0.5 * d + 0.5 * acc / v


@kernel
def reverse_kl(y, p):
    """KL(q||p) of the full d-dimensional mixtures (S1) (also the value kernel of the
    annealed model, B1)."""
    K = int(p[HK])
    M = int(p[HM])
    return reverse_terms(y, p, np.empty(K), np.empty((K, M)), np.empty((K, K)),
                         np.empty(K), np.empty(K), 1.0)


@kernel
def forward_kl(y, p):
    """KL(p||q) of the full d-dimensional mixtures (S1)."""
    K = int(p[HK])
    M = int(p[HM])
    return forward_terms(y, p, np.empty((M, K)), np.empty((M, K, K)))


@kernel
def mode_responsibilities(y, p, out):
    """out[k, j] = E_{q_k} pi_j."""
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    esp = np.empty(M)
    essp = np.empty((M, M))
    for k in range(K):
        mixture_expectations(lr, T, p[HTAU], X[k], v, p, esp, essp)
        for j in range(M):
            out[k, j] = esp[j]


@kernel
def natural_scale(y, p, s):
    """Inverse block-diagonal Fisher of the mixture (docs/derivations.md, A3): the span
    coordinates of mean k v/w_k, logit k 1/w_k, log v 2/d."""
    _scales(y, p, s, True)


@kernel
def wfr_scale(y, p, s):
    """Wasserstein–Fisher–Rao (A4): mean k 1/w_k, logit k 1/w_k, log v 4/(d v)."""
    _scales(y, p, s, False)


@kernel
def _scales(y, p, s, natural):
    K, M, r, X, lw, w, T, lr, v = _unpack(y, p)
    d = p[HDIM]
    for k in range(K):
        mean = v / w[k] if natural else 1.0 / w[k]
        for a in range(r):
            s[k * r + a] = mean
        s[K * r + k] = 1.0 / w[k]
    s[K * r + K] = 2.0 / d if natural else 4.0 / (d * v)
