"""Stopping `bigtrain run` mid-step with real signals: nothing outlives it, nothing is published, the rerun works.

One small dataset, five runs through the real CLI: SIGINT in ingest, SIGKILL of the CLI alone in train, SIGINT and
then SIGKILL of the CLI's process group while push holds right before publishing (a test-only pause), and a clean
rerun that reuses the finished steps from the cache.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components.process_guard import PAUSE_ENV, PAUSED_MARK
from components.push.registry import TEMP_PREFIX
from tests.conftest import DEMO_CONFIG
from tests.fault.procs import survivors

pytestmark = pytest.mark.slow
ROWS = 1500
_RUN_DIR = re.compile(r"^bigtrain: running .* in (\S+)\)$")


class _Run:
    """One `bigtrain run` in its own session, followed line by line until the test stops it."""

    def __init__(self, work: Path, pause_at: str | None = None) -> None:
        env = {key: value for key, value in os.environ.items() if key != PAUSE_ENV}
        if pause_at:
            env[PAUSE_ENV] = pause_at
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "run", "--config", "run.yaml", "--pipeline-root", "runs"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so the test can kill the CLI's process group and only that
        )
        self.run_dir: Path | None = None

    def wait_for_step(self, step: str) -> None:
        """Read the CLI's output until ``step`` has started."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if match := _RUN_DIR.match(line.strip()):
                self.run_dir = Path(match.group(1))
            if re.search(rf"▸ {step}\s+started", line):
                return
        pytest.fail(f"the run ended before {step} started: {self.process.wait()} {self.process.stderr.read()}")

    def wait_for_pause(self) -> None:
        """Wait until push holds right before publishing (it logs a mark into the run's log)."""
        self.wait_for_step("push")
        assert self.run_dir is not None
        log = self.run_dir / "bigtrain.log"
        while PAUSED_MARK not in log.read_text():
            assert self.process.poll() is None, "the run ended before push paused"
            time.sleep(0.2)

    def finish(self) -> tuple[int, str]:
        """Wait for the CLI to exit; its exit code and stderr."""
        _, stderr = self.process.communicate(timeout=300)
        return self.process.returncode, stderr


def _summary(run: _Run) -> dict:
    assert run.run_dir is not None
    return json.loads((run.run_dir / "summary.json").read_text())


def _versions(serving: Path) -> list[str]:
    return sorted(p.name for p in serving.glob("*/*") if p.is_dir() and not p.name.startswith("."))


def _assert_one_interrupt_line(stderr: str, step: str, signame: str) -> None:
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert lines == [lines[0]] and f"interrupted by {signame} during {step}" in lines[0], stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fault")
    made = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo-data", "--rows", str(ROWS), "--output", "data/demo"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["epochs"] = 2
    (work / "run.yaml").write_text(yaml.safe_dump(config))
    return work


def test_stopped_runs_stay_stopped_and_the_rerun_reuses_what_finished(work):
    serving = work / "serving"
    runs = str(work / "runs")

    # 1. Ctrl-C (SIGINT to the CLI) during ingest: one line, exit 130, a summary marked interrupted, nothing left.
    run = _Run(work)
    run.wait_for_step("ingest")
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 130
    _assert_one_interrupt_line(stderr, "ingest", "SIGINT")
    summary = _summary(run)
    assert summary["interrupted"] == "ingest" and summary["ok"] is False
    assert survivors(runs) == {}

    # 2. SIGKILL of the CLI alone during train (its workers run in sessions of their own): nothing outlives it.
    run = _Run(work)
    run.wait_for_step("train")
    run.process.kill()
    run.finish()
    assert survivors(runs) == {}

    # 3. SIGINT while push holds right before its atomic rename: exit 130, marked interrupted, nothing published.
    run = _Run(work, pause_at="publishing")
    run.wait_for_pause()
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 130
    _assert_one_interrupt_line(stderr, "push", "SIGINT")
    assert _summary(run)["interrupted"] == "push"
    assert survivors(runs) == {}
    assert _versions(serving) == []

    # 4. SIGKILL of the CLI's whole process group at the same point: the orphaned push must not publish.
    run = _Run(work, pause_at="publishing")
    run.wait_for_pause()
    os.killpg(run.process.pid, signal.SIGKILL)
    run.finish()
    assert survivors(runs) == {}
    assert _versions(serving) == []

    # 5. The rerun completes: the finished steps come from the cache, no lock or temp dir is in its way.
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--config",
            "run.yaml",
            "--pipeline-root",
            "runs",
            "--summary",
            "summary.json",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["ok"] and "interrupted" not in summary
    assert all(summary["steps"][step]["cached"] for step in ("ingest", "preprocess", "train", "evaluate"))
    rows = summary["rows"]
    assert rows["input"] == ROWS
    assert rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"] == ROWS
    assert _versions(serving) == ["1"]
    assert list(serving.glob(f"*/{TEMP_PREFIX}*")) == []  # the killed push's copy was cleaned up
    assert survivors(runs) == {}
