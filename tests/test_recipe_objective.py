"""The recipe of docs/design.md, "add an objective", as a test: a tiny circle objective
declared here, once, appears in the sweep schema, the bench cases and the check rows, and
its flow runs, without editing any module of the package.

    tiny   L = Σ_k w_k (1 − cos(μ_k − μ*_1))   (every component pulled to the first mode)
"""
from __future__ import annotations

import numpy as np
import pytest

from flowsim.families.vonmises.params import sizes, target_slices, weights_of
from flowsim.numerics.jit import kernel
from flowsim.problem import FlowModel
from flowsim.registry import OBJECTIVES, Objective, objective, register_objective


@kernel
def _tiny(y, p, out):
    k, _, trainable, _, _ = sizes(p)
    _, mu_t, _ = target_slices(p)
    w = weights_of(y, k)
    value = 0.0
    for i in range(k):
        value += w[i] * (1.0 - np.cos(y[k + i] - mu_t[0]))
    for i in range(k):
        c = 1.0 - np.cos(y[k + i] - mu_t[0])
        out[i] = -w[i] * (c - value) if trainable else 0.0
        out[k + i] = -w[i] * np.sin(y[k + i] - mu_t[0])
        out[2 * k + i] = 0.0
    return value


@kernel
def rhs_tiny(t, y, p, out):
    _tiny(y, p, out)


@kernel
def value_tiny(y, p):
    return _tiny(y, p, np.empty(y.size))


def reference_tiny(t, y, p):
    k, trainable, mu_t0 = int(p[0]), p[2] > 0.5, p[5 + int(p[1])]
    z, mu = y[:k], y[k:2 * k]
    w = np.exp(z - z.max())
    w /= w.sum()
    c = 1.0 - np.cos(mu - mu_t0)
    value = w @ c
    return np.concatenate([-w * (c - value) * trainable, -w * np.sin(mu - mu_t0), np.zeros(k)])


def torch_tiny(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    import torch

    logw = q[0] if weights == "trainable" else (q[0] if fixed_logw is None else fixed_logw).detach()
    return torch.sum(torch.exp(logw) * (1.0 - torch.cos(q[1] - p[1][..., :1])), -1)


@pytest.fixture
def tiny():
    obj = register_objective(Objective(
        family="vonmises", name="tiny", description="sum_k w_k (1 - cos(mu_k - mu*_1))",
        models={"circle": FlowModel("vonmises.tiny", rhs_tiny, value_tiny)},
        reference={"circle": reference_tiny}, torch_loss=f"{__name__}:torch_tiny", check="circle"))
    yield obj
    OBJECTIVES.unregister(obj.key)


STUDY = """
[study]
name = "tiny"
family = "vonmises"
objective = "tiny"

[target]
kind = "uniform"
M = 2
kappa = 20.0

[init]
kind = "random"
K = 2

[solver]
t_max = 5.0

[axes]
seed = { range = 2 }
"""


def test_a_registered_objective_is_found_everywhere(tiny, tmp_path):
    from flowsim.bench.cases import cases
    from flowsim.check import circle
    from flowsim.sweep import StudyError, parse_study, run_sweep

    assert objective("vonmises", "tiny") is tiny
    study = parse_study(STUDY)
    assert "vonmises.tiny" in [c.name for c in cases(quick=True)]
    assert "tiny" in circle.objectives()
    result = run_sweep(study, tmp_path / "tiny.zarr", figure=False)
    assert set(result.dataset["status"].values.ravel()) == {0}
    OBJECTIVES.unregister(tiny.key)
    with pytest.raises(StudyError, match="^study.objective: unknown objective 'tiny'"):
        parse_study(STUDY)


def test_its_pieces_agree(tiny):
    from flowsim.families import family

    fam = family("vonmises")
    rng = np.random.default_rng(0)
    prob = fam.random_problem("tiny", rng)
    y = fam.random_state(prob, rng)
    np.testing.assert_allclose(prob.rhs(0.0, y), reference_tiny(0.0, y, prob.params), atol=1e-13)
