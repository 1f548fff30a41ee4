"""Normalizing-flow and Gaussian-mixture VI trained by reverse KL, recorded like the mixture flows.

A variational density q (a zuko normalizing flow, or a learned isotropic Gaussian mixture)
is trained toward the isotropic Gaussian-mixture target of the ODE side,

    p(x) = sum_j rho_j N(x; mu_j, tau I_d),

by stochastic gradient descent on the reverse KL divergence KL(q || p), and recorded at a
grid of steps with Monte Carlo estimates of the same collapse observables as the mixture
flows, so that `flowsim.diagnostics.summarize(result.observables())` classifies an NF run
exactly as it classifies an ODE trajectory.

Symbols
-------
=================  ===========================================================
d                  dimension of the space
M                  number of target modes; j indexes modes
mu_j, rho_j, tau   target means, weights and shared variance (`GaussianMixture`)
p_j                N(mu_j, tau I_d), the j-th target component
pi_j(x)            target responsibility rho_j p_j(x) / p(x)   (sums to 1 over j)
q                  the variational density; phi its trainable parameters
z                  base draw, z ~ N(0, I_d)
g_phi              the zuko flow's sampling map (zuko's `transform.inv`)
a, s               fixed output shift and scale of a flow model: x = a + s g_phi(z)
K, w_k, nu_k, v    components, weights (softmax of logits), means and shared variance
                   of a mixture model q = sum_k w_k N(nu_k, v I_d)
eta, n             learning rate `lr`, samples per step `batch`
t                  gradient-flow time t = eta * step
M_j                mode mass E_q[pi_j(x)]
xbar_j             mode-j share mean E_q[pi_j(x) x] / E_q[pi_j(x)]
Delta              mu_2 - mu_1 (the pair direction of the ODE overlaps)
m_j                projected moment <xbar_j - mu_1, Delta>
=================  ===========================================================

Models
------
`make_flow("realnvp" | "spline", d)` wraps zuko.flows.RealNVP (affine coupling layers) or
zuko.flows.NSF (rational-quadratic spline layers, built with passes=2, i.e. coupling
layers, so sampling costs one pass per layer in any d). The base of every zuko flow is
zuko's DiagNormal with buffers loc = 0, scale = 1, i.e. exactly N(0, I_d). zuko initialises
the hyper-networks with PyTorch's default layer initialisation, which is NOT close to the
identity: measured at d = 2 with 4 layers of width (64, 64), zuko's default q has mean
shifts up to 0.3 (RealNVP) and 1.0 (NSF) and KL(q || N(0, I)) of 0.04-0.10 (RealNVP) and
0.17-0.80 (NSF) over seeds 0-2. Both initialisations here therefore zero the output layer
of every hyper-network, which makes every layer exactly the identity (affine: shift 0,
log-scale 0; spline: equal bin widths and heights, unit knot derivatives), so at step 0

    init "identity":  q = N(0, s^2 I_d) exactly (s = `scale`, default 1: q = N(0, I_d)),
    init "offset":    q = N(a, s^2 I_d) exactly, a = r u, u uniform on the unit sphere
                      drawn from numpy's default_rng(seed).

The shift a and scale s are a fixed (non-trainable) affine map applied after the flow,
x = a + s g_phi(z), so the flow's own base stays N(0, I_d) and zuko's spline domain
[-5, 5]^d (outside of which zuko's splines are the identity) sits at a +- 5 s in x.
The hidden layers keep their random initialisation (from torch seeded with `seed`), so
gradients reach every layer after the first update.

`make_mixture(K, d)` is q = sum_k w_k N(nu_k, v I_d) with trainable logits, means and one
shared log-variance.

Estimators
----------
For a flow, with x_i = a + s g_phi(z_i), z_i ~ N(0, I_d), i = 1..n,

    L_hat = (1/n) sum_i [log q_phi(x_i) - log p(x_i)].

For a mixture the expectation is split over components, E_q f = sum_k w_k E_{q_k} f, and
each component is sampled by the reparameterisation x_ki = nu_k + sqrt(v) eps_ki with
ceil(n / K) draws per component:

    L_hat = sum_k w_k (1/n_k) sum_i [log q(x_ki) - log p(x_ki)],

so the gradient in the logits is exact given the per-component averages (no score-function
or relaxed sampling of the component label is needed).

estimator "plain" differentiates L_hat as written: the path term (through x) plus the
score term d/dphi log q_phi(x) at fixed x. estimator "stl" ("sticking the landing",
Roeder, Wu and Duvenaud 2017) evaluates log q at the samples with the parameters
detached (torch.func.functional_call of the model on detached copies of its parameters),
so only the path term carries gradient. The dropped score term has expectation zero
(E_q d/dphi log q_phi = 0; for the mixture, sum_k w_k E_{q_k} d/dphi log q = 0 as well),
so both estimators are unbiased and their loss values coincide sample by sample; when
q = p the STL gradient vanishes sample by sample (log q - log p is constant in x), while
the plain gradient keeps the variance of the score.

Recording
---------
At each recorded step (after that many updates; step 0 is the start), with fresh draws
from a separate evaluation stream (`n_eval` in total; for a mixture split over components
as above, the estimate sum_k w_k mean_k f with standard error
sqrt(sum_k w_k^2 var_k f / n_k)), in float64:

    mode_mass[j]        M_j = E_q[pi_j(x)]                         +- mode_mass_se
    reverse_kl          E_q[log q - log p]                          +- reverse_kl_se
    forward_kl          sum_j rho_j E_{p_j}[log p - log q]          +- forward_kl_se
                        (ceil(n_eval / M) draws from each target mode)
    share_mean[j]       xbar_j = E_q[pi_j x] / E_q[pi_j]
    projected_moment[j] m_j = <xbar_j - mu_1, Delta> = E_q[pi_j <x - mu_1, Delta>] / E_q[pi_j]
    mode_distance[j]    |xbar_j - mu_j| / sqrt(tau)

m_j is the NF analogue of the mixture overlap m_k = <nu_k - mu_1, Delta> of the ODE side
(mixture component k <-> mode-j share of q). Every mode uses the SAME direction
Delta = mu_2 - mu_1 (as the mixture overlaps do, for any M >= 2), so for a pair target m_j
is 0 when mode j's share sits at mu_1 and Lambda = |Delta|^2 when it sits at mu_2; a
per-mode direction mu_j - mu_1 would make m_1 identically zero. For M = 1, m = 0.
If E_q[pi_j] underflows to 0 the share is undefined: xbar_j = nan, m_j = nan and
mode_distance = inf. For a mode that q has lost, pi_j is an exponentially tilted weight
(for q = p_i exactly, the tilted mean xbar_j is mu_j itself), and its Monte Carlo estimate
is carried by the few draws of q's tail nearest mode j: M_j, xbar_j and m_j of a lost mode
are then noisy, xbar_j typically lands in that tail, not at mu_j (measured: Lambda = 100,
q on mode 2, xbar_1 ~ (1.4, -0.5) instead of (-5, 0)).

For a mixture model the run also records the components: weights w_k, means nu_k, v and
the component responsibilities E_{q_k}[pi_j] (K, M).

Mapping to flowsim.diagnostics.Observables
------------------------------------------
A flow has no components, so `observables()` uses K = M pseudo-components, one per target
mode ("the part of q that mode j claims"):

    weights[:, j]      = M_j                  (mode mass)
    nearest_mode[:, j] = j
    distance[:, j]     = |xbar_j - mu_j| / sqrt(tau)
    mode_mass          = M_j
    objective          = reverse_kl (the trained objective)
    reverse_kl, forward_kl = the Monte Carlo estimates above

so coverage = #{j : M_j >= rho_j / 2} and `collapsed` come from the mode masses exactly as
on the ODE side; mean_alignment is never set (each pseudo-component has its own mode); and
vanishing_weight flags a mode whose mass fell below diagnostics.EPS_WEIGHT while its share
of q sits more than diagnostics.FAR standard deviations away (a lost mode; given the
caveat above, this flag for a flow reads where q's sampled tail ends, and may switch on and
off while M_j is tiny, which can move collapse_time).
`collapse_time` is summarize's: the first recorded time after which (coverage,
mean_alignment, vanishing_weight) never change. For a mixture model `observables()` uses
its real components instead, as the ODE side does (weights w_k, nearest_mode
argmax_j E_{q_k}[pi_j], distance |nu_k - mu_nearest| / sqrt(tau)); `observables(pseudo=True)`
gives the pseudo-component view of a mixture for a like-for-like table with flows.

Time is t = eta * step, the gradient-flow time of the ODE side for optimizer "sgd"
(plain gradient descent); for "adam" it is only a nominal clock.

Measured (d = 2, rho = 0.5, tau = 1, RealNVP with the defaults, Adam lr 1e-3, batch 256,
STL, 1500 steps, seeds 0-9; runs counted as collapsed by summarize):

    start                             Lambda = 36   Lambda = 64   Lambda = 100
    identity, q = N(0, I)                0/10          1/10          7/10
    offset, r = sqrt(Lambda)/2           0/10          9/10         10/10

A collapsed run ends on one mode with reverse KL = log 2 (minus the log of the kept mode's
weight), as a single Gaussian would.

With optimizer "sgd" (t = eta * step is then the ODE's time; rho = 0.5, batch 128, STL):
RealNVP from init "offset", r = sqrt(Lambda)/2, diverged to a non-finite loss for 2 of 4
seeds at Lambda = 64 with lr 0.05 and for 2 of 4 at Lambda = 100 (initial KL ~ 10), while
lr 0.02 at Lambda = 64 was stable (4/4 seeds collapsed onto one mode). Nothing stops a
diverged run: its loss and observables are nan from then on. From the identity start at
Lambda = 16 (initial KL ~ 1) lr 0.05 was stable for both kinds in d = 2 to 128
(studies/normalizing_flows.py). Cost per SGD step, batch 128, one CPU thread: RealNVP 5-10
ms for d = 2-128; spline 25 ms (d = 2), 100 ms (d = 32), 340 ms (d = 128): every spline
layer builds a rational-quadratic spline for all d coordinates, and a sampling pass with
passes=2 builds two of them per layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..diagnostics import Observables, summarize
from ..families.gaussian.mixture import GaussianMixture, pair_target
from ..validation import check_choice as _choice, check_integer, check_positive
from .device import DEVICES, generator as _generator, pick_device

__all__ = [
    "KINDS", "INITS", "ESTIMATORS", "OPTIMIZERS", "DEVICES",
    "pair_target", "make_flow", "make_mixture", "FlowModel", "MixtureModel", "TorchTarget",
    "reverse_kl_loss", "evaluate", "train", "train_many", "TrainResult",
]

KINDS = ("realnvp", "spline")
INITS = ("identity", "offset")
ESTIMATORS = ("stl", "plain")
OPTIMIZERS = ("adam", "sgd")
DTYPES = {"float32": torch.float32, "float64": torch.float64}

_ZUKO_MISSING = "normalizing flows need the 'flows' extra: pip install 'flowsim[flows]' (zuko)"


def _zuko():
    """The zuko module, or ImportError naming the extra that provides it."""
    try:
        import zuko
    except ImportError as exc:
        raise ImportError(_ZUKO_MISSING) from exc
    return zuko


def _positive_int(name, value):
    return check_integer(name, value, minimum=1)


def _positive_float(name, value):
    return check_positive(name, value)


def _dtype(value):
    """torch dtype from a torch.float32/float64 or its name."""
    if isinstance(value, str):
        if value not in DTYPES:
            raise ValueError(f"dtype: must be one of {tuple(DTYPES)}, got {value!r}")
        return DTYPES[value]
    if value not in DTYPES.values():
        raise ValueError(f"dtype: must be torch.float32 or torch.float64, got {value!r}")
    return value


def _device(name):
    """torch.device for "cpu" | "cuda"; ValueError naming the field, also for cuda without a GPU."""
    return pick_device(name)


# --------------------------------------------------------------------------- target

class TorchTarget:
    """The target p = sum_j rho_j N(mu_j, tau I) as torch tensors of one dtype and device."""

    def __init__(self, target: GaussianMixture, dtype=torch.float64, device="cpu"):
        if not isinstance(target, GaussianMixture):
            raise ValueError(f"target: expected a flowsim.gaussian.GaussianMixture, got {type(target).__name__}")
        kw = dict(dtype=dtype, device=device)
        self.mu = torch.as_tensor(target.means, **kw)
        self.log_rho = torch.log(torch.as_tensor(target.weights, **kw))
        self.tau = float(target.var)
        self.n_modes, self.dim = target.means.shape

    def component_log_prob(self, x):
        """log rho_j + log N(x; mu_j, tau I) for x (..., d): (..., M)."""
        sq = ((x[..., None, :] - self.mu) ** 2).sum(-1)
        return self.log_rho - 0.5 * sq / self.tau - 0.5 * self.dim * math.log(2 * math.pi * self.tau)

    def log_prob(self, x):
        """log p(x) for x (..., d)."""
        return torch.logsumexp(self.component_log_prob(x), dim=-1)

    def sample_by_mode(self, n, generator):
        """ceil(n / M) draws from each mode: x (M, n_j, d)."""
        n_j = -(-int(n) // self.n_modes)
        eps = torch.randn((self.n_modes, n_j, self.dim), generator=generator,
                          dtype=self.mu.dtype, device=self.mu.device)
        return self.mu[:, None, :] + math.sqrt(self.tau) * eps


# --------------------------------------------------------------------------- models

class FlowModel(nn.Module):
    """q = law of x = loc + scale * g(z), z ~ N(0, I_d), g the sampling map of a zuko flow.

    `loc` and `scale` are buffers (fixed); only the zuko flow is trained. forward(x) is
    log_prob(x), so torch.func.functional_call evaluates log q with substituted parameters.
    """

    def __init__(self, flow, dim, loc, scale, kind, init):
        super().__init__()
        self.flow = flow
        self.dim = int(dim)
        self.kind = kind
        self.init = init
        self.register_buffer("loc", torch.as_tensor(loc, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float64))

    def _base(self, n, generator):
        return torch.randn((int(n), self.dim), generator=generator,
                           dtype=self.loc.dtype, device=self.loc.device)

    def rsample(self, n, generator=None):
        """n reparameterised draws (n, d) (gradients flow into the flow's parameters)."""
        y = self.flow().transform.inv(self._base(n, generator))
        return self.loc + self.scale * y

    def log_prob(self, x):
        """log q(x) for x (..., d): zuko's log-density of (x - loc) / scale minus d log scale."""
        y = (x - self.loc) / self.scale
        return self.flow().log_prob(y) - self.dim * torch.log(self.scale)

    def forward(self, x):
        return self.log_prob(x)

    def strata(self, n, generator=None):
        """(weights (1,), draws (1, n, d)): one stratum of n reparameterised draws."""
        x = self.rsample(n, generator)
        return torch.ones(1, dtype=x.dtype, device=x.device), x[None]


class MixtureModel(nn.Module):
    """q = sum_k w_k N(nu_k, v I_d), w = softmax(logits), v = exp(log_var); all trainable.

    forward(x) is log_prob(x) (for torch.func.functional_call).
    """

    def __init__(self, means, log_weights, log_var):
        super().__init__()
        self.means = nn.Parameter(means)
        self.logits = nn.Parameter(log_weights)
        self.log_var = nn.Parameter(log_var)
        self.kind = "mixture"
        self.dim = int(means.shape[1])

    @property
    def n_components(self):
        return int(self.means.shape[0])

    @property
    def weights(self):
        return torch.softmax(self.logits, -1)

    def component_log_prob(self, x):
        """log w_k + log N(x; nu_k, v I) for x (..., d): (..., K)."""
        sq = ((x[..., None, :] - self.means) ** 2).sum(-1)
        v = torch.exp(self.log_var)
        return (torch.log_softmax(self.logits, -1) - 0.5 * sq / v
                - 0.5 * self.dim * (math.log(2 * math.pi) + self.log_var))

    def log_prob(self, x):
        """log q(x) for x (..., d)."""
        return torch.logsumexp(self.component_log_prob(x), dim=-1)

    def forward(self, x):
        return self.log_prob(x)

    def rsample(self, n, generator=None):
        """n draws (n, d) of q: labels ~ Categorical(w) (not differentiable in the weights),
        x = nu_label + sqrt(v) eps (reparameterised in the means and the variance)."""
        labels = torch.multinomial(self.weights.detach(), int(n), replacement=True, generator=generator)
        eps = torch.randn((int(n), self.dim), generator=generator,
                          dtype=self.means.dtype, device=self.means.device)
        return self.means[labels] + torch.exp(0.5 * self.log_var) * eps

    def strata(self, n, generator=None):
        """(weights w (K,), draws (K, ceil(n/K), d)): x_ki = nu_k + sqrt(v) eps_ki."""
        n_k = -(-int(n) // self.n_components)
        eps = torch.randn((self.n_components, n_k, self.dim), generator=generator,
                          dtype=self.means.dtype, device=self.means.device)
        return self.weights, self.means[:, None, :] + torch.exp(0.5 * self.log_var) * eps


def _zero_output_layers(flow):
    """Zero the output layer of every hyper-network (for d = 1, zuko's unconditional
    element-wise parameters): each zuko layer becomes the identity."""
    n = 0
    with torch.no_grad():
        for module in flow.modules():
            hyper = module.__dict__.get("_modules", {}).get("hyper")
            if hyper is not None:
                layers = [m for m in hyper.modules()
                          if isinstance(m._parameters.get("weight"), nn.Parameter)]
                layers[-1].weight.zero_()
                if layers[-1].bias is not None:
                    layers[-1].bias.zero_()
                n += 1
            phi = module.__dict__.get("_modules", {}).get("phi")
            if isinstance(phi, nn.ParameterList):
                for prm in phi:
                    prm.zero_()
                n += 1
    if n == 0:
        raise RuntimeError("no zuko hyper-network found to initialise at the identity")


def make_flow(kind, d, *, transforms=4, hidden=(32, 32), init="identity", r=None, scale=1.0,
              bins=8, seed=0, dtype=torch.float32) -> FlowModel:
    """A zuko normalizing flow q in R^d, exactly N(0, I) (init "identity") or N(a, I) with
    |a| = r, a's direction from numpy default_rng(seed) (init "offset") at the start.

    kind "realnvp": zuko.flows.RealNVP (affine coupling); "spline": zuko.flows.NSF
    (rational-quadratic splines with `bins` bins, coupling layers: passes=2). `transforms`
    layers, hyper-networks with hidden widths `hidden`; hidden weights from torch seeded
    with `seed` (the global torch RNG is left untouched), output layers zeroed. `scale` s
    multiplies the flow's output (q = N(., s^2 I) at the start; s = 1 by default).
    """
    zuko = _zuko()
    _choice("kind", kind, KINDS)
    _choice("init", init, INITS)
    d = _positive_int("d", d)
    transforms = _positive_int("transforms", transforms)
    bins = _positive_int("bins", bins)
    scale = _positive_float("scale", scale)
    dtype = _dtype(dtype)
    hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
    if not hidden:
        raise ValueError("hidden: must name at least one hidden layer width")
    hidden = tuple(_positive_int("hidden", h) for h in hidden)
    if init == "offset":
        if r is None:
            raise ValueError("r: init 'offset' needs a distance r >= 0 from the origin")
        r = float(r)
        if not (math.isfinite(r) and r >= 0):
            raise ValueError(f"r: must be a finite number >= 0, got {r!r}")
        u = np.random.default_rng(seed).standard_normal(d)
        loc = r * u / np.linalg.norm(u)
    elif r is not None:
        raise ValueError("r: only used with init 'offset'")
    else:
        loc = np.zeros(d)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if kind == "realnvp":
            flow = zuko.flows.RealNVP(d, transforms=transforms, hidden_features=hidden)
        else:
            flow = zuko.flows.NSF(d, transforms=transforms, bins=bins, passes=2, hidden_features=hidden)
    _zero_output_layers(flow)
    model = FlowModel(flow, d, torch.as_tensor(loc), scale, kind, init)
    return model.to(dtype)


def make_mixture(K, d, *, init_means=None, init_var=1.0, init_weights=None, seed=0,
                 dtype=torch.float32) -> MixtureModel:
    """A trainable q = sum_k w_k N(nu_k, v I_d) starting at means `init_means` (K, d)
    (default: i.i.d. N(0, I) from numpy default_rng(seed)), variance `init_var` and weights
    `init_weights` (default uniform)."""
    K = _positive_int("K", K)
    d = _positive_int("d", d)
    dtype = _dtype(dtype)
    if init_means is None:
        init_means = np.random.default_rng(seed).standard_normal((K, d))
    init_means = np.asarray(init_means, dtype=float)
    if init_means.shape != (K, d) or not np.all(np.isfinite(init_means)):
        raise ValueError(f"init_means: expected finite shape {(K, d)}, got {init_means.shape}")
    init_var = _positive_float("init_var", init_var)
    if init_weights is None:
        init_weights = np.full(K, 1.0 / K)
    init_weights = np.asarray(init_weights, dtype=float)
    if (init_weights.shape != (K,) or np.any(init_weights <= 0)
            or abs(init_weights.sum() - 1.0) > 1e-9):
        raise ValueError(f"init_weights: expected {K} positive weights summing to 1, got {init_weights}")
    kw = dict(dtype=dtype)
    return MixtureModel(torch.as_tensor(init_means, **kw), torch.log(torch.as_tensor(init_weights, **kw)),
                        torch.tensor(math.log(init_var), **kw))


# --------------------------------------------------------------------------- estimators

def _model_dtype(model):
    return next(model.parameters()).dtype


def reverse_kl_loss(model, target: TorchTarget, n, generator=None, estimator="stl"):
    """Reparameterised estimate L_hat of KL(q || p) from about n draws (see the module docstring).

    estimator "plain": autograd of L_hat; "stl": log q evaluated with detached parameters.
    The value is the same for both; only the gradient differs.
    """
    _choice("estimator", estimator, ESTIMATORS)
    w, x = model.strata(n, generator)
    S, n_s, d = x.shape
    flat = x.reshape(S * n_s, d)
    if estimator == "stl":
        detached = {name: p.detach() for name, p in model.named_parameters()}
        log_q = torch.func.functional_call(model, detached, (flat,))
    else:
        log_q = model(flat)
    f = (log_q - target.log_prob(flat)).reshape(S, n_s)
    return torch.sum(w * f.mean(-1))


def _stratified(w, f):
    """sum_s w_s mean_s f and its standard error from f (S, n, ...) and weights w (S,)."""
    n = f.shape[1]
    mean = f.mean(1)
    var = f.var(1, unbiased=True) if n > 1 else torch.zeros_like(mean)
    wb = w.reshape((-1,) + (1,) * (f.ndim - 2))
    return (wb * mean).sum(0), torch.sqrt((wb ** 2 * var).sum(0) / n)


@torch.no_grad()
def evaluate(target, model, *, n_eval=4096, generator=None, seed=0) -> dict:
    """Monte Carlo observables of q at one time (float64; see the module docstring's table).

    Returns numpy values: mode_mass, mode_mass_se (M,), reverse_kl, reverse_kl_se,
    forward_kl, forward_kl_se, share_mean (M, d), projected_moment (M,), mode_distance (M,),
    and for a mixture model stratum_resp (K, M) = E_{q_k}[pi_j].
    """
    n_eval = _positive_int("n_eval", n_eval)
    dev = next(model.parameters()).device
    dt = _model_dtype(model)
    tt = target if isinstance(target, TorchTarget) else TorchTarget(target, torch.float64, dev)
    if generator is None:
        generator = _generator(seed, dev)
    w, x = model.strata(n_eval, generator)
    S, n_s, d = x.shape
    w = w.double()
    log_q = model.log_prob(x.reshape(-1, d)).double().reshape(S, n_s)
    x = x.double()
    comp = tt.component_log_prob(x)                                   # (S, n, M)
    log_p = torch.logsumexp(comp, -1)
    resp = torch.exp(comp - log_p[..., None])
    mass, mass_se = _stratified(w, resp)
    rev, rev_se = _stratified(w, log_q - log_p)
    share_num, _ = _stratified(w, resp[..., :, None] * x[..., None, :])  # (M, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (share_num / mass[:, None]).cpu().numpy()
    share[mass.cpu().numpy() <= 0] = np.nan
    mu = tt.mu.cpu().numpy()
    if tt.n_modes > 1:
        proj = (share - mu[0]) @ (mu[1] - mu[0])
    else:
        proj = np.zeros(1)
    dist = np.linalg.norm(share - mu, axis=-1) / math.sqrt(tt.tau)
    dist = np.where(np.isnan(dist), np.inf, dist)
    y = tt.sample_by_mode(n_eval, generator)                          # (M, n_j, d)
    log_q_y = model.log_prob(y.reshape(-1, d).to(dt)).double().reshape(y.shape[:2])
    fwd, fwd_se = _stratified(torch.exp(tt.log_rho), tt.log_prob(y) - log_q_y)
    out = {"mode_mass": mass.cpu().numpy(), "mode_mass_se": mass_se.cpu().numpy(),
           "reverse_kl": float(rev), "reverse_kl_se": float(rev_se),
           "forward_kl": float(fwd), "forward_kl_se": float(fwd_se),
           "share_mean": share, "projected_moment": proj, "mode_distance": dist}
    if isinstance(model, MixtureModel):
        out["stratum_resp"] = resp.mean(1).cpu().numpy()
    return out


# --------------------------------------------------------------------------- training

@dataclass
class TrainResult:
    """A training run recorded at T steps (arrays over the recorded times; see the module docstring)."""

    time: np.ndarray                 # (T,) t = lr * step
    step: np.ndarray                 # (T,)
    mode_mass: np.ndarray            # (T, M)
    mode_mass_se: np.ndarray         # (T, M)
    reverse_kl: np.ndarray           # (T,)
    reverse_kl_se: np.ndarray        # (T,)
    forward_kl: np.ndarray           # (T,)
    forward_kl_se: np.ndarray        # (T,)
    projected_moment: np.ndarray     # (T, M)
    share_mean: np.ndarray           # (T, M, d)
    mode_distance: np.ndarray        # (T, M)
    loss: np.ndarray                 # (steps,) training loss value at every step
    target_weights: np.ndarray       # (M,)
    target_means: np.ndarray         # (M, d)
    target_var: float
    settings: dict = field(default_factory=dict)
    component_weights: np.ndarray | None = None   # (T, K), mixture models only
    component_means: np.ndarray | None = None     # (T, K, d)
    component_var: np.ndarray | None = None       # (T,)
    component_resp: np.ndarray | None = None      # (T, K, M) E_{q_k}[pi_j]

    @property
    def is_mixture(self) -> bool:
        return self.component_weights is not None

    def observables(self, pseudo: bool | None = None) -> Observables:
        """flowsim.diagnostics.Observables of the run: pseudo-components (one per mode) for a
        flow, the real components for a mixture unless `pseudo` is True."""
        pseudo = (not self.is_mixture) if pseudo is None else bool(pseudo)
        T, M = self.mode_mass.shape
        if pseudo:
            weights = self.mode_mass
            nearest = np.broadcast_to(np.arange(M), (T, M)).copy()
            distance = self.mode_distance
        else:
            weights = self.component_weights
            nearest = np.argmax(self.component_resp, axis=-1)
            diff = self.component_means - self.target_means[nearest]
            distance = np.linalg.norm(diff, axis=-1) / math.sqrt(self.target_var)
        return Observables(time=np.asarray(self.time, float), weights=np.asarray(weights, float),
                           mode_mass=self.mode_mass, target_weights=self.target_weights,
                           nearest_mode=nearest, distance=np.asarray(distance, float),
                           objective=self.reverse_kl, reverse_kl=self.reverse_kl,
                           forward_kl=self.forward_kl)

    def summary(self, pseudo: bool | None = None) -> dict:
        """flowsim.diagnostics.summarize of `observables(pseudo)`."""
        return summarize(self.observables(pseudo))

    @property
    def collapse_time(self) -> float:
        """summarize's collapse_time of `observables()`."""
        return self.summary()["collapse_time"]


def _record_grid(steps, record_steps, n_records):
    if record_steps is None:
        n_records = _positive_int("n_records", n_records)
        if n_records < 2:
            raise ValueError(f"n_records: must be >= 2 (step 0 and the last step), got {n_records}")
        grid = np.rint(np.geomspace(1, steps, n_records - 1)) if steps > 0 else np.zeros(0)
        return np.unique(np.concatenate([[0], grid, [steps]]).astype(int))
    grid = np.unique(np.asarray(record_steps).astype(int).ravel())
    if grid.size == 0 or grid[0] < 0 or grid[-1] > steps:
        raise ValueError(f"record_steps: must be steps in [0, {steps}], got {record_steps!r}")
    return grid


def train(target, model, *, lr=1e-3, steps=1500, batch=256, estimator="stl", optimizer="adam",
          seed=0, device="cpu", dtype=None, record_steps=None, n_records=25,
          n_eval=4096) -> TrainResult:
    """Train `model` (a FlowModel or MixtureModel, in place) toward `target` (a GaussianMixture)
    by `steps` updates of `optimizer` ("adam" | "sgd", learning rate `lr`) on the reverse-KL
    estimate from `batch` draws per step with `estimator` ("stl" | "plain").

    The model is moved to `device` ("cpu" | "cuda") and, if `dtype` is given, converted to
    it (float32 or float64). Training draws come from a torch.Generator seeded by `seed`,
    evaluation draws from a second, independent one, so recording never changes the
    training trajectory. Observables are recorded at `record_steps` (default: `n_records`
    log-spaced steps including 0 and `steps`) with `n_eval` fresh draws each.

    The default flow (RealNVP, 4 layers of width 32) costs about 4 ms per step at d = 2,
    batch 256 on one CPU thread; such small models usually run fastest with
    torch.set_num_threads(1).
    """
    _choice("estimator", estimator, ESTIMATORS)
    _choice("optimizer", optimizer, OPTIMIZERS)
    dev = _device(device)
    if not isinstance(model, (FlowModel, MixtureModel)):
        raise ValueError(f"model: expected a FlowModel or MixtureModel, got {type(model).__name__}")
    if not isinstance(target, GaussianMixture):
        raise ValueError(f"target: expected a flowsim.gaussian.GaussianMixture, got {type(target).__name__}")
    if target.dim != model.dim:
        raise ValueError(f"target: dimension {target.dim} does not match the model's {model.dim}")
    lr = _positive_float("lr", lr)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: must be an integer >= 0, got {steps!r}")
    steps = int(steps)
    batch = _positive_int("batch", batch)
    n_eval = _positive_int("n_eval", n_eval)
    grid = _record_grid(steps, record_steps, n_records)
    model.to(device=dev)
    if dtype is not None:
        model.to(dtype=_dtype(dtype))
    dt = _model_dtype(model)
    train_target = TorchTarget(target, dt, dev)
    eval_target = TorchTarget(target, torch.float64, dev)
    train_seed, eval_seed = np.random.SeedSequence(int(seed)).generate_state(2)
    g_train, g_eval = _generator(train_seed, dev), _generator(eval_seed, dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.Adam(params, lr=lr, foreach=True) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr, foreach=True))
    losses = torch.empty(steps, dtype=dt, device=dev)
    frames, step = [], 0
    for target_step in grid:
        while step < target_step:
            opt.zero_grad(set_to_none=True)
            loss = reverse_kl_loss(model, train_target, batch, g_train, estimator)
            loss.backward()
            opt.step()
            losses[step] = loss.detach()
            step += 1
        frame = evaluate(eval_target, model, n_eval=n_eval, generator=g_eval)
        if isinstance(model, MixtureModel):
            frame["component_weights"] = model.weights.detach().double().cpu().numpy()
            frame["component_means"] = model.means.detach().double().cpu().numpy()
            frame["component_var"] = float(torch.exp(model.log_var.detach()).double())
            frame["component_resp"] = frame.pop("stratum_resp")
        frames.append(frame)
    stacked = {k: np.stack([np.asarray(f[k]) for f in frames]) for k in frames[0]}
    settings = {"model": model.kind, "lr": lr, "steps": steps, "batch": batch,
                "estimator": estimator, "optimizer": optimizer, "seed": int(seed),
                "device": dev.type, "dtype": str(dt).replace("torch.", ""), "n_eval": n_eval}
    if isinstance(model, FlowModel):
        settings.update(init=model.init, loc=model.loc.detach().cpu().numpy().tolist(),
                        scale=float(model.scale))
    mix = isinstance(model, MixtureModel)
    return TrainResult(
        time=lr * grid.astype(float), step=grid,
        mode_mass=stacked["mode_mass"], mode_mass_se=stacked["mode_mass_se"],
        reverse_kl=stacked["reverse_kl"], reverse_kl_se=stacked["reverse_kl_se"],
        forward_kl=stacked["forward_kl"], forward_kl_se=stacked["forward_kl_se"],
        projected_moment=stacked["projected_moment"], share_mean=stacked["share_mean"],
        mode_distance=stacked["mode_distance"],
        loss=losses.double().cpu().numpy(),
        target_weights=np.asarray(target.weights, float).copy(),
        target_means=np.asarray(target.means, float).copy(), target_var=float(target.var),
        settings=settings,
        component_weights=stacked["component_weights"] if mix else None,
        component_means=stacked["component_means"] if mix else None,
        component_var=stacked["component_var"] if mix else None,
        component_resp=stacked["component_resp"] if mix else None,
    )


def train_many(target, make_model, seeds, **kwargs) -> list:
    """`train(target, make_model(seed), seed=seed, **kwargs)` for each seed, in a plain loop
    (one model per seed; no batching across seeds). Returns the list of TrainResults."""
    if not callable(make_model):
        raise ValueError("make_model: must be a callable seed -> model")
    if "seed" in kwargs:
        raise ValueError("seed: give the seeds as `seeds`")
    return [train(target, make_model(int(s)), seed=int(s), **kwargs) for s in seeds]
