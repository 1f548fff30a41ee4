"""The isotropic Gaussian-mixture family: builds R^d flows and measures their observables.

`build(target, init, objective=, weights=, train_var=False, n_quad=32, reduction="auto")`
reduces the gradient flow of the d-dimensional mixtures exactly:

* K = M = 2 ("two_mode", flowsim.models.gaussian_two_mode): the closed overlap ODE on
  y = [m_1, m_2, Q_11, Q_12, Q_22, theta_1, theta_2, log sigma^2];
* any K, M ("span", flowsim.models.gaussian_span): coordinates of nu_k - mu_1 in an
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

from ..diagnostics import Observables
from ..gaussian import DEFAULT_N_GH, GaussianMixture
from ..validation import check_choice
from . import gaussian_span, gaussian_two_mode as two
from .base import Problem

OBJECTIVES = ("reverse_kl", "forward_kl")
REDUCTIONS = ("auto", "two_mode", "span")
WEIGHT_MODES = ("trainable", "fixed")
_OPTIONS = ("train_var", "n_quad", "reduction", "n_cubature")


def build(target, init, *, objective, weights="trainable", **options) -> Problem:
    """Problem for the Gaussian-mixture flow of `objective` from `init` toward `target`.

    target, init: GaussianMixture in the same R^d. weights: "trainable" (softmax logits
    flow) or "fixed" (init's weights kept). Options: train_var (False: sigma^2 = init.var
    fixed), n_quad (Gauss–Hermite nodes of the 1-D rule, default 32), reduction
    ("auto" | "two_mode" | "span"), n_cubature (span: nodes per dimension of the tensor
    Gauss–Hermite cubature used when K - 1 or M - 1 >= 2; default 40, error ~1e-9 for
    K = M = 3 in tests/test_gaussian_span.py).
    """
    if not isinstance(target, GaussianMixture):
        raise ValueError(f"target: expected a GaussianMixture, got {type(target).__name__}")
    target.check_compatible(init, "init")
    check_choice("objective", objective, OBJECTIVES)
    check_choice("weights", weights, WEIGHT_MODES)
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown option for the Gaussian family (known: {_OPTIONS})")
    train_var = options.get("train_var", False)
    if not isinstance(train_var, (bool, np.bool_)):
        raise ValueError(f"train_var: must be True or False, got {train_var!r}")
    n_quad = options.get("n_quad", DEFAULT_N_GH)
    if not isinstance(n_quad, (int, np.integer)) or n_quad < 8:
        raise ValueError(f"n_quad: need an integer >= 8, got {n_quad!r}")
    reduction = check_choice("reduction", options.get("reduction", "auto"), REDUCTIONS)
    K, M = init.n_components, target.n_components
    if reduction == "auto":
        reduction = "two_mode" if (K == 2 and M == 2) else "span"
    if reduction == "two_mode" and (K != 2 or M != 2):
        raise ValueError(f"reduction: 'two_mode' needs K = M = 2, got K={K}, M={M}")
    meta = {"family": "gaussian", "objective": objective, "weights": weights,
            "train_var": bool(train_var), "n_quad": int(n_quad), "reduction": reduction,
            "target": target, "n_components": K, "n_modes": M, "dim": target.dim}
    if reduction == "two_mode":
        mu = target.means
        Lam = float(np.sum((mu[1] - mu[0]) ** 2))
        params = two.pack_params(Lam, float(target.weights[0]), target.var, target.dim,
                                 two.OBJ_REVERSE if objective == "reverse_kl" else two.OBJ_FORWARD,
                                 weights == "trainable", bool(train_var), int(n_quad))
        y0 = two.state_from_vectors(init.means, mu, init.weights, init.var)
        meta["Lambda"] = Lam
        return Problem(two.MODEL, y0, params, FAMILY, meta)
    n_cub = options.get("n_cubature", gaussian_span.DEFAULT_N_CUBATURE)
    if not isinstance(n_cub, (int, np.integer)) or n_cub < 2:
        raise ValueError(f"n_cubature: need an integer >= 2, got {n_cub!r}")
    basis, target_coords, coords = gaussian_span.span_coordinates(target.means, init.means)
    params = gaussian_span.pack_params(target_coords, target.weights, target.var, target.dim, K,
                                       objective, weights == "trainable", bool(train_var),
                                       int(n_quad), int(n_cub))
    y0 = gaussian_span.pack_state(coords, init.weights, init.var)
    meta.update({"rank": target_coords.shape[1], "n_cubature": int(n_cub), "basis": basis,
                 "target_coords": target_coords})
    return Problem(gaussian_span.MODEL, y0, params, FAMILY, meta)


def _softmax(th):
    th = th - th.max(axis=-1, keepdims=True)
    e = np.exp(th)
    return e / e.sum(axis=-1, keepdims=True)


def _gram_coordinates(G, tol=1e-12):
    """Rows X with X X^T = G (PSD Gram matrix), by eigen-decomposition (rank-revealing)."""
    lam, U = np.linalg.eigh(0.5 * (G + G.T))
    keep = lam > tol * max(1.0, lam.max())
    return U[:, keep] * np.sqrt(lam[keep])


class GaussianFamily:
    """State naming, observables and final mixtures of the Gaussian-mixture flows."""

    name = "gaussian"

    # ---------------------------------------------------------------- variables
    def state_variables(self, problem, states):
        """Named variables (dims start with "time").

        two_mode: weights, theta (time, component); m (time, component) = <nu_k - mu_1, Delta>;
        Q (time, component, component2); var (time).
        span: additionally coords (time, component, axis) in the span basis and
        m_target (time, component, mode) = <nu_k - mu_1, mu_j - mu_1>; m is m_target[..., 1]
        when M = 2.
        """
        states = np.atleast_2d(states)
        comp = ("time", "component")
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

    # ------------------------------------------------------------- distribution
    def distribution(self, problem, y):
        """q at state y as a GaussianMixture in the span coordinates (dimension r).

        Origin mu_1, orthonormal basis of span{mu_j - mu_1, nu_k - mu_1}: two_mode builds
        it from the Gram matrix of (Delta, u_1, u_2) (target mu_1 -> 0, mu_2 -> row 0 of
        the coordinates, see `target_in_span`); span uses the basis fixed at build time.
        The d-dimensional q is this mixture times N(0, sigma^2 I_{d-r}) on the orthogonal
        complement (the target likewise with sigma*^2), so every KL differs from the
        r-dimensional one by (d - r)/2 (v/tau - 1 - log(v/tau)) (reverse) or the
        analogous forward term.
        """
        y = np.asarray(y, float)
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
        two_mode = problem.meta["reduction"] == "two_mode"
        mod = two if two_mode else gaussian_span
        for i, y in enumerate(states):
            y = np.ascontiguousarray(y)
            mod.mode_responsibilities(y, p, resp[i])
            rev[i] = mod.reverse_kl(y, p)
            fwd[i] = mod.forward_kl(y, p)
            obj[i] = problem.model.objective(y, p)
        w = self.state_variables(problem, states)["weights"][1]
        mode_mass = np.einsum("tk,tkj->tj", w, resp)
        nearest = np.argmax(resp, axis=-1)
        if two_mode:
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
