"""N local training processes on loopback: what TFJob does on Kubernetes, on this machine.

Each worker is ``python -m components.train.main REQUEST.json`` with its own ``TF_CONFIG`` (worker 0 is the chief),
in its own process group. Their output is streamed line by line with a ``[worker-i]`` prefix. When one fails, hangs
(prints nothing for ``training.worker_timeout_seconds``) or the run outlasts that limit, or when this process is
interrupted (Ctrl-C, SIGTERM), every worker is stopped (SIGTERM to its group, SIGKILL after a grace period) and
nothing is left running. On success the chief's ``<logs_dir>/result.json`` is returned as a TrainingResult.

Data sharding: the trainer's datasets use ``AutoShardPolicy.DATA``. Every worker opens every file and runs the whole
input pipeline, then tf.distribute splits each global batch (``batch_size`` × N) into N parts and worker ``i`` keeps
part ``i``. That is a partition only if every worker produces the same records in the same order: the same files,
read deterministically, shuffled with the same seed. Reading and parsing are repeated on every worker, which is
cheap at demo size (one file per split). ``AutoShardPolicy.FILE`` would give each worker its own files instead (no
repeated reading), but needs at least N files per split: a worker left without a file has no data.

This module never imports TensorFlow: the workers do the training.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TextIO

from components.train.request import TrainRequest
from components.train.result import RESULT_FILE, TrainingResult

GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL when stopping workers
READER_JOIN_SECONDS = 5.0  # waiting for a finished worker's last output lines
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(:|$)")
_MAX_LINE = 500


class WorkerFailed(RuntimeError):
    """A worker process exited non-zero, or the workers could not finish; every worker has been stopped."""


class WorkerTimeout(WorkerFailed):
    """A worker printed nothing for ``training.worker_timeout_seconds``, or the run took longer than that."""


@dataclass
class _Worker:
    """One worker process and what its reader thread has seen."""

    index: int
    process: subprocess.Popen[str]
    last_output: float
    exception_line: str = ""  # the last line that looks like a Python exception ("ValueError: boom")
    last_line: str = ""  # the last non-empty line (a C++ crash's "F0000 ... Check failed" ends a worker this way)
    closed_at: float = math.inf  # when its output ended (about when it exited): the first to fail is the cause
    reader: threading.Thread | None = field(default=None, repr=False)

    def why(self) -> str:
        """The worker's best line explaining a failure. Not any line that mentions an error: TensorFlow logs some
        harmless ones at start-up (``E0000 ... failed call to cuInit``)."""
        return self.exception_line or self.last_line or "(no output)"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (free when this returns; another process may take one)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: Sequence[str], index: int) -> dict[str, object]:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers (worker 0 is the chief)."""
    return {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def _read_output(worker: _Worker, stream: IO[str], log: TextIO, lock: threading.Lock) -> None:
    """Copy a worker's output to ``log`` with its prefix, remembering its last lines and when it last spoke."""
    prefix = f"[worker-{worker.index}] "
    for raw in stream:
        line = raw.rstrip("\r\n")
        worker.last_output = time.monotonic()
        with lock:
            log.write(prefix + line + "\n")
            log.flush()
        text = line.strip()[:_MAX_LINE]
        if not text:
            continue
        worker.last_line = text
        if _EXCEPTION_LINE.match(text):
            worker.exception_line = text
    worker.closed_at = time.monotonic()
    stream.close()


def _start(index: int, addresses: Sequence[str], command: Sequence[str], log: TextIO, lock: threading.Lock) -> _Worker:
    env = dict(os.environ)
    env.update(
        TF_CONFIG=json.dumps(tf_config(addresses, index)),
        TF_USE_LEGACY_KERAS="1",  # bigtrain trains with tf_keras (see components/train/model.py)
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        list(command),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its own process group: stopping it stops anything it started
    )
    worker = _Worker(index, process, last_output=time.monotonic())
    assert process.stdout is not None
    worker.reader = threading.Thread(
        target=_read_output,
        args=(worker, process.stdout, log, lock),
        name=f"bigtrain-worker-{index}-output",
        daemon=True,
    )
    worker.reader.start()
    return worker


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _stop(workers: Sequence[_Worker]) -> None:
    """SIGTERM every running worker's process group, SIGKILL those still running after ``GRACE_SECONDS``."""
    running = [w.process for w in workers if w.process.poll() is None]
    for process in running:
        _signal_group(process, signal.SIGTERM)
        _signal_group(process, signal.SIGCONT)  # a stopped (SIGSTOP, ^Z) worker only acts on SIGTERM once resumed
    deadline = time.monotonic() + GRACE_SECONDS
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in running:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _join_readers(workers: Sequence[_Worker]) -> None:
    deadline = time.monotonic() + READER_JOIN_SECONDS
    for worker in workers:
        if worker.reader is not None:
            worker.reader.join(timeout=max(0.0, deadline - time.monotonic()))


def _wait(workers: Sequence[_Worker], timeout: float, poll_seconds: float) -> None:
    """Return when every worker exited 0; stop them all and raise when one fails or the time limit is hit."""
    started = time.monotonic()
    count = len(workers)
    while True:
        codes = [w.process.poll() for w in workers]
        failed = [w for w, code in zip(workers, codes, strict=True) if code not in (None, 0)]
        if failed:
            _join_readers(failed)  # their last lines, and when each one ended
            _stop(workers)
            first = min(failed, key=lambda w: (w.closed_at, w.index))
            raise WorkerFailed(
                f"worker {first.index} of {count} failed ({_exit_text(first.process.returncode)}): {first.why()}"
            )
        if all(code == 0 for code in codes):
            return
        now = time.monotonic()
        running = [w for w, code in zip(workers, codes, strict=True) if code is None]
        silent = [w for w in running if now - w.last_output > timeout]
        if silent or now - started > timeout:
            _stop(workers)
            _join_readers(workers)
            stuck = silent or running
            names = ("worker " if len(stuck) == 1 else "workers ") + ", ".join(str(w.index) for w in stuck)
            problem = f"printed nothing for {timeout:g} s" if silent else f"still running after {timeout:g} s"
            last = "; ".join(f"worker {w.index}: {w.last_line or '(no output)'}" for w in stuck)
            raise WorkerTimeout(
                f"{names} of {count} {problem} (training.worker_timeout_seconds); stopped all workers. "
                f"Last lines: {last}"
            )
        time.sleep(poll_seconds)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While workers run, SIGTERM to this process raises SystemExit (so ``finally`` stops them) instead of killing
    it outright. Left alone when another handler is installed or when not on the main thread."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _read_result(logs_dir: str, not_before: float) -> TrainingResult:
    """The chief's result.json, checked to be from this run."""
    path = os.path.join(logs_dir, RESULT_FILE)
    try:
        written = os.path.getmtime(path)
    except FileNotFoundError:
        raise WorkerFailed(f"the chief (worker 0) exited 0 but wrote no {path}") from None
    if written < not_before - 1:
        raise WorkerFailed(f"the chief (worker 0) exited 0 but {path} is from an earlier run")
    return TrainingResult.read(logs_dir)


def run_local_workers(
    request: TrainRequest,
    *,
    python: str = sys.executable,
    worker_module: str = "components.train.main",
    log: TextIO | None = None,
    poll_seconds: float = 0.2,
) -> TrainingResult:
    """Train ``request`` as ``request.training.workers`` local processes; returns the chief's TrainingResult.

    Raises WorkerFailed (naming the worker, its exit code and its last error line) when a worker fails, and
    WorkerTimeout when one is silent for ``training.worker_timeout_seconds`` or the run takes longer than that.
    """
    out = sys.stdout if log is None else log
    count = request.training.workers
    timeout = float(request.training.worker_timeout_seconds)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    lock = threading.Lock()
    workers: list[_Worker] = []
    scratch = tempfile.mkdtemp(prefix="bigtrain-request-")
    started_wall = time.time()
    try:
        request_path = os.path.join(scratch, "request.json")
        request.write(request_path)
        command = [python, "-m", worker_module, request_path]
        with _sigterm_as_exit():
            for index in range(count):
                workers.append(_start(index, addresses, command, out, lock))
            _wait(workers, timeout, poll_seconds)
    finally:
        _stop(workers)
        _join_readers(workers)
        shutil.rmtree(scratch, ignore_errors=True)
    return _read_result(request.logs_dir, started_wall)
