"""The isotropic Gaussian-mixture family: builds R^d flows and measures their observables.

`build(target, init, objective=, weights=, train_var=False, n_quad=32, reduction="auto")`
reduces the gradient flow of the d-dimensional mixtures exactly:

* K = M = 2 ("two_mode", flowsim.families.gaussian.two_mode): the closed overlap ODE on
  y = [m_1, m_2, Q_11, Q_12, Q_22, theta_1, theta_2, log sigma^2];
* any K, M ("span", flowsim.families.gaussian.span): coordinates of nu_k - mu_1 in an
  orthonormal basis of span{mu_j - mu_1, nu_k - mu_1} (dimension r <= K + M - 1), the
  K logits and log sigma^2.

Both are exact at any d: d enters through the initial overlaps (built here from the
vectors of `init` and `target`, so `init` may come from d = 1000 random means) and the
variance terms d/2 (v/tau - 1 - log(v/tau)) of the KL.

Observables (flowsim.diagnostics): mode mass M_j = sum_k w_k E_{q_k}[pi_j] with
pi_j = rho_j p_j / p the target responsibility; nearest_mode(k) = argmax_j E_{q_k}[pi_j];
distance = |nu_k - mu_{j*}| / sigma*; reverse and forward KL of the full mixtures.

Symbols: as in flowsim.gaussian (w_k, rho_j, nu_k, mu_j, sigma^2 = v, sigma*^2 = tau),
m_k = <nu_k - mu_1, mu_2 - mu_1>, Q_kl = <nu_k - mu_1, nu_l - mu_1>.
"""
from __future__ import annotations

import math

import numpy as np

from ...diagnostics import Observables
from ...numerics.arrays import softmax as _softmax
from ...problem import Problem
from ...registry import objective as lookup_objective
from ...validation import check_choice, check_integer, check_options, check_size
from ...weight_modes import OPTIONS as WEIGHT_OPTIONS, check_weight_mode, trains_logits, with_weight_prior
from ...geometry import geometry, with_geometry
from ...schedule import check_schedule, kernels_for, schedule_tail
from . import full, span as gaussian_span, two_mode as two
from .span import HPARAM
from .inputs import INPUTS
from .mixture import GaussianMixture, pair_target, random_means
from .quadrature import DEFAULT_N_GH

REDUCTIONS = ("auto", "two_mode", "span", "full")
OPTIONS = ("train_var", "n_quad", "reduction", "n_cubature", "geometry", "schedule") + WEIGHT_OPTIONS
MIN_N_QUAD = 8
MAX_N_QUAD = 1024
MAX_CUBATURE_NODES = 1e7


def build(target, init, *, objective, weights="trainable", **options) -> Problem:
    """Problem for the Gaussian-mixture flow of `objective` from `init` toward `target`.

    target, init: GaussianMixture in the same R^d. weights: "trainable" (softmax logits
    flow) or "fixed" (init's weights kept). Options: train_var (False: sigma^2 = init.var
    fixed), n_quad (Gauss–Hermite nodes of the 1-D rule, default 32), reduction
    ("auto" | "two_mode" | "span"), n_cubature (span: nodes per dimension of the tensor
    Gauss–Hermite cubature used when K - 1 or M - 1 >= 2; its error is measured in
    tests/test_gaussian_span.py), and the objective's own parameters.
    """
    if not isinstance(target, GaussianMixture):
        raise ValueError(f"target: expected a GaussianMixture, got {type(target).__name__}")
    target.check_compatible(init, "init")
    prior = check_weight_mode(weights, options)
    obj = lookup_objective("gaussian", objective)
    geom = geometry(options.get("geometry", "euclidean"))
    check_options(options, OPTIONS + tuple(obj.parameters) + tuple(geom.parameters),
                  "the Gaussian family")
    own = obj.options(options)
    flow = geom.options(options)
    schedule = options.get("schedule")
    schedule = None if schedule is None else check_schedule(schedule)
    kernels = kernels_for(obj, schedule)
    train_var = options.get("train_var", False)
    if not isinstance(train_var, (bool, np.bool_)):
        raise ValueError(f"train_var: must be True or False, got {train_var!r}")
    n_quad = check_integer("n_quad", options.get("n_quad", DEFAULT_N_GH), minimum=MIN_N_QUAD,
                           maximum=MAX_N_QUAD)
    reduction = check_choice("reduction", options.get("reduction", "auto"), REDUCTIONS)
    default_n_cub = obj.family_defaults.get("n_cubature", gaussian_span.DEFAULT_N_CUBATURE)
    n_cub = check_integer("n_cubature", options.get("n_cubature", default_n_cub), minimum=2)
    if obj.check_inputs is not None:
        obj.check_inputs(target, init)
    K, M = init.n_components, target.n_components
    reduction = _reduction(reduction, geom, K, M, kernels)
    model = obj.model("span" if reduction == "full" else reduction, kernels)
    meta = {"family": "gaussian", "objective": objective, "weights": weights,
            "train_var": bool(train_var), "n_quad": n_quad, "reduction": reduction,
            "target": target, "init": init, "n_components": K, "n_modes": M, "dim": target.dim,
            **own}
    tail = np.empty(0) if schedule is None else schedule_tail(schedule)
    if schedule is not None:
        meta["schedule"] = schedule
    if reduction == "two_mode":
        mu = target.means
        Lam = float(np.sum((mu[1] - mu[0]) ** 2))
        params = two.pack_params(Lam, float(target.weights[0]), target.var, target.dim,
                                 trains_logits(weights), bool(train_var), n_quad)
        y0 = two.state_from_vectors(init.means, mu, init.weights, init.var)
        meta["Lambda"] = Lam
        problem = Problem(model, y0, np.concatenate([params, tail]), FAMILY, meta)
        return problem if prior is None else with_weight_prior(problem, prior, two.TH1, 0)
    nodes = float(n_cub) ** (max(K, M) - 1)
    if max(K, M) > 2 and nodes > MAX_CUBATURE_NODES:
        raise ValueError(f"n_cubature: K = {K}, M = {M} needs {n_cub}^{max(K, M) - 1} = {nodes:.3g} "
                         f"nodes per expectation (limit {MAX_CUBATURE_NODES:g}); lower n_cubature, "
                         "K or M")
    if reduction == "full":
        r = min(K + M - 1, target.dim)
        check_size("d", target.dim * (K + M), f"the means ({K + M} x {target.dim})")
        span_params = _with_objective_parameter(gaussian_span.pack_params(
            np.zeros((M, r)), target.weights, target.var, target.dim, K, trains_logits(weights),
            bool(train_var), n_quad, n_cub), own)
        params = full.pack_params(target.means, np.concatenate([span_params, tail]), K, r)
        y0 = full.pack_state(init.means, init.weights, init.var)
        meta.update({"rank": r, "n_cubature": n_cub})
        problem = Problem(full.full_model(model), y0, params, FAMILY, meta)
        logits = K * target.dim
        scale = {"natural": full.natural_scale, "wfr": full.wfr_scale}
    else:
        basis, target_coords, coords = gaussian_span.span_coordinates(target.means, init.means)
        params = _with_objective_parameter(gaussian_span.pack_params(
            target_coords, target.weights, target.var, target.dim, K, trains_logits(weights),
            bool(train_var), n_quad, n_cub), own)
        y0 = gaussian_span.pack_state(coords, init.weights, init.var)
        meta.update({"rank": target_coords.shape[1], "n_cubature": n_cub, "basis": basis,
                     "target_coords": target_coords})
        problem = Problem(model, y0, np.concatenate([params, tail]), FAMILY, meta)
        logits = K * target_coords.shape[1]
        scale = {"natural": gaussian_span.natural_scale, "wfr": gaussian_span.wfr_scale}
    if prior is not None:
        problem = with_weight_prior(problem, prior, logits, geom.tail(flow).size)
    if geom.name == "adam":
        problem.meta["auto_method"] = "dopri5"        # flowsim.geometry.method_for (A1)
    return with_geometry(problem, geom, flow, scale.get(geom.metric))


def _with_objective_parameter(span_params, own):
    """The span layout with the objective's own parameter (the alpha objective's α) in its
    head slot HPARAM, where the f-divergence kernels read it (FG1)."""
    if len(own) > 1:
        raise ValueError(f"objective: the span layout holds one objective parameter, got {sorted(own)}")
    for value in own.values():
        span_params[HPARAM] = float(value)
    return span_params


def _reduction(reduction, geom, K, M, kernels) -> str:
    """The reduction a flow runs on: the overlap ODE (K = M = 2, euclidean), the span
    coordinates (any K, M; euclidean or a diagonal metric), or the full coordinates (any
    geometry; the only one for coordinate-wise geometries)."""
    if reduction == "auto":
        if geom.coordinatewise:
            return "full"
        if geom.name == "euclidean" and K == 2 and M == 2 and "two_mode" in kernels:
            return "two_mode"
        return "span"
    if reduction == "two_mode":
        if K != 2 or M != 2:
            raise ValueError(f"reduction: 'two_mode' needs K = M = 2, got K={K}, M={M}")
        if geom.name != "euclidean":
            raise ValueError(f"reduction: the overlap ODE ('two_mode') flows only in the euclidean "
                             f"geometry, not {geom.name!r}; use 'span' or 'full'")
    if reduction == "span" and geom.coordinatewise:
        raise ValueError(f"reduction: {geom.name!r} is coordinate-wise (not rotation invariant), so "
                         "it needs the full coordinates: reduction='full'")
    return reduction


def _gram_coordinates(G, tol=1e-12):
    """Rows X with X X^T = G (PSD Gram matrix), by eigen-decomposition (rank-revealing)."""
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    keep = lam > tol * max(1.0, lam.max())
    return U[:, keep] * np.sqrt(lam[keep])


class GaussianFamily:
    """State naming, observables and final mixtures of the Gaussian-mixture flows."""

    name = "gaussian"
    inputs = INPUTS
    mixture = GaussianMixture
    build = staticmethod(build)

    bench_t_max = 200.0
    bench_quick_options = {"n_cubature": 12}

    def example_problem(self, objective, **options):
        """The benchmark's Gaussian flow: K = M = 2 in d = 10, Λ = 16, ρ = 0.3, init means
        N(0, I_10), trainable weights; the two-mode overlap ODE with a trainable variance
        (init 1.5) where the objective has it, else the span reduction with the target's
        variance."""
        target = pair_target(10, 16.0, 0.3, 1.0)
        means = random_means(2, 10, 1.0, 0)
        if "two_mode" in lookup_objective("gaussian", objective).models:
            init = GaussianMixture(means, [0.5, 0.5], 1.5)
            options = {"train_var": True, "reduction": "two_mode", **options}
        else:
            init = GaussianMixture(means, [0.5, 0.5], target.var)
            options = {"reduction": "span", **options}
        return build(target, init, objective=objective, weights="trainable", **options)

    def random_problem(self, objective, rng, K=2, M=2, d=4, weights="trainable", **options):
        """A Gaussian Problem with random means, weights and variances (for cross-checks)."""
        target = GaussianMixture(rng.normal(0.0, 1.5, (M, d)), rng.dirichlet(np.full(M, 3.0)),
                                 rng.uniform(0.6, 1.5))
        init = GaussianMixture(rng.normal(0.0, 1.5, (K, d)), rng.dirichlet(np.full(K, 3.0)),
                               rng.uniform(0.6, 1.5))
        options = {"train_var": True, **options}
        return build(target, init, objective=objective, weights=weights, **options)

    def random_state(self, problem, rng):
        """A state of `problem`'s layout built from actual vectors, so overlaps form a valid
        Gram matrix: two_mode [m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s], span [X, θ, s]."""
        K = problem.meta["n_components"]
        s = rng.uniform(np.log(0.4), np.log(3.0))
        th = rng.normal(0.0, 1.5, K)
        if problem.meta["reduction"] == "two_mode":
            Lam = problem.params[two.LAM]
            d = 6
            delta = np.zeros(d)
            delta[0] = np.sqrt(Lam)
            u = rng.normal(0.0, rng.uniform(0.2, 3.0), (2, d)) + rng.uniform(0.0, 1.0, (2, 1)) * delta
            m = u @ delta
            Q = u @ u.T
            return np.array([m[0], m[1], Q[0, 0], Q[0, 1], Q[1, 1], th[0], th[1], s])
        width = problem.meta["dim"] if problem.meta["reduction"] == "full" else problem.meta["rank"]
        X = rng.normal(0.0, 1.5, (K, width))
        return np.concatenate([X.ravel(), th, [s]])

    def gradient_indices(self, problem):
        """State coordinates whose rate is -dL/dy: the trained logits and log-variance, and
        the span coordinates of the means (the two-mode overlaps are not parameters)."""
        K = problem.meta["n_components"]
        if problem.meta["reduction"] == "two_mode":
            out, (th, s) = [], ([two.TH1, two.TH2], two.LOGV)
        else:
            n_x = K * problem.meta["dim" if problem.meta["reduction"] == "full" else "rank"]
            out, (th, s) = list(range(n_x)), (list(range(n_x, n_x + K)), n_x + K)
        if trains_logits(problem.meta["weights"]):
            out += th
        if problem.meta["train_var"]:
            out.append(s)
        return out

    # ---------------------------------------------------------------- variables
    def state_variables(self, problem, states):
        """Named variables (dims start with "time").

        two_mode: weights, theta (time, component); m (time, component) = <nu_k - mu_1, Delta>;
        Q (time, component, component2); var (time).
        span: additionally coords (time, component, axis) in the span basis and
        m_target (time, component, mode) = <nu_k - mu_1, mu_j - mu_1>; m is m_target[..., 1]
        when M = 2. full: the same overlaps, from the means themselves.
        """
        states = np.atleast_2d(states)
        comp = ("time", "component")
        if problem.meta["reduction"] == "full":
            K, mu = problem.meta["n_components"], problem.meta["target"].means
            nu, th, s = full.unpack_state(states, K, problem.meta["dim"])
            u = nu - mu[0]
            mt = np.einsum("tkd,jd->tkj", u, mu - mu[0])
            out = {"weights": (comp, _softmax(th)), "theta": (comp, th),
                   "m_target": (("time", "component", "mode"), mt),
                   "Q": (("time", "component", "component2"), np.einsum("tkd,tld->tkl", u, u)),
                   "var": (("time",), np.exp(s))}
            if problem.meta["n_modes"] == 2:
                out["m"] = (comp, mt[..., 1])
            return out
        if problem.meta["reduction"] == "two_mode":
            th = states[:, [two.TH1, two.TH2]]
            m = states[:, [two.M1, two.M2]]
            Q = np.empty((states.shape[0], 2, 2))
            Q[:, 0, 0] = states[:, two.Q11]
            Q[:, 1, 1] = states[:, two.Q22]
            Q[:, 0, 1] = Q[:, 1, 0] = states[:, two.Q12]
            return {"weights": (comp, _softmax(th)), "theta": (comp, th), "m": (comp, m),
                    "Q": (("time", "component", "component2"), Q),
                    "var": (("time",), np.exp(states[:, two.LOGV]))}
        K = problem.meta["n_components"]
        X, th, s = gaussian_span.unpack_state(states, K, problem.meta["rank"])
        Tc = problem.meta["target_coords"]
        mt = np.einsum("tkr,jr->tkj", X, Tc)
        out = {"weights": (comp, _softmax(th)), "theta": (comp, th),
               "coords": (("time", "component", "axis"), X),
               "m_target": (("time", "component", "mode"), mt),
               "Q": (("time", "component", "component2"), np.einsum("tkr,tlr->tkl", X, X)),
               "var": (("time",), np.exp(s))}
        if problem.meta["n_modes"] == 2:
            out["m"] = (comp, mt[..., 1])
        return out

    # ------------------------------------------------------------ user coordinates
    def user_means(self, trajectory):
        """The means in the user's R^d at the saved times, (T, K, d).

        span: mu_1 + X basis, exact. two_mode: the overlap state fixes the means only up to
        a rotation about Delta, so the same flow is integrated once more in the span
        coordinates (same initial mixtures, times, tolerances and backend); the overlaps
        of these means agree with the trajectory's to the integration tolerance."""
        problem = trajectory.problem
        meta = problem.meta
        states = problem.base(trajectory.states)
        if meta["reduction"] == "full":
            return full.unpack_state(states, meta["n_components"], meta["dim"])[0]
        if meta["reduction"] == "two_mode":
            from ...api import simulate

            options = {k: meta[k] for k in ("train_var", "n_quad")}
            solver = dict(trajectory.options)
            span = simulate(meta["target"], meta["init"], objective=meta["objective"],
                            weights=meta["weights"], t_max=float(trajectory.time[-1]),
                            t_eval=trajectory.time, backend=trajectory.backend,
                            rtol=solver.get("rtol", 1e-8), atol=solver.get("atol", 1e-10),
                            reduction="span", **options,
                            **({"method": solver["method"]} if trajectory.backend == "numba" else {}))
            problem, states = span.problem, span.states
            meta = problem.meta
        X, _, _ = gaussian_span.unpack_state(states, meta["n_components"], meta["rank"])
        return meta["target"].means[0] + X @ meta["basis"]

    def final(self, trajectory):
        """q at the last saved time as a GaussianMixture in the user's R^d."""
        y = trajectory.problem.base(trajectory.states[-1])
        q = self.distribution(trajectory.problem, y)
        return GaussianMixture(self.user_means(trajectory)[-1], q.weights, q.var)

    def user_variables(self, trajectory, max_dim):
        """{"means": (("time", "component", "dim"), (T, K, d))} when d <= max_dim, else {}."""
        if trajectory.problem.meta["dim"] > max_dim:
            return {}
        return {"means": (("time", "component", "dim"), self.user_means(trajectory))}

    # ------------------------------------------------------------- distribution
    def distribution(self, problem, y):
        """q at state y as a GaussianMixture in the span coordinates (dimension r); the
        user's coordinates are `final` and `user_means`.

        Origin mu_1, orthonormal basis of span{mu_j - mu_1, nu_k - mu_1}: two_mode builds
        it from the Gram matrix of (Delta, u_1, u_2) (target mu_1 -> 0, mu_2 -> row 0 of
        the coordinates, see `target_in_span`); span uses the basis fixed at build time.
        The d-dimensional q is this mixture times N(0, sigma^2 I_{d-r}) on the orthogonal
        complement (the target likewise with sigma*^2), so every KL differs from the
        r-dimensional one by (d - r)/2 (v/tau - 1 - log(v/tau)) (reverse) or the
        analogous forward term.
        """
        y = np.asarray(y, float)
        if problem.meta["reduction"] == "full":
            nu, th, s = full.unpack_state(y[None, :], problem.meta["n_components"],
                                          problem.meta["dim"])
            return GaussianMixture(nu[0], _softmax(th[0]), math.exp(s[0]))
        if problem.meta["reduction"] == "two_mode":
            coords = self._two_mode_coords(problem, y)
            w = _softmax(y[[two.TH1, two.TH2]])
            return GaussianMixture(coords[1:], w, math.exp(y[two.LOGV]))
        K = problem.meta["n_components"]
        X, th, s = gaussian_span.unpack_state(y[None, :], K, problem.meta["rank"])
        return GaussianMixture(X[0], _softmax(th[0]), math.exp(s[0]))

    def target_in_span(self, problem, y):
        """The target as a GaussianMixture in the coordinates of `distribution(problem, y)`."""
        target = problem.meta["target"]
        if problem.meta["reduction"] == "full":
            return target
        if problem.meta["reduction"] == "two_mode":
            coords = self._two_mode_coords(problem, np.asarray(y, float))
            means = np.vstack([np.zeros(coords.shape[1]), coords[0]])
        else:
            means = problem.meta["target_coords"]
        return GaussianMixture(means, target.weights, target.var)

    @staticmethod
    def _two_mode_coords(problem, y):
        Lam = problem.params[two.LAM]
        G = np.array([[Lam, y[two.M1], y[two.M2]],
                      [y[two.M1], y[two.Q11], y[two.Q12]],
                      [y[two.M2], y[two.Q12], y[two.Q22]]])
        X = _gram_coordinates(G)
        if X.shape[1] == 0:
            X = np.zeros((3, 1))
        return X

    # -------------------------------------------------------------- observables
    def observe(self, problem, time, states) -> Observables:
        states = np.atleast_2d(np.asarray(states, float))
        target = problem.meta["target"]
        T, K, M = states.shape[0], problem.meta["n_components"], problem.meta["n_modes"]
        p = problem.params
        resp = np.empty((T, K, M))
        rev = np.empty(T)
        fwd = np.empty(T)
        obj = np.empty(T)
        reduction = problem.meta["reduction"]
        mod = two if reduction == "two_mode" else gaussian_span
        for i, y in enumerate(states):
            y = np.ascontiguousarray(y)
            if not np.all(np.isfinite(y)):         # a time the run did not reach
                resp[i], obj[i], rev[i], fwd[i] = np.nan, np.nan, np.nan, np.nan
                continue
            obj[i] = problem.model.objective(y, p)
            ys, ps = full.to_span(y, p)[:2] if reduction == "full" else (y, p)
            mod.mode_responsibilities(ys, ps, resp[i])
            rev[i] = mod.reverse_kl(ys, ps)
            fwd[i] = mod.forward_kl(ys, ps)
        w = self.state_variables(problem, states)["weights"][1]
        mode_mass = np.einsum("tk,tkj->tj", w, resp)
        nearest = np.argmax(resp, axis=-1)
        if reduction == "full":
            nu = full.unpack_state(states, K, problem.meta["dim"])[0]
            sq = np.sum((nu - target.means[nearest]) ** 2, axis=-1)
        elif reduction == "two_mode":
            Lam = p[two.LAM]
            m = states[:, [two.M1, two.M2]]
            qd = states[:, [two.Q11, two.Q22]]
            sq = np.where(nearest == 0, qd, Lam - 2.0 * m + qd)
        else:
            X, _, _ = gaussian_span.unpack_state(states, K, problem.meta["rank"])
            Tc = problem.meta["target_coords"]
            sq = np.sum((X - Tc[nearest]) ** 2, axis=-1)
        dist = np.sqrt(np.maximum(sq, 0.0) / target.var)
        return Observables(np.asarray(time, float), w, mode_mass, target.weights.copy(), nearest,
                           dist, obj, np.maximum(rev, 0.0), np.maximum(fwd, 0.0))


FAMILY = GaussianFamily()
