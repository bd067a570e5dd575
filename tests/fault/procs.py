"""Finding the processes of a run in /proc, for the fault tests."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from components.process_guard import LEASE_ENV


def processes_naming(text: str) -> dict[int, str]:
    """Live processes (pid: command line) whose command line or ``bigtrain run`` lease names ``text``."""
    needle = text.encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            leases = [value for value in environ if value.startswith(LEASE_ENV.encode())]
            if cmdline and (needle in cmdline or any(needle in lease for lease in leases)):
                found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


def survivors(text: str, settle_s: float = 15.0) -> dict[int, str]:
    """The processes naming ``text`` that are still alive after up to ``settle_s`` (a killed process is reaped
    by its parent or init a moment after the signal; this waits for that, it does not time anything)."""
    deadline = time.monotonic() + settle_s
    while (found := processes_naming(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found
