"""The von Mises family: builds circle flows and measures their observables.

Objectives: every module of flowsim.families.vonmises.objectives (matched,
matched_reversed, matched_bound, reverse_kl, forward_kl, ...), looked up in
flowsim.registry. State and parameter layout: flowsim.families.vonmises.params.

Observables (flowsim.diagnostics): mode mass M_j = E_q[π_j] with the target
responsibility π_j(θ) = ρ_j p_j(θ)/p(θ), by the trapezoid rule; each component is
assigned to the target mode nearest in angle, and its distance is measured in that
mode's standard deviations, |wrap(μ_k − μ*_j)| √κ*_j.
"""
from __future__ import annotations

import numpy as np

from ...diagnostics import Observables
from ...geometry import geometry, with_geometry
from ...schedule import check_schedule, kernels_for, schedule_tail
from ...numerics.special import i0e
from ...problem import Problem
from ...registry import objective as lookup_objective
from ...validation import check_integer, check_options
from ...weight_modes import OPTIONS as WEIGHT_OPTIONS, check_weight_mode, trains_logits, with_weight_prior
from .inputs import INPUTS
from .mixture import VonMisesMixture, circle_grid, quadrature_size, wrap_angle
from .params import natural_scale, pack_params, pack_state, unpack_state, wfr_scale

OPTIONS = ("n_quad", "geometry", "schedule") + WEIGHT_OPTIONS
REDUCTION = "circle"
MIN_NODES = 16
MAX_NODES = 2 ** 22


def build(target, init, *, objective, weights="trainable", **options) -> Problem:
    """Problem for the circle flow of `objective` from `init` toward `target` (VonMisesMixtures).

    Options: n_quad (trapezoid nodes, default from the largest κ) and the objective's own
    parameters (the matched losses' regularization λ >= 0 of the weight penalty).
    """
    if not isinstance(target, VonMisesMixture):
        raise ValueError(f"target: expected a VonMisesMixture, got {type(target).__name__}")
    if not isinstance(init, VonMisesMixture):
        raise ValueError(f"init: expected a VonMisesMixture, got {type(init).__name__}")
    prior = check_weight_mode(weights, options)
    obj = lookup_objective("vonmises", objective)
    geom = geometry(options.get("geometry", "euclidean"))
    check_options(options, OPTIONS + tuple(obj.parameters) + tuple(geom.parameters),
                  "the von Mises family")
    own = obj.options(options)
    flow = geom.options(options)
    schedule = options.get("schedule")
    schedule = None if schedule is None else check_schedule(schedule)
    kernels = kernels_for(obj, schedule)
    lam = own.get("regularization", 0.0)
    if obj.check_inputs is not None:
        obj.check_inputs(target, init)
    n_comp = init.n_components
    n_quad = options.get("n_quad")
    if n_quad is None:
        n_quad = quadrature_size(max(target.kappa.max(), init.kappa.max()))
    n_quad = check_integer("n_quad", n_quad, minimum=MIN_NODES, maximum=MAX_NODES)
    params = pack_params(target, n_comp, trains_logits(weights), lam, n_quad)
    if schedule is not None:
        params = np.concatenate([params, schedule_tail(schedule)])
        own["schedule"] = schedule
    problem = Problem(obj.model(REDUCTION, kernels), pack_state(init), params, FAMILY,
                      {"family": "vonmises", "objective": objective, "weights": weights,
                       "regularization": lam, "n_quad": n_quad, "target": target, "init": init,
                       "n_components": n_comp, "reduction": REDUCTION, **own})
    if prior is not None:
        problem = with_weight_prior(problem, prior, 0, geom.tail(flow).size)
    scale = {"natural": natural_scale, "wfr": wfr_scale}.get(geom.metric)
    return with_geometry(problem, geom, flow, scale)


class CircleFamily:
    """State naming, observables and final mixtures of the circle flows."""

    name = "vonmises"
    inputs = INPUTS
    mixture = VonMisesMixture
    build = staticmethod(build)

    bench_t_max = 50.0
    bench_quick_options: dict = {}

    def example_problem(self, objective, **options):
        """The benchmark's circle flow: a three-mode target (κ* = 20, unequal weights) and a
        broad three-component start, trainable weights."""
        target = VonMisesMixture([0.0, 2.0 * np.pi / 3, -2.0 * np.pi / 3], [20.0, 20.0, 20.0],
                                 [0.5, 0.3, 0.2])
        init = VonMisesMixture([0.4, 1.6, -2.7], [4.0, 3.0, 5.0], [0.4, 0.35, 0.25])
        return build(target, init, objective=objective, weights="trainable", **options)

    def random_problem(self, objective, rng, K=3, M=3, weights="trainable", **options):
        """A circle Problem with a random target and init (for cross-checks)."""
        target = VonMisesMixture(rng.uniform(-np.pi, np.pi, M), rng.uniform(1.0, 30.0, M),
                                 rng.dirichlet(np.ones(M)))
        init = VonMisesMixture(rng.uniform(-np.pi, np.pi, K), rng.uniform(1.0, 30.0, K),
                               rng.dirichlet(np.ones(K)))
        return build(target, init, objective=objective, weights=weights, **options)

    def random_state(self, problem, rng):
        """A state of `problem`'s layout: logits, angles and log κ ∈ [log 0.5, log 60]."""
        K = problem.meta["n_components"]
        return np.concatenate([rng.normal(0.0, 1.0, K), rng.uniform(-np.pi, np.pi, K),
                               rng.uniform(np.log(0.5), np.log(60.0), K)])

    def gradient_indices(self, problem):
        """State coordinates whose rate is -dL/dy: all but the logits of fixed weights."""
        K = problem.meta["n_components"]
        start = 0 if trains_logits(problem.meta["weights"]) else K
        return list(range(start, 3 * K))

    def state_variables(self, problem, states):
        w, mu, kappa, z = unpack_state(states, problem.meta["n_components"])
        comp = ("time", "component")
        return {"weights": (comp, w), "mu": (comp, wrap_angle(mu)), "kappa": (comp, kappa),
                "logits": (comp, z)}

    def final(self, trajectory):
        """q at the last saved time (angles are the user's coordinates)."""
        return self.distribution(trajectory.problem, trajectory.problem.base(trajectory.states[-1]))

    def user_variables(self, trajectory, max_dim):
        """Nothing beyond the state variables: mu and kappa are the user's coordinates."""
        return {}

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
        objective = np.array([problem.objective(y) if np.all(np.isfinite(y)) else np.nan for y in states])
        return Observables(np.asarray(time, float), w, mode_mass, target.weights.copy(), nearest, dist,
                           objective, np.maximum(reverse, 0.0), np.maximum(forward, 0.0))


def _logsumexp(a, axis):
    amax = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(amax, axis) + np.log(np.sum(np.exp(a - amax), axis=axis))


FAMILY = CircleFamily()
