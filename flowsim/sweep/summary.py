"""The end-of-sweep summary: points, failures by status, wall time, throughput."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RunStats:
    """What one invocation did (for the summary; nothing of it goes into the dataset)."""

    n_points: int
    n_chunks: int
    chunks_reused: int
    chunks_computed: int
    points_computed: int
    wall_s: float
    compute_s: float
    where: str
    compiled: bool = False
    steady_points_per_s: float | None = None

    @property
    def points_per_s(self) -> float:
        return self.points_computed / self.compute_s if self.compute_s > 0 else float("nan")


def status_counts(status: np.ndarray, meanings: dict) -> dict:
    values, counts = np.unique(np.asarray(status).ravel(), return_counts=True)
    return {meanings.get(int(v), f"unknown({int(v)})"): int(c) for v, c in zip(values, counts)}


def format_summary(study, stats: RunStats, counts: dict, ds=None) -> str:
    """A one-screen text summary of a finished (or resumed) sweep."""
    axes = " × ".join(f"{a.name}[{a.size}]" for a in study.axes) or "(single point)"
    ok = counts.get("ok", 0) + counts.get("settled", 0)
    failed = {k: v for k, v in counts.items() if k not in ("ok", "settled")}
    lines = [
        f"study       {study.name}  ({study.family}, objective={study.describe('objective')}, "
        f"weights={study.describe('weights')})",
        f"grid        {axes} = {stats.n_points} points in {stats.n_chunks} chunks",
        f"executor    {stats.where}",
        f"chunks      {stats.chunks_computed} computed, {stats.chunks_reused} reused from the store",
        f"points      {ok} ok" + ("" if not failed else "; failed: " + ", ".join(
            f"{k} {v}" for k, v in sorted(failed.items()))),
        f"wall time   {stats.wall_s:.2f} s (compute {stats.compute_s:.2f} s)",
        f"throughput  {stats.points_per_s:.3g} points/s ({stats.points_computed} points computed)"
        + ("" if stats.steady_points_per_s is None else
           f"; {stats.steady_points_per_s:.3g} points/s after the first chunk"
           + (" (which compiled the kernels)" if stats.compiled else "")),
    ]
    if ds is not None and "collapsed" in ds and stats.n_points:
        frac = float(np.nanmean(ds["collapsed"].values)) if ok else float("nan")
        lines.append(f"collapsed   {frac:.3f} of the successful points")
        if "mechanism" in ds and ok:
            from ..diagnostics import MECHANISMS
            codes = ds["mechanism"].values
            found = [f"{name} {int(np.sum(codes == i))}" for i, name in enumerate(MECHANISMS) if i]
            lines.append(f"mechanism   {', '.join(found)}")
    return "\n".join(lines)
