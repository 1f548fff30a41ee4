"""The collapse diagnostics on hand-made states, and one mechanism label per collapsed run."""
from __future__ import annotations

import numpy as np
import pytest

from flowsim import VonMisesMixture, simulate
from flowsim.diagnostics import MECHANISMS, Observables, mechanism, summarize

RHO = np.array([0.5, 0.5])


def obs(weights, mode_mass, nearest, distance):
    one = lambda a, dt=float: np.asarray(a, dt)[None]
    return Observables(np.array([1.0]), one(weights), one(mode_mass), RHO, one(nearest, int),
                       one(distance), np.zeros(1), np.zeros(1), np.zeros(1))


@pytest.mark.parametrize("state, label", [
    # both modes covered
    (dict(weights=[0.5, 0.5], mode_mass=[0.5, 0.5], nearest=[0, 1], distance=[0.1, 0.1]), "none"),
    # one component on each mode, but mode 1's weight frozen at 0.1: starved
    (dict(weights=[0.9, 0.1], mode_mass=[0.9, 0.1], nearest=[0, 1], distance=[0.1, 0.2]),
     "weight_starvation"),
    # the second component died far from every mode
    (dict(weights=[0.9999, 1e-4], mode_mass=[0.9999, 1e-4], nearest=[0, 1], distance=[0.1, 5.0]),
     "vanishing_weight"),
    # both live components sit on mode 0
    (dict(weights=[0.6, 0.4], mode_mass=[0.99, 0.01], nearest=[0, 0], distance=[0.2, 0.3]),
     "mean_alignment"),
])
def test_every_collapsed_state_carries_exactly_one_label(state, label):
    d = summarize(obs(**state))
    assert MECHANISMS[d["mechanism"]] == label
    assert (d["mechanism"] == 0) == (not d["collapsed"])


def test_label_is_exhaustive_over_random_states():
    rng = np.random.default_rng(0)
    for _ in range(500):
        w = rng.dirichlet([0.3, 0.3, 0.3])
        m = rng.dirichlet([0.5, 0.5])
        code = mechanism(w, m, RHO, rng.integers(0, 2, 3), rng.uniform(0, 8, 3))
        assert code in range(len(MECHANISMS))
        assert (code == 0) == bool(np.all(m >= 0.5 * RHO))


def test_the_seed_studys_collapsed_matched_state_is_weight_starvation():
    """The point-cloud study's matched loss from its collapsed state: one heavy component,
    three light ones on their peaks that never regain weight (docs/findings.md)."""
    target = VonMisesMixture(np.radians([0, 90, 180, 270]), 50.0)
    init = VonMisesMixture(np.radians([0, 90, 180, 270]), 50.0, [0.985, 0.005, 0.005, 0.005])
    tr = simulate(target, init, objective="matched", t_max=100.0, backend="numba")
    d = tr.diagnostics
    assert d["collapsed"] and not d["vanishing_weight"] and not d["mean_alignment"]
    assert MECHANISMS[d["mechanism"]] == "weight_starvation"


@pytest.mark.parametrize("state, expected", [
    # both components on their modes
    (dict(weights=[0.5, 0.5], mode_mass=[0.5, 0.5], nearest=[0, 1], distance=[0.1, 2.9]), False),
    # a live component 5 sd from every mode: q's tails decide the mode masses
    (dict(weights=[0.5, 0.5], mode_mass=[0.5, 0.5], nearest=[0, 1], distance=[0.1, 5.0]), True),
    # a dead component far away is the vanishing weight, not a stranded run
    (dict(weights=[0.9999, 1e-4], mode_mass=[0.9999, 1e-4], nearest=[0, 1], distance=[0.1, 5.0]), False),
])
def test_stranded_flags_a_live_component_far_from_every_mode(state, expected):
    assert summarize(obs(**state))["stranded"] is expected


def test_a_gaussian_start_far_from_the_target_is_stranded_until_it_moves():
    """Two components at radius 12 in R^128 (the target's modes 2 from the origin): the start
    is stranded (its coverage reads q's tails); the reverse-KL flow then places both components."""
    from flowsim.families.gaussian.mixture import GaussianMixture, pair_target, random_means

    target = pair_target(128, 16.0, 0.5)
    init = GaussianMixture(random_means(2, 128, seed=3, radius=12.0), [0.5, 0.5])
    start = simulate(target, init, objective="reverse_kl", t_max=1e-6, t_eval=[0.0, 1e-6])
    assert start.diagnostics["stranded"]
    end = simulate(target, init, objective="reverse_kl", t_max=1e3)
    assert end.status == 0 and not end.diagnostics["stranded"]
