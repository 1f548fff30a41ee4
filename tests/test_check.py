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
