"""Parameter-only gradient descent on the circle converges to the circle flow at rate eta."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.training import circle_gd  # noqa: E402


def _setup():
    from flowsim.families.vonmises.mixture import VonMisesMixture

    rng = np.random.default_rng(0)
    target = VonMisesMixture(np.arange(4) * np.pi / 2 + 0.2, np.full(4, 20.0), [0.4, 0.3, 0.2, 0.1])
    init = VonMisesMixture(target.mu + rng.uniform(-0.4, 0.4, 4), rng.uniform(3, 6, 4),
                           rng.dirichlet(np.full(4, 5.0)))
    return target, init


@pytest.mark.parametrize("objective,weights", [("matched", "trainable"), ("reverse_kl", "fixed")])
def test_gd_matches_flow_to_first_order(objective, weights):
    from flowsim.api import simulate

    target, init = _setup()
    t_eval = np.array([0.0, 1.0, 2.0])
    flow = simulate(target, init, objective=objective, weights=weights, t_max=2.0, t_eval=t_eval,
                    rtol=1e-11, atol=1e-12)
    n = flow.problem.meta["n_quad"]
    gaps = []
    for lr in (0.02, 0.01):
        rec = circle_gd.run(target, init, objective=objective, weights=weights, lr=lr, t_eval=t_eval,
                            n_nodes=n, device="cpu")
        gaps.append(np.abs(rec.variables["state"][-1, 0] - flow.states[-1]).max())
        np.testing.assert_allclose(rec.time, t_eval)
    assert gaps[1] < 2e-3
    assert 1.7 < gaps[0] / gaps[1] < 2.3
    # the Record gives the same diagnostics vocabulary as the flow
    d = rec.diagnostics(0)
    assert d["coverage"] == flow.diagnostics["coverage"]
    assert d["max_weight"] == pytest.approx(flow.diagnostics["max_weight"], abs=5e-3)


def test_fixed_weights_do_not_move_and_bad_optimizer_raises():
    target, init = _setup()
    rec = circle_gd.run(target, init, objective="matched", weights="fixed", lr=0.05, t_eval=[0, 0.5],
                        device="cpu")
    np.testing.assert_allclose(rec.variables["weights"][-1, 0], init.weights, rtol=1e-12)
    with pytest.raises(ValueError, match="optimizer"):
        circle_gd.run(target, init, objective="matched", lr=0.1, t_eval=[0, 0.1], optimizer="lbfgs")
