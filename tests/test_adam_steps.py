"""Adam's recursion on the exact gradient (flowsim/adam_steps.py; docs/derivations.md A2b):
against torch.optim.Adam given the same gradient, against the adam_ode flow (first order
in the learning rate), and its refusals and stops."""
from __future__ import annotations

import sys

import numba
import numpy as np
import pytest

from flowsim import GaussianMixture, VonMisesMixture, build_problem, simulate
from flowsim.adam_steps import adam_steps
from flowsim.integrate.status import NON_FINITE, OK
from flowsim.problem import FlowModel, Problem

GT = GaussianMixture(np.array([[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), [0.3, 0.7], 1.0)
GQ = GaussianMixture(np.array([[0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]]), [0.5, 0.5], 1.0)
CT = VonMisesMixture(np.radians([0.0, 90.0, 180.0, 270.0]), 20.0)
CQ = VonMisesMixture([0.3, 1.2, 2.9, -1.4], [3.0, 2.0, 4.0, 3.0], [0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize("problem", [
    build_problem(GT, GQ, objective="reverse_kl", reduction="full", train_var=True),
    build_problem(CT, CQ, objective="matched", weights="trainable"),
], ids=["gaussian-full", "circle-matched"])
def test_the_recursion_is_torch_adam_on_the_same_gradient(problem):
    pytest.importorskip("torch")
    from flowsim.check.geometry import adam_exact

    lr, t_eval = 1e-2, np.array([0.0, 0.01, 0.5, 3.0])
    ours, status, steps = adam_steps(problem, lr, t_eval)
    theirs = adam_exact(problem, lr, t_eval)
    assert status == OK and steps == 300
    moved = np.abs(theirs[-1] - theirs[0]).max()
    assert moved > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * moved)
    np.testing.assert_array_equal(ours[0], problem.y0)


@pytest.mark.slow
def test_the_recursion_and_the_adam_ode_flow_differ_at_first_order_in_the_step():
    """A2: the recursion is the explicit-Euler step of adam_ode (up to the moments' one-step
    lag), so halving the learning rate halves their gap at a fixed time."""
    problem = build_problem(GT, GQ, objective="reverse_kl", reduction="full")
    gaps = []
    for lr in (4e-3, 2e-3, 1e-3):
        t_eval = np.array([0.0, 0.2, 0.4])
        flow = simulate(GT, GQ, objective="reverse_kl", geometry="adam_ode", lr=lr, t_max=0.4,
                        t_eval=t_eval, backend="numba", rtol=1e-10, atol=1e-12)
        steps = adam_steps(problem, lr, t_eval)[0]
        gaps.append(np.abs(steps - flow.problem.base(flow.states)).max())
    assert 1.6 < gaps[0] / gaps[1] < 2.4 and 1.6 < gaps[1] / gaps[2] < 2.4, gaps


@numba.njit
def _blows_up(t, y, p, out):
    for i in range(y.shape[0]):
        out[i] = np.nan if t > 0.05 else -y[i]


def test_a_non_finite_gradient_stops_the_recursion_with_its_status():
    problem = Problem(FlowModel("blows_up", _blows_up, None), np.ones(3), np.zeros(1), None, {})
    states, status, steps = adam_steps(problem, 0.01, [0.0, 0.03, 1.0])
    assert status == NON_FINITE and steps == 7
    assert np.all(np.isfinite(states[:2])) and np.all(np.isnan(states[2]))
    assert np.all(states[1] < 1.0)


@pytest.mark.parametrize("kwargs, field", [
    (dict(lr=0.0), "lr"), (dict(lr=1e-3, eps=-1.0), "eps"),
    (dict(lr=1e-3, betas=(0.9, 1.0)), "betas"), (dict(lr=1e-3, t_eval=[1.0, 0.5]), "t_eval"),
])
def test_bad_input_names_the_field(kwargs, field):
    problem = build_problem(CT, CQ, objective="reverse_kl")
    kwargs = {"t_eval": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=f"^{field}"):
        adam_steps(problem, **kwargs)


def test_a_problem_in_another_geometry_is_refused():
    problem = build_problem(CT, CQ, objective="reverse_kl", geometry="adam_ode", lr=1e-3)
    with pytest.raises(ValueError, match="^problem: adam_steps needs a euclidean problem"):
        adam_steps(problem, 1e-3, [0.0, 1.0])


def adam_ode_study() -> str:
    """The sweep tests' small Gaussian study (d = 2 and 16, three seeds) under adam_ode at
    η = 0.01, to t = 5."""
    from test_sweep import SMALL

    return SMALL.format(save="false").replace(
        "[solver]", '[geometry]\nname = "adam_ode"\nlr = 0.01\n\n[solver]').replace(
        "t_max = 50.0", "t_max = 5.0")


@pytest.mark.slow
def test_the_study_script_sets_the_recursion_beside_each_run_of_the_flow(tmp_path, monkeypatch):
    """studies/adam_steps.py: each point's recursion starts where its adam_ode run starts,
    finds that run in the sweep's store, and is cached once computed."""
    import importlib.util
    from pathlib import Path

    from flowsim.sweep import run_sweep
    from flowsim.sweep.schema import load_study, parse_study

    spec = importlib.util.spec_from_file_location(
        "adam_steps_study", Path(__file__).resolve().parents[1] / "studies" / "adam_steps.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setitem(sys.modules, spec.name, script)        # its pool pickles one_point
    path = tmp_path / "steps.toml"
    path.write_text(adam_ode_study())
    study = load_study(path)
    run_sweep(study, tmp_path / "steps.zarr", figure=False)
    points = [[d, seed] for d in (2, 16) for seed in range(3)]
    cache = tmp_path / "runs.jsonl"
    runs = script.run_points(path, points, cache, 1)
    assert len(cache.read_text().splitlines()) == 6
    assert script.run_points(path, points, cache, 1) == runs      # read back, nothing recomputed
    assert len(cache.read_text().splitlines()) == 6
    flows = script.flow_verdicts(study, tmp_path / "steps.zarr")
    assert set(flows) == {tuple(r["values"]) for r in runs}
    assert all(r["status"] == OK and r["steps"] == 500 for r in runs)
    rows = [line for line in script.summarise(study, runs, flows) if line.startswith("| 2 |")
            or line.startswith("| 16 |")]
    assert len(rows) == 2
    for row in rows:
        assert row.split("|")[6].strip() == "3/3", row
    natural = parse_study(adam_ode_study().replace('name = "adam_ode"\nlr = 0.01', 'name = "natural"'))
    with pytest.raises(ValueError, match="^geometry.name: the study must use adam_ode"):
        script.euclidean_twin(natural.point_config([2, 0]))
