"""Monte Carlo Gaussian-mixture VI in R^d against the Gaussian flow."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.training import gaussian_vi  # noqa: E402


def _setup(d=50, rho=0.3):
    from flowsim.check.gauss import gaussian_setup

    return gaussian_setup(d, rho, seed=0)


def test_simulation_tracks_the_flow_within_monte_carlo_error():
    from flowsim.api import simulate

    target, init = _setup()
    t_eval = np.array([0.0, 0.4, 1.2, 2.4])
    flow = simulate(target, init, objective="reverse_kl", weights="trainable", t_max=2.4,
                    t_eval=t_eval, rtol=1e-10, atol=1e-12).to_xarray()
    recs = [gaussian_vi.run(target, init, lr=lr, n=32, t_eval=t_eval, n_seeds=6, seed=1 + i,
                            device="cpu", observe=False) for i, lr in enumerate((0.05, 0.1))]
    for name, ref in (("m", flow["m"].values), ("Q", flow["Q"].values), ("weights", flow["weights"].values)):
        m1, s1 = recs[0].mean_sem(name)
        m2, s2 = recs[1].mean_sem(name)
        extra = 2 * m1 - m2                              # Richardson: removes the O(eta) Euler bias
        sem = np.sqrt(4 * s1 ** 2 + s2 ** 2)
        assert np.all(np.abs(extra - ref) <= 4 * sem + 1e-9), name
        # and the raw run is close in absolute terms
        assert np.abs(m1 - ref).max() < 0.1 * max(1.0, np.abs(ref).max())


def test_regularised_training_tracks_the_regularised_flow():
    """weights "regularised": Monte Carlo training with the Dirichlet prior (P1) against the
    flow with the same prior, which differs visibly from the plain flow by t = 2.4."""
    from flowsim.api import simulate

    target, init = _setup()
    t_eval = np.array([0.0, 0.8, 2.4])
    kw = dict(objective="reverse_kl", t_max=2.4, t_eval=t_eval, rtol=1e-10, atol=1e-12)
    flow = simulate(target, init, weights="regularised", weight_prior=0.5, **kw).to_xarray()
    plain = simulate(target, init, weights="trainable", **kw).to_xarray()
    gap = np.abs(flow["weights"].values - plain["weights"].values).max()
    recs = [gaussian_vi.run(target, init, weights="regularised", weight_prior=0.5, lr=lr, n=32,
                            t_eval=t_eval, n_seeds=6, seed=7 + i, device="cpu", observe=False)
            for i, lr in enumerate((0.05, 0.1))]
    assert recs[0].meta["weight_prior"] == 0.5
    for name in ("m", "weights"):
        ref = flow[name].values
        m1, s1 = recs[0].mean_sem(name)
        m2, s2 = recs[1].mean_sem(name)
        extra = 2 * m1 - m2
        sem = np.sqrt(4 * s1 ** 2 + s2 ** 2)
        assert np.all(np.abs(extra - ref) <= 4 * sem + 1e-9), name
    m1, _ = recs[0].mean_sem("weights")
    assert np.abs(m1 - flow["weights"].values).max() < gap / 3
    with pytest.raises(ValueError, match="^weight_prior:"):
        gaussian_vi.run(target, init, lr=0.1, n=4, t_eval=[0, 0.3], weight_prior=0.5)


def test_records_observables_through_the_family():
    target, init = _setup(d=20)
    rec = gaussian_vi.run(target, init, lr=0.1, n=8, t_eval=[0.0, 0.5], n_seeds=2, device="cpu")
    d = rec.diagnostics(0)
    assert d["coverage"] in (1, 2) and 0 <= d["mode_weight_error"] <= 1
    assert rec.variables["mode_mass"].shape == (2, 2, 2)
    np.testing.assert_allclose(rec.variables["mode_mass"].sum(-1), 1.0, atol=1e-8)


def test_stl_noise_lies_in_the_span_and_total_noise_does_not():
    target, init = _setup(d=200)
    f = dict(dtype=torch.float64)
    mu = torch.tensor(target.means, **f)
    log_rho = torch.log(torch.tensor(target.weights, **f))
    nu = torch.tensor(init.means, **f)[None].clone().requires_grad_(True)
    theta = torch.zeros((1, 2), **f, requires_grad=True)
    basis, _ = np.linalg.qr(np.c_[target.means[1] - target.means[0], init.means.T - target.means[0][:, None]])
    proj = torch.tensor(np.eye(200) - basis @ basis.T)          # onto the complement of the span
    gen = torch.Generator().manual_seed(0)
    eps = torch.randn((1, 2, 16, 200), generator=gen, **f)
    out = {}
    for est in ("stl", "total"):
        loss = gaussian_vi.reverse_kl_estimate(theta, nu, mu, log_rho, 1.0, 1.0, eps, est).sum()
        (g,) = torch.autograd.grad(loss, nu)
        out[est] = float((g[0] @ proj).norm(dim=-1).max())
    assert out["stl"] < 1e-12 < 1e-3 < out["total"]


def test_seed_reproducible_and_bad_input():
    target, init = _setup(d=10)
    a = gaussian_vi.run(target, init, lr=0.1, n=4, t_eval=[0, 0.3], n_seeds=2, seed=5, observe=False)
    b = gaussian_vi.run(target, init, lr=0.1, n=4, t_eval=[0, 0.3], n_seeds=2, seed=5, observe=False)
    np.testing.assert_array_equal(a.variables["Q"], b.variables["Q"])
    with pytest.raises(ValueError, match="estimator"):
        gaussian_vi.run(target, init, lr=0.1, n=4, t_eval=[0, 0.3], estimator="x")
    with pytest.raises(ValueError, match="device"):
        gaussian_vi.run(target, init, lr=0.1, n=4, t_eval=[0, 0.3], device="tpu")


def test_forward_kl_and_adam_options():
    from flowsim.api import simulate

    target, init = _setup(d=20)
    t_eval = np.array([0.0, 0.4, 0.8])
    flow = simulate(target, init, objective="forward_kl", weights="trainable", t_max=0.8,
                    t_eval=t_eval, rtol=1e-10, atol=1e-12).to_xarray()
    recs = [gaussian_vi.run(target, init, objective="forward_kl", lr=lr, n=64, t_eval=t_eval, n_seeds=6,
                            seed=3 + i, observe=False) for i, lr in enumerate((0.05, 0.1))]
    for name in ("m", "Q", "weights"):
        m1, s1 = recs[0].mean_sem(name)
        m2, s2 = recs[1].mean_sem(name)
        ref = flow[name].values
        assert np.all(np.abs(2 * m1 - m2 - ref) <= 4 * np.sqrt(4 * s1 ** 2 + s2 ** 2) + 1e-9), name
    adam = gaussian_vi.run(target, init, lr=0.05, n=8, t_eval=[0, 0.5], n_seeds=2, optimizer="adam",
                           observe=False)
    assert np.all(np.isfinite(adam.variables["Q"]))
