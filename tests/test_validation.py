"""Bad input to the API is a ValueError naming the field, or a recorded status: never a hang,
a crash elsewhere, a silent conversion or a silent NaN."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim import GaussianMixture, VonMisesMixture, simulate

CIRCLE_T = VonMisesMixture(np.radians([0.0, 120.0, 240.0]), 20.0)
CIRCLE_Q = VonMisesMixture([0.3, 2.0, -2.0], [4.0, 3.0, 5.0], [0.4, 0.3, 0.3])
GAUSS_T = GaussianMixture([[-2.0, 0.0], [2.0, 0.0]], [0.4, 0.6])
GAUSS_Q = GaussianMixture([[0.5, 0.3], [-0.4, -0.2]])


@pytest.mark.parametrize("call, field", [
    (lambda: VonMisesMixture([], []), "mu"),
    (lambda: VonMisesMixture([0.0], "50"), "kappa"),
    (lambda: VonMisesMixture([0.0], True), "kappa"),
    (lambda: VonMisesMixture([0.0], 1e300), "kappa"),
    (lambda: VonMisesMixture([0.0, np.nan], 5.0), "mu"),
    (lambda: GaussianMixture([[1e200, 0.0]]), "means"),
    (lambda: GaussianMixture([[0.0, 0.0]], var=1e-300), "var"),
    (lambda: GaussianMixture([[0.0, 0.0]], var=1e300), "var"),
    (lambda: GaussianMixture(np.zeros((0, 2))), "means"),
    (lambda: GaussianMixture([[0.0], [1.0]], weights=[0.5, "x"]), "weights"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max="10"), "t_max"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max=1.0, regularisation=1.0),
     "regularisation"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max=1.0, n_quad=16.7), "n_quad"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max=1.0, n_quad=10 ** 9), "n_quad"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="reverse_kl", t_max=1.0, regularization=1.0),
     "regularization"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="nope", t_max=1.0), "objective"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", weights="frozen", t_max=1.0), "weights"),
    (lambda: simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max=5.0, t_eval=[0.0, 3.0, 1.0]),
     "t_eval"),
    (lambda: simulate(GAUSS_T, GAUSS_Q, objective="reverse_kl", t_max=1.0, n_cubature=2.5), "n_cubature"),
    (lambda: simulate(GAUSS_T, GaussianMixture(np.zeros((6, 2))), objective="reverse_kl", t_max=1.0),
     "n_cubature"),
    (lambda: simulate(GAUSS_T, GAUSS_Q, objective="reverse_kl", t_max=1.0, method="rk5"), "method"),
    (lambda: simulate(GAUSS_T, CIRCLE_Q, objective="reverse_kl", t_max=1.0), "init"),
    (lambda: simulate("p", GAUSS_Q, objective="reverse_kl", t_max=1.0), "target"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        call()


def test_unknown_option_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"\(known: .*regularization\)"):
        simulate(CIRCLE_T, CIRCLE_Q, objective="matched", t_max=1.0, regularisation=1.0)


def test_angles_in_degrees_get_a_warning():
    with pytest.warns(UserWarning, match="np.radians"):
        VonMisesMixture([0.0, 90.0, 180.0], 5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VonMisesMixture(np.radians([0.0, 90.0, 180.0]), 5.0)


# ---------------------------------------------------------------- property tests

FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0),
                   st.sampled_from([1e-300, 1e300, -1.0, 1e8, 1e-8]))
JUNK = st.one_of(FLOATS, st.text(max_size=3), st.booleans(), st.none(),
                 st.lists(FLOATS, max_size=3))


def _outcome(build, run):
    """ValueError naming a field, or a finished run with a status and finite diagnostics
    (status ok) — nothing else."""
    try:
        target, init = build()
    except ValueError as exc:
        assert ":" in str(exc).split("\n")[0], str(exc)
        return "refused"
    try:
        tr = run(target, init)
    except ValueError as exc:
        assert ":" in str(exc), str(exc)
        return "refused"
    if tr.status_name in ("ok", "settled"):
        d = tr.diagnostics
        if d["status"] in ("ok", "settled"):
            assert all(math.isfinite(d[k]) for k in ("reverse_kl", "forward_kl", "max_weight")), d
    return tr.status_name


@pytest.mark.filterwarnings("ignore:mu. angles beyond 2π:UserWarning")   # tested above
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mu=st.lists(FLOATS, min_size=0, max_size=3), kappa=JUNK, t_max=JUNK)
def test_circle_api_never_crashes_or_returns_silent_nan(mu, kappa, t_max):
    _outcome(lambda: (CIRCLE_T, VonMisesMixture(mu, kappa)),
             lambda t, q: simulate(t, q, objective="reverse_kl", t_max=t_max, backend="numba"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mean=st.lists(FLOATS, min_size=2, max_size=2), var=JUNK,
       t_eval=st.lists(st.floats(0.0, 5.0), min_size=1, max_size=3))
def test_gaussian_api_never_crashes_or_returns_silent_nan(mean, var, t_eval):
    _outcome(lambda: (GAUSS_T, GaussianMixture([mean, [0.0, 0.5]], var=var)),
             lambda t, q: simulate(t, q, objective="reverse_kl", t_max=5.0, t_eval=t_eval,
                                   backend="numba"))
