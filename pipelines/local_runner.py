"""Run the DAG on this machine with ``kfp.local`` (one subprocess per task, caching on)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kfp import local

from beam_jobs.layout import RUN_SUMMARY_FILE
from beam_jobs.sources import choose_files
from components.process_guard import LEASE_ENV, held_lease, start_watchdog, stop_run_processes, stop_watchdog
from pipelines.config import RunConfig
from pipelines.dag import build_pipeline, step_code_versions
from pipelines.plain_log import PlainLog
from pipelines.progress import ProgressTap, strip_ansi
from pipelines.storage_errors import storage_failure
from pipelines.summary import build_summary, format_summary

RUNS_DIR = "_runs"
CHECKPOINTS_DIR = "_checkpoints"  # train's resumable state, one directory per step cache key
LOG_FILE = "bigtrain.log"
SUMMARY_FILE = "summary.json"
LEASE_FILE = ".lease"  # held (flock) by the CLI for the run's life; see components.process_guard
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class PipelineRootError(ValueError):
    """The pipeline root cannot be written (a ValueError, so the CLI exits 2 with one line naming it)."""


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM arrived during the run (a BaseException, so kfp's ``except Exception`` lets it through)."""

    def __init__(self, signum: int, steps: list[str]) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.steps = steps  # the steps running when it arrived


@dataclass(frozen=True)
class LocalRun:
    """The outcome of one local run."""

    summary: dict[str, Any]
    signum: int | None = None  # the signal that interrupted the run, if one did

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return bool(self.summary["ok"])

    @property
    def stopped_by_data(self) -> bool:
        """True when a step refused the input data (bad files, untrainable rows, a severe anomaly): like a bad config,
        a problem for the user to fix, not a failure of the pipeline."""
        return is_data_error(self.summary.get("error") or "")


# The exceptions a step raises when the data, not the pipeline, is wrong (beam_jobs.chunks.IngestError and its
# subclasses, beam_jobs.sources.SourceError, beam_jobs.data_validation.DataValidationError).
DATA_ERRORS = ("IngestError", "UntrainableDataError", "SourceError", "DataValidationError")
_CAUSE = re.compile(r"Cause: (?:[\w.]+\.)?(\w+): ")


def is_data_error(error: str) -> bool:
    """True when a failed run's error line says a step stopped on a data error (see :data:`DATA_ERRORS`)."""
    match = _CAUSE.search(error)
    return match is not None and match.group(1) in DATA_ERRORS


@contextlib.contextmanager
def _captured(tap: ProgressTap) -> Iterator[None]:
    """Send stdout, stderr and INFO logging (kfp's cache-hit lines) through the tap."""
    root = logging.getLogger()
    handler = logging.StreamHandler(tap)
    saved = (sys.stdout, sys.stderr, root.level)
    sys.stdout = sys.stderr = tap
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        sys.stdout, sys.stderr, level = saved
        root.setLevel(level)


@contextlib.contextmanager
def _guarded(run_dir: Path, running: Callable[[], list[str]]) -> Iterator[str]:
    """Hold the run's lease and export it to the steps; a watchdog stops the steps if this process dies.

    SIGINT and SIGTERM stop the run's processes at once and raise ``RunInterrupted`` (a step's ``Popen`` would
    otherwise wait for the step to finish) naming the ``running()`` steps. Yields the lease path.
    """
    lease = str(run_dir / LEASE_FILE)
    release: list[Callable[[], None]] = []

    def interrupt(signum: int, frame: object) -> None:
        first, steps = bool(release), running()
        while release:
            # Gone from now on: a step kfp still starts while unwinding (a queued ParallelFor trial: kfp's pool
            # shuts down waiting for its queue) finds the run dead and exits at once.
            release.pop()()
        stop_run_processes(lease)
        if first:
            raise RunInterrupted(signum, steps)

    saved_env = os.environ.get(LEASE_ENV)
    saved = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    watchdog = None
    signals = _STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ()
    try:
        with held_lease(Path(lease)) as release_lease:
            release.append(release_lease)
            watchdog = start_watchdog(lease)
            os.environ[LEASE_ENV] = lease
            for signum in signals:
                signal.signal(signum, interrupt)
            try:
                yield lease
            finally:
                for signum in signals:
                    signal.signal(signum, saved[signum])
                if saved_env is None:
                    os.environ.pop(LEASE_ENV, None)
                else:
                    os.environ[LEASE_ENV] = saved_env
    finally:
        # The lease is released, so the run counts as gone: stop whatever of it is still running.
        stop_run_processes(lease)
        if watchdog is not None:
            stop_watchdog(watchdog)


@contextlib.contextmanager
def _recording_run_names(names: list[str]) -> Iterator[None]:
    """Append each run directory name kfp.local gives out here to ``names``.

    Another `bigtrain run` on the same root creates its directories meanwhile; without the name, this run could
    report that run's summary as its own.
    """
    from kfp.local import executor_input_utils

    real = executor_input_utils.get_local_pipeline_resource_name

    def record(pipeline_name: str) -> str:
        name = real(pipeline_name)
        names.append(name)
        return name

    executor_input_utils.get_local_pipeline_resource_name = record
    try:
        yield
    finally:
        executor_input_utils.get_local_pipeline_resource_name = real


def _run_facts(root: Path, before: set[Path], pipeline_name: str, own: list[str]) -> dict[str, Any]:
    """The run summary that the summarize step wrote, found in the run directory kfp.local created.

    kfp.local lays a run out as ``<root>/<pipeline>-<timestamp>/<task>/<output>``; summarize is never cached,
    so its output is always in this run's directory. Empty when the run failed before summarize. ``own`` (the
    names kfp.local gave this run) picks this run's directory among those created meanwhile; the newest is used
    when it is empty.
    """
    created = sorted(set(root.glob(f"{pipeline_name}-*")) - before)
    if own:
        created = [run_dir for run_dir in created if run_dir.name in own]
    for run_dir in reversed(created):
        path = run_dir / "summarize" / "run_summary" / RUN_SUMMARY_FILE
        if path.is_file():
            return json.loads(path.read_text())
    return {}


def _unwritable(root: Path, error: OSError) -> str:
    """One line for a write under the pipeline root that failed: the root, the reason, and the path it failed on."""
    where = f" ({error.filename})" if error.filename else ""
    return f"cannot write to pipeline root {root}: {error.strerror or error}{where}"


def read_run_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The summary a local run wrote into its directory (``<root>/_runs/<run id>``, or that summary file itself)."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no run summary here; give a run directory printed by `bigtrain run`")
    return json.loads(path.read_text())


def run_local(
    config: RunConfig,
    pipeline_root: str | os.PathLike[str],
    use_cache: bool = True,
    terminal: TextIO | None = None,
) -> LocalRun:
    """Run the whole pipeline locally; returns the summary (also written to the run directory)."""
    terminal = terminal or sys.stdout
    started = time.monotonic()
    root = Path(pipeline_root).resolve()
    # Fail fast (exit 2) on missing data or spans; the DAG's resolve-data step chooses them again and hashes them.
    choose_files(config.data.source, config.data.spans)
    arguments = {**step_code_versions(), "checkpoint_root": str(root / CHECKPOINTS_DIR)}
    run_id = f"{config.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}"
    run_dir = root / RUNS_DIR / run_id
    log_path = run_dir / LOG_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Plain text (kfp.local's colours stripped); closed by PlainLog.close, which survives a failing last flush.
        log = PlainLog(open(log_path, "w", buffering=1))  # noqa: SIM115
    except OSError as e:  # a file in the way, no permission, disk full: the CLI's one line, exit 2
        raise PipelineRootError(_unwritable(root, e)) from e
    pipeline = build_pipeline(config)
    pipeline_name = f"bigtrain-{config.name}"
    before = set(root.glob(f"{pipeline_name}-*"))
    kfp_runs: list[str] = []
    terminal.write(f"bigtrain: running {config.name!r} locally (run {run_id} in {run_dir})\n")
    terminal.flush()
    error: str | None = None
    interrupted: RunInterrupted | None = None
    interrupted_steps = ""
    with contextlib.closing(log):
        tap = ProgressTap(log, terminal)
        with _captured(tap):
            local.init(
                runner=local.SubprocessRunner(use_venv=False),
                pipeline_root=str(root),
                enable_caching=use_cache,
                raise_on_error=True,
            )
            try:
                with _guarded(run_dir, lambda: tap.running), _recording_run_names(kfp_runs):
                    pipeline(**arguments)
            except RuntimeError as failure:
                error = strip_ansi(str(failure)).strip().splitlines()[0]
                if tap.last_exception:
                    error = f"{error} Cause: {storage_failure(tap.last_exception, root) or tap.last_exception}"
            except OSError as failure:  # kfp.local itself writing a step's inputs or outputs under the root
                error = _unwritable(root, failure)
            except RunInterrupted as signalled:
                interrupted = signalled
                interrupted_steps = ", ".join(signalled.steps) or "between steps"
                where = f"during {interrupted_steps}" if signalled.steps else interrupted_steps
                error = f"interrupted by {signalled} {where}"
                log.write(f"\nbigtrain: {error}\n")
    summary = build_summary(
        run_id=run_id,
        run_dir=str(run_dir),
        log_path=str(log_path),
        steps=tap.steps,
        facts=_run_facts(root, before, pipeline_name, kfp_runs),
        seconds=time.monotonic() - started,
        error=error,
    )
    summary["inputs"] = arguments
    if interrupted is not None:
        summary["interrupted"] = interrupted_steps
    if log.error is not None:
        summary["log_incomplete"] = f"{log.error.strerror or log.error}"
        terminal.write(f"bigtrain: the run log {log_path} stops early: {summary['log_incomplete']}\n")
    try:
        (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    except OSError as e:
        terminal.write(f"bigtrain: could not write {run_dir / SUMMARY_FILE}: {e.strerror or e}\n")
    if interrupted is not None:
        return LocalRun(summary, signum=interrupted.signum)  # the CLI says it in one line
    terminal.write(format_summary(summary, with_error=False) + "\n")  # the CLI prints the error once, on stderr
    return LocalRun(summary)
