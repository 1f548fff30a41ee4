"""Isotropic Gaussian mixtures in R^d: the target p and the variational family q.

A `GaussianMixture` is  sum_k w_k N(x; nu_k, var I_d)  (one variance shared by all
components). The flows of flowsim.families.gaussian reduce its gradient flow exactly to
the span of the means (docs/derivations.md, S1-S3, R1-R4, F1-F5).
"""
from __future__ import annotations

import math

import numpy as np

from ...validation import as_finite_array, check_integer, check_positive, check_simplex, check_size

__all__ = ["GaussianMixture", "random_means", "pair_target"]

MEAN_MAX = 1e8
VAR_RANGE = (1e-8, 1e8)


class GaussianMixture:
    """sum_k w_k N(x; means[k], var I_d) in R^d, d = means.shape[1] >= 1.

    means (K, d) finite; weights on the simplex (default uniform); var > 0.
    """

    def __init__(self, means, weights=None, var=1.0):
        means = as_finite_array("means", means)
        if means.ndim != 2:
            raise ValueError(f"means: expected a 2-d array (K, d), got shape {means.shape}")
        if means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(f"means: need K >= 1 components in d >= 1 dimensions, got shape {means.shape}")
        if np.any(np.abs(means) > MEAN_MAX):
            raise ValueError(f"means: entries must be within ±{MEAN_MAX:g} (squared distances "
                             f"must stay representable), got {np.abs(means).max():g}")
        k = means.shape[0]
        if weights is None:
            weights = np.full(k, 1.0 / k)
        self.means = means
        self.weights = check_simplex("weights", weights, k)
        self.var = check_positive("var", var)
        if not VAR_RANGE[0] <= self.var <= VAR_RANGE[1]:
            raise ValueError(f"var: must be in [{VAR_RANGE[0]:g}, {VAR_RANGE[1]:g}], got {self.var:g}")

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def __repr__(self):
        return (f"GaussianMixture(K={self.n_components}, d={self.dim}, "
                f"weights={np.array2string(self.weights, precision=4)}, var={self.var:g})")

    def check_compatible(self, other, name="init"):
        """ValueError naming `name` if `other` is not a GaussianMixture in the same dimension."""
        if not isinstance(other, GaussianMixture):
            raise ValueError(f"{name}: expected a GaussianMixture, got {type(other).__name__}")
        if other.dim != self.dim:
            raise ValueError(f"{name}.means: dimension {other.dim} does not match the target's {self.dim}")

    def component_log_pdf(self, x):
        """log N(x; means[k], var I) for x (..., d): array (..., K)."""
        x = np.asarray(x, dtype=float)
        if x.shape[-1] != self.dim:
            raise ValueError(f"x: last axis must have length {self.dim}, got {x.shape}")
        sq = np.sum((x[..., None, :] - self.means) ** 2, axis=-1)
        return -0.5 * sq / self.var - 0.5 * self.dim * math.log(2 * math.pi * self.var)

    def log_pdf(self, x):
        """log sum_k w_k N(x; nu_k, var I) for x (..., d)."""
        a = self.component_log_pdf(x) + np.log(self.weights)
        m = np.max(a, axis=-1, keepdims=True)
        return (m + np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True)))[..., 0]

    def responsibilities(self, x):
        """w_k N_k(x) / q(x) for x (..., d): array (..., K)."""
        a = self.component_log_pdf(x) + np.log(self.weights)
        a = a - np.max(a, axis=-1, keepdims=True)
        e = np.exp(a)
        return e / e.sum(axis=-1, keepdims=True)

    def score(self, x):
        """grad_x log density: (sum_k r_k(x) nu_k - x) / var, shape (..., d)."""
        r = self.responsibilities(x)
        return (r @ self.means - np.asarray(x, dtype=float)) / self.var

    def sample(self, n, seed=None, return_labels=False):
        """n draws (n, d) from a numpy Generator or seed; optionally with component labels."""
        rng = np.random.default_rng(seed)
        labels = rng.choice(self.n_components, size=int(n), p=self.weights)
        x = self.means[labels] + math.sqrt(self.var) * rng.standard_normal((int(n), self.dim))
        return (x, labels) if return_labels else x


def random_means(K, d, scale=1.0, seed=None, center=None, radius=None):
    """K means in R^d drawn i.i.d. N(center, scale^2 I_d) (center default 0); with `radius`,
    each at that distance from center in a uniformly random direction (the same draws,
    normalised; `scale` is then not used).

    This is how d enters the reduced flow: the initial overlaps Q_kl of N(0, scale^2 I_d)
    means are ~ scale^2 d on the diagonal and O(scale^2 sqrt d) off it (docs/derivations.md,
    I1); means at a fixed radius keep |nu_k|^2 = radius^2 at every d, and only their
    projections on the target's directions, O(radius / sqrt d), shrink with d.
    """
    K = check_integer("K", K, minimum=1)
    d = check_integer("d", d, minimum=1)
    check_size("d", K * d, f"the means ({K} x {d})")
    scale = float(as_finite_array("scale", scale, 0))
    if scale < 0:
        raise ValueError(f"scale: must be >= 0, got {scale}")
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((K, d))
    if radius is None:
        out = scale * out
    else:
        radius = float(as_finite_array("radius", radius, 0))
        if radius < 0:
            raise ValueError(f"radius: must be >= 0, got {radius}")
        out = radius * out / np.linalg.norm(out, axis=1, keepdims=True)
    if center is not None:
        out = out + as_finite_array("center", center, 1)
    return out


def pair_target(d, Lambda, rho=0.5, var=1.0) -> GaussianMixture:
    """The two-mode target rho N(mu_+, var I_d) + (1 - rho) N(mu_-, var I_d) with
    mu_-+ = -+(sqrt(Lambda)/2) e_1, so that Lambda = |mu_- - mu_+|^2."""
    d = check_integer("d", d, minimum=1)
    check_size("d", 2 * d, f"the means (2 x {d})")
    lam = check_positive("Lambda", Lambda)
    rho = float(as_finite_array("rho", rho, 0))
    if not 0 < rho < 1:
        raise ValueError(f"rho: must be in (0, 1), got {rho}")
    means = np.zeros((2, d))
    means[0, 0], means[1, 0] = -0.5 * math.sqrt(lam), 0.5 * math.sqrt(lam)
    return GaussianMixture(means, weights=[rho, 1.0 - rho], var=var)
