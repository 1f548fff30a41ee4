"""The von Mises family: builds circle flows and measures their observables.

Objectives (flowsim.models.circle_matched, flowsim.models.circle_mixture_kl):
matched, matched_reversed, matched_bound, reverse_kl, forward_kl. State and
parameter layout: flowsim.models.circle_params.

Observables (flowsim.diagnostics): mode mass M_j = E_q[π_j] with the target
responsibility π_j(θ) = ρ_j p_j(θ)/p(θ), by the trapezoid rule; each component is
assigned to the target mode nearest in angle, and its distance is measured in that
mode's standard deviations, |wrap(μ_k − μ*_j)| √κ*_j.
"""
from __future__ import annotations

import numpy as np

from ..diagnostics import Observables
from ..special import i0e
from ..validation import check_choice, as_finite_array
from ..vonmises import VonMisesMixture, circle_grid, quadrature_size, wrap_angle
from . import circle_matched, circle_mixture_kl
from .base import Problem
from .circle_params import pack_params, pack_state, unpack_state
from .matching import MAX_ENUMERATED

MODELS = {**circle_matched.MODELS, **circle_mixture_kl.MODELS}
OBJECTIVES = tuple(MODELS)
MATCHED_OBJECTIVES = tuple(circle_matched.MODELS)


def build(target, init, *, objective, weights="trainable", regularization=0.0, n_quad=None) -> Problem:
    """Problem for the circle flow of `objective` from `init` toward `target` (VonMisesMixtures)."""
    if not isinstance(init, VonMisesMixture):
        raise ValueError(f"init: expected a VonMisesMixture, got {type(init).__name__}")
    check_choice("objective", objective, OBJECTIVES)
    lam = float(as_finite_array("regularization", regularization, 0))
    if lam < 0:
        raise ValueError(f"regularization: must be >= 0, got {regularization!r}")
    n_comp, n_modes = init.n_components, target.n_components
    if objective in MATCHED_OBJECTIVES and max(n_comp, n_modes) > MAX_ENUMERATED:
        raise ValueError(f"init: matched objectives enumerate permutations, so K and M must be "
                         f"<= {MAX_ENUMERATED}; got K={n_comp}, M={n_modes}")
    if objective == "matched_bound" and n_comp > n_modes:
        raise ValueError(f"init: matched_bound needs K <= M (one target mode per component); "
                         f"got K={n_comp}, M={n_modes}")
    if n_quad is None:
        n_quad = quadrature_size(max(target.kappa.max(), init.kappa.max()))
    n_quad = int(n_quad)
    if n_quad < 16:
        raise ValueError(f"n_quad: need at least 16 nodes, got {n_quad}")
    params = pack_params(target, n_comp, weights == "trainable", lam, n_quad)
    return Problem(MODELS[objective], pack_state(init), params, FAMILY,
                   {"family": "vonmises", "objective": objective, "weights": weights,
                    "regularization": lam, "n_quad": n_quad, "target": target,
                    "n_components": n_comp})


class CircleFamily:
    """State naming, observables and final mixtures of the circle flows."""

    name = "vonmises"

    def state_variables(self, problem, states):
        w, mu, kappa, z = unpack_state(states, problem.meta["n_components"])
        comp = ("time", "component")
        return {"weights": (comp, w), "mu": (comp, wrap_angle(mu)), "kappa": (comp, kappa),
                "logits": (comp, z)}

    def distribution(self, problem, y):
        w, mu, kappa, _ = unpack_state(np.asarray(y)[None, :], problem.meta["n_components"])
        return VonMisesMixture(mu[0], kappa[0], w[0])

    def observe(self, problem, time, states) -> Observables:
        target: VonMisesMixture = problem.meta["target"]
        n = problem.meta["n_quad"]
        w, mu, kappa, _ = unpack_state(states, problem.meta["n_components"])
        theta = circle_grid(n)
        h = 2.0 * np.pi / n
        log_p_comp = target.component_log_pdf(theta) + np.log(target.weights)      # (N, M)
        log_p = _logsumexp(log_p_comp, axis=-1)                                     # (N,)
        resp = np.exp(log_p_comp - log_p[:, None])                                  # π_j(θ_n)
        log_q_comp = (kappa[:, None, :] * (np.cos(theta[None, :, None] - mu[:, None, :]) - 1.0)
                      - np.log(2.0 * np.pi * i0e(kappa))[:, None, :] + np.log(w)[:, None, :])
        log_q = _logsumexp(log_q_comp, axis=-1)                                     # (T, N)
        q = np.exp(log_q)
        mode_mass = h * np.einsum("tn,nj->tj", q, resp)
        reverse = h * np.sum(q * (log_q - log_p[None, :]), axis=-1)
        forward = h * np.sum(np.exp(log_p)[None, :] * (log_p[None, :] - log_q), axis=-1)
        gap = np.abs(wrap_angle(mu[:, :, None] - target.mu[None, None, :]))         # (T, K, M)
        nearest = np.argmin(gap, axis=-1)
        dist = np.take_along_axis(gap, nearest[..., None], -1)[..., 0] * np.sqrt(target.kappa[nearest])
        objective = np.array([problem.objective(y) for y in states])
        return Observables(np.asarray(time, float), w, mode_mass, target.weights.copy(), nearest, dist,
                           objective, np.maximum(reverse, 0.0), np.maximum(forward, 0.0))


def _logsumexp(a, axis):
    amax = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(amax, axis) + np.log(np.sum(np.exp(a - amax), axis=axis))


FAMILY = CircleFamily()
