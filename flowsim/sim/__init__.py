"""Full training in torch, recorded with the same observables as the flows (DESIGN.md §sim).

Modules (one idea each; all float64 for parameter-space runs, cuda when available):

    device          pick_device, seeded generators
    vonmises_torch  closed-form von Mises KL, log-space quadrature mixture KL, matched losses
    circle_gd       parameter-only gradient descent on the circle objectives
    gaussian_vi     Monte Carlo reparameterised VI for isotropic Gaussian mixtures in R^d
    pointcloud      procedural point clouds of symmetric objects (box, rectangle, cylinder)
    pointnet        tiny PointNet predicting a von Mises mixture, its losses and training
    batched_rk4     fixed-step RK4 over a batch of parameter points (GPU sweeps)

Importing this package imports torch; nothing outside flowsim.sim / flowsim.check does.
"""
from .device import pick_device

__all__ = ["pick_device"]
