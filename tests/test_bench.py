"""flowsim.bench: the numpy reference RHS of every model equals its numba kernel, and the
benchmark CLI runs and prints the documented JSON. No timing assertions."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from flowsim.bench import cases as C
from flowsim.bench import numpy_rhs as NR

RTOL = 1e-10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_rhs_equal(f_np, problem, y, what):
    """max |numpy − kernel| <= 1e-10 · max(|kernel|) over the state vector."""
    expected = problem.rhs(0.0, y)
    got = f_np(0.0, y, problem.params)
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    err = float(np.max(np.abs(got - expected)))
    assert err <= RTOL * scale, (f"{what}: numpy RHS differs from the kernel by {err:.3e} "
                                 f"(scale {scale:.3e})\n y = {y.tolist()}\n kernel = "
                                 f"{expected.tolist()}\n numpy = {got.tolist()}")


CIRCLE_CASES = [(obj, weights, lam, K, M)
                for obj in C.CIRCLE_OBJECTIVES
                for weights in ("trainable", "fixed")
                for lam in (0.0, 0.7)
                for K, M in ((3, 3), (2, 4), (4, 2))
                if not (obj == "matched_bound" and K > M)]


@pytest.mark.parametrize("obj,weights,lam,K,M", CIRCLE_CASES)
def test_circle_numpy_rhs_matches_kernel(obj, weights, lam, K, M):
    seed = zlib.crc32(repr((obj, weights, lam, K, M)).encode())
    rng = np.random.default_rng(seed)
    prob = C.circle_problem(obj, weights, lam, K, M, seed=seed)
    for _ in range(15):
        y = C.random_circle_state(rng, K)
        assert_rhs_equal(NR.CIRCLE[obj], prob, y, f"vonmises.{obj} {weights} λ={lam} K={K} M={M}")


@pytest.mark.parametrize("obj", C.GAUSSIAN_OBJECTIVES)
@pytest.mark.parametrize("weights", ["trainable", "fixed"])
@pytest.mark.parametrize("train_var", [True, False])
@pytest.mark.parametrize("Lam", [0.5, 16.0, 400.0])
def test_gaussian_two_mode_numpy_rhs_matches_kernel(obj, weights, train_var, Lam):
    rng = np.random.default_rng(int(Lam * 10) + 7 * train_var + 3 * (weights == "fixed"))
    for rho, tau in ((0.3, 1.0), (0.5, 0.6), (0.85, 2.0)):
        prob = C.gaussian_problem(obj, weights, train_var, Lam=Lam, rho=rho, tau=tau)
        for _ in range(10):
            y = C.random_gaussian_state(rng, Lam)
            assert_rhs_equal(NR.gaussian_two_mode, prob, y,
                             f"gaussian.two_mode.{obj} {weights} train_var={train_var} "
                             f"Λ={Lam} ρ={rho} τ={tau}")


def test_numpy_rhs_exercises_both_expectation_branches():
    """The states above reach both branches of S, P, V (α below and above ALPHA_SWITCH)."""
    from flowsim.gaussian import ALPHA_SWITCH

    rng = np.random.default_rng(0)
    alphas = []
    for Lam in (0.5, 16.0):
        for _ in range(30):
            y = C.random_gaussian_state(rng, Lam)
            D = y[2] + y[4] - 2 * y[3]
            alphas.append(math.sqrt(max(D, 0.0) / math.exp(y[7])))
            alphas.append(math.sqrt(math.exp(y[7]) * Lam))
    alphas = np.array(alphas)
    assert np.any(alphas < ALPHA_SWITCH) and np.any(alphas >= ALPHA_SWITCH)


def test_spv_matches_closed_forms():
    """S at β = 0 is 1/2 by symmetry; S, P, V at α = 0 are sgm, softplus, sgm'."""
    from flowsim.gaussian import quadrature_params
    q = quadrature_params(48)
    S, P, V = NR.spv(np.array([0.0, 0.0, 1.3, -2.0]), np.array([0.5, 7.0, 0.0, 0.0]), q, 0)
    assert S[0] == pytest.approx(0.5, abs=1e-14) and S[1] == pytest.approx(0.5, abs=1e-14)
    sg = 1 / (1 + np.exp(-np.array([1.3, -2.0])))
    np.testing.assert_allclose(S[2:], sg, rtol=1e-13)
    np.testing.assert_allclose(P[2:], np.log1p(np.exp([1.3, -2.0])), rtol=1e-13)
    np.testing.assert_allclose(V[2:], sg * (1 - sg), rtol=1e-13)


def test_numpy_rhs_for_every_benchmark_case():
    for case in C.cases(quick=True):
        assert NR.numpy_rhs_for(case.problem) is not None, case.name


TRAJ_KEYS = {"model", "numba_s", "scipy_numpy_s", "scipy_njit_s", "speedup_vs_scipy_numpy",
             "rhs_us", "overhead", "max_abs_diff"}
SWEEP_KEYS = {"points", "seconds_1core", "seconds_all", "points_per_s", "diffrax_points_per_s",
              "speedup_vs_diffrax"}
START_KEYS = {"cold_s", "warm_s"}


def test_bench_cli_quick_json():
    proc = subprocess.run([sys.executable, "-m", "flowsim.bench", "--json", "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert set(res) >= {"trajectories", "sweep", "start"}
    assert len(res["trajectories"]) == len(C.cases(quick=True))
    for row in res["trajectories"]:
        assert TRAJ_KEYS <= set(row), TRAJ_KEYS - set(row)
        assert row["numba_s"] > 0 and row["rhs_us"] > 0
        assert row["max_abs_diff"] is not None and math.isfinite(row["max_abs_diff"])
    assert SWEEP_KEYS <= set(res["sweep"]), SWEEP_KEYS - set(res["sweep"])
    assert res["sweep"]["points"] >= 2 and res["sweep"]["seconds_all"] > 0
    auto = res["sweep"]["auto"]
    assert auto["status_ok"] == res["sweep"]["points"]
    assert auto["max_weight_diff_vs_dopri5"] < 1e-6 and auto["max_abs_diff_vs_dopri5"] < 1e-4
    assert auto["rhs_evals_per_point"] < res["sweep"]["rhs_evals_per_point"]
    if res["sweep"]["diffrax_points_per_s"] is None:
        assert res["sweep"]["speedup_vs_diffrax"] is None
        assert res["sweep"]["diffrax"]["available"] is False
    assert START_KEYS <= set(res["start"])
    assert res["start"]["cold_s"] > 0 and res["start"]["warm_s"] > 0


def test_bench_cli_bad_option_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "flowsim.bench", "--only", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_table_renders_json_result():
    from flowsim.bench.table import render, targets
    result = {"trajectories": [{"model": "m", "numba_s": 0.01, "scipy_numpy_s": 0.2,
                                "scipy_njit_s": 0.05, "speedup_vs_scipy_numpy": 20.0,
                                "rhs_us": 1.0, "overhead": 0.1, "max_abs_diff": 1e-9}],
              "sweep": {"points": 100, "seconds_1core": 2.0, "seconds_all": 1.0,
                        "points_per_s": 100.0, "diffrax_points_per_s": None,
                        "speedup_vs_diffrax": None},
              "start": {"cold_s": 3.0, "warm_s": 1.0}}
    text = render(result)
    assert "| m |" in text and "diffrax" in text and "Targets" in text
    met = {name: ok for name, _, ok in targets(result)}
    assert any("diffrax" in k and v is None for k, v in met.items())
