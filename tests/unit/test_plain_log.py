"""The run log is plain text: kfp.local's colour codes never reach bigtrain.log."""

from __future__ import annotations

import errno
import io
import os

from pipelines.plain_log import PlainLog
from pipelines.progress import ProgressTap

CYAN, RED, RESET = "\x1b[96m", "\x1b[91m", "\x1b[0m"


def test_colour_codes_are_dropped_also_when_split_across_writes():
    out = io.StringIO()
    log = PlainLog(out)
    for part in ("INFO - Executing task \x1b", f"[96m'ingest'{RESET}\n", "Task 'ingest' finished with status \x1b[9"):
        log.write(part)
    log.flush()
    assert out.getvalue() == "INFO - Executing task 'ingest'\nTask 'ingest' finished with status "
    log.write(f"1mFAILURE{RESET}\n")
    assert out.getvalue().endswith("finished with status FAILURE\n")
    assert "\x1b" not in out.getvalue()


def test_the_progress_tap_still_sees_the_steps_through_a_plain_log():
    out, terminal = io.StringIO(), io.StringIO()
    tap = ProgressTap(PlainLog(out), terminal)
    tap.write(f"12:00:00 - INFO - Executing task {CYAN}'train'{RESET}\n")
    tap.write(f"12:00:09 - ERROR - Task {CYAN}'train'{RESET} finished with status {RED}FAILURE{RESET}\n")
    assert out.getvalue() == (
        "12:00:00 - INFO - Executing task 'train'\n12:00:09 - ERROR - Task 'train' finished with status FAILURE\n"
    )
    assert tap.steps["train"].status == "FAILURE" and "train" in terminal.getvalue()


class _FullDisk(io.StringIO):
    """A file whose disk fills after ``room`` characters."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, text: str) -> int:
        if self.tell() + len(text) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(text)


def test_a_full_disk_ends_the_log_keeps_the_error_and_raises_nothing():
    out = _FullDisk(room=10)
    log = PlainLog(out)
    log.write("0123456789")
    log.write("more than fits\n")
    log.write("and this is dropped\n")
    log.flush()
    assert out.getvalue() == "0123456789"
    assert log.error is not None and log.error.errno == errno.ENOSPC
    log.close()
    assert out.closed and log.closed
