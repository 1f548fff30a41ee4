"""python -m paper_figures [--list] [--only NAME] [--fast] [--out DIR]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from paper_figures import figures

DEFAULT_OUT = Path(__file__).parent / "out"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"paper_figures: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m paper_figures", description="Regenerate the paper figures.")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("--only", metavar="NAME", action="append", help="only this figure (repeatable)")
    parser.add_argument("--fast", action="store_true", help="smaller grids and fewer seeds (minutes, not tens)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default paper_figures/out)")
    args = parser.parse_args(argv)
    available = figures()
    if args.list:
        for name, mod in available.items():
            print(f"{name:24s} {mod.TITLE}")
        return 0
    names = args.only or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"paper_figures: --only: unknown figure {unknown[0]!r}; choose from {', '.join(available)}",
              file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"paper_figures: --out: cannot create {args.out}: {exc}", file=sys.stderr)
        return 2
    t0, c0 = time.perf_counter(), time.process_time()
    for name in names:
        start, cpu = time.perf_counter(), time.process_time()
        results = available[name].generate(args.out, fast=args.fast)
        image = available[name].plot(results, args.out)
        print(f"{name}: {image} (data {results}, {time.perf_counter() - start:.1f} s, "
              f"{time.process_time() - cpu:.1f} s CPU)", flush=True)
    print(f"total: {len(names)} figures in {time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s CPU)"
          + (" (--fast)" if args.fast else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
