"""pointcloud: a tiny PointNet (K = 4) on symmetric objects for each loss
(flowsim.training.pointnet): box (M = 4 target peaks, every loss), rectangle (M = 2) and
cylinder (M = 1, near-uniform; coverage there is the fraction of the circle where q >= p/2),
final held-out diagnostics over seeds beside the per-sample flow of the same loss started
from the network's initial predictions, as the plain gradient flow and in each of
`pc_geometries` (default: the small-step limit of Adam, the network's optimiser).
Informational (not required): the flow is a claim about parameter space, the network adds
shared parameters, Adam and a symmetric input. What each row shows is discussed in
docs/check.md."""
from __future__ import annotations

import math

import numpy as np

from ..stats import mean_sem
from .core import Context, Row, Settings


NO_FLOW_NOTE = "no flow: matched_bound needs K <= M (one target mode per component)"


def _stiff_flow(target, init, objective, weights, t_max):
    """The circle flow by scipy's LSODA (stiff: kappa* = 50 against predicted kappa ~ 0.7;
    RK45 needs ~1e5 RHS calls, LSODA ~1e3; BDF agrees to ~1e-8 on these runs)."""
    from ..integrate import solve_scipy
    from ..api import build_problem, log_times
    from ..trajectory import Trajectory

    problem = build_problem(target, init, objective=objective, weights=weights)
    t_eval = log_times(t_max)
    states, status, n_rhs = solve_scipy(problem.rhs, problem.y0, t_eval, t_max, 1e-7, 1e-10,
                                        method="LSODA")
    return Trajectory(problem, t_eval, states, int(status), -1, int(n_rhs), "scipy-LSODA")


def _pc_train(s: Settings, shape: str, loss: str, device):
    """Final held-out diagnostics of `pc_seeds` networks, and the first network's whole output."""
    from ..training import pointnet

    finals, first = [], None
    for seed in range(s.pc_seeds):
        cfg = pointnet.PointCloudConfig(shape=shape, loss=loss, steps=s.pc_steps, batch_size=s.pc_batch,
                                        n_points=s.pc_points, widths=s.pc_widths, head=s.pc_head,
                                        eval_every=max(s.pc_steps // 5, 1), n_heldout=s.pc_heldout,
                                        seed=s.seed + 100 * seed)
        out = pointnet.train(cfg, device=device)
        finals.append(out["final"])
        first = out if first is None else first
    return finals, first


def _flow_density_coverage(tr) -> float:
    """pointnet.density_coverage of a flow's final mixture toward its target (float64)."""
    import torch

    from ..training import pointnet
    from ..families.vonmises import torch_losses as V

    def triple(m):
        return tuple(torch.tensor(a, dtype=torch.float64) for a in (np.log(m.weights), m.mu, m.kappa))

    q, p = tr.final, tr.problem.meta["target"]
    n = V.n_nodes(max(q.kappa.max(), p.kappa.max()))
    return float(pointnet.density_coverage(triple(q), triple(p), n))


PC_GEOMETRIES = ("adam", "natural", "wfr")     # the geometries that need no learning rate


def _geometry_flow(target, init, objective, weights, t_max, geometry):
    """The circle flow in `geometry` (docs/derivations.md A1, A3, A4; numba, method auto:
    Radau takes over where the flow turns stiff, as Adam's sign-like limit does)."""
    from ..api import log_times, simulate

    return simulate(target, init, objective=objective, weights=weights, t_max=t_max,
                    t_eval=log_times(t_max), rtol=1e-7, atol=1e-10, backend="numba", method="auto",
                    geometry=geometry)


def _pc_flows(s: Settings, first: dict, objective: str, weights: str, geometry: str = "euclidean"):
    """Per-sample flows of the loss (in `geometry`: "euclidean" or one of PC_GEOMETRIES)
    from the first network's initial held-out predictions: {max_weight, coverage,
    density_coverage: [per sample]}, or None when the flow is undefined."""
    from ..families.vonmises.mixture import VonMisesMixture

    q0, p = first["initial"]["q"], first["heldout_target"]
    k, m = q0[0].shape[-1], p[0].shape[-1]
    if objective == "matched_bound" and k > m:
        return None
    out = {"max_weight": [], "coverage": [], "density_coverage": []}
    for i in range(s.pc_flow_samples):
        tgt = VonMisesMixture(p[1][i], p[2][i], np.exp(p[0][i]))
        w0 = np.exp(q0[0][i]) if weights == "trainable" else np.full(k, 1.0 / k)
        init = VonMisesMixture(q0[1][i], q0[2][i], w0 / w0.sum())
        if geometry == "euclidean":
            tr = _stiff_flow(tgt, init, objective, weights, s.pc_flow_t_max)
        else:
            tr = _geometry_flow(tgt, init, objective, weights, s.pc_flow_t_max, geometry)
        out["max_weight"].append(tr.diagnostics["max_weight"])
        out["coverage"].append(tr.diagnostics["coverage"])
        out["density_coverage"].append(_flow_density_coverage(tr))
    return out


def _dominant_weight(n_modes: int) -> float:
    """Max weight that marks a collapse: above (M + 1) / 2M some target mode must hold less
    than half its weight rho = 1/M (components sitting on modes); 1/2 for a single mode."""
    return (n_modes + 1) / (2 * n_modes) if n_modes > 1 else 0.5


def _pc_agree(key: str, flow: float, sim: float, n_modes: int) -> bool:
    """Same qualitative outcome: both above or both below the dominant weight; coverage
    within one mode (M > 1) or within a quarter of the circle (density coverage, M = 1)."""
    if not math.isfinite(flow):
        return True
    if key == "max_weight":
        cut = _dominant_weight(n_modes)
        return (flow > cut) == (sim > cut)
    return abs(flow - sim) <= (1.0 if n_modes > 1 else 0.25)


def _pc_plan(s: Settings) -> list:
    """[(shape, loss)] to train, in order; ValueError for an unknown shape or loss."""
    from ..training import pointcloud, pointnet

    plan = []
    for shape in s.pc_shapes:
        if shape not in pointcloud.SHAPES:
            raise ValueError(f"pc_shapes: must be among {pointcloud.SHAPES}, got {shape!r}")
        losses = tuple(s.pc_losses.get(shape, ()))
        if not losses or not set(losses) <= set(pointnet.LOSSES):
            raise ValueError(f"pc_losses[{shape!r}]: need one or more of {tuple(pointnet.LOSSES)}, "
                             f"got {losses!r}")
        plan += [(shape, loss) for loss in losses]
    unknown = [g for g in s.pc_geometries if g not in PC_GEOMETRIES]
    if unknown:
        raise ValueError(f"pc_geometries: must be among {PC_GEOMETRIES}, got {unknown[0]!r}")
    return plan


def _pc_rows(ctx: Context, shape: str, loss: str):
    """Train, run the flows, and append the three rows of one shape and loss."""
    from ..training import pointcloud, pointnet

    s = ctx.settings
    n_modes = pointcloud.SYMMETRY[shape]
    cov_key = "coverage" if n_modes > 1 else "density_coverage"
    objective, weights = pointnet.LOSSES[loss]
    finals, first = _pc_train(s, shape, loss, ctx.device)
    tag = f"pointcloud {shape} {loss}"
    network = {key: mean_sem([f[src] for f in finals])
               for key, src in (("max_weight", "max_weight"), ("coverage", cov_key))}
    for geometry in ("euclidean",) + tuple(s.pc_geometries):
        flows = _pc_flows(s, first, objective, weights, geometry)
        note = f"docs/check.md, point cloud: {shape} {loss}" if flows is not None else NO_FLOW_NOTE
        which = "" if geometry == "euclidean" else f" ({geometry} flow)"
        for key, src in (("max_weight", "max_weight"), ("coverage", cov_key)):
            mean, sem = network[key]
            fv = float(np.mean(flows[src])) if flows is not None else float("nan")
            ctx.rows.append(Row(f"{tag}: final {key}{which}", fv, mean, sem,
                                _pc_agree(key, fv, mean, n_modes), required=False, note=note))
    mean, sem = mean_sem([f["reverse_kl"] for f in finals])
    ctx.rows.append(Row(f"{tag}: held-out KL(q||p) (flow: n/a)", float("nan"), mean, sem, True,
                        required=False))


def run(ctx: Context):
    """Rows per shape and loss: final max weight and coverage of the trained networks (mean ±
    SE over seeds) beside the mean over held-out samples of the per-sample flow, and the
    networks' held-out KL(q||p). For the cylinder (one near-uniform mode, whose mode
    coverage is always 1) coverage is the density coverage, a fraction of the circle."""
    for shape, loss in _pc_plan(ctx.settings):
        _pc_rows(ctx, shape, loss)
