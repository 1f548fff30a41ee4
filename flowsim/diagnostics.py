"""Collapse diagnostics: one definition shared by ODE trajectories and torch simulations.

Every family reduces a state of the variational mixture q to the same handful of
`Observables` (shapes: T saved times, K components of q, M modes of the target p):

    symbol          array                 meaning
    w_k             weights (T, K)        mixture weights of q
    M_j             mode_mass (T, M)      q-mass on target mode j, E_q[pi_j(x)], pi_j the
                                          target responsibility rho_j p_j(x) / p(x)
    rho_j           target_weights (M,)   target mixture weights
    j*(k)           nearest_mode (T, K)   target mode each component is assigned to
    r_k             distance (T, K)       distance from component k's mean to mode j*(k),
                                          in units of that mode's standard deviation

From them (docs/design.md, the diagnostics vocabulary):

    coverage          #{j : M_j >= rho_j / 2};  collapsed = coverage < M
    mode_weight_error  1/2 sum_j |M_j - rho_j|
    emc               -sum_j M_j log M_j / log M   (entropic mode coverage)
    vanishing_weight  some k has w_k < eps_w while r_k > far
    mean_alignment    two or more live components (w_k >= eps_w) share j*(k)
    stranded          some live component (w_k >= eps_w) is far (r_k > far) from every
                      mode: the run has not reached a state the labels can judge (a flow
                      that stopped moving where the overlaps vanish, or one still on its
                      way); coverage then reads q's tails. A covering component that sits
                      between modes more than 2 far apart is stranded by design
    mechanism         one label per collapsed run (docs/derivations.md, D1): for the
                      heaviest uncovered mode j (M_j < rho_j / 2),
                        weight_starvation  a component sits on j (j*(k) = j, r_k <= far)
                                           but its weight is too small to cover it;
                        vanishing_weight   else, a component died (w_k < eps_w) far from
                                           every mode (r_k > far) before reaching one;
                        mean_alignment     else: every live component sits on another
                                           mode, so the components aligned on fewer modes
                      and "none" for a run that is not collapsed
    collapse_time     first saved time after which the classification
                      (coverage, mean_alignment, vanishing_weight) never changes
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS_WEIGHT = 1e-3
FAR = 3.0


@dataclass(frozen=True)
class Diagnostic:
    """One entry of the diagnostics vocabulary: its name, its extra dimension (none for a
    scalar, "component" or "mode"), and what it means."""

    name: str
    dim: str | None
    description: str


DIAGNOSTICS = (
    Diagnostic("weights", "component", "final mixture weights"),
    Diagnostic("min_weight", None, "smallest final mixture weight"),
    Diagnostic("max_weight", None, "largest final mixture weight"),
    Diagnostic("mode_mass", "mode", "final q-mass M_j on each target mode"),
    Diagnostic("coverage", None, "number of target modes j with q-mass M_j >= rho_j / 2"),
    Diagnostic("collapsed", None, "1 if coverage < number of target modes"),
    Diagnostic("mode_weight_error", None, "1/2 sum_j |M_j - rho_j|"),
    Diagnostic("emc", None, "entropic mode coverage -sum_j M_j log M_j / log M"),
    Diagnostic("vanishing_weight", None, "1 if some w_k < eps_w while its mean is far from every mode"),
    Diagnostic("mean_alignment", None, "1 if two live components share a target mode"),
    Diagnostic("stranded", None, "1 if a live component (w_k >= eps_w) ends far from every mode"),
    Diagnostic("mechanism", None, "why a collapsed run lost a mode: 0 none (not collapsed), "
               "1 mean_alignment, 2 vanishing_weight, 3 weight_starvation"),
    Diagnostic("collapse_time", None, "first saved time after which the classification never changes"),
    Diagnostic("final_objective", None, "objective at the final time"),
    Diagnostic("reverse_kl", None, "exact mixture KL(q || p) at the final time"),
    Diagnostic("forward_kl", None, "exact mixture KL(p || q) at the final time"),
)
DIAGNOSTIC_NAMES = tuple(d.name for d in DIAGNOSTICS)
MECHANISMS = ("none", "mean_alignment", "vanishing_weight", "weight_starvation")
SCALAR_DIAGNOSTICS = tuple(d.name for d in DIAGNOSTICS if d.dim is None)


@dataclass
class Observables:
    """Per-time collapse observables of a trajectory (see the module symbol table)."""

    time: np.ndarray
    weights: np.ndarray
    mode_mass: np.ndarray
    target_weights: np.ndarray
    nearest_mode: np.ndarray
    distance: np.ndarray
    objective: np.ndarray
    reverse_kl: np.ndarray
    forward_kl: np.ndarray


def coverage(mode_mass, target_weights):
    """Number of target modes j with M_j >= rho_j / 2 (last axis = modes)."""
    return np.sum(np.asarray(mode_mass) >= 0.5 * np.asarray(target_weights), axis=-1)


def mode_weight_error(mode_mass, target_weights):
    """1/2 sum_j |M_j - rho_j|: total-variation distance between mode masses."""
    return 0.5 * np.sum(np.abs(np.asarray(mode_mass) - np.asarray(target_weights)), axis=-1)


def entropic_mode_coverage(mode_mass):
    """EMC = -sum_j M_j log M_j / log M (Blessing et al. 2024), with 0 log 0 = 0."""
    m = np.clip(np.asarray(mode_mass, dtype=float), 0.0, 1.0)
    n_modes = m.shape[-1]
    if n_modes < 2:
        return np.ones(m.shape[:-1])
    plogp = np.where(m > 0, m * np.log(np.where(m > 0, m, 1.0)), 0.0)
    return -np.sum(plogp, axis=-1) / np.log(n_modes)


def vanishing_weight(weights, distance, eps_w=EPS_WEIGHT, far=FAR):
    """True where some component has w_k < eps_w while r_k > far (it froze short of a mode)."""
    return np.any((np.asarray(weights) < eps_w) & (np.asarray(distance) > far), axis=-1)


def mean_alignment(weights, nearest_mode, n_modes, eps_w=EPS_WEIGHT):
    """True where two or more live components (w_k >= eps_w) are assigned to one mode."""
    weights = np.asarray(weights)
    nearest = np.asarray(nearest_mode)
    live = weights >= eps_w
    counts = np.zeros(weights.shape[:-1] + (n_modes,), dtype=int)
    for k in range(weights.shape[-1]):
        onehot = nearest[..., k, None] == np.arange(n_modes)
        counts += onehot & live[..., k, None]
    return np.any(counts >= 2, axis=-1)


def stranded(weights, distance, eps_w=EPS_WEIGHT, far=FAR):
    """True where some live component (w_k >= eps_w) has r_k > far (no mode near it)."""
    return np.any((np.asarray(weights) >= eps_w) & (np.asarray(distance) > far), axis=-1)


def settle_time(time, labels):
    """First saved time after which `labels` (T, ...) never changes again."""
    labels = np.asarray(labels)
    flat = labels.reshape(labels.shape[0], -1)
    changed = np.any(flat[1:] != flat[:-1], axis=-1)
    idx = np.nonzero(changed)[0]
    return float(time[0] if idx.size == 0 else time[idx[-1] + 1])


def mechanism(weights, mode_mass, target_weights, nearest_mode, distance, eps_w=EPS_WEIGHT,
              far=FAR) -> int:
    """The index in MECHANISMS of why a state lost a mode (0 when it did not); one state:
    weights (K,), mode_mass (M,), nearest_mode (K,), distance (K,)."""
    w = np.asarray(weights)
    m = np.asarray(mode_mass)
    rho = np.asarray(target_weights)
    uncovered = np.nonzero(m < 0.5 * rho)[0]
    if uncovered.size == 0:
        return 0
    j = uncovered[np.argmax(rho[uncovered])]
    near = np.asarray(nearest_mode)
    dist = np.asarray(distance)
    if np.any((near == j) & (dist <= far)):
        return MECHANISMS.index("weight_starvation")
    if np.any((w < eps_w) & (dist > far)):
        return MECHANISMS.index("vanishing_weight")
    return MECHANISMS.index("mean_alignment")


def classify(obs: Observables, eps_w=EPS_WEIGHT, far=FAR) -> dict:
    """Per-time classification arrays: coverage, collapsed, vanishing_weight, mean_alignment."""
    n_modes = obs.mode_mass.shape[-1]
    cov = coverage(obs.mode_mass, obs.target_weights)
    return {
        "coverage": cov,
        "collapsed": cov < n_modes,
        "vanishing_weight": vanishing_weight(obs.weights, obs.distance, eps_w, far),
        "mean_alignment": mean_alignment(obs.weights, obs.nearest_mode, n_modes, eps_w),
    }


def summarize(obs: Observables, eps_w=EPS_WEIGHT, far=FAR) -> dict:
    """Every entry of DIAGNOSTICS at the final time."""
    per_time = classify(obs, eps_w, far)
    labels = np.stack([per_time["coverage"], per_time["mean_alignment"],
                       per_time["vanishing_weight"]], axis=-1)
    w = obs.weights[-1]
    m = obs.mode_mass[-1]
    return {
        "weights": w.copy(),
        "min_weight": float(w.min()),
        "max_weight": float(w.max()),
        "mode_mass": m.copy(),
        "coverage": int(per_time["coverage"][-1]),
        "collapsed": bool(per_time["collapsed"][-1]),
        "mode_weight_error": float(mode_weight_error(m, obs.target_weights)),
        "emc": float(entropic_mode_coverage(m)),
        "vanishing_weight": bool(per_time["vanishing_weight"][-1]),
        "mean_alignment": bool(per_time["mean_alignment"][-1]),
        "stranded": bool(stranded(w, obs.distance[-1], eps_w, far)),
        "mechanism": mechanism(w, m, obs.target_weights, obs.nearest_mode[-1], obs.distance[-1],
                               eps_w, far),
        "collapse_time": settle_time(obs.time, labels),
        "final_objective": float(obs.objective[-1]),
        "reverse_kl": float(obs.reverse_kl[-1]),
        "forward_kl": float(obs.forward_kl[-1]),
    }
