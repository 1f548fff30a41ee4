"""What every figure module shares: writing its results file, opening and saving its figure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from flowsim.plotting import use_style


def save_results(out_dir, name: str, data: dict, params: dict | None = None) -> Path:
    """Write a figure's data as `<out_dir>/<name>.npz`, with the package version
    (`flowsim_version`) and the parameters that produced it (`params_json`, a JSON object
    holding `params` and the version) unless `data` already holds them."""
    import flowsim

    data = dict(data)
    data.setdefault("flowsim_version", flowsim.__version__)
    if "params_json" not in data:
        record = {"figure": name, "flowsim_version": flowsim.__version__}
        record.update(params or {})
        data["params_json"] = json.dumps(record, default=_json_default)
    path = Path(out_dir) / f"{name}.npz"
    np.savez(path, **data)
    return path


def load_params(results) -> dict:
    """The parameters a results file was made with (the JSON written by save_results)."""
    with np.load(results) as d:
        return json.loads(str(d["params_json"]))


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def pyplot():
    """matplotlib.pyplot on the non-interactive backend, in the house style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_style()
    return plt


def save_figure(fig, out_dir, name: str) -> Path:
    """Write `<out_dir>/<name>.png` and close the figure."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
