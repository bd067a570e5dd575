"""Finding the processes of a run in /proc, for the fault tests."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from components.process_guard import LEASE_ENV

# A fault test's tag on the processes it starts, inherited by theirs (workers run in sessions of their own and take
# their request from a temp dir, so neither the process group nor the command line finds them).
MARK_ENV = "BIGTRAIN_FAULT_MARK"


def processes_naming(text: str) -> dict[int, str]:
    """Live processes (pid: command line) whose command line, ``bigtrain run`` lease or ``MARK_ENV`` names ``text``."""
    needle = text.encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            tags = [value for value in environ if value.startswith((LEASE_ENV.encode(), MARK_ENV.encode()))]
            if cmdline and (needle in cmdline or any(needle in tag for tag in tags)):
                found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


def survivors(text: str, settle_s: float = 15.0) -> dict[int, str]:
    """The processes naming ``text`` that are still alive after up to ``settle_s`` (a killed process is reaped
    by its parent or init a moment after the signal; this waits for that, it does not time anything)."""
    deadline = time.monotonic() + settle_s
    while (found := processes_naming(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found
