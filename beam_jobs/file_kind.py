"""What a file's first bytes say it is, so that a file read as the wrong format fails at once, naming the file.

Parquet starts with ``PAR1``, a TFRecord with a length and that length's masked crc32c, JSON Lines with ``{`` and
anything else that is text is taken for CSV. gzip (recognised by its magic, whatever the name) is looked into.
"""

from __future__ import annotations

import codecs
import zlib

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_jobs.chunks import IngestError
from beam_jobs.csv_source import GZIP_MAGIC, open_file
from beam_jobs.tfrecord_checksum import crc32c_function, mask
from beam_jobs.tfrecord_framing import FRAME_HEADER

FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines", "tfrecord": "TFRecord"}
PARQUET_MAGIC = b"PAR1"
_HEAD_BYTES = 64


def _read_head(path: str, compressed: bool) -> bytes:
    if compressed:
        with open_file(path) as handle:
            return handle.read(_HEAD_BYTES)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read(_HEAD_BYTES)


def kind_of(head: bytes) -> str | None:
    """The format (a ``data.format`` value) that uncompressed ``head`` bytes look like; None when they look like
    none of them (binary of another kind). Empty bytes look like every format, and give ``""``."""
    if not head:
        return ""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if len(head) >= FRAME_HEADER.size:
        _, length_crc = FRAME_HEADER.unpack_from(head)
        if mask(crc32c_function()(head[:8])) == length_crc:
            return "tfrecord"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if text.startswith(b"{"):
        return "jsonl"
    if b"\0" in head:
        return None
    return "csv"


def check_content(path: str, data_format: str) -> None:
    """Raise IngestError when the content of ``path`` is not ``data_format`` (or is a gzip-compressed Parquet file,
    which cannot be read as a stream)."""
    try:
        raw = _read_head(path, compressed=False)
        compressed = raw.startswith(GZIP_MAGIC)
        head = _read_head(path, compressed=True) if compressed else raw
    except (OSError, EOFError, zlib.error) as error:
        raise IngestError(f"{path}: cannot read the file: {error}") from None
    found = kind_of(head)
    wanted = FORMAT_NAMES[data_format]
    if compressed and found == "parquet":
        raise IngestError(
            f"{path}: a gzip-compressed Parquet file cannot be streamed; decompress it (Parquet compresses its "
            "own columns)"
        )
    if found == data_format or (found == "" and data_format != "parquet"):
        return
    if found:
        shown = f"gzip-compressed {FORMAT_NAMES[found]}" if compressed else FORMAT_NAMES[found]
        raise IngestError(f"{path}: looks like {shown}, but data.format is {data_format}")
    raise IngestError(f"{path}: is not a {wanted} file (it starts with {raw[:8]!r})")
