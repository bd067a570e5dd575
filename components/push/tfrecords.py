"""Reading a few records from gzipped TFRecord files without TensorFlow (push samples examples for its serving
check; importing TensorFlow for that would cost the push process seconds).

The framing and its checksums are :mod:`beam_jobs.tfrecord_framing`'s (no Beam, no TensorFlow), so a corrupt file
is a :class:`~beam_jobs.tfrecord_framing.CorruptRecordError` naming the file and record here, not a confusing error in
the serving check.
"""

from __future__ import annotations

import glob
import gzip
from collections.abc import Iterator

from beam_jobs.tfrecord_framing import read_framed

_READ_BYTES = 1 << 16  # push wants a few records: read little ahead of them


def iter_records(path: str) -> Iterator[bytes]:
    """The records of one gzipped TFRecord file, checksums verified."""
    with gzip.open(path, "rb") as handle:
        for (record,) in read_framed(handle, path, batch_records=1, read_bytes=_READ_BYTES):
            yield record


def sample_records(pattern: str, count: int) -> list[bytes]:
    """Up to ``count`` records from the local files matching ``pattern``, in file-name order."""
    sample: list[bytes] = []
    for path in sorted(glob.glob(pattern)):
        for record in iter_records(path):
            if len(sample) >= count:
                return sample
            sample.append(record)
    return sample
