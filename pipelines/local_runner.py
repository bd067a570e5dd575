"""Run the DAG on this machine with ``kfp.local`` (one subprocess per task, caching on)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kfp import local

from beam_jobs.layout import RUN_SUMMARY_FILE
from beam_jobs.sources import choose_files
from pipelines.config import RunConfig
from pipelines.dag import build_pipeline, step_code_versions
from pipelines.progress import ProgressTap, strip_ansi
from pipelines.summary import build_summary, format_summary

RUNS_DIR = "_runs"
CHECKPOINTS_DIR = "_checkpoints"  # train's resumable state, one directory per step cache key
LOG_FILE = "bigtrain.log"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class LocalRun:
    """The outcome of one local run."""

    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return bool(self.summary["ok"])


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


def _run_facts(root: Path, before: set[Path], pipeline_name: str) -> dict[str, Any]:
    """The run summary that the summarize step wrote, found in the run directory kfp.local created.

    kfp.local lays a run out as ``<root>/<pipeline>-<timestamp>/<task>/<output>``; summarize is never cached,
    so its output is always in this run's directory. Empty when the run failed before summarize.
    """
    created = sorted(set(root.glob(f"{pipeline_name}-*")) - before)
    for run_dir in reversed(created):
        path = run_dir / "summarize" / "run_summary" / RUN_SUMMARY_FILE
        if path.is_file():
            return json.loads(path.read_text())
    return {}


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
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / LOG_FILE
    pipeline = build_pipeline(config)
    pipeline_name = f"bigtrain-{config.name}"
    before = set(root.glob(f"{pipeline_name}-*"))
    terminal.write(f"bigtrain: running {config.name!r} locally (run {run_id} in {run_dir})\n")
    terminal.flush()
    error: str | None = None
    with open(log_path, "w", buffering=1) as log:
        tap = ProgressTap(log, terminal)
        with _captured(tap):
            local.init(
                runner=local.SubprocessRunner(use_venv=False),
                pipeline_root=str(root),
                enable_caching=use_cache,
                raise_on_error=True,
            )
            try:
                pipeline(**arguments)
            except RuntimeError as failure:
                error = strip_ansi(str(failure)).strip().splitlines()[0]
                if tap.last_exception:
                    error = f"{error} Cause: {tap.last_exception}"
    summary = build_summary(
        run_id=run_id,
        run_dir=str(run_dir),
        log_path=str(log_path),
        steps=tap.steps,
        facts=_run_facts(root, before, pipeline_name),
        seconds=time.monotonic() - started,
        error=error,
    )
    summary["inputs"] = arguments
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    terminal.write(format_summary(summary) + "\n")
    return LocalRun(summary)
