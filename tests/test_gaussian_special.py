"""The 1-D logistic-normal rule of flowsim.gaussian against mpmath (30 digits)."""
import json
import os
import subprocess
import sys

import mpmath as mp
import numpy as np
import pytest

from flowsim.families.gaussian.quadrature import logistic_normal_np

CASES = [(b, a) for a in (0.0, 0.7, 1.14, 1.16, 1.21, 4.0, 100.0) for b in (-5000.0, -40.0, -3.0, 0.5, 60.0)]


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

@pytest.mark.slow

def test_logistic_normal_matches_mpmath():
    b = np.array([c[0] for c in CASES])
    a = np.array([c[1] for c in CASES])
    S, P, V = logistic_normal_np(b, a)
    ref = np.array([_ref(*c) for c in CASES])
    assert np.max(np.abs(S - ref[:, 0])) < 5e-11
    assert np.max(np.abs(P - ref[:, 1]) / np.maximum(1.0, np.abs(b))) < 5e-11
    assert np.max(np.abs(V - ref[:, 2])) < 5e-11


def test_logistic_normal_nan_propagates():
    S, P, V = logistic_normal_np(np.nan, 3.0)
    assert np.isnan(S) and np.isnan(P) and np.isnan(V)


@pytest.mark.parametrize("n_gh", [44, 32, 48])
def test_logistic_normal_reads_its_rules_like_the_numpy_reference(n_gh):
    """The kernel (constant default rules, or the block in q for another n_gh) against
    flowsim.families.gaussian.reference.spv, which reads every node from the same q block."""
    from flowsim.families.gaussian import reference as NR
    from flowsim.families.gaussian.quadrature import logistic_normal, quadrature_params

    q = np.concatenate([[7.0, -3.0], quadrature_params(n_gh)])
    beta = np.array([-30.0, -4.0, -0.3, 0.0, 0.7, 5.0, 40.0] * 3)
    alpha = np.repeat([0.4, 1.1, 6.0], 7)
    S, P, V = NR.spv(beta, alpha, q, 2)
    out = np.empty(3)
    for i in range(beta.size):
        logistic_normal(beta[i], alpha[i], q, 2, out)
        np.testing.assert_allclose(out, [S[i], P[i], V[i]], rtol=1e-12, atol=1e-15)


def test_worst_error_over_the_alpha_beta_grid():
    """The documented bound (< 5e-11, softplus relative to max(1, |beta|)) on a grid of
    alpha in [0, 100] and |beta| <= 5000, against a converged reference: Gauss–Hermite
    with 200 nodes below ALPHA_SWITCH, the tail split of `logistic_normal` with 24 panels
    x 30 Gauss–Legendre nodes on [0, 46] above it (that reference itself agrees with
    mpmath in test_logistic_normal_matches_mpmath's cases to 1e-13)."""
    import math

    from scipy.special import erfc, expit, roots_legendre

    from flowsim.families.gaussian.quadrature import ALPHA_SWITCH, hermite_rule

    xg, wg = hermite_rule(200)
    edges = np.linspace(0.0, 46.0, 25)
    xl, wl = roots_legendre(30)
    t = np.concatenate([0.5 * (b - a) * xl + 0.5 * (a + b) for a, b in zip(edges[:-1], edges[1:])])
    tw = np.concatenate([0.5 * (b - a) * wl for a, b in zip(edges[:-1], edges[1:])])
    e = np.exp(-t)
    sg = e / (1 + e)

    def reference(beta, alpha):
        if alpha < ALPHA_SWITCH:
            u = beta + alpha * xg
            s = expit(u)
            return (wg @ s, wg @ np.logaddexp(0.0, u), wg @ (s * (1 - s)))
        z = beta / alpha
        rho = lambda x: np.exp(-0.5 * ((x - beta) / alpha) ** 2) / (alpha * math.sqrt(2 * math.pi))
        S = 0.5 * erfc(-z / math.sqrt(2)) + tw @ (sg * (rho(-t) - rho(t)))
        P = (beta * 0.5 * erfc(-z / math.sqrt(2)) + alpha * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
             + tw @ (np.log1p(e) * (rho(t) + rho(-t))))
        V = tw @ (sg * (1 - sg) * (rho(t) + rho(-t)))
        return S, P, V

    alphas = np.concatenate([np.linspace(0.0, ALPHA_SWITCH - 1e-9, 8),
                             np.linspace(ALPHA_SWITCH, 3.0, 10), np.geomspace(3.0, 100.0, 12)])
    betas = np.concatenate([np.linspace(-60, 60, 61), -np.geomspace(60, 5000, 8),
                            np.geomspace(60, 5000, 8)])
    A, B = np.meshgrid(alphas, betas)
    S, P, V = logistic_normal_np(B, A)
    worst = 0.0
    for idx in np.ndindex(A.shape):
        rs, rp, rv = reference(B[idx], A[idx])
        worst = max(worst, abs(S[idx] - rs), abs(P[idx] - rp) / max(1.0, abs(B[idx])),
                    abs(V[idx] - rv))
    assert worst < 5e-11


SPECIALISATIONS = r"""
import json
import numpy as np
from flowsim import simulate, GaussianMixture
from flowsim.families.gaussian import two_mode, quadrature
p = GaussianMixture(np.array([[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))
q0 = GaussianMixture(np.array([[0.5, 0.1, 0.0], [-0.3, 0.2, 0.1]]))
for objective in ("reverse_kl", "forward_kl"):
    simulate(p, q0, objective=objective, t_max=1.0, train_var=True)
kernels = (quadrature.logistic_normal, two_mode.reverse_terms, two_mode.forward_terms)
print(json.dumps({k.__name__: [str(s) for s in k.signatures] for k in kernels}))
"""


def test_the_two_mode_kernels_compile_once_each(tmp_path):
    """Both two-mode flows and their values on an empty cache compile each shared kernel
    for one argument type only: no literal flag gives a kernel another specialisation
    (docs/performance.md, One specialisation per kernel)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), FLOWSIM_PREFETCH="0")
    proc = subprocess.run([sys.executable, "-c", SPECIALISATIONS], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    signatures = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, compiled in signatures.items():
        assert len(compiled) == 1, (name, compiled)
