"""The ``bigtrain`` command line: run the DAG locally, compile it for Kubeflow, write the demo data."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.config import ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _run(args: argparse.Namespace) -> int:
    from pipelines.local_runner import run_local

    config = load_config(args.config)
    outcome = run_local(config, args.pipeline_root, use_cache=not args.no_cache)
    if args.summary:
        Path(args.summary).write_text(json.dumps(outcome.summary, indent=2, sort_keys=True))
    if not outcome.ok:
        print(f"bigtrain: {outcome.summary['error']} (see {outcome.summary['log']})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _compile(args: argparse.Namespace) -> int:
    from pipelines.kubeflow import compile_pipeline

    compile_pipeline(load_config(args.config), args.output, image=args.image)
    print(f"bigtrain: wrote {args.output}")
    return EXIT_OK


def _demo_data(args: argparse.Namespace) -> int:
    from pipelines.demo_data import write_demo_data

    report = write_demo_data(args.output, rows=args.rows, seed=args.seed)
    malformed = ", ".join(f"{k} {v}" for k, v in sorted(report.malformed.items()))
    files = len(report.files)
    print(f"bigtrain: wrote {report.rows} rows in {files} file(s) to {args.output} (malformed: {malformed})")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    top = argparse.ArgumentParser(prog="bigtrain", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline locally (kfp.local, Beam DirectRunner)")
    run.add_argument("--config", required=True, help="run config YAML")
    run.add_argument("--pipeline-root", default="runs", help="where artifacts, cache and run logs go (default: runs)")
    run.add_argument("--no-cache", action="store_true", help="run every step even if a cached result exists")
    run.add_argument("--summary", help="also write the run summary JSON here")
    run.set_defaults(handler=_run)

    comp = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML")
    comp.add_argument("--config", required=True, help="run config YAML")
    comp.add_argument("--output", required=True, help="pipeline YAML to write")
    comp.add_argument("--image", default="bigtrain:latest", help="container image, ideally by digest (name@sha256:...)")
    comp.set_defaults(handler=_compile)

    demo = sub.add_parser("demo-data", help="write the bundled demo dataset (CSV)")
    demo.add_argument("--rows", type=int, default=20_000, help="data rows (default: 20000)")
    demo.add_argument("--output", required=True, help="directory for part-*.csv")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.set_defaults(handler=_demo_data)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bigtrain`` console script."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        message = str(error).strip() or type(error).__name__
        print(f"bigtrain: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
