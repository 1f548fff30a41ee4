"""Gradient flows of the point-cloud study's matched losses on the circle (seed 000).

Symbols: q_k = VM(μ_k, κ_k) with w = softmax(z), κ = exp(s); p_j = VM(μ*_j, κ*_j) with
weights ρ_j; C_kj = KL(q_k ‖ p_j) and R_jk = KL(p_j ‖ q_k) by the closed form of
flowsim.vonmises; σ the minimum-cost matching of flowsim.families.vonmises.matching, S the
matched set.

    matched           L = Σ_{k∈S} w_k C_kσ(k) / Σ_{k∈S} w_k  [+ λ Σ_k (w_k − 1/K)²]
                      (M1; the seed point-cloud study's loss, its remedy B adds the λ term)
    matched_reversed  L = Σ_{j∈S} ρ_j R_jτ(j) / Σ_{j∈S} ρ_j, τ matching on R (remedy C)
    matched_bound     L = Σ_k w_k [log(w_k/ρ_σ(k)) + C_kσ(k)] ≥ KL(q ‖ p) (M3)

Gradients, the matching held fixed (Danskin; it is piecewise constant), ŵ = w/Σ_S w:

    ∂L/∂z_j = ŵ_j (C_j − L)        matched (replicator form, M1)
    ∂L/∂z_j = w_j (b_j − L)        bound, b_k = log(w_k/ρ_σ(k)) + C_k
    ∂C/∂μ_k = A(κ_k) κ*_σ sin(μ_k − μ*_σ),  ∂C/∂s_k = κ_k A'(κ_k)(κ_k − κ*_σ cos Δ)
    ∂R/∂μ_k = −A(κ*) κ_k sin(μ* − μ_k),    ∂R/∂s_k = κ_k (A(κ_k) − A(κ*) cos Δ)

The flow is dy/dt = −∂L/∂y; with fixed weights dz/dt = 0.
"""
from __future__ import annotations

import numpy as np

from ....numerics.special import bessel_ratio, bessel_ratio_prime
from ..mixture import kl_scalar
from ....problem import FlowModel
from ..params import add_weight_regularizer, sizes, target_slices, weights_of
from ....numerics.jit import kernel
from ....registry import Objective, Parameter, register_objective
from ....validation import as_finite_array
from .. import reference
from ..matching import MAX_ENUMERATED, min_cost_assignment

MATCHED, REVERSED, BOUND = 0, 1, 2


@kernel
def _matched_loss(y, p, out, variant):
    """Value of the matched loss `variant`; writes −∇L into out (length 3K)."""
    k, m, trainable, lam, _ = sizes(p)
    log_rho, mu_t, kappa_t = target_slices(p)
    mu = y[k:2 * k]
    s = y[2 * k:3 * k]
    w = weights_of(y, k)
    for i in range(3 * k):
        out[i] = 0.0
    if variant == REVERSED:
        cost = np.empty((m, k))
        for j in range(m):
            for i in range(k):
                cost[j, i] = kl_scalar(mu_t[j], kappa_t[j], mu[i], np.exp(s[i]))
        match = np.empty(m, dtype=np.int64)
    else:
        cost = np.empty((k, m))
        for i in range(k):
            for j in range(m):
                cost[i, j] = kl_scalar(mu[i], np.exp(s[i]), mu_t[j], kappa_t[j])
        match = np.empty(k, dtype=np.int64)
    if not np.isfinite(min_cost_assignment(cost, match)):
        out[:] = np.nan
        return np.nan

    if variant == REVERSED:
        total_rho = 0.0
        value = 0.0
        for j in range(m):
            if match[j] >= 0:
                total_rho += np.exp(log_rho[j])
                value += np.exp(log_rho[j]) * cost[j, match[j]]
        value /= total_rho
        for j in range(m):
            i = match[j]
            if i < 0:
                continue
            c = np.exp(log_rho[j]) / total_rho
            kap = np.exp(s[i])
            delta = mu_t[j] - mu[i]
            out[k + i] -= c * (-bessel_ratio(kappa_t[j]) * kap * np.sin(delta))
            out[2 * k + i] -= c * kap * (bessel_ratio(kap) - bessel_ratio(kappa_t[j]) * np.cos(delta))
    else:
        total_w = 0.0
        for i in range(k):
            if match[i] >= 0:
                total_w += w[i]
        value = 0.0
        per = np.zeros(k)
        for i in range(k):
            j = match[i]
            if j < 0:
                continue
            per[i] = cost[i, j]
            if variant == BOUND:
                per[i] += np.log(w[i]) - log_rho[j]
                value += w[i] * per[i]
            else:
                value += w[i] * per[i] / total_w
        for i in range(k):
            j = match[i]
            if j < 0:
                continue
            c = w[i] if variant == BOUND else w[i] / total_w
            kap = np.exp(s[i])
            delta = mu[i] - mu_t[j]
            half = np.sin(0.5 * delta)
            out[k + i] -= c * bessel_ratio(kap) * kappa_t[j] * np.sin(delta)
            out[2 * k + i] -= c * kap * bessel_ratio_prime(kap) * ((kap - kappa_t[j]) + 2.0 * kappa_t[j] * half * half)
            if trainable:
                out[i] -= c * (per[i] - value)
    if trainable:
        value += add_weight_regularizer(w, lam, k, out[:k])
    elif lam != 0.0:
        value += add_weight_regularizer(w, lam, k, np.empty(k))
    return value


@kernel
def rhs_matched(t, y, p, out):
    _matched_loss(y, p, out, MATCHED)


@kernel
def objective_matched(y, p):
    return _matched_loss(y, p, np.empty(y.size), MATCHED)


@kernel
def rhs_matched_reversed(t, y, p, out):
    _matched_loss(y, p, out, REVERSED)


@kernel
def objective_matched_reversed(y, p):
    return _matched_loss(y, p, np.empty(y.size), REVERSED)


@kernel
def rhs_matched_bound(t, y, p, out):
    _matched_loss(y, p, out, BOUND)


@kernel
def objective_matched_bound(y, p):
    return _matched_loss(y, p, np.empty(y.size), BOUND)


def _check_sizes(target, init) -> None:
    if max(init.n_components, target.n_components) > MAX_ENUMERATED:
        raise ValueError(f"init: matched objectives enumerate permutations, so K and M must be "
                         f"<= {MAX_ENUMERATED}; got K={init.n_components}, M={target.n_components}")


def _check_bound(target, init) -> None:
    _check_sizes(target, init)
    if init.n_components > target.n_components:
        raise ValueError(f"init: matched_bound needs K <= M (one target mode per component); "
                         f"got K={init.n_components}, M={target.n_components}")


def _nonnegative(name, value):
    value = float(as_finite_array(name, value, 0))
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return value


REGULARIZATION = Parameter(0.0, _nonnegative, "lambda of the weight penalty lambda sum_k (w_k - 1/K)^2")

for _name, _rhs, _value, _check, _doc in (
        ("matched", rhs_matched, objective_matched, _check_sizes,
         "sum_S w_k KL(q_k||p_sigma(k)) / sum_S w_k, sigma the min-cost matching [+ lambda penalty]"),
        ("matched_reversed", rhs_matched_reversed, objective_matched_reversed, _check_sizes,
         "sum_S rho_j KL(p_j||q_tau(j)) / sum_S rho_j, tau the min-cost matching"),
        ("matched_bound", rhs_matched_bound, objective_matched_bound, _check_bound,
         "sum_k w_k [log(w_k/rho_sigma(k)) + KL(q_k||p_sigma(k))], an upper bound of KL(q||p)")):
    register_objective(Objective(
        family="vonmises", name=_name, description=_doc,
        models={"circle": FlowModel(f"vonmises.{_name}", _rhs, _value)},
        reference={"circle": getattr(reference, _name)},
        torch_loss=f"flowsim.families.vonmises.torch_losses:{_name}",
        check="circle", check_inputs=_check, parameters={"regularization": REGULARIZATION}))
