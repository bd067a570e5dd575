"""Reading TFRecord framing, defined once: every reader of TFRecord files (ingest's tf.Example input, preprocess's
raw examples, push's sample for the serving check) gets its records here, each checksum verified.

A record is its length (uint64, little-endian), the masked crc32c of those 8 bytes, the data, and the masked crc32c
of the data (:mod:`beam_jobs.tfrecord_checksum`). The reader takes a stream the caller opened (and decompressed as it
sees fit), so it imports neither Beam nor TensorFlow. A truncated or corrupt record is a :class:`CorruptRecordError`
naming the file and the record (numbered from 1).
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO

from beam_jobs.tfrecord_checksum import crc32c_function, mask

FRAME_HEADER = struct.Struct("<QI")  # a record starts with its length and the masked crc32c of the length
FRAME_FOOTER = struct.Struct("<I")  # and ends with the masked crc32c of its data
READ_BYTES = 16 << 20


class CorruptRecordError(ValueError):
    """A TFRecord file is truncated or fails a checksum; one line naming the file and the record."""


def read_framed(
    stream: BinaryIO,
    path: str,
    *,
    batch_records: int | None = None,
    batch_bytes: int | None = None,
    read_bytes: int = READ_BYTES,
) -> Iterator[list[bytes]]:
    """The records of an open TFRecord ``stream`` (named ``path`` in errors), in file order, in batches that end at
    ``batch_records`` records or once they hold ``batch_bytes`` bytes of records (all the records in one batch when
    neither is given); ``stream`` is read ``read_bytes`` at a time."""
    most_records = batch_records or sys.maxsize
    most_bytes = batch_bytes or sys.maxsize
    crc = crc32c_function()
    header_size, footer_size = FRAME_HEADER.size, FRAME_FOOTER.size
    unpack_header, unpack_footer = FRAME_HEADER.unpack_from, FRAME_FOOTER.unpack_from
    length_crcs: dict[int, int] = {}  # the masked crc of the 8-byte length, by length: lengths repeat, crcs cost
    batch: list[bytes] = []
    held = 0  # bytes of records in the batch
    done = 0  # records yielded in earlier batches
    offset = 0  # of ``data`` in the stream
    pending = b""
    while chunk := stream.read(read_bytes):
        data = pending + chunk if pending else chunk
        position, size = 0, len(data)
        while size - position >= header_size:
            length, length_crc = unpack_header(data, position)
            expected = length_crcs.get(length)
            if expected is None:
                expected = length_crcs[length] = mask(crc(data[position : position + 8]))
            if expected != length_crc:  # checked first: a damaged length must not make it wait for more data
                raise _corrupt(path, "length", offset + position, done + len(batch) + 1)
            start = position + header_size
            stop = start + length
            if stop + footer_size > size:
                break
            record = data[start:stop]
            if mask(crc(record)) != unpack_footer(data, stop)[0]:
                raise _corrupt(path, "record", offset + position, done + len(batch) + 1)
            batch.append(record)
            held += length
            if held >= most_bytes or len(batch) >= most_records:
                done += len(batch)
                yield batch
                batch, held = [], 0
            position = stop + footer_size
        pending = data[position:]
        offset += position
    if pending:
        raise CorruptRecordError(
            f"{path}: {len(pending)} trailing bytes are not a whole record (record {done + len(batch) + 1}; "
            "truncated file?)"
        )
    if batch:
        yield batch


def _corrupt(path: str, part: str, position: int, number: int) -> CorruptRecordError:
    return CorruptRecordError(f"{path}: bad {part} checksum at byte {position} (record {number})")
