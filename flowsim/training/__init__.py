"""Full training in torch, recorded with the same observables as the flows.

Modules (one idea each; float64 for parameter-space runs, cuda when asked for):

    device                  pick_device, seeded generators
    record                  the per-time record shared by every training loop
    circle_gd               parameter-only gradient descent on the circle objectives
    gaussian_vi             Monte Carlo reparameterised VI for isotropic Gaussian mixtures in R^d
    flows                   normalizing flows (zuko) and learned mixtures trained by reverse KL
    pointcloud              procedural point clouds of symmetric objects (box, rectangle, cylinder)
    pointnet                tiny PointNet predicting a von Mises mixture, its losses and training
    batched_rk4             fixed-step RK4 over a batch of parameter points (GPU sweeps)
    gaussian_overlaps_torch the two-mode overlap flow by autograd, for batched RK4

The torch losses of each objective live with its family (flowsim.families.*.torch_losses).
Importing this package imports torch; nothing on the ODE side does.
"""
from .device import pick_device

__all__ = ["pick_device"]
