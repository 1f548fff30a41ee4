"""The Gaussian flows on the full coordinates: the means in R^d as state.

Coordinate-wise geometries (Adam) are not rotation invariant, so their flows do not close on
the overlaps or on fixed span coordinates. Here the state is

    y = [nu (K d, row-major), theta (K), s = log v]

and at every evaluation the exact expectations still come from the span reduction
(docs/derivations.md, S1–S3): an orthonormal basis B (r x d) of span{mu_j − mu_1, nu_k − mu_1}
is built from the current means (Gram–Schmidt, completed by unit vectors when the vectors
are dependent, so r = min(K + M − 1, d) always), the span kernel gives the gradient in the
coordinates X = (nu − mu_1) Bᵀ, and the means' gradient is X's mapped back, ∇_nu L = ∇_X L B
(the gradient lies in the span). The cost over the span flow is O(K d r) per call, so d in
the thousands is cheap. With the euclidean geometry this flow equals the span and overlap
flows (tests/test_geometry.py).

Parameter layout: p = [K, M, d, r, 0, 0, 0, 0 | mu (M d) | the span parameters of
flowsim.families.gaussian.span.pack_params with this r (its T block rewritten per call)].
"""
from __future__ import annotations

import math

import numpy as np

from ...numerics.jit import kernel, rhs_identity
from ...problem import FlowModel
from . import span

FK, FM, FD, FR = range(4)
FHEAD = 8
BASIS_TOL = 1e-12


def pack_params(target_means, span_params, K, r):
    mu = np.asarray(target_means, float)
    head = np.zeros(FHEAD)
    head[:4] = [K, mu.shape[0], mu.shape[1], r]
    return np.concatenate([head, mu.ravel(), span_params])


def pack_state(means, weights, var):
    th = np.log(np.asarray(weights, float))
    return np.concatenate([np.asarray(means, float).ravel(), th - th.mean(), [math.log(var)]])


def unpack_state(states, K, d):
    """(nu (T, K, d), theta (T, K), s (T,)) from states (T, K d + K + 1)."""
    states = np.atleast_2d(states)
    return (states[:, :K * d].reshape(-1, K, d), states[:, K * d:K * d + K],
            states[:, K * d + K])


@kernel
def span_basis(mu, nu, r):
    """Orthonormal rows B (r, d) spanning {mu_j − mu_1, nu_k − mu_1}, completed by unit
    vectors (modified Gram–Schmidt, twice for stability)."""
    M, d = mu.shape
    K = nu.shape[0]
    B = np.zeros((r, d))
    n_vec = M - 1 + K
    found = 0
    v = np.empty(d)
    for i in range(n_vec + d):
        if found == r:
            break
        if i < M - 1:
            for a in range(d):
                v[a] = mu[i + 1, a] - mu[0, a]
        elif i < n_vec:
            for a in range(d):
                v[a] = nu[i - M + 1, a] - mu[0, a]
        else:
            for a in range(d):
                v[a] = 0.0
            v[i - n_vec] = 1.0
        norm0 = 0.0
        for a in range(d):
            norm0 += v[a] * v[a]
        for _ in range(2):
            for b in range(found):
                dot = 0.0
                for a in range(d):
                    dot += v[a] * B[b, a]
                for a in range(d):
                    v[a] -= dot * B[b, a]
        norm = 0.0
        for a in range(d):
            norm += v[a] * v[a]
        if norm > BASIS_TOL * max(norm0, 1.0) and norm > 0.0:
            inv = 1.0 / math.sqrt(norm)
            for a in range(d):
                B[found, a] = v[a] * inv
            found += 1
    return B


@kernel
def to_span(y, p):
    """(y_span, p_span, B) for the state y: the span coordinates of the current means."""
    K, M, d, r = int(p[FK]), int(p[FM]), int(p[FD]), int(p[FR])
    mu = p[FHEAD:FHEAD + M * d].reshape((M, d))
    nu = y[:K * d].reshape((K, d))
    B = span_basis(mu, nu, r)
    ps = p[FHEAD + M * d:].copy()
    for j in range(M):
        for b in range(r):
            acc = 0.0
            for a in range(d):
                acc += (mu[j, a] - mu[0, a]) * B[b, a]
            ps[span.HEAD + j * r + b] = acc
    ys = np.empty(K * r + K + 1)
    for k in range(K):
        for b in range(r):
            acc = 0.0
            for a in range(d):
                acc += (nu[k, a] - mu[0, a]) * B[b, a]
            ys[k * r + b] = acc
    for i in range(K + 1):
        ys[K * r + i] = y[K * d + i]
    return ys, ps, B


_MODELS: dict = {}


def full_model(span_model: FlowModel) -> FlowModel:
    """The full-coordinate kernels of a span model (built once per span model)."""
    if span_model in _MODELS:
        return _MODELS[span_model]
    span_rhs, span_value = span_model.rhs, span_model.objective
    base = rhs_identity(span_rhs)
    rhs_id = None if base is None else f"{base}.full"
    value_id = None if base is None else f"{rhs_identity(span_value)}.full"

    @kernel(identity=rhs_id)
    def rhs(t, y, p, out):
        K, d, r = int(p[FK]), int(p[FD]), int(p[FR])
        ys, ps, B = to_span(y, p)
        outs = np.empty(ys.shape[0])
        span_rhs(t, ys, ps, outs)
        for k in range(K):
            for a in range(d):
                acc = 0.0
                for b in range(r):
                    acc += outs[k * r + b] * B[b, a]
                out[k * d + a] = acc
        for i in range(K + 1):
            out[K * d + i] = outs[K * r + i]

    @kernel(identity=value_id)
    def value(y, p):
        ys, ps, _ = to_span(y, p)
        return span_value(ys, ps)

    model = FlowModel(span_model.name.replace("span", "full"), rhs, value)
    _MODELS[span_model] = model
    return model


@kernel
def natural_scale(y, p, s):
    """Inverse block-diagonal Fisher: means v/w_k, logits 1/w_k, log v 2/d."""
    _scales(y, p, s, True)


@kernel
def wfr_scale(y, p, s):
    """Wasserstein–Fisher–Rao: means 1/w_k, logits 1/w_k, log v 4/(d v)."""
    _scales(y, p, s, False)


@kernel
def _scales(y, p, s, natural):
    K, d = int(p[FK]), int(p[FD])
    th = y[K * d:K * d + K]
    mx = -math.inf
    for k in range(K):
        mx = max(mx, th[k])
    tot = 0.0
    for k in range(K):
        tot += math.exp(th[k] - mx)
    v = math.exp(y[K * d + K])
    for k in range(K):
        w = math.exp(th[k] - mx) / tot
        mean = v / w if natural else 1.0 / w
        for a in range(d):
            s[k * d + a] = mean
        s[K * d + k] = 1.0 / w
    s[K * d + K] = 2.0 / d if natural else 4.0 / (d * v)
