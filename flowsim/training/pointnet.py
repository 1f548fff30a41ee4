"""A tiny PointNet predicting a K-component von Mises mixture over yaw, and its training.

Model (no BatchNorm, no T-Net): shared per-point MLP 3 -> w1 -> w2 -> w3 (ReLU),
max-pool over points, head w3 -> h -> 4K giving K logits, K (cos, sin) pairs
(mu = atan2), K raw concentrations (kappa = softplus + 1e-3, capped at KAPPA_MAX).

Losses (flowsim.families.vonmises.torch_losses, the circle flows' objectives, on each sample's
prediction q(x) and its ground truth p(yaw), averaged over the batch):

    matched          "matched" with the predicted weights (the study's loss)
    matched_fixed    "matched" with fixed uniform weights 1/K
    matched_bound    "matched_bound" with predicted weights
    reverse_kl       exact KL(q || p) by quadrature
    forward_kl       exact KL(p || q) by quadrature

The shape (flowsim.training.pointcloud: box, rectangle, cylinder) sets the target's number
of modes M = 4, 2, 1; the network always predicts K = `n_components` components.
Matching is per sample by enumerating permutations (rectangular when K != M: only
min(K, M) components are matched, the others get no gradient from the matched losses).
Training: Adam (default, as in the study) or plain SGD; every draw from one
torch.Generator seeded by `seed`. Evaluated on a held-out set drawn from its own
seed: mean max/min weight, mean coverage (modes j with M_j >= rho_j / 2, so at most M),
fraction collapsed (flowsim.diagnostics), density coverage (fraction of the circle
where q >= p / 2; the informative one for the cylinder's single near-uniform mode,
whose mode coverage is always 1), matched loss (predicted weights) and exact mixture KLs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import diagnostics
from . import pointcloud
from ..families.vonmises import torch_losses as V
from .device import generator, pick_device

LOSSES = {
    "matched": ("matched", "trainable"),
    "matched_fixed": ("matched", "fixed"),
    "matched_bound": ("matched_bound", "trainable"),
    "reverse_kl": ("reverse_kl", "trainable"),
    "forward_kl": ("forward_kl", "trainable"),
}
KAPPA_MAX = 1e3


class PointNet(nn.Module):
    """Per-point MLP, max-pool, MLP head -> (log w, mu, kappa), each (B, K)."""

    def __init__(self, n_components=4, widths=(64, 128, 256), head=128):
        super().__init__()
        layers, d_in = [], 3
        for wd in widths:
            layers += [nn.Linear(d_in, wd), nn.ReLU()]
            d_in = wd
        self.point_mlp = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(d_in, head), nn.ReLU(), nn.Linear(head, 4 * n_components))
        self.k = n_components

    def forward(self, pts):
        feat = self.point_mlp(pts).max(dim=1).values
        out = self.head(feat)
        k = self.k
        logw = torch.log_softmax(out[:, :k], -1)
        mu = torch.atan2(out[:, 2 * k:3 * k], out[:, k:2 * k])
        kappa = torch.clamp(nn.functional.softplus(out[:, 3 * k:]) + 1e-3, max=KAPPA_MAX)
        return logw, mu, kappa


def loss_fn(name, q, p):
    """Mean over the batch of the loss `name` (LOSSES) in float64."""
    objective, weights = LOSSES[name]
    q = tuple(t.double() for t in q)
    fixed = torch.full_like(q[0], -math.log(q[0].shape[-1])) if weights == "fixed" else None
    n = V.n_nodes(max(float(p[2].max()), float(q[2].detach().max())))
    return V.objective(objective, q, p, weights=weights, fixed_logw=fixed, n=n).mean()


@dataclass
class PointCloudConfig:
    shape: str = "box"
    loss: str = "matched"
    n_components: int = 4
    kappa: float = 50.0
    steps: int = 1000
    batch_size: int = 64
    n_points: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    widths: tuple = (64, 128, 256)
    head: int = 128
    jitter: float = 0.01
    n_heldout: int = 128
    eval_every: int = 100
    seed: int = 0
    heldout_seed: int = 12345


def density_coverage(q, p, n: int):
    """Fraction of the n trapezoid nodes where q(theta) >= p(theta) / 2, shape (...).

    The continuum version of mode coverage: a uniform target is a mode at every angle,
    and each is covered when q holds at least half of its density there."""
    theta = V.grid(n, q[1].dtype, q[1].device)
    lq = V.mixture_log_pdf(theta, *q)
    lp = V.mixture_log_pdf(theta, *p)
    return (lq >= lp - math.log(2.0)).to(q[1].dtype).mean(-1)


def evaluate(model, pts, p, weights="trainable") -> dict:
    """Held-out observables: per-sample q, then means of the diagnostics over samples.

    With weights "fixed" the trained model is q with uniform weights (the predicted
    logits receive no gradient and are ignored)."""
    with torch.no_grad():
        q = tuple(t.double() for t in model(pts))
        if weights == "fixed":
            q = (torch.full_like(q[0], -math.log(q[0].shape[-1])),) + q[1:]
        n = V.n_nodes(max(float(p[2].max()), float(q[2].max())))
        matched = V.objective("matched", q, p, n=n)
        rev = V.mixture_kl(q, p, n)
        fwd = V.mixture_kl(p, q, n)
        mass, _, _ = V.mode_observables(q, p, n)
        dens = density_coverage(q, p, n)
    w = torch.exp(q[0]).cpu().numpy()
    mass = mass.cpu().numpy()
    rho = np.exp(p[0][0].cpu().numpy())
    cov = diagnostics.coverage(mass, rho)
    return {
        "max_weight": float(w.max(-1).mean()), "min_weight": float(w.min(-1).mean()),
        "coverage": float(cov.mean()), "collapsed": float((cov < mass.shape[-1]).mean()),
        "density_coverage": float(dens.mean()),
        "mode_weight_error": float(diagnostics.mode_weight_error(mass, rho).mean()),
        "matched": float(matched.mean()), "reverse_kl": float(rev.mean()),
        "forward_kl": float(fwd.mean()), "kappa_mean": float(q[2].mean()),
        "q": tuple(t.cpu().numpy() for t in q),
    }


def train(cfg: PointCloudConfig, device=None) -> dict:
    """Train one network; returns {'history': {step: [...], key: [...]}, 'final': evaluate(...)}."""
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss: must be one of {tuple(LOSSES)}, got {cfg.loss!r}")
    if cfg.shape not in pointcloud.SHAPES:
        raise ValueError(f"shape: must be one of {pointcloud.SHAPES}, got {cfg.shape!r}")
    device = device if isinstance(device, torch.device) else pick_device(device)
    torch.manual_seed(cfg.seed)                      # network initialisation
    model = PointNet(cfg.n_components, cfg.widths, cfg.head).to(device)
    gen = generator(cfg.seed + 1, device)
    held = generator(cfg.heldout_seed, device)
    pts_h, p_h = pointcloud.batch(cfg.shape, cfg.n_heldout, cfg.n_points, held, cfg.kappa,
                                  cfg.jitter, device=device)
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    else:
        raise ValueError(f"optimizer: must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    history = {"step": []}
    keys = ("max_weight", "min_weight", "coverage", "collapsed", "density_coverage", "matched",
            "reverse_kl", "forward_kl", "train_loss")
    for key in keys:
        history[key] = []
    weights = LOSSES[cfg.loss][1]
    initial = evaluate(model, pts_h, p_h, weights)
    last = float("nan")
    for step in range(cfg.steps + 1):
        if step % cfg.eval_every == 0 or step == cfg.steps:
            ev = initial if step == 0 else evaluate(model, pts_h, p_h, weights)
            history["step"].append(step)
            for key in keys[:-1]:
                history[key].append(ev[key])
            history["train_loss"].append(last)
        if step == cfg.steps:
            break
        pts, p = pointcloud.batch(cfg.shape, cfg.batch_size, cfg.n_points, gen, cfg.kappa,
                                  cfg.jitter, device=device)
        loss = loss_fn(cfg.loss, model(pts), p)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = float(loss.detach())
    return {"history": {k: np.asarray(v) for k, v in history.items()}, "final": ev,
            "initial": initial, "heldout_target": tuple(t.cpu().numpy() for t in p_h)}
