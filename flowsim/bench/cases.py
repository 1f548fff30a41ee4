"""The benchmark's models: one fixed, representative Problem per flow, and random states.

Circle flows: a three-mode target (κ* = 20, unequal weights) and a broad three-component
start, every objective, trainable weights. Gaussian flows: the closed two-mode overlap
ODE (K = M = 2) in d = 10, Λ = 16, ρ = 0.3, trainable weights and variance, both KLs.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..simulation import build_problem, log_times


class Case(NamedTuple):
    name: str
    problem: object
    t_max: float
    t_eval: np.ndarray


CIRCLE_OBJECTIVES = ("matched", "matched_reversed", "matched_bound", "reverse_kl", "forward_kl")
GAUSSIAN_OBJECTIVES = ("reverse_kl", "forward_kl")


def circle_target():
    from ..vonmises import VonMisesMixture
    return VonMisesMixture([0.0, 2.0 * math.pi / 3, -2.0 * math.pi / 3], [20.0, 20.0, 20.0],
                           [0.5, 0.3, 0.2])


def circle_init():
    from ..vonmises import VonMisesMixture
    return VonMisesMixture([0.4, 1.6, -2.7], [4.0, 3.0, 5.0], [0.4, 0.35, 0.25])


def gaussian_pair(d=10, Lam=16.0, rho=0.3, seed=0):
    """(target, init): target modes ±√Λ/2 e_1, init means N(0, I_d)."""
    from ..gaussian import GaussianMixture, random_means
    mu = np.zeros((2, d))
    mu[0, 0] = -0.5 * math.sqrt(Lam)
    mu[1, 0] = 0.5 * math.sqrt(Lam)
    target = GaussianMixture(mu, [rho, 1.0 - rho], 1.0)
    init = GaussianMixture(random_means(2, d, 1.0, seed), [0.5, 0.5], 1.5)
    return target, init


def cases(quick=False):
    """Every benchmark case (quick: shorter runs, same models)."""
    out = []
    t_circle = 1.0 if quick else 50.0
    for obj in CIRCLE_OBJECTIVES:
        prob = build_problem(circle_target(), circle_init(), objective=obj, weights="trainable",
                             regularization=0.0)
        out.append(Case(f"vonmises.{obj}", prob, t_circle, log_times(t_circle)))
    t_gauss = 2.0 if quick else 200.0
    for obj in GAUSSIAN_OBJECTIVES:
        target, init = gaussian_pair()
        prob = build_problem(target, init, objective=obj, weights="trainable", train_var=True,
                             reduction="two_mode")
        out.append(Case(f"gaussian.two_mode.{obj}", prob, t_gauss, log_times(t_gauss)))
    return out


# ------------------------------------------------------------- random states

def random_circle_state(rng, K):
    return np.concatenate([rng.normal(0.0, 1.0, K), rng.uniform(-math.pi, math.pi, K),
                           rng.uniform(math.log(0.5), math.log(60.0), K)])


def random_gaussian_state(rng, Lam, d=6):
    """[m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s] from actual vectors in R^d (a valid Gram matrix)."""
    delta = np.zeros(d)
    delta[0] = math.sqrt(Lam)
    u = rng.normal(0.0, rng.uniform(0.2, 3.0), (2, d)) + rng.uniform(0.0, 1.0, (2, 1)) * delta
    m = u @ delta
    Q = u @ u.T
    th = rng.normal(0.0, 1.5, 2)
    return np.array([m[0], m[1], Q[0, 0], Q[0, 1], Q[1, 1], th[0], th[1],
                     rng.uniform(math.log(0.2), math.log(5.0))])


def circle_problem(objective, weights="trainable", regularization=0.0, K=3, M=3, seed=0):
    """A circle Problem with a random target and init (for the cross-checks)."""
    from ..vonmises import VonMisesMixture
    rng = np.random.default_rng(seed)
    target = VonMisesMixture(rng.uniform(-math.pi, math.pi, M), rng.uniform(1.0, 30.0, M),
                             rng.dirichlet(np.ones(M)))
    init = VonMisesMixture(rng.uniform(-math.pi, math.pi, K), rng.uniform(1.0, 30.0, K),
                           rng.dirichlet(np.ones(K)))
    return build_problem(target, init, objective=objective, weights=weights,
                         regularization=regularization)


def gaussian_problem(objective, weights="trainable", train_var=True, Lam=16.0, rho=0.3, d=10,
                     tau=1.0):
    from ..gaussian import GaussianMixture, random_means
    mu = np.zeros((2, d))
    mu[1, 0] = math.sqrt(Lam)
    target = GaussianMixture(mu, [rho, 1.0 - rho], tau)
    init = GaussianMixture(random_means(2, d, 1.0, 1), [0.5, 0.5], 1.0)
    return build_problem(target, init, objective=objective, weights=weights,
                         train_var=train_var, reduction="two_mode")
