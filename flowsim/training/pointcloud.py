"""Procedural point clouds of symmetric objects at random yaw .

Shapes (all open-top, centred, axis z up; footprint half-sides a, b; height h):

    box        square footprint a = b: 4-fold yaw symmetry -> 4 target peaks theta + k pi/2
    rectangle  a != b: 2-fold symmetry -> 2 target peaks theta + k pi
    cylinder   radius r: continuous symmetry -> no preferred yaw (a control)

A cloud is n points drawn uniformly on the surface (a face is chosen with
probability proportional to its area, then a uniform point on it), rotated by the
yaw R_z(theta), plus Gaussian jitter. Every draw goes through one torch.Generator.

`target(shape, yaw, kappa)` gives the ground-truth von Mises mixture over yaw as
(log rho, mu, kappa) tensors of shape (B, M); the cylinder's is one near-uniform
component (kappa = 1e-6).
"""
from __future__ import annotations

import math

import torch

SHAPES = ("box", "rectangle", "cylinder")
SYMMETRY = {"box": 4, "rectangle": 2, "cylinder": 1}
DIMS = {"box": (0.5, 0.5, 0.7), "rectangle": (0.6, 0.3, 0.5), "cylinder": (0.5, 0.5, 0.7)}
UNIFORM_KAPPA = 1e-6


def _faces_box(a, b, h):
    """Open-top box: (area, sampler(u, v) -> xyz) for the 4 walls and the floor."""
    return [
        (2 * b * h, lambda u, v: (torch.full_like(u, a), b * (2 * u - 1), h * (v - 0.5))),
        (2 * b * h, lambda u, v: (torch.full_like(u, -a), b * (2 * u - 1), h * (v - 0.5))),
        (2 * a * h, lambda u, v: (a * (2 * u - 1), torch.full_like(u, b), h * (v - 0.5))),
        (2 * a * h, lambda u, v: (a * (2 * u - 1), torch.full_like(u, -b), h * (v - 0.5))),
        (4 * a * b, lambda u, v: (a * (2 * u - 1), b * (2 * v - 1), torch.full_like(u, -h / 2))),
    ]


def _faces_cylinder(r, h):
    """Open-top cylinder: lateral surface and floor disk (r sqrt(u) for uniform area)."""
    return [
        (2 * math.pi * r * h, lambda u, v: (r * torch.cos(2 * math.pi * u), r * torch.sin(2 * math.pi * u),
                                            h * (v - 0.5))),
        (math.pi * r * r, lambda u, v: (r * torch.sqrt(u) * torch.cos(2 * math.pi * v),
                                        r * torch.sqrt(u) * torch.sin(2 * math.pi * v),
                                        torch.full_like(u, -h / 2))),
    ]


def sample(shape: str, yaw, n_points: int, generator, jitter: float = 0.01):
    """Point clouds (B, n_points, 3) of `shape` rotated by yaw (B,) (float tensor)."""
    if shape not in SHAPES:
        raise ValueError(f"shape: must be one of {SHAPES}, got {shape!r}")
    yaw = torch.as_tensor(yaw)
    dtype, device = yaw.dtype, yaw.device
    a, b, h = DIMS[shape]
    faces = _faces_cylinder(a, h) if shape == "cylinder" else _faces_box(a, b, h)
    areas = torch.tensor([f[0] for f in faces], dtype=dtype, device=device)
    B = yaw.shape[0]
    idx = torch.multinomial(areas.expand(B, -1), n_points, replacement=True, generator=generator)
    u = torch.rand((B, n_points), generator=generator, dtype=dtype, device=device)
    v = torch.rand((B, n_points), generator=generator, dtype=dtype, device=device)
    x = torch.zeros_like(u)
    y = torch.zeros_like(u)
    z = torch.zeros_like(u)
    for i, (_, f) in enumerate(faces):
        fx, fy, fz = f(u, v)
        sel = idx == i
        x = torch.where(sel, fx, x)
        y = torch.where(sel, fy, y)
        z = torch.where(sel, fz, z)
    c, s = torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]
    pts = torch.stack([c * x - s * y, s * x + c * y, z], dim=-1)
    if jitter:
        pts = pts + jitter * torch.randn(pts.shape, generator=generator, dtype=dtype, device=device)
    return pts


def target(shape: str, yaw, kappa: float):
    """Ground-truth yaw mixture (log rho, mu, kappa), each (B, M), M = symmetry order."""
    yaw = torch.as_tensor(yaw)
    m = SYMMETRY[shape]
    k = torch.arange(m, dtype=yaw.dtype, device=yaw.device)
    mu = torch.remainder(yaw[:, None] + 2 * math.pi * k / m + math.pi, 2 * math.pi) - math.pi
    kap = torch.full_like(mu, UNIFORM_KAPPA if shape == "cylinder" else float(kappa))
    return torch.full_like(mu, -math.log(m)), mu, kap


def batch(shape: str, batch_size: int, n_points: int, generator, kappa: float, jitter: float = 0.01,
          dtype=torch.float32, device=None):
    """(points (B, N, 3), target mixture) at yaws uniform on (-pi, pi]."""
    yaw = (torch.rand((batch_size,), generator=generator, dtype=torch.float64, device=device) * 2 - 1) * math.pi
    pts = sample(shape, yaw, n_points, generator, jitter)
    return pts.to(dtype), target(shape, yaw, kappa)
