"""scaling: RMS gap between the simulated and flow trajectories against n (per seed, slope
~ -1/2: Monte Carlo noise) and against eta (seed mean, slope ~ 1: Euler bias)."""
from __future__ import annotations

import numpy as np

from .core import Context, Row
from .gauss import GAUSS_TIMES, _flow_gaussian, _series, gaussian_setup


def _rms_gap(flow, rec, per_seed: bool):
    """RMS over times and quantities (each scaled by its flow range) of sim - flow:
    per seed (then RMS over seeds) or of the seed mean."""
    fs, ss = _series(flow, "flow"), _series(rec, "sim")
    acc = []
    for q in ("m_1", "m_2", "Q_11", "Q_12", "Q_22", "w_1"):
        f = fs[q][1:]
        scale = max(np.ptp(fs[q]), 1e-12)
        x = ss[q][1:]
        diff = (x - f[:, None]) / scale if per_seed else (x.mean(1) - f)[:, None] / scale
        acc.append(diff)
    return float(np.sqrt(np.mean(np.concatenate(acc) ** 2)))


def run(ctx: Context):
    """Gap vs n (per-seed RMS, slope ~ -1/2) and vs eta (seed-mean RMS, slope ~ 1)."""
    from ..training import gaussian_vi

    s = ctx.settings
    target, init = gaussian_setup(100, 0.3, s.seed)
    t_eval = np.concatenate([[0.0], GAUSS_TIMES])
    flow = _flow_gaussian(target, init, "trainable", t_eval)
    gaps_n = []
    for n in s.scaling_ns:
        rec = gaussian_vi.run(target, init, lr=s.scaling_n_lr, n=n, t_eval=t_eval,
                              n_seeds=s.scaling_seeds, seed=s.seed + 7 * n, device=ctx.device,
                              observe=False)
        gaps_n.append(_rms_gap(flow, rec, per_seed=True))
    slope_n = float(np.polyfit(np.log(s.scaling_ns), np.log(gaps_n), 1)[0])
    ctx.rows.append(Row(f"scaling: d(log gap)/d(log n), eta={s.scaling_n_lr}, "
                        f"gaps {', '.join(f'{g:.3g}' for g in gaps_n)}", -0.5, slope_n, 0.0,
                        bool(-0.75 <= slope_n <= -0.3),
                        note="per-seed RMS deviation; Monte Carlo noise ~ (eta/n)^(1/2)"))
    gaps_l = []
    for lr in s.scaling_lrs:
        rec = gaussian_vi.run(target, init, lr=lr, n=s.scaling_lr_n, t_eval=t_eval,
                              n_seeds=s.scaling_seeds, seed=s.seed + int(1000 * lr),
                              device=ctx.device, observe=False)
        gaps_l.append(_rms_gap(flow, rec, per_seed=False))
    slope_l = float(np.polyfit(np.log(s.scaling_lrs), np.log(gaps_l), 1)[0])
    ctx.rows.append(Row(f"scaling: d(log gap)/d(log eta), n={s.scaling_lr_n}, "
                        f"gaps {', '.join(f'{g:.3g}' for g in gaps_l)}", 1.0, slope_l, 0.0,
                        bool(0.6 <= slope_l <= 1.4),
                        note="seed-mean RMS gap; gradient descent = Euler, bias O(eta)"))
