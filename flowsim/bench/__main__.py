"""`python -m flowsim.bench [--json] [--quick] [--points N] [--no-diffrax] [--only SECTIONS] [--cases PATTERNS]`

Every figure measured in this one run, on this machine (see flowsim.bench):
trajectories per model (numba vs scipy RK45 with a numpy RHS and with the njit RHS),
sweep throughput of the Gaussian two-mode trainable-weight flow (DOPRI5 on 1 thread,
all threads and with settle_tol; method "auto" on all threads, with and without
settle_tol; diffrax when installed), cold and warm start, and Radau IIA's LU
factorisation by blocks against column by column (flowsim.bench.linalg).
--json prints one JSON object; otherwise a markdown table.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

SECTIONS = ("trajectories", "sweep", "start", "lu")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"flowsim.bench: {message}\n")
        raise SystemExit(2)


def _sections(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown section {bad[0] if bad else text!r}; "
                                         f"choose from {', '.join(SECTIONS)}")
    return names


def _points(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"need at least 2 points, got {n}")
    return n


def _case_patterns(text):
    from fnmatch import fnmatch

    from .cases import cases

    patterns = [t.strip() for t in text.split(",") if t.strip()]
    names = [c.name for c in cases(quick=True)]
    for pat in patterns:
        if not any(fnmatch(n, pat) for n in names):
            raise argparse.ArgumentTypeError(f"no case matches {pat!r} (cases: {', '.join(names)})")
    return patterns


def run(quick=False, points=None, diffrax=True, sections=SECTIONS, log=None, cases=None) -> dict:
    """The benchmark result object (the --json output)."""
    from . import diffrax_peer, linalg, startup, sweep_throughput, trajectories

    def say(msg):
        if log is not None:
            log.write(f"flowsim.bench: {msg}\n")
            log.flush()

    result = {"trajectories": None,
              "sweep": {"points": None, "seconds_1core": None, "seconds_all": None,
                        "points_per_s": None, "diffrax_points_per_s": None,
                        "speedup_vs_diffrax": None},
              "start": {"cold_s": None, "warm_s": None},
              "lu": None}
    if "trajectories" in sections:
        say("trajectories ...")
        result["trajectories"] = trajectories.run(quick=quick, names=cases)
    if "sweep" in sections:
        n = points if points is not None else (16 if quick else 10_000)
        say(f"sweep of {n} points ...")
        sw = sweep_throughput.run(n, quick=quick)
        y_ref = sw.pop("_final_states", None)
        if diffrax and diffrax_peer.available():
            say("diffrax peer ...")
            dx = diffrax_peer.run(n, y_ref=y_ref)
        else:
            dx = {"available": False, "skipped": not diffrax}
        sw["diffrax"] = dx
        if dx.get("available"):
            sw["diffrax_points_per_s"] = dx["points_per_s"]
            sw["speedup_vs_diffrax"] = sw["points_per_s"] / dx["points_per_s"]
            sw["speedup_vs_diffrax_settle"] = sw["points_per_s_settle"] / dx["points_per_s"]
            sw["speedup_vs_diffrax_cpu"] = dx["cpu_s"] / sw["cpu_s_all"]
            sw["auto"]["speedup_vs_diffrax"] = sw["auto"]["points_per_s"] / dx["points_per_s"]
            sw["auto"]["speedup_vs_diffrax_settle"] = (sw["auto"]["points_per_s_settle"]
                                                       / dx["points_per_s"])
        else:
            sw["diffrax_points_per_s"] = None
            sw["speedup_vs_diffrax"] = None
        result["sweep"].update(sw)
    if "start" in sections:
        say("start ...")
        result["start"].update(startup.run(quick=quick))
    if "lu" in sections:
        say("LU ...")
        result["lu"] = linalg.run(quick=quick)
    return _clean(result)


def _clean(x):
    """JSON-safe: non-finite floats become null."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def main(argv=None) -> int:
    parser = _Parser(prog="python -m flowsim.bench",
                     description="Benchmark flowsim's compiled flows against scipy and diffrax.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true",
                        help="few points and short trajectories (a smoke run)")
    parser.add_argument("--points", type=_points, default=None,
                        help="sweep points (default 10000; --quick: 16)")
    parser.add_argument("--no-diffrax", action="store_true", help="skip the diffrax peer")
    parser.add_argument("--only", type=_sections, default=list(SECTIONS),
                        help=f"comma-separated sections to run ({','.join(SECTIONS)})")
    parser.add_argument("--cases", type=_case_patterns, default=None,
                        help="comma-separated trajectory cases (fnmatch patterns, e.g. "
                             "'vonmises.*,gaussian.two_mode.*'); default: every registered objective")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, points=args.points, diffrax=not args.no_diffrax,
                 sections=args.only, log=sys.stderr, cases=args.cases)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        from .table import render
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
