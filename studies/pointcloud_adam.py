"""Does Adam's flow predict the point-cloud network better than the gradient flow does?

    python studies/pointcloud_adam.py [--seeds 5] [--device cpu]

The PointNet of flowsim.training.pointnet (K = 4, trained by Adam at lr 1e-3 for 500 steps,
the check's full settings) on the box (M = 4) and the rectangle (M = 2), with the losses
whose weights are trainable and where the network and the gradient flow part ways
(matched, reverse_kl). Beside the networks' final held-out max weight and coverage (mean
± SE over seeds): the mean over 8 held-out samples of the per-sample flow of the same loss
from the first network's initial predictions, once as the plain gradient flow and once in
the small-step limit of Adam (geometry "adam", docs/derivations.md A1). These are the
rows of `python -m flowsim.check --only pointcloud` (flowsim/check/pointcloud.py), for
these shapes and losses. Writes studies/results/pointcloud_adam.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import time

from flowsim.check import Context, Settings
from flowsim.check import pointcloud

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "pointcloud_adam.md"
LOSSES = {"box": ("matched", "reverse_kl"), "rectangle": ("matched", "reverse_kl")}
TIE = 0.01          # "closer" only when the two flows' distances to the network differ by more


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    s = dataclasses.replace(Settings(), pc_shapes=tuple(LOSSES), pc_losses=dict(LOSSES), pc_seeds=args.seeds,
                            pc_geometries=("adam",))
    ctx = Context(s, args.device)
    t0 = time.perf_counter()
    pointcloud.run(ctx)
    wall = time.perf_counter() - t0
    rows = {r.name: r for r in ctx.rows}
    lines = ["# The point-cloud network beside the gradient flow and Adam's flow", "",
             f"Command: `python studies/pointcloud_adam.py --seeds {args.seeds}` (settings in its "
             f"docstring; {args.seeds} networks per shape and loss, {s.pc_steps} Adam steps at lr 1e-3, "
             f"flows to t = {s.pc_flow_t_max:g} from {s.pc_flow_samples} held-out samples). Wall time "
             f"{wall:.0f} s on {args.device}.", "",
             f"| shape | loss | quantity | network (mean ± SE) | gradient flow | Adam-limit flow | closer "
             f"(by more than {TIE:g}) |",
             "|---|---|---|---|---|---|---|"]
    for shape, losses in LOSSES.items():
        for loss in losses:
            for key in ("max_weight", "coverage"):
                gd = rows[f"pointcloud {shape} {loss}: final {key}"]
                ad = rows[f"pointcloud {shape} {loss}: final {key} (adam flow)"]
                e_gd, e_ad = abs(gd.flow - gd.sim), abs(ad.flow - ad.sim)
                closer = "tie" if abs(e_ad - e_gd) <= TIE else ("Adam" if e_ad < e_gd else "gradient")
                lines.append(f"| {shape} | {loss} | final {key} | {gd.sim:.3g} ± {gd.sem:.2g} | "
                             f"{gd.flow:.3g} | {ad.flow:.3g} | {closer} |")
    lines.append("")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
