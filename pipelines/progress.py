"""A tap on the local runner's output: every line goes to the log file, and step starts/ends become one
short terminal line each (ran or cached, seconds) instead of pages of TensorFlow/Beam logging."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_START = re.compile(r"Executing task '([\w-]+)'")
_CACHED = re.compile(r"Task '?([\w-]+)'? cache hit")
_FINISHED = re.compile(r"Task '([\w-]+)' finished with status (\w+)")
_EXCEPTION = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\w*: .+)$")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (kfp.local colours task names and statuses)."""
    return _ANSI.sub("", text)


@dataclass
class StepRecord:
    """How one step went in this run."""

    cached: bool
    seconds: float
    status: str = "SUCCESS"


class ProgressTap(io.TextIOBase):
    """A text stream that copies everything to ``log`` and reports step events to ``terminal``."""

    def __init__(self, log: TextIO, terminal: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._terminal = terminal
        self._clock = clock
        self._pending = ""
        self._started: dict[str, float] = {}
        self.steps: dict[str, StepRecord] = {}
        self.last_exception: str | None = None

    @property
    def running(self) -> list[str]:
        """Steps that started and have not finished yet, in start order."""
        return list(self._started)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._event(strip_ansi(line))
        return len(text)

    def flush(self) -> None:
        self._log.flush()
        self._terminal.flush()

    def _say(self, text: str) -> None:
        self._terminal.write(text + "\n")
        self._terminal.flush()

    def _event(self, line: str) -> None:
        if match := _EXCEPTION.match(line):
            self.last_exception = match.group(1).strip()
        elif match := _START.search(line):
            name = match.group(1)
            self._started[name] = self._clock()
            self._say(f"  ▸ {name:<17} started")
        elif match := _CACHED.search(line):
            name = match.group(1)
            self._started.pop(name, None)
            self.steps[name] = StepRecord(cached=True, seconds=0.0)
            self._say(f"  ✓ {name:<17} cached")
        elif match := _FINISHED.search(line):
            name, status = match.groups()
            now = self._clock()
            seconds = round(now - self._started.pop(name, now), 2)
            self.steps[name] = StepRecord(cached=False, seconds=seconds, status=status)
            mark = "✓" if status == "SUCCESS" else "✗"
            self._say(f"  {mark} {name:<17} {'ran' if status == 'SUCCESS' else status.lower():<7} {seconds:7.1f} s")
