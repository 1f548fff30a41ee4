"""Weight modes: how a flow treats the mixture weights (parameter `weights=`).

    trainable    the softmax logits θ flow with the objective
    fixed        init's weights are kept
    regularised  the logits flow with the objective plus a symmetric Dirichlet prior on w
                 (docs/derivations.md, P1): the flow of L + λ R with
                     R(w) = KL(u‖w) = −(1/K) Σ_k log w_k − log K,   ∂R/∂θ_k = w_k − 1/K,
                 u the uniform weights and λ = `weight_prior` (> 0). −λR is, up to a
                 constant, the log density of Dirichlet(1 + λ/K, …): a MAP estimate of the
                 weights. The prior's pull on a logit tends to λ/K as w_k → 0 while the
                 objective's own pull on it vanishes with w_k, so no weight can reach 0.

The prior composes with every objective, schedule and geometry: it is added to −∇L before
the geometry acts (a geometry transforms the gradient of the regularised loss), and the
flow's objective kernel returns L + λR. Its entries come after the model's own part and
its schedule, before the geometry's tail:

    p[P − b − 3 : P − b] = (offset of the logits in y, K, λ),   b = the geometry tail's length
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .numerics.jit import kernel, rhs_identity
from .numerics.special import logsumexp

__all__ = ["WEIGHT_MODES", "OPTIONS", "DEFAULT_WEIGHT_PRIOR", "check_weight_mode", "trains_logits",
           "with_weight_prior", "weight_prior_penalty", "kl_from_uniform"]

WEIGHT_MODES = ("trainable", "fixed", "regularised")
OPTIONS = ("weight_prior",)
DEFAULT_WEIGHT_PRIOR = 0.01


def check_weight_mode(weights, options: Mapping) -> float | None:
    """The prior strength λ of `weights` ("regularised"; None otherwise), validated: a
    ValueError names `weights` for an unknown mode and `weight_prior` for a bad λ or for a
    λ given to a mode that has no prior."""
    from .validation import check_choice, check_positive

    check_choice("weights", weights, WEIGHT_MODES)
    lam = options.get("weight_prior")
    if weights != "regularised":
        if lam is not None:
            raise ValueError(f"weight_prior: only weights 'regularised' have a prior, got weights={weights!r}")
        return None
    return check_positive("weight_prior", DEFAULT_WEIGHT_PRIOR if lam is None else lam)


def trains_logits(weights: str) -> bool:
    """Whether the logits flow (trainable and regularised weights)."""
    return weights != "fixed"


def kl_from_uniform(log_w):
    """KL(u‖w) = −(1/K) Σ_k log w_k − log K per row of log weights (..., K) (P1); numpy
    arrays and torch tensors alike (the trainings add weight_prior times it to their loss)."""
    return -log_w.mean(-1) - math.log(log_w.shape[-1])


def weight_prior_penalty(logits, lam):
    """λ R(w) = λ KL(u‖w) for logits (..., K) (numpy; P1)."""
    logits = np.asarray(logits, float)
    m = logits.max(axis=-1, keepdims=True)
    log_w = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    return lam * kl_from_uniform(log_w)


_KERNELS: dict = {}


def with_weight_prior(problem, lam: float, logit_offset: int, back: int):
    """`problem` (built with trainable weights) with the Dirichlet prior of strength `lam`
    on its K logits at y[logit_offset : logit_offset + K]; `back` is the length of the
    geometry tail that `flowsim.geometry.with_geometry` will append to p."""
    from .problem import FlowModel, Problem

    K = int(problem.meta["n_components"])
    rhs, objective = prior_kernels(problem.model.rhs, problem.model.objective, int(back))
    model = FlowModel(f"{problem.model.name}.dirichlet", rhs, objective)
    params = np.concatenate([problem.params, [float(logit_offset), float(K), float(lam)]])
    return Problem(model, problem.y0, params, problem.family,
                   {**problem.meta, "weights": "regularised", "weight_prior": float(lam)})


def prior_kernels(base_rhs, base_objective, back: int):
    """The kernels rhs(t, y, p, out) and objective(y, p) of the base model plus the prior
    (P1), reading (offset, K, λ) at p[P − back − 3 : P − back]."""
    key = (base_rhs, base_objective, back)
    if key in _KERNELS:
        return _KERNELS[key]
    names = rhs_identity(base_rhs), rhs_identity(base_objective)
    rhs_id = None if names[0] is None else f"{names[0]}.dirichlet{back}"
    obj_id = None if names[1] is None else f"{names[1]}.dirichlet{back}"

    @kernel(identity=rhs_id)
    def rhs(t, y, p, out):
        base_rhs(t, y, p, out)
        P = p.shape[0] - back
        off, K, lam = int(p[P - 3]), int(p[P - 2]), p[P - 1]
        log_norm = logsumexp(y[off:off + K])
        for k in range(K):
            out[off + k] -= lam * (math.exp(y[off + k] - log_norm) - 1.0 / K)

    @kernel(identity=obj_id)
    def objective(y, p):
        P = p.shape[0] - back
        off, K, lam = int(p[P - 3]), int(p[P - 2]), p[P - 1]
        mean_logit = 0.0
        for k in range(K):
            mean_logit += y[off + k] / K
        return base_objective(y, p) + lam * (logsumexp(y[off:off + K]) - mean_logit - math.log(K))

    _KERNELS[key] = (rhs, objective)
    return rhs, objective
