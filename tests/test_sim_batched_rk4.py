"""Batched torch RK4: fourth order on an exact solution, equal to the numba RK4 on a flow."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.training import batched_rk4, circle_gd  # noqa: E402


def test_fourth_order_on_linear_decay():
    rates = torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64)
    f = lambda t, y: -rates * y  # noqa: E731
    y0 = torch.ones((3, 1), dtype=torch.float64)
    errs = []
    dts = [0.2, 0.1, 0.05]
    for dt in dts:
        out = batched_rk4.rk4(f, y0, [0.0, 1.0, 3.0], dt)
        errs.append(float((out[-1] - torch.exp(-3 * rates)).abs().max()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 3.7 < slope < 4.3


def test_agrees_with_numba_rk4_on_a_batch_of_circle_flows():
    from flowsim.integrate import integrate
    from flowsim.api import build_problem
    from flowsim.families.vonmises.mixture import VonMisesMixture

    rng = np.random.default_rng(0)
    target = VonMisesMixture(np.arange(4) * np.pi / 2 + 0.1, np.full(4, 20.0), [0.4, 0.3, 0.2, 0.1])
    inits = [VonMisesMixture(rng.uniform(-3, 3, 4), rng.uniform(1, 5, 4), rng.dirichlet(np.full(4, 5.0)))
             for _ in range(5)]
    problems = [build_problem(target, i, objective="matched") for i in inits]
    t_eval = np.array([0.0, 0.25, 1.0, 1.5])
    y0 = torch.tensor(np.stack([p.y0 for p in problems]))
    out = batched_rk4.rk4(batched_rk4.circle_rhs(circle_gd.as_target(target), "matched"), y0, t_eval, 0.01)
    ref = np.stack([integrate(p.model.rhs, p.y0, p.params, t_eval, method="rk4", dt=0.01).states
                    for p in problems], 1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-11, atol=1e-12)
