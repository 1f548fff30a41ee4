"""Procedural point clouds (symmetry) and the PointNet training loop."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from flowsim.training import pointcloud as P, pointnet  # noqa: E402


def _quantiles(pts):
    q = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    x = pts.reshape(-1, 3)
    ang = torch.remainder(torch.atan2(x[:, 1], x[:, 0]), 2 * math.pi)
    return torch.cat([torch.quantile(x[:, 0], q), torch.quantile(x[:, 1], q), torch.quantile(ang, q)])


def _draw(shape, yaw, seed):
    g = torch.Generator().manual_seed(seed)
    return P.sample(shape, torch.full((200,), yaw, dtype=torch.float64), 256, g)


def test_box_is_four_fold_and_rectangle_only_two_fold():
    base = {s: _quantiles(_draw(s, 0.3, 1)) for s in P.SHAPES}
    diff = lambda s, dyaw: float((_quantiles(_draw(s, 0.3 + dyaw, 2)) - base[s]).abs().max())  # noqa: E731
    noise = diff("box", 2 * math.pi)
    assert diff("box", math.pi / 2) < 3 * noise + 0.02
    assert diff("rectangle", math.pi) < 3 * noise + 0.02
    assert diff("rectangle", math.pi / 2) > 0.1
    assert diff("box", math.pi / 4) > 0.1
    assert diff("cylinder", 1.0) < 3 * noise + 0.02


def test_points_lie_on_the_surface_and_targets_have_the_symmetry():
    g = torch.Generator().manual_seed(0)
    pts = P.sample("box", torch.zeros(4, dtype=torch.float64), 500, g, jitter=0.0)
    a, _, h = P.DIMS["box"]
    on_wall = (pts[..., 0].abs() - a).abs() < 1e-12
    on_wall |= (pts[..., 1].abs() - a).abs() < 1e-12
    on_floor = (pts[..., 2] + h / 2).abs() < 1e-12
    assert bool(torch.all(on_wall | on_floor)) and not bool(torch.any((pts[..., 2] - h / 2).abs() < 1e-12))
    logw, mu, kappa = P.target("box", torch.tensor([0.1], dtype=torch.float64), 50.0)
    assert mu.shape == (1, 4)
    np.testing.assert_allclose(np.sort(np.diff(np.sort(mu[0].numpy()))), [math.pi / 2] * 3, atol=1e-12)
    assert P.target("rectangle", torch.tensor([0.1]), 50.0)[1].shape == (1, 2)
    with pytest.raises(ValueError, match="shape"):
        P.sample("sphere", torch.zeros(1), 10, g)


def test_pointnet_outputs_and_short_training_are_deterministic():
    cfg = pointnet.PointCloudConfig(loss="matched", steps=6, batch_size=8, n_points=32, widths=(8, 16),
                                    head=8, n_heldout=8, eval_every=3)
    a = pointnet.train(cfg, device="cpu")
    b = pointnet.train(cfg, device="cpu")
    for key in ("max_weight", "coverage", "matched", "reverse_kl"):
        np.testing.assert_array_equal(a["history"][key], b["history"][key])
    assert list(a["history"]["step"]) == [0, 3, 6]
    logw, mu, kappa = a["final"]["q"]
    np.testing.assert_allclose(np.exp(logw).sum(-1), 1.0, atol=1e-6)
    assert np.all(kappa > 0) and np.all(np.abs(mu) <= math.pi)
    with pytest.raises(ValueError, match="loss"):
        pointnet.train(pointnet.PointCloudConfig(loss="nll", steps=1))


def test_fixed_loss_reports_uniform_weights():
    cfg = pointnet.PointCloudConfig(loss="matched_fixed", steps=3, batch_size=8, n_points=32, widths=(8,),
                                    head=8, n_heldout=8, eval_every=3)
    out = pointnet.train(cfg, device="cpu")
    assert out["final"]["max_weight"] == pytest.approx(0.25)


@pytest.mark.parametrize("shape, n_modes", [("rectangle", 2), ("cylinder", 1)])
def test_fewer_target_modes_than_heads_train_and_report_bounded_diagnostics(shape, n_modes):
    cfg = pointnet.PointCloudConfig(shape=shape, loss="matched", steps=4, batch_size=8, n_points=32,
                                    widths=(8, 16), head=8, n_heldout=8, eval_every=2)
    out = pointnet.train(cfg, device="cpu")
    logw, mu, kappa = out["final"]["q"]
    assert logw.shape == mu.shape == kappa.shape == (8, 4)
    assert all(t.shape == (8, n_modes) for t in out["heldout_target"])
    np.testing.assert_allclose(np.exp(logw).sum(-1), 1.0, atol=1e-6)
    h = out["history"]
    assert list(h["step"]) == [0, 2, 4]
    assert np.all((h["coverage"] >= 0) & (h["coverage"] <= n_modes))
    assert np.all((h["density_coverage"] >= 0) & (h["density_coverage"] <= 1))
    assert np.all((h["min_weight"] <= 0.25 + 1e-9) & (h["max_weight"] >= 0.25 - 1e-9))
    assert np.all(np.isfinite(h["matched"])) and np.all(h["reverse_kl"] >= -1e-9)
    if n_modes == 1:
        assert np.all(h["coverage"] == 1)        # one mode holds all of q's mass: uninformative


def test_density_coverage_of_a_peak_against_the_uniform_target():
    kappa, n = 20.0, 4096
    q = (torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64),
         torch.full((1, 1), kappa, dtype=torch.float64))
    p = P.target("cylinder", torch.zeros(1, dtype=torch.float64), 50.0)
    # q >= p/2 = 1/(4 pi)  <=>  cos(theta) >= 1 + log(i0e(kappa) / 2) / kappa
    half_width = math.acos(1.0 + math.log(float(torch.special.i0e(torch.tensor(kappa))) / 2) / kappa)
    got = float(pointnet.density_coverage(q, p, n)[0])
    assert got == pytest.approx(half_width / math.pi, abs=2.0 / n)
    assert float(pointnet.density_coverage(p, p, n)[0]) == 1.0
