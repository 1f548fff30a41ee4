"""What every figure module shares: writing its results file, opening and saving its figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowsim.plotting import use_style


def save_results(out_dir, name: str, data: dict) -> Path:
    """Write a figure's data as `<out_dir>/<name>.npz`."""
    path = Path(out_dir) / f"{name}.npz"
    np.savez(path, **data)
    return path


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
