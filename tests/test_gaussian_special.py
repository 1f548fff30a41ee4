"""The 1-D logistic-normal rule of flowsim.gaussian against mpmath (30 digits)."""
import mpmath as mp
import numpy as np
import pytest

from flowsim.gaussian import logistic_normal_np

CASES = [(b, a) for a in (0.0, 0.7, 1.19, 1.21, 4.0, 100.0) for b in (-5000.0, -40.0, -3.0, 0.5, 60.0)]


def _ref(beta, alpha):
    mp.mp.dps = 30
    b, a = mp.mpf(beta), mp.mpf(alpha)
    sg = lambda t: 1 / (1 + mp.exp(-t))
    sp = lambda t: mp.log1p(mp.exp(t)) if t < 0 else t + mp.log1p(mp.exp(-t))
    dv = lambda t: mp.exp(-abs(t)) / (1 + mp.exp(-abs(t))) ** 2
    if a == 0:
        return [float(g(b)) for g in (sg, sp, dv)]
    k = -b / a
    pts = sorted({-40, 40} | {float(k + c / a) for c in (-40, -5, 0, 5, 40) if -40 < k + c / a < 40})
    return [float(mp.quad(lambda x: g(b + a * x) * mp.npdf(x), pts)) for g in (sg, sp, dv)]


def test_logistic_normal_matches_mpmath():
    b = np.array([c[0] for c in CASES])
    a = np.array([c[1] for c in CASES])
    S, P, V = logistic_normal_np(b, a)
    ref = np.array([_ref(*c) for c in CASES])
    assert np.max(np.abs(S - ref[:, 0])) < 1e-12
    assert np.max(np.abs(P - ref[:, 1]) / np.maximum(1.0, np.abs(b))) < 1e-12
    assert np.max(np.abs(V - ref[:, 2])) < 1e-12


def test_logistic_normal_nan_propagates():
    S, P, V = logistic_normal_np(np.nan, 3.0)
    assert np.isnan(S) and np.isnan(P) and np.isnan(V)
