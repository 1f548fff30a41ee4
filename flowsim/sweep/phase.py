"""Phase diagram of one diagnostic over the swept axes, written as a PNG.

A `seed` axis (the study.seed field) is averaged out first, so a boolean diagnostic
becomes a probability (e.g. P(collapsed)). Two remaining axes give a heat map
(axis values as tick labels, so numeric, log-spaced and categorical axes all read
naturally); one remaining axis gives a line plot; more give no figure.
"""
from __future__ import annotations

import warnings

import numpy as np


UNIT_RANGE = ("collapsed", "vanishing_weight", "mean_alignment", "emc", "mode_weight_error",
              "min_weight", "max_weight")


def _labels(values) -> list:
    out = []
    for v in np.asarray(values).tolist():
        out.append(f"{v:.3g}" if isinstance(v, float) else str(v))
    return out


def _ticks(n: int, max_ticks: int = 8):
    step = max(1, int(np.ceil(n / max_ticks)))
    return np.arange(0, n, step)


def phase_values(ds, study, variable: str):
    """(dims, values, title): `variable` averaged over the seed axes, NaN (a failed
    point) left out, over the remaining dims."""
    da = ds[variable]
    seed_dims = [a.name for a in study.axes if a.path == (("study", "seed"), None)]
    title = variable
    for dim in seed_dims:
        title = f"{variable} (mean over {dim}, n={ds.sizes[dim]})"
    values = np.asarray(da.values, dtype=float)
    if seed_dims:
        with warnings.catch_warnings():     # a cell with no finite value stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            values = np.nanmean(values, axis=tuple(da.dims.index(d) for d in seed_dims))
    return [d for d in da.dims if d not in seed_dims], values, title


def draw(ds, study, variable: str, path) -> str | None:
    """Write the phase diagram of `variable` to `path`; None when the axes do not allow one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dims, values, title = phase_values(ds, study, variable)
    if len(dims) not in (1, 2):
        return None
    fig = Figure(figsize=(6.0, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if len(dims) == 2:
        ydim, xdim = dims
        lim = (0.0, 1.0) if variable in UNIT_RANGE else (None, None)
        im = ax.imshow(values, origin="lower", aspect="auto", interpolation="nearest",
                       cmap="viridis", vmin=lim[0], vmax=lim[1])
        fig.colorbar(im, ax=ax, label=title)
        for dim, setter, labeler in ((xdim, ax.set_xticks, ax.set_xticklabels),
                                     (ydim, ax.set_yticks, ax.set_yticklabels)):
            coord = ds[dim].values
            ticks = _ticks(coord.size)
            setter(ticks)
            labeler([_labels(coord)[i] for i in ticks])
        for label in ax.get_xticklabels():
            label.set(rotation=45, ha="right")
        ax.set_xlabel(xdim)
        ax.set_ylabel(ydim)
        if values.size <= 400:
            for (i, j), v in np.ndenumerate(values):
                if np.isfinite(v):
                    bright = im.norm(v) > 0.6
                    ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=6,
                            color="k" if bright else "w")
    else:
        (xdim,) = dims
        coord = ds[xdim].values
        x = np.arange(coord.size)
        ax.plot(x, values, "o-")
        ax.set_xticks(_ticks(coord.size))
        ax.set_xticklabels([_labels(coord)[i] for i in _ticks(coord.size)])
        if variable in UNIT_RANGE:
            ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(xdim)
        ax.set_ylabel(title)
    ax.set_title(f"{study.name}: {title}")
    fig.tight_layout()
    fig.savefig(path)
    return str(path)
