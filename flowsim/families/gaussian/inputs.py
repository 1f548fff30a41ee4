"""Study-file inputs of the Gaussian family (docs/sweep.md, [target] and [init]).

target  explicit    means, weights, var
        pair        d, Lambda, rho, var: modes mu_+ = -(sqrt(Lambda)/2) e_1 (weight rho) and
                    mu_- = +(sqrt(Lambda)/2) e_1 (weight 1 - rho), so Lambda = |mu_- - mu_+|^2
        random      K, d, scale, weights, var: means N(0, scale^2 I_d), seeded
init    explicit    means, weights, var
        random      K, scale, radius, center ("origin" | "target"), weights, var: means
                    N(center, scale^2 I_d), seeded; with radius (not with scale), each
                    mean at that distance from center in a random direction
        projection  m, r, weights, var (target.kind = "pair"): nu_k = mu_+ + m_k Delta +
                    r_k e_{o(k)}, o(k) = 2 + (k mod (d - 1)); m_k = <nu_k - mu_+, Delta>/Lambda
                    is 0 at mu_+ and 1 at mu_-, r_k an orthogonal offset
The init's variance defaults to the target's.
"""
from __future__ import annotations

import numpy as np

from ..inputs import INIT_STREAM, TARGET_STREAM, FamilyInputs, InputKind, weights_of
from .mixture import GaussianMixture, pair_target, random_means


def _explicit(t: dict, seed: int, target=None, target_fields=None):
    var = t.get("var", 1.0 if target is None else target.var)
    return GaussianMixture(t["means"], weights=t.get("weights"), var=var)


def _pair(t: dict, seed: int):
    return pair_target(t.get("d", 2), t["Lambda"], t.get("rho", 0.5), t.get("var", 1.0))


def _random_target(t: dict, seed: int):
    means = random_means(t["K"], t["d"], t.get("scale", 1.0), seed=[int(seed), TARGET_STREAM])
    return GaussianMixture(means, weights=t.get("weights"), var=t.get("var", 1.0))


def _random_init(i: dict, seed: int, target, target_fields):
    K = int(i["K"])
    center = i.get("center", "origin")
    if center == "origin":
        c = np.zeros(target.dim)
    elif center == "target":
        c = target.weights @ target.means
    else:
        raise ValueError(f"init.center: must be 'origin' or 'target', got {center!r}")
    if "radius" in i and "scale" in i:
        raise ValueError("init.radius: give init.scale or init.radius, not both")
    means = random_means(K, target.dim, i.get("scale", 1.0), seed=[int(seed), INIT_STREAM], center=c,
                         radius=i.get("radius"))
    return GaussianMixture(means, weights=weights_of("init", i.get("weights"), K),
                           var=i.get("var", target.var))


def _projection(i: dict, seed: int, target, target_fields):
    if target_fields["kind"] != "pair":
        raise ValueError("init.kind: 'projection' needs target.kind = 'pair'")
    m = np.asarray(i["m"], dtype=float)
    K = m.size
    r = np.zeros(K) if i.get("r") is None else np.asarray(i["r"], dtype=float)
    if r.shape != (K,):
        raise ValueError(f"init.r: expected {K} offsets (one per entry of init.m), got {i['r']!r}")
    d = target.dim
    mu_plus, mu_minus = target.means
    means = mu_plus + m[:, None] * (mu_minus - mu_plus)
    if np.any(r != 0):
        if d < 2:
            raise ValueError("init.r: orthogonal offsets need d >= 2")
        for k in range(K):
            means[k, 1 + (k % (d - 1))] += r[k]
    return GaussianMixture(means, weights=weights_of("init", i.get("weights"), K),
                           var=i.get("var", target.var))


INPUTS = FamilyInputs(
    target={"explicit": InputKind(frozenset({"means", "weights", "var"}), ("means",),
                                  lambda t: len(t["means"]), _explicit, frozenset({"means"})),
            "pair": InputKind(frozenset({"d", "Lambda", "rho", "var"}), ("Lambda",),
                              lambda t: 2, _pair),
            "random": InputKind(frozenset({"K", "d", "scale", "weights", "var"}), ("K", "d"),
                                lambda t: int(t["K"]), _random_target, frozenset({"K"}))},
    init={"explicit": InputKind(frozenset({"means", "weights", "var"}), ("means",),
                                lambda i: len(i["means"]), _explicit, frozenset({"means"})),
          "random": InputKind(frozenset({"K", "scale", "radius", "center", "weights", "var"}), ("K",),
                              lambda i: int(i["K"]), _random_init, frozenset({"K"})),
          "projection": InputKind(frozenset({"m", "r", "weights", "var"}), ("m",),
                                  lambda i: len(i["m"]), _projection, frozenset({"m"}))},
)
