"""A plain-text log stream: kfp.local colours task names and statuses with ANSI codes, which a log file should not
hold (they garble ``grep``, editors and log shippers)."""

from __future__ import annotations

import io
import re
from typing import TextIO

from pipelines.progress import strip_ansi

# The unfinished start of a colour code at the end of a write (\x1b, \x1b[, \x1b[9, ...): held until the next write.
_PARTIAL = re.compile(r"\x1b(?:\[[0-9;]*)?\Z")


class PlainLog(io.TextIOBase):
    """Writes to ``out`` with colour codes removed, also when a code is split across two writes. The local runner
    wraps the run's log file with it: ``ProgressTap(PlainLog(log), terminal)``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._held = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = self._held + text
        partial = _PARTIAL.search(pending)
        self._held = partial.group(0) if partial else ""
        self._out.write(strip_ansi(pending[: len(pending) - len(self._held)]))
        return len(text)

    def flush(self) -> None:
        self._out.flush()  # a held partial code stays held: the rest of it is still to come
