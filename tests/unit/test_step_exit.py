"""components.step_exit in real processes: a succeeded step skips teardown, a failed one keeps its status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.step_exit import EXECUTOR_INPUT_FLAG, executor_output_file

# Stands in for a kfp executor process: an atexit hook registered before the step (as TensorFlow's are, at import)
# leaves a marker when teardown runs; the step arms the prompt exit, then does what argv[1] says.
STEP = textwrap.dedent(
    """
    import atexit, json, pathlib, sys
    from components.step_exit import exit_promptly_on_success

    marker = pathlib.Path(sys.argv[2])
    atexit.register(marker.write_text, "teardown ran")
    output = json.loads(sys.argv[4])["outputs"]["outputFile"]
    assert exit_promptly_on_success()
    how = sys.argv[1]
    if how == "succeed":
        pathlib.Path(output).write_text("{}")
    elif how == "raise":
        raise RuntimeError("step failed")
    elif how == "exit3":
        sys.exit(3)
    print("step done", flush=True)
    """
)


def _run(tmp_path: Path, how: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    marker, output = tmp_path / "marker", tmp_path / "executor_output.json"
    executor_input = json.dumps({"outputs": {"outputFile": str(output)}})
    proc = subprocess.run(
        [sys.executable, "-c", STEP, how, str(marker), EXECUTOR_INPUT_FLAG, executor_input],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    return proc, marker, output


def test_a_succeeded_step_exits_0_without_teardown(tmp_path: Path) -> None:
    proc, marker, output = _run(tmp_path, "succeed")
    assert proc.returncode == 0, proc.stderr
    assert output.is_file() and "step done" in proc.stdout  # flushed output is kept
    assert not marker.exists()  # the earlier-registered teardown hook never ran


def test_a_raising_step_keeps_its_traceback_status_and_teardown(tmp_path: Path) -> None:
    proc, marker, _ = _run(tmp_path, "raise")
    assert proc.returncode == 1
    assert "RuntimeError: step failed" in proc.stderr
    assert marker.read_text() == "teardown ran"


def test_a_step_that_exits_with_a_status_keeps_it(tmp_path: Path) -> None:
    proc, marker, _ = _run(tmp_path, "exit3")
    assert proc.returncode == 3
    assert marker.exists()


def test_a_step_that_wrote_no_executor_output_tears_down_normally(tmp_path: Path) -> None:
    proc, marker, output = _run(tmp_path, "return")
    assert proc.returncode == 0
    assert not output.exists() and marker.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["x", EXECUTOR_INPUT_FLAG, json.dumps({"outputs": {"outputFile": "/tmp/out.json"}})], "/tmp/out.json"),
        (["x", EXECUTOR_INPUT_FLAG, "{not json"], None),
        (["x", EXECUTOR_INPUT_FLAG, json.dumps({"outputs": {}})], None),
        (["x", EXECUTOR_INPUT_FLAG], None),
        (["pytest", "-q"], None),
    ],
)
def test_the_output_file_is_read_from_kfps_executor_flags_only(argv: list[str], expected: str | None) -> None:
    assert executor_output_file(argv) == expected


def test_outside_an_executor_process_nothing_is_armed() -> None:
    from components.step_exit import exit_promptly_on_success

    assert exit_promptly_on_success(["pytest"]) is False


def test_a_step_of_a_local_run_whose_cli_is_gone_does_not_run(tmp_path: Path) -> None:
    from components.process_guard import LEASE_ENV

    lease = tmp_path / ".lease"
    lease.touch()  # no `bigtrain run` holds it: the run is gone
    executor_input = json.dumps({"outputs": {"outputFile": str(tmp_path / "out.json")}})
    proc = subprocess.run(
        [sys.executable, "-c", STEP, "succeed", str(tmp_path / "marker"), EXECUTOR_INPUT_FLAG, executor_input],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, LEASE_ENV: str(lease)},
    )
    assert proc.returncode == 137  # as if killed with its run
    assert "step done" not in proc.stdout and not (tmp_path / "out.json").exists()
