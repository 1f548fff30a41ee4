"""`python -m flowsim.check [--device cpu|cuda] [--fast] [--json] [--only SECTION] [--threads N]`."""
from __future__ import annotations

import argparse
import json
import sys

from . import SECTIONS, format_table, run_check


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"flowsim.check: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m flowsim.check", description="The flows against full training in torch.")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--fast", action="store_true", help="small sizes (< 2 min on 2 CPU cores)")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--only", action="append", choices=list(SECTIONS),
                        help="run only this section (repeatable)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 with --fast, whose tensors are small "
                             "enough that threading only adds overhead; torch's default otherwise)")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("flowsim.check: error: torch is not installed (pip install torch==2.13.0)", file=sys.stderr)
        return 2
    try:
        threads = args.threads if args.threads else (1 if args.fast else None)
        rows = run_check(args.device, args.fast, args.only, threads)
    except ValueError as exc:
        print(f"flowsim.check: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
    else:
        print(format_table(rows))
    return 0 if all(r.agree for r in rows if r.required) else 1


if __name__ == "__main__":
    raise SystemExit(main())
