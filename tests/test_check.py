"""`python -m flowsim.check`: the fast comparison passes; bad input exits 2 with one line."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "flowsim.check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)

@pytest.mark.slow

def test_fast_check_passes_and_prints_json():
    res = _run("--fast", "--json", "--device", "cpu")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = json.loads(res.stdout)
    assert isinstance(rows, list) and len(rows) > 50
    for row in rows:
        assert {"name", "flow", "sim", "sem", "agree"} <= set(row)
        if row["required"]:
            assert row["agree"], row
    names = " ".join(r["name"] for r in rows)
    for part in ("d=100", "d=1000", "rho=0.3", "rho=0.5", "fixed", "trainable", "scaling", "circle",
                 "rk4", "pointcloud"):
        assert part in names
    # the study's observation: trainable matched weights collapse, fixed weights keep all peaks
    by = {r["name"]: r for r in rows}
    assert by["pointcloud box matched: final max_weight"]["sim"] > 0.9
    assert by["pointcloud box matched_fixed: final coverage"]["sim"] == 4


def test_table_output_and_reproducible_rows():
    from flowsim.check import Row, format_table

    table = format_table([Row("x", 1.0, 1.01, 0.02, True), Row("y", float("nan"), 2.0, 0.0, False, False)])
    assert table.splitlines()[0].startswith("quantity") and "NO (info)" in table


@pytest.mark.parametrize("args", [("--device", "tpu"), ("--bogus",)])
def test_bad_input_one_line_exit_2(args):
    res = _run(*args, timeout=60)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and res.stdout == ""


def test_cuda_without_gpu_exit_2():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    res = _run("--device", "cuda", "--only", "rk4", timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_pointcloud_settings_cover_every_shape():
    from flowsim.check import Settings
    from flowsim.training import pointcloud, pointnet

    full, fast = Settings(), Settings.fast_settings()
    assert set(full.pc_shapes) == {"box", "rectangle", "cylinder"} == set(pointcloud.SHAPES)
    assert fast.pc_shapes == ("box",)
    assert full.pc_losses["box"] == tuple(pointnet.LOSSES)
    for shape in full.pc_shapes:
        assert {"matched", "matched_fixed"} <= set(full.pc_losses[shape]) <= set(pointnet.LOSSES)


def test_pointcloud_section_runs_rectangle_and_cylinder_with_bounded_rows():
    import torch

    from flowsim.check import Context, Settings
    from flowsim.check.pointcloud import run as compare_pointcloud

    s = Settings(pc_shapes=("rectangle", "cylinder"), pc_seeds=2, pc_steps=4, pc_batch=8, pc_points=32,
                 pc_widths=(8, 16), pc_head=8, pc_flow_samples=2, pc_flow_t_max=50.0, pc_heldout=8,
                 pc_losses={"rectangle": ("matched", "matched_fixed"), "cylinder": ("matched",)})
    ctx = Context(s, torch.device("cpu"))
    compare_pointcloud(ctx)
    by = {r.name: r for r in ctx.rows}
    assert len(by) == len(ctx.rows) == 3 * 5
    for shape, n_modes, losses in (("rectangle", 2, ("matched", "matched_fixed")), ("cylinder", 1, ("matched",))):
        for loss in losses:
            w = by[f"pointcloud {shape} {loss}: final max_weight"]
            cov = by[f"pointcloud {shape} {loss}: final coverage"]
            assert not w.required and not cov.required and cov.note
            for x in (w.flow, w.sim):
                assert 0.25 - 1e-9 <= x <= 1.0 + 1e-9
            for x in (cov.flow, cov.sim):
                assert 0.0 <= x <= n_modes
            assert by[f"pointcloud {shape} {loss}: held-out KL(q||p) (flow: n/a)"].sim >= 0
            w_adam = by[f"pointcloud {shape} {loss}: final max_weight (adam flow)"]
            cov_adam = by[f"pointcloud {shape} {loss}: final coverage (adam flow)"]
            assert w_adam.sim == w.sim and 0.25 - 1e-9 <= w_adam.flow <= 1.0 + 1e-9
            assert cov_adam.sim == cov.sim and 0.0 <= cov_adam.flow <= n_modes
    assert by["pointcloud rectangle matched_fixed: final max_weight"].sim == pytest.approx(0.25)
    with pytest.raises(ValueError, match="pc_shapes"):
        compare_pointcloud(Context(Settings(pc_shapes=("sphere",)), torch.device("cpu")))
    with pytest.raises(ValueError, match="pc_losses"):
        compare_pointcloud(Context(Settings(pc_losses={"box": ("nll",)}), torch.device("cpu")))
    with pytest.raises(ValueError, match="pc_geometries"):
        compare_pointcloud(Context(Settings(pc_geometries=("adam_ode",)), torch.device("cpu")))


def test_nf_section_fast_run_has_bounded_rows():
    import torch

    from flowsim.check import SECTIONS, Context, Settings
    from flowsim.check import nf

    assert "nf" in SECTIONS
    ctx = Context(Settings.fast_settings(), torch.device("cpu"))
    assert nf.sizes(ctx) == nf.FAST
    nf.run(ctx, dims=(2,), seeds=2, steps=40, n_eval=256)
    names = [r.name for r in ctx.rows]
    assert len(names) == len(set(names)) == 2 * len(nf.FAST["rhos"])
    by = {r.name: r for r in ctx.rows}
    keep = by["nf d=2 rho=0.5 t=2: RealNVP keeps both modes in every seed (from N(0, I))"]
    assert keep.required and keep.agree and keep.sim == 1.0
    for r in ctx.rows:
        if not r.required:
            assert r.note.startswith("informational")
        for x in (r.flow, r.sim):
            assert 0.0 <= x <= 1.0
    with pytest.raises(ValueError, match="nf: unknown size"):
        nf.run(ctx, width=3)
