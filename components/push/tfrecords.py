"""Reading a few records from gzipped TFRecord files without TensorFlow (push samples examples for its serving
check; importing TensorFlow for that would cost the push process seconds).

A TFRecord is: length (uint64 little-endian), masked CRC32C of the length, the data, masked CRC32C of the data.
Both checksums are verified, so a corrupt file is an error here, not a confusing one in the serving check.
"""

from __future__ import annotations

import glob
import gzip
import struct
from collections.abc import Iterator

from beam_jobs.tfrecord_checksum import crc32c_function, mask


class CorruptRecordError(ValueError):
    """A TFRecord file is truncated or fails its checksum; the message names the file."""


def _masked_crc(data: bytes) -> int:
    return mask(crc32c_function()(data))


def iter_records(path: str) -> Iterator[bytes]:
    """The records of one gzipped TFRecord file, checksums verified."""
    with gzip.open(path, "rb") as handle:
        while header := handle.read(12):
            if len(header) < 12:
                raise CorruptRecordError(f"{path}: truncated record header")
            length, length_crc = struct.unpack("<QI", header)
            if _masked_crc(header[:8]) != length_crc:
                raise CorruptRecordError(f"{path}: record length fails its checksum")
            data, footer = handle.read(length), handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise CorruptRecordError(f"{path}: truncated record")
            if _masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise CorruptRecordError(f"{path}: record data fails its checksum")
            yield data


def sample_records(pattern: str, count: int) -> list[bytes]:
    """Up to ``count`` records from the local files matching ``pattern``, in file-name order."""
    sample: list[bytes] = []
    for path in sorted(glob.glob(pattern)):
        for record in iter_records(path):
            if len(sample) >= count:
                return sample
            sample.append(record)
    return sample
