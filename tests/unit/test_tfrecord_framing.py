"""The one TFRecord framing reader: batches by count or bytes across read boundaries, and one error naming the file,
the record and its byte for a corrupt or truncated record; importable without Beam or TensorFlow."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from beam_jobs.example_encoding import frame_records
from beam_jobs.tfrecord_framing import CorruptRecordError, read_framed

RECORDS = [b"r%d" % i * (i % 7) for i in range(40)]  # lengths repeat (the length checksum is cached by length)
FRAMED = frame_records(RECORDS)


def _read(data: bytes, **limits: int) -> list[list[bytes]]:
    return list(read_framed(io.BytesIO(data), "f.tfrecord", **limits))


def test_batches_by_count_or_bytes_whatever_the_read_size():
    for read_bytes in (1, 5, 33, 1 << 20):  # records straddle reads
        assert _read(FRAMED, read_bytes=read_bytes) == [RECORDS]
        by_count = _read(FRAMED, batch_records=16, read_bytes=read_bytes)
        assert [len(b) for b in by_count] == [16, 16, 8] and [r for b in by_count for r in b] == RECORDS
        by_bytes = _read(FRAMED, batch_bytes=50, read_bytes=read_bytes)
        assert [r for b in by_bytes for r in b] == RECORDS
        assert all(sum(map(len, b)) >= 50 for b in by_bytes[:-1])
        assert all(sum(map(len, b[:-1])) < 50 for b in by_bytes)
    assert _read(b"") == []


def _record_start(number: int) -> int:
    """The byte where record ``number`` (from 1) starts."""
    return len(frame_records(RECORDS[: number - 1]))


@pytest.mark.parametrize("read_bytes", [7, 1 << 20])
def test_damage_names_the_file_the_record_and_its_byte(read_bytes: int):
    start = _record_start(30)
    damage = {start + 9: "length", start + 5: "length", start + 12: "record", start + 12 + 3: "record"}
    for where, part in damage.items():  # the length's checksum, the length (2**40 more), the data, its checksum
        damaged = bytearray(FRAMED)
        damaged[where] ^= 1
        reader = read_framed(io.BytesIO(bytes(damaged)), "f.tfrecord", batch_records=8, read_bytes=read_bytes)
        assert sum(len(b) for b in (next(reader), next(reader), next(reader))) == 24  # the records before it
        with pytest.raises(CorruptRecordError) as raised:
            next(reader)
        assert str(raised.value) == f"f.tfrecord: bad {part} checksum at byte {start} (record 30)"
    for cut in (start + 3, start + 12 + 1, len(FRAMED) - 1):
        number = 30 if cut < len(FRAMED) - 1 else len(RECORDS)
        trailing = cut - _record_start(number)
        with pytest.raises(CorruptRecordError) as raised:
            _read(FRAMED[:cut], read_bytes=read_bytes)
        assert str(raised.value) == (
            f"f.tfrecord: {trailing} trailing bytes are not a whole record (record {number}; truncated file?)"
        )


def test_push_reads_records_without_importing_beam_or_tensorflow():
    code = (
        "import sys, components.push.tfrecords; "
        "print(sorted(m for m in ('apache_beam', 'tensorflow', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
