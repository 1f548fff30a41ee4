"""The vectorised mixture-KL kernels against their per-node logsumexp form."""
import math

import numpy as np
import pytest

from flowsim.families.vonmises.objectives import mixture_kl as cm
from flowsim.api import build_problem
from flowsim.families.vonmises.mixture import VonMisesMixture


def problem(kappa_scale, seed, objective):
    rng = np.random.default_rng(seed)
    target = VonMisesMixture(rng.uniform(-math.pi, math.pi, 3), kappa_scale * rng.uniform(0.5, 1.5, 3),
                             rng.dirichlet(np.ones(3)))
    init = VonMisesMixture(rng.uniform(-math.pi, math.pi, 3), kappa_scale * rng.uniform(0.2, 1.0, 3),
                           rng.dirichlet(np.ones(3)))
    return build_problem(target, init, objective=objective, weights="trainable")


@pytest.mark.parametrize("direction,objective", [(cm.REVERSE, "reverse_kl"), (cm.FORWARD, "forward_kl")])
@pytest.mark.parametrize("kappa_scale", [0.3, 5.0, 60.0])
@pytest.mark.parametrize("seed", range(3))
def test_vectorised_kernel_equals_logsumexp_kernel(direction, objective, kappa_scale, seed):
    prob = problem(kappa_scale, seed, objective)
    fast, safe = np.empty(prob.y0.size), np.empty(prob.y0.size)
    v_fast = cm._mixture_kl_loss(prob.y0, prob.params, fast, direction)
    v_safe = cm._mixture_kl_loss_lse(prob.y0, prob.params, safe, direction)
    assert v_fast == pytest.approx(v_safe, rel=1e-12, abs=1e-13)
    np.testing.assert_allclose(fast, safe, rtol=1e-10, atol=1e-12 * np.abs(safe).max())


def test_underflowing_density_takes_the_logsumexp_path():
    """kappa = 2000: q_n underflows far from the means, so the kernel must fall back."""
    prob = problem(2000.0, 0, "forward_kl")
    k = 3
    y = prob.y0.copy()
    y[2 * k:] = math.log(2000.0)
    fast, safe = np.empty(y.size), np.empty(y.size)
    v_fast = cm._mixture_kl_loss(y, prob.params, fast, cm.FORWARD)
    v_safe = cm._mixture_kl_loss_lse(y, prob.params, safe, cm.FORWARD)
    assert np.isfinite(v_fast) and v_fast == v_safe
    np.testing.assert_array_equal(fast, safe)
