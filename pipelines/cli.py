"""The ``bigtrain`` command line: run the DAG locally, compile, submit and schedule it on Kubeflow, write demo data."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pipelines.config import ConfigError, load_config
from pipelines.models_cli import add_models_parser

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 128 + 2  # the shell's code for SIGINT (Ctrl-C); a run stopped by SIGTERM exits 128 + 15


def _output_path(flag: str, path: str, is_dir: bool = False) -> Path:
    """``path`` given to ``flag``, ready to write: its directory (``is_dir``) or parent directory is created.

    Raises ValueError naming the flag and the path when that directory cannot be made, or a file path is a directory.
    """
    target = Path(path)
    if not is_dir and target.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file path")
    directory = target if is_dir else target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot create directory {directory}: {error.strerror or error}") from error
    return target


def _run(args: argparse.Namespace) -> int:
    from pipelines.local_runner import run_local

    config = load_config(args.config)
    summary_path = _output_path("--summary", args.summary) if args.summary else None  # before a run, not after
    outcome = run_local(config, args.pipeline_root, use_cache=not args.no_cache)
    if summary_path:
        summary_path.write_text(json.dumps(outcome.summary, indent=2, sort_keys=True))
    if outcome.signum is not None:
        summary = outcome.summary
        print(f"bigtrain: {summary['error']}; stopped its processes (summary: {summary['run_dir']})", file=sys.stderr)
        return 128 + outcome.signum
    if not outcome.ok:
        print(f"bigtrain: {outcome.summary['error']} (see {outcome.summary['log']})", file=sys.stderr)
        return EXIT_USAGE if outcome.stopped_by_data else EXIT_FAILED
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from pipelines.validate import validate

    print(f"bigtrain: {validate(args.config)}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from pipelines.local_runner import read_run_summary
    from pipelines.summary import format_summary

    summary = read_run_summary(args.run)
    print(format_summary(summary))
    if not summary.get("report"):
        print("bigtrain: this run has no evaluation report (it stopped before evaluate)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _compile(args: argparse.Namespace) -> int:
    from pipelines.kubeflow.compile import compile_for_cluster

    config = load_config(args.config)
    compiled = compile_for_cluster(config, _output_path("--output", args.output), image=args.image)
    for warning in compiled.warnings:
        print(f"bigtrain: warning: {warning}", file=sys.stderr)
    print(f"bigtrain: wrote {compiled.path} (pipeline {compiled.pipeline_name}, image {compiled.image})")
    return EXIT_OK


def _demo_data(args: argparse.Namespace) -> int:
    from pipelines.demo_data import write_demo_data

    report = write_demo_data(_output_path("--output", args.output, is_dir=True), rows=args.rows, seed=args.seed)
    malformed = ", ".join(f"{k} {v}" for k, v in sorted(report.malformed.items()))
    files = len(report.files)
    print(f"bigtrain: wrote {report.rows} rows in {files} file(s) to {args.output} (malformed: {malformed})")
    return EXIT_OK


def _kubeflow(command: Callable[[], int]) -> int:
    """Run a Kubeflow command; an unreachable or failing KFP API is one line and exit 1."""
    from pipelines.kubeflow.client import KfpError

    try:
        return command()
    except KfpError as error:
        print(f"bigtrain: error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _submit(args: argparse.Namespace) -> int:
    from pipelines.kubeflow.submit import submit

    config = load_config(args.config)
    return _kubeflow(
        lambda: submit(
            config,
            args.host,
            image=args.image,
            experiment=args.experiment,
            namespace=args.namespace,
            wait=args.wait,
            timeout=args.timeout,
            poll_interval=args.poll_interval,
        )
    )


def _schedule(args: argparse.Namespace) -> int:
    from pipelines.kubeflow import schedule

    config = load_config(args.config) if args.config else None
    namespace = schedule.namespace_for(config, args.namespace)
    if args.list:
        return _kubeflow(lambda: schedule.list_command(args.host, namespace))
    if args.delete:
        return _kubeflow(lambda: schedule.delete_command(args.host, namespace, args.delete))
    if config is None or not args.cron:
        raise ValueError("schedule: give --config and --cron to create or replace a schedule (or --list, --delete)")
    return _kubeflow(
        lambda: schedule.schedule(
            config,
            args.host,
            cron=args.cron,
            image=args.image,
            max_concurrency=args.max_concurrency,
            no_catchup=args.no_catchup,
            experiment=args.experiment,
            namespace=args.namespace,
        )
    )


class _VersionAction(argparse.Action):
    """``--version``: bigtrain's version and the stack's, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the versions of bigtrain and its stack, then exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from pipelines.version import version_text

        print(version_text())
        parser.exit()


_KFP_EPILOG = """exit codes: 0 done (with --wait: the run succeeded); 1 Kubeflow Pipelines was unreachable or
answered an error, or the followed run failed, was canceled or timed out; 2 bad config, flags or token file.
The API token comes from KF_PIPELINES_TOKEN, KF_PIPELINES_TOKEN_FILE or, in a pod, the service-account token."""


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    top = argparse.ArgumentParser(prog="bigtrain", description=__doc__)
    top.add_argument("--version", action=_VersionAction)
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline locally (kfp.local, Beam DirectRunner)")
    run.add_argument("--config", required=True, help="run config YAML")
    run.add_argument("--pipeline-root", default="runs", help="where artifacts, cache and run logs go (default: runs)")
    run.add_argument("--no-cache", action="store_true", help="run every step even if a cached result exists")
    run.add_argument("--summary", help="also write the run summary JSON here")
    run.set_defaults(handler=_run)

    check = sub.add_parser(
        "validate", help="check the config and each chosen span's first file (header or schema); run nothing"
    )
    check.add_argument("--config", required=True, help="run config YAML")
    check.set_defaults(handler=_validate)

    report = sub.add_parser("report", help="re-print a local run's summary and its evaluation report's path")
    report.add_argument(
        "--run", required=True, help="the run's directory (<pipeline-root>/_runs/<run id>, printed by `bigtrain run`)"
    )
    report.set_defaults(handler=_report)

    comp = sub.add_parser("compile", help="compile the pipeline to KFP IR YAML")
    comp.add_argument("--config", required=True, help="run config YAML")
    comp.add_argument("--output", required=True, help="pipeline YAML to write")
    comp.add_argument("--image", help="component image, ideally by digest (name@sha256:...); default: cluster.image")
    comp.set_defaults(handler=_compile)

    demo = sub.add_parser("demo-data", help="write the bundled demo dataset (CSV)")
    demo.add_argument("--rows", type=int, default=20_000, help="data rows (default: 20000)")
    demo.add_argument("--output", required=True, help="directory for part-*.csv")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.set_defaults(handler=_demo_data)

    def kfp_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", help="KFP API URL, e.g. http://localhost:8080 (default: $KF_PIPELINES_ENDPOINT)")
        command.add_argument("--namespace", help="Kubernetes namespace (default: cluster.namespace of the config)")

    def version_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--image", help="component image, ideally by digest; default: cluster.image")
        command.add_argument("--experiment", help="KFP experiment (default: cluster.experiment or bigtrain-<name>)")

    kfp_help = {"epilog": _KFP_EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}
    submit = sub.add_parser("submit", help="compile, upload a pipeline version, start a run on Kubeflow", **kfp_help)
    submit.add_argument("--config", required=True, help="run config YAML (with a cluster: section)")
    kfp_options(submit)
    version_options(submit)
    submit.add_argument("--wait", action="store_true", help="follow the run; exit 1 unless it succeeds")
    submit.add_argument("--timeout", type=float, default=24 * 3600, help="with --wait: give up after S seconds (86400)")
    submit.add_argument("--poll-interval", type=float, default=10.0, help="with --wait: seconds between checks (10)")
    submit.set_defaults(handler=_submit)

    sched = sub.add_parser(
        "schedule",
        help="create or safely replace the scheduled retraining",
        description="Create the recurring run bigtrain-<name>-schedule, or replace it safely: the new one is created "
        "enabled first, then the older ones are disabled, and each is deleted only when none of its runs is active.",
        **kfp_help,
    )
    sched.add_argument("--config", help="run config YAML (with a cluster: section)")
    kfp_options(sched)
    version_options(sched)
    sched.add_argument("--cron", help="KFP 6-field cron, seconds first: '0 0 2 * * *' is 02:00 every day")
    sched.add_argument("--max-concurrency", type=int, default=1, help="runs of this schedule at once (default: 1)")
    sched.add_argument("--no-catchup", action="store_true", help="after a pause, start only the latest missed run")
    action = sched.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list the recurring runs in the namespace")
    action.add_argument("--delete", metavar="NAME_OR_ID", help="disable a recurring run; delete it unless it is busy")
    sched.set_defaults(handler=_schedule)
    add_models_parser(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bigtrain`` console script."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"bigtrain: interrupted ({args.command})", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, FileNotFoundError, ValueError) as error:
        message = str(error).strip() or type(error).__name__
        print(f"bigtrain: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
