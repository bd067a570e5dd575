"""Stopping `bigtrain run` mid-step with real signals: nothing outlives it, nothing is published, the rerun works.

One small dataset and the real CLI, stopped in the middle of each step in turn (table ``STOPS``): SIGINT (Ctrl-C),
SIGTERM, SIGKILL of the CLI alone and SIGKILL of its whole process group, in ingest, preprocess, train, evaluate and
push (held right before publishing by a test-only pause). After each stop no process of the run is left and no
version is published; then a clean rerun reuses every step that had finished from the cache.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.process_guard import PAUSE_ENV, PAUSED_MARK
from components.push.registry import TEMP_PREFIX
from tests.cli_runs import BIGTRAIN
from tests.fault.demo_work import CONFIG_FILE, make_demo_work
from tests.fault.procs import survivors

pytestmark = pytest.mark.slow
ROWS = 1500
RUN = (*BIGTRAIN, "run")
_RUN_DIR = re.compile(r"^bigtrain: running .* in (\S+)\)$")
# A line each step's libraries log once its real work is under way (past the imports), so the signal lands mid-step.
MID_STEP = {
    "ingest": "WriteImpl",  # Beam is building the ingest job's writes
    "preprocess": "Tensorflow Transform is running",  # tf.Transform is tracing the preprocessing_fn
    "train": "Epoch 1/",
    "evaluate": "Creating state cache",  # Beam has started running TFMA's job
    "push": PAUSED_MARK,  # the test-only pause right before the liveness check and the atomic rename
}


@dataclass(frozen=True)
class Stop:
    step: str
    signum: signal.Signals
    group: bool = False  # signal the CLI's whole process group, not only the CLI

    def __str__(self) -> str:
        return f"{self.signum.name} to the {'process group' if self.group else 'CLI alone'} during {self.step}"


STOPS = (
    Stop("ingest", signal.SIGINT),
    Stop("ingest", signal.SIGKILL, group=True),
    Stop("preprocess", signal.SIGTERM),
    Stop("preprocess", signal.SIGINT, group=True),  # Ctrl-C in a terminal: SIGINT to the foreground process group
    Stop("preprocess", signal.SIGKILL),
    Stop("train", signal.SIGINT),
    Stop("train", signal.SIGKILL),  # its workers run in sessions of their own: only the guard can stop them
    Stop("evaluate", signal.SIGINT, group=True),
    Stop("evaluate", signal.SIGKILL, group=True),
    Stop("push", signal.SIGINT),
    Stop("push", signal.SIGKILL, group=True),  # the orphaned push must not publish
)


class _Run:
    """One `bigtrain run` in its own session, followed line by line until the test stops it."""

    def __init__(self, work: Path, pause_push: bool) -> None:
        env = {key: value for key, value in os.environ.items() if key != PAUSE_ENV}
        if pause_push:
            env[PAUSE_ENV] = "publishing"
        self.process = subprocess.Popen(
            [*RUN, "--config", CONFIG_FILE, "--pipeline-root", "runs"],
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

    def wait_mid_step(self, step: str) -> None:
        """Wait until ``step`` is doing its work: its MID_STEP line is in the run's log after the step started."""
        self.wait_for_step(step)
        assert self.run_dir is not None
        log = self.run_dir / "bigtrain.log"
        deadline = time.monotonic() + 300
        while True:
            text = log.read_text()
            started = text.rfind(f"Executing task '{step}'")
            if started >= 0 and MID_STEP[step] in text[started:]:
                return
            assert f"Task '{step}' finished" not in text[max(started, 0) :], f"{step} ended before its mid-step line"
            assert self.process.poll() is None, f"the run ended during {step}: {self.process.stderr.read()}"
            assert time.monotonic() < deadline, f"no {MID_STEP[step]!r} from {step} within 300 s"
            time.sleep(0.1)

    def stop(self, stop: Stop) -> None:
        if stop.group:
            os.killpg(self.process.pid, stop.signum)
        else:
            self.process.send_signal(stop.signum)

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
    return make_demo_work(tmp_path_factory.mktemp("fault"), ROWS, epochs=2)


def test_stopped_runs_stay_stopped_and_the_rerun_reuses_what_finished(work):
    serving = work / "serving"
    runs = str(work / "runs")
    for stop in STOPS:
        run = _Run(work, pause_push=stop.step == "push")
        run.wait_mid_step(stop.step)
        run.stop(stop)
        code, stderr = run.finish()
        if stop.signum == signal.SIGKILL:
            assert code == -signal.SIGKILL, (stop, code, stderr)
        else:
            # SIGINT and SIGTERM: one line naming the step, the shell's 128 + signal, a summary marked interrupted.
            assert code == 128 + stop.signum, (stop, code, stderr)
            _assert_one_interrupt_line(stderr, stop.step, stop.signum.name)
            summary = _summary(run)
            assert summary["interrupted"] == stop.step and summary["ok"] is False, stop
        assert survivors(runs) == {}, stop
        assert _versions(serving) == [], stop

    # The rerun completes: every step that had finished comes from the cache, no lock or temp dir is in its way.
    rerun = subprocess.run(
        [*RUN, "--config", CONFIG_FILE, "--pipeline-root", "runs", "--summary", "summary.json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["ok"] and "interrupted" not in summary
    assert all(summary["steps"][step]["cached"] for step in ("ingest", "preprocess", "train", "evaluate"))
    assert not summary["steps"]["push"]["cached"]
    rows = summary["rows"]
    assert rows["input"] == ROWS
    assert rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"] == ROWS
    assert _versions(serving) == ["1"]
    assert list(serving.glob(f"*/{TEMP_PREFIX}*")) == []  # the killed push's copy was cleaned up
    assert survivors(runs) == {}
