"""`bigtrain run` on a pipeline root that fills up mid-step: a real tmpfs, the real CLI.

The run fails with one `bigtrain:` line saying the disk is full and where (exit 1: the pipeline failed, nothing is
wrong with the config or the data), publishes nothing and crashes on nothing, its own log included; once space is
freed the rerun reuses every step that had finished and completes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from components.push.registry import TEMP_PREFIX
from tests.cli_runs import bigtrain
from tests.fault.demo_work import CONFIG_FILE, make_demo_work
from tests.fault.procs import survivors
from tests.fault.tmpfs import mounted_tmpfs, resize_tmpfs

pytestmark = pytest.mark.slow
ROWS = 1500
RUN = ("run", "--config", CONFIG_FILE, "--pipeline-root", "runs")
NO_SPACE = os.strerror(28)  # ENOSPC, as the kernel words it
# Sizes for ROWS demo rows and 2 epochs: before ingest's outputs fit, and before train's checkpoint does (the
# pipeline root of a whole run is about 8 MB, 2 MB of it the model and its backup).
FULL_IN_INGEST = "150k"
FULL_AFTER_PREPROCESS = "1200k"
_RAN = re.compile(r"✓ (\S+)\s+ran")


def _run(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return bigtrain(*RUN, *extra, cwd=work, timeout=600)


def _assert_failed_on_full_disk(result: subprocess.CompletedProcess[str], root: Path) -> None:
    """Exit 1, no trace, one error line on stderr that names the full disk and a path on it."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("bigtrain:")]
    assert len(errors) == 1 and NO_SPACE in errors[0] and str(root) in errors[0], result.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return make_demo_work(tmp_path, ROWS, epochs=2)


def test_full_before_ingest_finishes_ends_the_log_not_the_run(work: Path) -> None:
    with mounted_tmpfs(work / "runs", FULL_IN_INGEST) as root:
        result = _run(work)
        _assert_failed_on_full_disk(result, root)
        assert "'ingest'" in result.stderr, result.stderr
        # No path in the step's last line (Beam dropped it): the free space of the pipeline root says which disk.
        assert f"(pipeline root {root}: 0.0 MiB free)" in result.stderr, result.stderr
        # Its own log and summary could not be written either: said on the terminal, not raised.
        assert "stops early: " + NO_SPACE in result.stdout, result.stdout
        assert "could not write" in result.stdout and "summary.json" in result.stdout, result.stdout
        assert survivors(str(root)) == {}
    assert not (work / "serving").exists()


def test_full_mid_train_then_freed_the_rerun_reuses_what_finished(work: Path) -> None:
    with mounted_tmpfs(work / "runs", FULL_AFTER_PREPROCESS) as root:
        first = _run(work)
        _assert_failed_on_full_disk(first, root)
        finished = set(_RAN.findall(first.stdout))
        assert {"ingest", "preprocess"} <= finished, first.stdout
        assert "train" not in finished
        assert "'train'" in first.stderr and "writing " + str(root) in first.stderr, first.stderr
        assert not (work / "serving").exists()
        assert survivors(str(root)) == {}

        resize_tmpfs(root, "64m")  # space freed
        rerun = _run(work, "--summary", "summary.json")
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    cached = {step for step, record in summary["steps"].items() if record["cached"]}
    assert cached == finished & {"ingest", "preprocess"}  # every cacheable step that had finished, and only those
    rows = summary["rows"]
    assert rows["input"] == ROWS == rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"]
    versions = sorted(p.name for p in (work / "serving").glob("*/*") if p.is_dir())
    assert versions == ["1"] and not list((work / "serving").glob(f"*/{TEMP_PREFIX}*"))
