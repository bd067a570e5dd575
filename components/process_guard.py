"""A stopped local run stays stopped: no step process outlives ``bigtrain run``, and a dead run publishes nothing.

``bigtrain run`` holds an exclusive ``flock`` on a lease file for as long as it lives and puts the lease's path in
the environment (``BIGTRAIN_RUN_LEASE``), which every step process and everything a step starts (Beam workers, train
workers, the serving-check child) inherits. The kernel drops the lock when the CLI dies, however it dies, so:

- ``run_alive()`` is a lock probe any process of the run can make (push makes it right before its atomic rename);
- ``guard_step()``, called first thing in a step, asks the kernel to SIGKILL the step when its parent dies and
  watches the lease, stopping the run's processes and itself once the CLI is gone;
- ``stop_run_processes()`` finds the run's processes by that environment entry in ``/proc`` and SIGKILLs them;
- a watchdog process (``start_watchdog``, its own session so a kill of the CLI's process group spares it) does the
  same once the CLI's end of its stdin pipe closes, i.e. when the CLI has exited or was killed.

Outside ``bigtrain run`` (Kubeflow, tests calling a component) the variable is unset and all of this is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO

LEASE_ENV = "BIGTRAIN_RUN_LEASE"  # the run's lease file; set by the local runner, inherited by every step process
PAUSE_ENV = "BIGTRAIN_TEST_PAUSE_AT"  # tests/fault only: "publishing" holds push right before its liveness check
PAUSED_MARK = "bigtrain-test: paused at"
_PAUSE_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_POLL_SECONDS = 0.5
_SWEEP_ROUNDS = 50
_EXIT_RUN_GONE = 137  # as if SIGKILLed, which is what the CLI's death means for its steps


class RunGoneError(RuntimeError):
    """The ``bigtrain run`` that started this step is gone; the step must not publish anything."""


def current_lease() -> str | None:
    """The lease file of the local run this process belongs to, or None outside ``bigtrain run``."""
    return os.environ.get(LEASE_ENV) or None


@contextlib.contextmanager
def held_lease(path: Path) -> Iterator[Callable[[], None]]:
    """Hold the run's lease (an exclusive flock on ``path``) for the ``with`` block, i.e. for the CLI's life.

    Yields a function that releases it early: the run counts as gone from then on (its steps stop themselves).
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)  # not inheritable: only the CLI holds the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield lambda: fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_alive(lease: str | None = None) -> bool:
    """Whether the run owning ``lease`` (default: this process's run) still holds it; True outside a local run."""
    lease = lease or current_lease()
    if lease is None:
        return True
    try:
        fd = os.open(lease, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True  # the CLI holds it exclusively
    finally:
        os.close(fd)  # also drops a shared lock just taken
    return False


def require_run_alive(action: str) -> None:
    """Raise ``RunGoneError`` when this process's local run is gone (no-op outside ``bigtrain run``)."""
    if os.environ.get(PAUSE_ENV) == action.split(" ", 1)[0]:
        # Fault tests kill the CLI here, the window in which an orphaned push once published a version.
        print(f"{PAUSED_MARK} {action}", flush=True)
        time.sleep(_PAUSE_SECONDS)
    if not run_alive():
        raise RunGoneError(f"not {action}: the `bigtrain run` that started this step is gone ({current_lease()})")


def run_processes(lease: str, exclude: Collection[int] = ()) -> list[int]:
    """Pids of live processes whose environment names ``lease`` (zombies have none), except ``exclude``."""
    needle = f"{LEASE_ENV}={lease}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        with contextlib.suppress(OSError):
            if needle in Path(entry.path, "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
    return pids


def stop_run_processes(lease: str, exclude: Collection[int] = ()) -> int:
    """SIGKILL every process of the run (but this one and ``exclude``) until none is left; returns how many."""
    skip = {os.getpid(), *exclude}
    killed: set[int] = set()
    for _ in range(_SWEEP_ROUNDS):
        pids = run_processes(lease, skip)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.05)  # a process may fork between the scan and the kill: scan again
    return len(killed)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the thread that started it exits (kfp starts steps on the CLI's
    main thread, or on a ParallelFor pool thread that waits for the step)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(lease: str) -> None:
    while run_alive(lease):
        time.sleep(_POLL_SECONDS)
    stop_run_processes(lease)
    os._exit(_EXIT_RUN_GONE)


def guard_step() -> bool:
    """In a step of ``bigtrain run``: die with the parent, and stop the run's processes once the CLI is gone.

    Returns True when armed, False outside a local run. A step started after its run died exits at once.
    """
    lease = current_lease()
    if lease is None:
        return False
    _die_with_parent()
    if not run_alive(lease):
        os._exit(_EXIT_RUN_GONE)
    threading.Thread(target=_watch, args=(lease,), name="bigtrain-run-guard", daemon=True).start()
    return True


def start_watchdog(lease: str) -> subprocess.Popen[bytes]:
    """Start the process that stops the run's processes once the caller exits (the caller keeps its stdin)."""
    env = {key: value for key, value in os.environ.items() if key != LEASE_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "components.process_guard", lease],
        stdin=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,  # survives a kill of the CLI's process group, to sweep what is left
    )


def stop_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """Close the watchdog's stdin (it sweeps and exits) and reap it."""
    stdin: IO[bytes] | None = watchdog.stdin
    if stdin is not None:
        stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=10)


def _watchdog_main(lease: str) -> None:
    sys.stdin.buffer.read()  # returns at EOF: the CLI closed the pipe or died
    stop_run_processes(lease)


if __name__ == "__main__":
    _watchdog_main(sys.argv[1])
