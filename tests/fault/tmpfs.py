"""A real small filesystem for disk-full faults: a tmpfs, where this process may mount one (root, no seccomp)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def mounted_tmpfs(point: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``mount -o size=`` syntax, e.g. ``256k``) at ``point``; skip the test where this
    process may not mount one."""
    mount = shutil.which("mount")
    point.mkdir(parents=True, exist_ok=True)
    command = [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)] if mount else []
    made = command and subprocess.run(command, capture_output=True)
    if not made or made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip() if made else 'no mount command'}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "--lazy", str(point)], check=False)


def resize_tmpfs(point: Path, size: str) -> None:
    """Grow (or shrink) the tmpfs at ``point``, keeping its files: a disk that was freed up."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True, capture_output=True)
