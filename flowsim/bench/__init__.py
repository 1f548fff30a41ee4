"""Benchmarks of flowsim's compiled flows: `python -m flowsim.bench [--json] [--quick]`.

Modules: `cases` (one problem per registered objective; each objective's numpy reference
RHS, registered beside its kernels, is the scipy peer), `trajectories` (one trajectory per model: numba vs scipy), `sweep_throughput` (the
Gaussian two-mode sweep on 1 and all threads), `diffrax_peer` (jax.vmap of diffrax's
Dopri5, optional extra `bench`), `startup` (cold and warm start in fresh processes), `table` (markdown and targets).
"""
