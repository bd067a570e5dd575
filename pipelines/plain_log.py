"""The run's log stream: plain text, and never the reason a run dies.

kfp.local colours task names and statuses with ANSI codes, which a log file should not hold (they garble ``grep``,
editors and log shippers). The log lives on the pipeline root: when that disk fills, the log stops there and keeps the
error, and the run goes on to fail, or not, for its own reasons.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TextIO

from pipelines.progress import strip_ansi

# The unfinished start of a colour code at the end of a write (\x1b, \x1b[, \x1b[9, ...): held until the next write.
_PARTIAL = re.compile(r"\x1b(?:\[[0-9;]*)?\Z")


class PlainLog(io.TextIOBase):
    """Writes to ``out`` with colour codes removed, also when a code is split across two writes. The local runner
    wraps the run's log file with it: ``ProgressTap(PlainLog(log), terminal)``.

    The first OSError from ``out`` (disk full, quota, I/O error) ends the log: it is kept in ``error`` and later
    writes are dropped.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._held = ""
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = self._held + text
        partial = _PARTIAL.search(pending)
        self._held = partial.group(0) if partial else ""
        self._guarded(self._out.write, strip_ansi(pending[: len(pending) - len(self._held)]))
        return len(text)

    def flush(self) -> None:
        self._guarded(self._out.flush)  # a held partial code stays held: the rest of it is still to come

    def close(self) -> None:
        """Flush and close ``out`` (its last flush may fail too)."""
        super().close()  # flushes first
        if not self._out.closed:
            try:
                self._out.close()
            except OSError as e:
                self.error = self.error or e

    def _guarded(self, call: Callable[..., object], *args: str) -> None:
        if self.error is not None:
            return
        try:
            call(*args)
        except OSError as e:
            self.error = e
