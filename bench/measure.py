"""Run one command to completion and measure it: wall seconds, and memory two ways.

* ``max_rss_mb``: ``ru_maxrss`` from ``os.wait4``, the peak of the largest single process (the command or any
  descendant it waited for). Exact, but blind to several processes running at once.
* ``tree_peak_mb``: the largest sum of the resident memory of the command and all its descendants, sampled from
  /proc every ``interval`` seconds. This is what a multi-process job (Beam's multi_processing direct runner, a
  pipeline's step processes) costs the machine at once; sampling can miss a peak shorter than the interval.

Used by the benchmarks in this directory (``from measure import run_measured``).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class Measurement:
    """What one command cost."""

    seconds: float
    max_rss_mb: float
    tree_peak_mb: float
    returncode: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants now, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * _PAGE_MB
        except OSError:
            continue
    return total


def run_measured(
    command: list[str], cwd: Path, env: dict[str, str], log: Path, interval: float = 0.2
) -> Measurement:
    """Run ``command`` (stdout and stderr to ``log``) until it exits; time it and sample its process tree's memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = [0.0]
    done = threading.Event()
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            while not done.wait(interval):
                peak[0] = max(peak[0], tree_rss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    max_rss = usage.ru_maxrss / 1024
    return Measurement(seconds, max_rss, max(peak[0], max_rss), process.returncode)
