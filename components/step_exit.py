"""Ending a step's process as soon as it has succeeded, without tearing the interpreter down.

A KFP step is one process running kfp's executor: it calls the component function, writes the executor output file
and returns. With TensorFlow, TFMA or Beam loaded, the interpreter's teardown after that (their atexit hooks, module
finalizers, thread joins) takes about a second here and does nothing a finished step needs.

``exit_promptly_on_success()``, called first thing in a component function, registers an atexit hook that ends the
process with ``os._exit(0)`` once this process has written the executor output file: kfp writes it only after the
function returned and its outputs were written and closed. atexit hooks run last-registered first, so this one runs
before those of the libraries the step imported. A step that failed (an uncaught exception, a ``SystemExit``, no
output file written) exits normally with its own status.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from types import TracebackType

EXECUTOR_INPUT_FLAG = "--executor_input"  # kfp's executor protocol: the ExecutorInput JSON follows this flag
# Filesystems keep mtimes at a coarser grain than time.time(): a file written right after start may look older.
_MTIME_SLACK_S = 2.0


def executor_output_file(argv: Sequence[str]) -> str | None:
    """The executor output file named in a kfp executor command line, or None for any other command line."""
    for flag, value in itertools.pairwise(argv):
        if flag != EXECUTOR_INPUT_FLAG:
            continue
        try:
            path = json.loads(value)["outputs"]["outputFile"]
        except (ValueError, KeyError, TypeError):
            return None
        return path if isinstance(path, str) and path else None
    return None


def written_since(path: str, started: float) -> bool:
    """Whether ``path`` exists and was modified at or after ``started`` (a time.time() value)."""
    try:
        return os.stat(path).st_mtime >= started - _MTIME_SLACK_S
    except OSError:
        return False


def exit_promptly_on_success(argv: Sequence[str] | None = None) -> bool:
    """In a kfp executor process, exit without teardown once the step has succeeded; True when armed.

    Does nothing (returns False) outside a kfp executor process, e.g. when a test calls a component function.
    Under ``bigtrain run`` it also arms ``components.process_guard.guard_step``.
    """
    output_file = executor_output_file(sys.argv if argv is None else argv)
    if output_file is None:
        return False
    from components.process_guard import guard_step

    guard_step()  # under `bigtrain run`: this step (and what it starts) does not outlive the CLI
    started = time.time()
    failed = False
    previous_hook = sys.excepthook

    def record_failure(kind: type[BaseException], value: BaseException, trace: TracebackType | None) -> None:
        nonlocal failed
        failed = True
        previous_hook(kind, value, trace)

    def exit_if_succeeded() -> None:
        if failed or not written_since(output_file, started):
            return
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    sys.excepthook = record_failure
    atexit.register(exit_if_succeeded)
    return True
