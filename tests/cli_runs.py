"""Running the real ``bigtrain`` command line from a test, as a user runs it (a new process, this interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIGTRAIN = (sys.executable, "-m", "pipelines.cli")


def bigtrain(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``bigtrain ARGS`` run in ``cwd``; its exit code and output, captured as text."""
    return subprocess.run([*BIGTRAIN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
