"""A full disk recognised in the last exception line of a failed step, as each library words it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pipelines.storage_errors import storage_failure

NO_SPACE, QUOTA = os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT)
TF_SAVE = (
    "ResourceExhaustedError: {{function_node __wrapped__SaveV2_dtypes_43_device_/job:localhost/replica:0/task:0/"
    "device:CPU:0}} /runs/_checkpoints/ed3/backup/chief/ckpt-2_temp/part-00000.tempstate148; No space left on device "
    "[Op:SaveV2]"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (TF_SAVE, f"{NO_SPACE} writing /runs/_checkpoints/ed3/backup/chief/ckpt-2_temp/part-00000.tempstate148"),
        (f"OSError: [Errno 28] {NO_SPACE}: '/runs/x/part-0'", f"{NO_SPACE} writing /runs/x/part-0"),
        (f"OSError: [Errno 122] {QUOTA}: '/home/u/runs/a.json'", f"{QUOTA} writing /home/u/runs/a.json"),
    ],
)
def test_the_kernel_message_and_the_path_written(line: str, expected: str):
    assert storage_failure(line, "/runs") == expected


def test_without_a_path_the_pipeline_roots_free_space_says_which_disk(tmp_path: Path):
    said = storage_failure(f"OSError: [Errno 28] {NO_SPACE}", tmp_path)
    assert said is not None and said.startswith(f"{NO_SPACE} (pipeline root {tmp_path}: ")
    assert said.endswith(" MiB free)")


def test_other_errors_are_not_storage_failures():
    assert storage_failure("ValueError: could not convert string to float: 'x'", "/runs") is None
    assert storage_failure("PermissionError: [Errno 13] Permission denied: '/runs/a'", "/runs") is None
