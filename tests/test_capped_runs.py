"""studies/capped_runs.py: the runs a sweep stopped at the step cap, re-run to the cap and
read at the last time they reached."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from flowsim.integrate.status import MAX_STEPS
from flowsim.sweep import run_sweep
from flowsim.sweep.schema import load_study

ROOT = Path(__file__).resolve().parents[1]
CAPPED = """
[study]
name = "capped"
family = "gaussian"
objective = "reverse_kl"
weights = "trainable"

[target]
kind = "pair"
Lambda = 16.0
d = 2

[init]
kind = "random"
K = 2

[solver]
t_max = 50.0
rtol = 1e-6
atol = 1e-8
method = "dopri5"
max_steps = 40
per_decade = 5
decades = 3

[axes]
seed = { range = 2 }
"""


def test_capped_runs_are_read_at_the_last_time_they_reached(tmp_path):
    path = tmp_path / "capped.toml"
    path.write_text(CAPPED)
    out = tmp_path / "capped.zarr"
    run_sweep(load_study(path), out, figure=False)
    ds = xr.open_zarr(out).load()
    assert np.all(ds["status"].values == MAX_STEPS)
    assert np.all(np.isnan(ds["coverage"].values))
    proc = subprocess.run([sys.executable, str(ROOT / "studies" / "capped_runs.py"), str(path),
                           "--store", str(out), "--limit", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "capped: 2 runs at the cap (40 steps); re-running 1" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| seed 0 |")]
    assert len(rows) == 1, proc.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert 0.0 < float(cells[1]) < 50.0
    weights = json.loads(cells[2])
    assert len(weights) == 2 and abs(sum(weights) - 1.0) < 1e-9
    assert cells[3] in ("1", "2") and cells[5] in ("none", "mean_alignment", "vanishing_weight",
                                                   "weight_starvation")
