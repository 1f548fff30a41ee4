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


@pytest.mark.parametrize("n_gh", [44, 40, 48])
def test_logistic_normal_reads_its_rules_like_the_numpy_reference(n_gh):
    """The kernel (constant default rules, or the block in q for another n_gh) against
    flowsim.bench.numpy_rhs.spv, which reads every node from the same q block."""
    from flowsim.bench import numpy_rhs as NR
    from flowsim.gaussian import logistic_normal, quadrature_params

    q = np.concatenate([[7.0, -3.0], quadrature_params(n_gh)])
    beta = np.array([-30.0, -4.0, -0.3, 0.0, 0.7, 5.0, 40.0] * 3)
    alpha = np.repeat([0.4, 1.1, 6.0], 7)
    S, P, V = NR.spv(beta, alpha, q, 2)
    out = np.empty(3)
    for i in range(beta.size):
        logistic_normal(beta[i], alpha[i], q, 2, out, True)
        np.testing.assert_allclose(out, [S[i], P[i], V[i]], rtol=1e-12, atol=1e-15)
