"""The torch overlap flow (autograd + Gram-matrix chain rule) against the numba two-mode kernel."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.families.gaussian.mixture import GaussianMixture, random_means  # noqa: E402
from flowsim.integrate import integrate  # noqa: E402
from flowsim.training import batched_rk4  # noqa: E402
from flowsim.training.gaussian_overlaps_torch import reverse_kl, two_mode_rhs  # noqa: E402
from flowsim.api import build_problem  # noqa: E402


def problems(d, rho, train_var, seeds):
    mu = np.zeros((2, d))
    mu[0, 0], mu[1, 0] = -2.0, 2.0
    target = GaussianMixture(mu, [rho, 1 - rho])
    return [build_problem(target, GaussianMixture(random_means(2, d, 1.0, s), [0.6, 0.4], var=0.8),
                          objective="reverse_kl", weights="trainable", train_var=train_var,
                          reduction="two_mode") for s in seeds]


@pytest.mark.parametrize("d, rho, train_var", [(2, 0.5, False), (32, 0.3, True), (256, 0.5, True)])
def test_rhs_and_objective_equal_the_numba_kernel(d, rho, train_var):
    probs = problems(d, rho, train_var, range(4))
    y = torch.tensor(np.stack([p.y0 for p in probs]))
    out = two_mode_rhs(16.0, rho, d, train_var=train_var)(0.0, y).numpy()
    ref = np.stack([p.rhs(0.0, p.y0) for p in probs])
    np.testing.assert_allclose(out, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
    values = reverse_kl(y, 16.0, rho, d).numpy()
    np.testing.assert_allclose(values, [p.objective(p.y0) for p in probs], rtol=1e-8)

@pytest.mark.slow

def test_batched_torch_rk4_equals_numba_rk4():
    probs = problems(64, 0.5, False, range(5))
    t_eval = np.array([0.0, 0.5, 2.0, 4.0])
    y0 = torch.tensor(np.stack([p.y0 for p in probs]))
    out = batched_rk4.rk4(two_mode_rhs(16.0, 0.5, 64), y0, t_eval, 0.02).numpy()
    ref = np.stack([integrate(p.model.rhs, p.y0, p.params, t_eval, method="rk4", dt=0.02).states
                    for p in probs], 1)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
