"""`python -m flowsim.sweep STUDY.toml [--out PATH] [--executor local|dask] [--scheduler ADDRESS]
[--resume] [--quiet]` — run a study, write its Zarr dataset and phase diagram.

Bad input (malformed TOML, an unknown field or axis, an empty axis, an unusable
--out) prints one line naming the problem on stderr and exits with code 2.
"""
from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage too)
        sys.stderr.write(f"flowsim.sweep: {message}\n")
        raise SystemExit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m flowsim.sweep",
                     description="Integrate every point of a study and write an xarray/Zarr dataset.")
    parser.add_argument("study", help="study file (TOML; the schema is in docs/sweep.md)")
    parser.add_argument("--out", help="Zarr store to write (default results/<study name>.zarr); "
                                      "an existing store needs --resume or --overwrite")
    parser.add_argument("--executor", choices=("local", "dask"), default=None,
                        help="local: this process, points on numba's threads (default); dask: a dask.distributed cluster")
    parser.add_argument("--scheduler", help="dask scheduler address (implies --executor dask; "
                                            "default: start a LocalCluster)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted sweep in --out, reusing its finished chunks "
                             "(each is checked against its digest; damaged ones are recomputed)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the sweep store at --out (without it, an existing store is "
                             "refused)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from . import StoreError, StudyError, load_study, run_sweep

    executor = args.executor or ("dask" if args.scheduler else "local")
    if args.scheduler and executor != "dask":
        parser.error("--scheduler: needs --executor dask")
    try:
        study = load_study(args.study)
        result = run_sweep(study, args.out, executor=executor, scheduler=args.scheduler,
                           resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    except (StudyError, StoreError) as exc:
        sys.stderr.write("flowsim.sweep: " + " ".join(str(exc).split()) + "\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"flowsim.sweep: {exc.filename or 'IO'}: {exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("flowsim.sweep: interrupted; run again with --resume to finish\n")
        return 130
    print(result.summary)
    print(f"results     {result.path}")
    print(f"figure      {result.figure if result.figure else '(none: a phase diagram needs 1 or 2 axes besides seed)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
