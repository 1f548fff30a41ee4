"""Study-file inputs of the von Mises family (docs/sweep.md, [target] and [init]).

target  explicit  mu, kappa, weights, units          uniform  M, kappa, offset, weights, units
init    explicit  mu, kappa, weights, units          random   K, kappa, weights (means uniform
                                                               on the circle, seeded)
Angles are radians unless units = "deg".
"""
from __future__ import annotations

import numpy as np

from ..inputs import INIT_STREAM, FamilyInputs, InputKind, rng, weights_of
from .mixture import VonMisesMixture


def _angles(values, units: str):
    arr = np.asarray(values, dtype=float)
    return np.deg2rad(arr) if units == "deg" else arr


def _explicit(t: dict, seed: int, *_):
    return VonMisesMixture(_angles(t["mu"], t.get("units", "rad")), t["kappa"], t.get("weights"))


def _uniform(t: dict, seed: int):
    M = int(t["M"])
    offset = float(_angles(t.get("offset", 0.0), t.get("units", "rad")))
    mu = offset + 2.0 * np.pi * np.arange(M) / M
    return VonMisesMixture(mu, t["kappa"], weights_of("target", t.get("weights"), M))


def _random(i: dict, seed: int, target, target_fields):
    K = int(i["K"])
    mu = rng(seed, INIT_STREAM).uniform(-np.pi, np.pi, K)
    return VonMisesMixture(mu, i.get("kappa", 1.0), weights_of("init", i.get("weights"), K))


def _explicit_size(t: dict) -> int:
    return int(max(np.size(t["mu"]), np.size(t["kappa"])))


_EXPLICIT = InputKind(frozenset({"mu", "kappa", "weights", "units"}), ("mu", "kappa"),
                      _explicit_size, _explicit, frozenset({"mu"}))

INPUTS = FamilyInputs(
    target={"explicit": _EXPLICIT,
            "uniform": InputKind(frozenset({"M", "kappa", "offset", "weights", "units"}),
                                 ("M", "kappa"), lambda t: int(t["M"]), _uniform, frozenset({"M"}))},
    init={"explicit": _EXPLICIT,
          "random": InputKind(frozenset({"K", "kappa", "weights"}), ("K",),
                              lambda i: int(i["K"]), _random, frozenset({"K"}))},
)
