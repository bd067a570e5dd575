"""Recognising a full disk in a failed step's last exception line, whichever library raised it.

Python says ``OSError: [Errno 28] No space left on device: '/path'``, TensorFlow
``ResourceExhaustedError: {{function_node ...}} /path.tempstate123; No space left on device [Op:SaveV2]``, Beam wraps
either in its own text. All of them carry the kernel's message for the errno and, mostly, the path being written.
"""

from __future__ import annotations

import errno
import os
import re
import shutil

STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# An absolute path as these messages quote it: up to a space, quote, comma, semicolon or bracket.
_PATH = re.compile(r"(?<![\w.])(/[^\s'\",;\[\]{}]+)")


def storage_failure(text: str, root: str | os.PathLike[str]) -> str | None:
    """``"<kernel message> writing <path>"`` when ``text`` reports a full disk or quota, else None.

    The path is the first absolute path in ``text``. Without one (Beam often drops it), the free space left on
    ``root``, the pipeline root, says whether that is the disk that filled.
    """
    for number in STORAGE_ERRNOS:
        message = os.strerror(number)
        if message in text:
            if path := _PATH.search(text):
                return f"{message} writing {path.group(1)}"
            try:
                free = shutil.disk_usage(root).free
            except OSError:
                return message
            return f"{message} (pipeline root {root}: {free / 2**20:.1f} MiB free)"
    return None
