"""Closed overlap ODE: two isotropic components against a two-mode isotropic target in R^d.

Target p = rho N(mu_1, tau I) + (1 - rho) N(mu_2, tau I), variational
q = w_1 N(nu_1, v I) + w_2 N(nu_2, v I), with Delta = mu_2 - mu_1, Lambda = |Delta|^2,
u_k = nu_k - mu_1. The gradient flow of either KL in (nu_1, nu_2, theta, s), with
w = softmax(theta) and v = e^s, closes exactly (at any d) on

    y = [m_1, m_2, Q_11, Q_12, Q_22, theta_1, theta_2, s],  m_k = <u_k, Delta>, Q_kl = <u_k, u_l>.

Derivation (docs/derivations.md, G1, R1-R4, F1-F5; general tau, v, forward KL):

(G1) Every mean velocity has the form  du_k/dt = a_k Delta + sum_l b_kl u_l, so
         dm_k/dt   = a_k Lambda + sum_l b_kl m_l,
         dQ_kl/dt  = a_k m_l + sum_i b_ki Q_il + a_l m_k + sum_i b_li Q_ik.
(R1) Reverse KL  L = sum_k w_k F_k,  F_k = E_{q_k}[log q - log p]. With Stein's lemma,
     dnu_k/dt = -w_k E_{q_k}[grad log q - grad log p]
              = w_k (gamma_k Delta - u_k)/tau + (c/v)(u_k - u_k'),
     gamma_k = E_{q_k} pi_2 = S(h_k, alpha_h),  c = w_1 E_{q_1} s_2 = w_2 E_{q_2} s_1,
     h_k = log((1-rho)/rho) + (m_k - Lambda/2)/tau,  alpha_h = sqrt(v Lambda)/tau,
     E_{q_k} s_k' = S(a_k, alpha_a),  a_k = theta_k' - theta_k - D/(2v),  alpha_a = sqrt(D/v),
     D = Q_11 + Q_22 - 2 Q_12 = |nu_1 - nu_2|^2.
     So a_k = w_k gamma_k/tau, b_kk = -w_k/tau + c/v, b_kk' = -c/v.
(R2) F_k = d/2 (v/tau - 1 - log(v/tau)) + Q_kk/(2 tau) + log w_k + P(a_k, alpha_a)
           - log rho - P(h_k, alpha_h).
(R3) dtheta_k/dt = -dL/dtheta_k = -w_k (F_k - L)   (so dtheta_1/dt = -w_1 w_2 (F_1 - F_2)).
(R4) ds/dt = -dL/ds = -[d/2 (v/tau - 1) + D/(2v) sum_k w_k V(a_k, alpha_a)
                        - v Lambda/(2 tau^2) sum_k w_k V(h_k, alpha_h)]
     (dL/ds = (v/2) sum_k w_k E_{q_k}[Lap log q - Lap log p], Stein in the variance).
(F1) Forward KL  L = sum_j rho_j G_j,  G_j = E_{p_j}[log p - log q]. Under x ~ p_j,
     log(w_2 N_2 / w_1 N_1)(x) = b_j + alpha_b zeta,  b_j = theta_2 - theta_1 + (e_j + (Q_11 - Q_22)/2)/v,
     e_1 = 0, e_2 = m_2 - m_1, alpha_b = sqrt(tau D)/v; E_{p_j} s_2 = S(b_j, alpha_b),
     E_{p_j} s_1 s_2 = V(b_j, alpha_b).
(F2) dnu_k/dt = (1/v) sum_j rho_j { E_{p_j}[s_k] (mu_j - nu_k) + (tau/v) E_{p_j}[s_1 s_2] (nu_k - nu_k') }.
(F3) dtheta_k/dt = E_p[s_k] - w_k.
(F4) ds/dt = -d/2 + 1/(2v) sum_j rho_j [ sum_k E_{p_j}[s_k] |mu_j - nu_k|^2 - 2 (tau/v) D E_{p_j}[s_1 s_2] + tau d ].
(F5) G_j = -d/2 log(tau/v) - d/2 + log rho_j + P(log(rho_j'/rho_j) - Lambda/(2 tau), sqrt(Lambda/tau))
           + (|mu_j - nu_1|^2 + d tau)/(2v) - log w_1 - P(b_j, alpha_b).

(B1) Annealed reverse KL under a temperature schedule (flowsim.schedule),
     L_beta = E_q[log q] - beta E_q[log p] = sum_k w_k F_k^beta,  F_k^beta = A_k - beta B_k,
       A_k = E_{q_k} log q = log w_k - d/2 log(2 pi v) - d/2 + P(a_k, alpha_a)           (entropy part)
       B_k = E_{q_k} log p = log rho - d/2 log(2 pi tau) - (Q_kk + d v)/(2 tau) + P(h_k, alpha_h),
     so F_k^beta = d/2 (beta v/tau - 1 - log(v/tau) + (beta - 1) log(2 pi tau))
                   + beta Q_kk/(2 tau) + log w_k + P(a_k, alpha_a) - beta log rho - beta P(h_k, alpha_h);
     R1: the attraction w_k (gamma_k Delta - u_k)/tau comes from log p (times beta), the
         repulsion (c/v)(u_k - u_k') from log q:  a_k = beta w_k gamma_k/tau,
         b_kk = -beta w_k/tau + c/v, b_kk' = -c/v;
     R3: dtheta_k/dt = -w_k (F_k^beta - L_beta);
     R4: ds/dt = -[d/2 (beta v/tau - 1) + D/(2v) sum_k w_k V(a_k, alpha_a)
                   - beta v Lambda/(2 tau^2) sum_k w_k V(h_k, alpha_h)]
         (-d/2 and the D term from the entropy, d/2 v/tau and the Lambda term from log p).
     beta = beta(t) is read from the schedule tail right after the quadrature block
     (`own_end`); the plain kernels run the same code with beta = 1.0 (beta x = x and
     (beta - 1) x = 0 exactly, so they are unchanged bit for bit). The annealed model's
     value kernel is the plain KL(q||p) (beta = 1, what the schedule anneals towards).

S, P, V are `flowsim.families.gaussian.quadrature.logistic_normal` (error < 7e-12 for alpha up to 100, |beta| up
to 5000). Fixed weights / fixed variance: the corresponding derivatives are set to 0.
Cost: `rhs` needs 4 expectations (reverse: h_1, h_2, a_1, a_2) or 2 (forward: b_1, b_2);
V only when the variance is trained (R4) or for the forward repulsion (F2, F4), and the
y-independent P term of G_j (F5) only for the objective, not for the flow.

Symbols
-------
===============  =========================================================
Lambda           |mu_2 - mu_1|^2 (p[LAM])
rho              weight of mu_1 (p[RHO]); 1 - rho the weight of mu_2
tau              target variance sigma*^2 (p[TAU])
d                dimension (p[DIM]); enters only through the variance terms
v, s             variational variance sigma^2 = e^s
theta_k          softmax logits, w = softmax(theta)
m_k, Q_kl        overlaps defined above;  D = |nu_1 - nu_2|^2
pi_j, s_k        target / variational responsibilities
gamma_k, c       E_{q_k} pi_2 and the repulsion coefficient (R1)
===============  =========================================================
"""
from __future__ import annotations

import math

import numpy as np

from .quadrature import logistic_normal, quadrature_params
from ...numerics.jit import kernel
from ...schedule import beta_at

LAM, RHO, TAU, DIM, RESERVED, TRAIN_W, TRAIN_V = range(7)
QOFF = 8
N_STATE = 8
M1, M2, Q11, Q12, Q22, TH1, TH2, LOGV = range(8)


def pack_params(Lam, rho, tau, d, train_weights, train_var, n_gh):
    """p = [Lambda, rho, tau, d, 0, train_w, train_v, 0, quadrature block] (the objective is
    the kernel's: rhs_reverse_kl or rhs_forward_kl)."""
    head = np.array([Lam, rho, tau, float(d), 0.0, float(train_weights), float(train_var), 0.0])
    return np.concatenate([head, quadrature_params(n_gh)])


@kernel
def quadrature_end(p, off):
    """End of the `quadrature_params` block at p[off:]: 2 + 2 n_gh + 5 n_t entries."""
    return off + 2 + 2 * int(p[off]) + 5 * int(p[off + 1])


@kernel
def own_end(p):
    """Where the model's own part of p ends (8 + the quadrature block): a schedule's tail
    starts here."""
    return quadrature_end(p, QOFF)


@kernel
def _softmax2(th1, th2):
    """(w_1, w_2, log w_1, log w_2) of softmax(theta_1, theta_2), stable."""
    dlt = th2 - th1
    lw1 = -(max(dlt, 0.0) + math.log1p(math.exp(-abs(dlt))))
    lw2 = -(max(-dlt, 0.0) + math.log1p(math.exp(-abs(dlt))))
    return math.exp(lw1), math.exp(lw2), lw1, lw2


@kernel
def _overlap_rates(y, Lam, a1, a2, b11, b12, b21, b22, out):
    """(G1) written out for K = 2."""
    m1 = y[M1]
    m2 = y[M2]
    q11 = y[Q11]
    q12 = y[Q12]
    q22 = y[Q22]
    out[M1] = a1 * Lam + b11 * m1 + b12 * m2
    out[M2] = a2 * Lam + b21 * m1 + b22 * m2
    # <du_1, u_1> = a1 m1 + b11 Q11 + b12 Q12, etc.
    d11 = a1 * m1 + b11 * q11 + b12 * q12
    d12 = a1 * m2 + b11 * q12 + b12 * q22   # <du_1, u_2>
    d21 = a2 * m1 + b21 * q11 + b22 * q12   # <du_2, u_1>
    d22 = a2 * m2 + b21 * q12 + b22 * q22
    out[Q11] = 2.0 * d11
    out[Q12] = d12 + d21
    out[Q22] = 2.0 * d22


@kernel
def _dist2(y):
    """D = Q_11 + Q_22 - 2 Q_12 clipped at 0 (round-off can make it slightly negative)."""
    return max(y[Q11] + y[Q22] - 2.0 * y[Q12], 0.0)


@kernel
def _unpack(y, p):
    """(Λ, ρ, τ, d, v, w_1, w_2, log w_1, log w_2, D) of the state y and the parameters p."""
    w1, w2, lw1, lw2 = _softmax2(y[TH1], y[TH2])
    return p[LAM], p[RHO], p[TAU], p[DIM], math.exp(y[LOGV]), w1, w2, lw1, lw2, _dist2(y)


@kernel
def reverse_terms(y, p, res, beta):
    """res = [gamma_1, gamma_2, Sa_1, Sa_2, F_1, F_2, Va_1, Va_2, Vh_1, Vh_2, L] (R1-R2,
    the V terms of R4); with beta, F_k = F_k^beta and L = L_beta of the annealed
    objective (B1). Callers pass beta as a float, so the flow and the value kernel share
    one compiled specialisation."""
    Lam, rho, tau, d, v, w1, w2, lw1, lw2, D = _unpack(y, p)
    buf = np.empty(3)
    lr = math.log1p(-rho) - math.log(rho)
    ah = math.sqrt(v * Lam) / tau
    aa = math.sqrt(D / v)
    cd = 0.5 * d * (beta * (v / tau) - 1.0 - math.log(v / tau)
                    + (beta - 1.0) * math.log(2.0 * math.pi * tau))
    for k in range(2):
        mk = y[M1 + k]
        qkk = y[Q11] if k == 0 else y[Q22]
        lwk = lw1 if k == 0 else lw2
        logit_other = (y[TH2] - y[TH1]) if k == 0 else (y[TH1] - y[TH2])
        logistic_normal(lr + (mk - 0.5 * Lam) / tau, ah, p, QOFF, buf)
        res[k] = buf[0]
        ph = buf[1]
        res[8 + k] = buf[2]
        logistic_normal(logit_other - 0.5 * D / v, aa, p, QOFF, buf)
        res[2 + k] = buf[0]
        res[6 + k] = buf[2]
        res[4 + k] = (cd + beta * (0.5 * qkk / tau) + lwk + buf[1] - beta * math.log(rho)
                      - beta * ph)
    res[10] = w1 * res[4] + w2 * res[5]


@kernel
def forward_terms(y, p, res):
    """res = [Sb_1, Sb_2, Vb_1, Vb_2, Pb_1, Pb_2] (F1): Sb_j = E_{p_j} s_2, and Pb_j the
    softplus expectation of the same logit, which KL(p||q) adds (F5)."""
    Lam, rho, tau, d, v, w1, w2, lw1, lw2, D = _unpack(y, p)
    buf = np.empty(3)
    ab = math.sqrt(tau * D) / v
    base = y[TH2] - y[TH1] + 0.5 * (y[Q11] - y[Q22]) / v
    for j in range(2):
        ej = 0.0 if j == 0 else y[M2] - y[M1]
        logistic_normal(base + ej / v, ab, p, QOFF, buf)
        res[j] = buf[0]
        res[2 + j] = buf[2]
        res[4 + j] = buf[1]


@kernel
def rhs_reverse_kl(t, y, p, out):
    """dy/dt = -grad_y KL(q||p) for y = [m_1, m_2, Q_11, Q_12, Q_22, theta_1, theta_2, s] (R1-R4)."""
    _rhs_reverse(y, p, out, 1.0)


@kernel
def rhs_reverse_kl_annealed(t, y, p, out):
    """dy/dt = -grad_y L_beta(t), L_beta = E_q[log q] - beta(t) E_q[log p] (B1, R1-R4 split),
    beta(t) from the schedule tail at own_end(p)."""
    o = own_end(p)
    _rhs_reverse(y, p, out, beta_at(t, p[o], p[o + 1], p[o + 2]))


@kernel
def rhs_forward_kl(t, y, p, out):
    """dy/dt = -grad_y KL(p||q) for y = [m_1, m_2, Q_11, Q_12, Q_22, theta_1, theta_2, s] (F1-F4)."""
    _rhs_forward(y, p, out)


@kernel
def _rhs_reverse(y, p, out, beta):
    """dy/dt = -grad_y L of the reverse KL (R1-R4), annealed with beta (B1); beta = 1.0 is
    the plain reverse KL."""
    Lam, rho, tau, d, v, w1, w2, lw1, lw2, D = _unpack(y, p)
    res = np.empty(11)
    reverse_terms(y, p, res, beta)
    g1 = res[0]
    g2 = res[1]
    c = 0.5 * (w1 * res[2] + w2 * res[3])
    _overlap_rates(y, Lam, beta * (w1 * g1 / tau), beta * (w2 * g2 / tau),
                   -beta * (w1 / tau) + c / v, -c / v, -c / v, -beta * (w2 / tau) + c / v, out)
    if p[TRAIN_W] != 0.0:
        dth = -w1 * w2 * (res[4] - res[5])
        out[TH1] = dth
        out[TH2] = -dth
    else:
        out[TH1] = 0.0
        out[TH2] = 0.0
    if p[TRAIN_V] != 0.0:
        out[LOGV] = -(0.5 * d * (beta * (v / tau) - 1.0) + 0.5 * D / v * (w1 * res[6] + w2 * res[7])
                      - beta * (0.5 * v * Lam / (tau * tau) * (w1 * res[8] + w2 * res[9])))
    else:
        out[LOGV] = 0.0


@kernel
def _rhs_forward(y, p, out):
    """dy/dt = -grad_y KL(p||q) (F1-F4)."""
    Lam, rho, tau, d, v, w1, w2, lw1, lw2, D = _unpack(y, p)
    res = np.empty(6)
    forward_terms(y, p, res)
    r2 = 1.0 - rho
    es2 = rho * res[0] + r2 * res[1]            # E_p s_2
    es1 = rho * (1.0 - res[0]) + r2 * (1.0 - res[1])
    rep = tau / v * (rho * res[2] + r2 * res[3])  # (tau/v) E_p[s_1 s_2]
    _overlap_rates(y, Lam, r2 * (1.0 - res[1]) / v, r2 * res[1] / v,
                   (-es1 + rep) / v, -rep / v, -rep / v, (-es2 + rep) / v, out)
    if p[TRAIN_W] != 0.0:
        out[TH1] = es1 - w1
        out[TH2] = es2 - w2
    else:
        out[TH1] = 0.0
        out[TH2] = 0.0
    if p[TRAIN_V] != 0.0:
        m1 = y[M1]
        m2 = y[M2]
        acc = 0.0
        for j in range(2):
            rj = rho if j == 0 else r2
            s2 = res[j]
            d1 = y[Q11] if j == 0 else Lam - 2.0 * m1 + y[Q11]
            d2 = y[Q22] if j == 0 else Lam - 2.0 * m2 + y[Q22]
            acc += rj * ((1.0 - s2) * d1 + s2 * d2 - 2.0 * tau / v * D * res[2 + j] + tau * d)
        out[LOGV] = -0.5 * d + 0.5 * acc / v
    else:
        out[LOGV] = 0.0


@kernel
def reverse_kl(y, p):
    """KL(q || p) of the full d-dimensional mixtures (R2): sum_k w_k F_k (also the value
    kernel of the annealed model, B1)."""
    res = np.empty(11)
    reverse_terms(y, p, res, 1.0)
    return res[10]


@kernel
def forward_kl(y, p):
    """KL(p || q) of the full d-dimensional mixtures (F5): sum_j rho_j G_j."""
    Lam, rho, tau, d, v, w1, w2, lw1, lw2, D = _unpack(y, p)
    res = np.empty(6)
    forward_terms(y, p, res)
    buf = np.empty(3)
    ap = math.sqrt(Lam / tau)
    m1 = y[M1]
    q11 = y[Q11]
    kl = 0.0
    for j in range(2):
        rj = rho if j == 0 else 1.0 - rho
        ro = 1.0 - rho if j == 0 else rho
        logistic_normal(math.log(ro / rj) - 0.5 * Lam / tau, ap, p, QOFF, buf)
        dist = q11 if j == 0 else Lam - 2.0 * m1 + q11
        kl += rj * (-0.5 * d * math.log(tau / v) - 0.5 * d + math.log(rj) + buf[1]
                    + 0.5 * (dist + d * tau) / v - lw1 - res[4 + j])
    return kl


@kernel
def mode_responsibilities(y, p, out):
    """out[k, j] = E_{q_k} pi_j (j = 0: mu_1, j = 1: mu_2), each by its own quadrature."""
    Lam = p[LAM]
    rho = p[RHO]
    tau = p[TAU]
    v = math.exp(y[LOGV])
    buf = np.empty(3)
    lr = math.log1p(-rho) - math.log(rho)
    ah = math.sqrt(v * Lam) / tau
    for k in range(2):
        h = lr + (y[M1 + k] - 0.5 * Lam) / tau
        logistic_normal(h, ah, p, QOFF, buf)
        out[k, 1] = buf[0]
        logistic_normal(-h, ah, p, QOFF, buf)
        out[k, 0] = buf[0]


def state_from_vectors(nu, mu, weights, var):
    """y0 from vectors: nu (2, d) variational means, mu (2, d) target means."""
    nu = np.asarray(nu, float)
    mu = np.asarray(mu, float)
    u = nu - mu[0]
    delta = mu[1] - mu[0]
    m = u @ delta
    Q = u @ u.T
    th = np.log(np.asarray(weights, float))
    th = th - th.mean()
    return np.array([m[0], m[1], Q[0, 0], Q[0, 1], Q[1, 1], th[0], th[1], math.log(var)])
