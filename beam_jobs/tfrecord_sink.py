"""Writing TFRecord shards from a PCollection of already framed TFRecord bytes (one element per encoded batch).

Beam's ``WriteToTFRecord`` takes one element per record; bigtrain encodes and frames whole batches at once
(:mod:`beam_jobs.example_encoding`), so handing them to Beam one by one would cost more than encoding them. This
sink is a standard ``FileBasedSink`` (temporary files, then a rename at finalization), so it runs on every runner
and every filesystem Beam knows. A ``.gz`` suffix means gzip, compressed at zlib's default level (Beam's) in a
background thread, so a worker encodes the next batch while the last one is compressed.
"""

from __future__ import annotations

import queue
import threading
import zlib
from typing import BinaryIO

import apache_beam as beam
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.iobase import Write

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_QUEUED_WRITES = 2  # framed batches waiting for the compressor (bounds memory)


class BackgroundGzipWriter:
    """A write-only file object that gzips what it is given in its own thread (zlib releases the GIL)."""

    def __init__(self, raw: BinaryIO, level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        self._raw = raw
        self._level = level
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_WRITES)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._compress, name="gzip-writer", daemon=True)
        self._thread.start()

    def _compress(self) -> None:
        compressor = zlib.compressobj(self._level, zlib.DEFLATED, _GZIP_WBITS)
        try:
            while (data := self._queue.get()) is not None:
                self._raw.write(compressor.compress(data))
            self._raw.write(compressor.flush())
        except Exception as error:  # handed to the writing thread, which raises it
            self._error = error
            while self._queue.get() is not None:  # unblock the writer until close()
                pass

    def _check(self) -> None:
        if self._error is not None:
            raise OSError(f"compressing in the background failed: {self._error}") from self._error

    def write(self, data: bytes) -> None:
        """Queue ``data`` for compression."""
        self._check()
        if data:
            self._queue.put(data)

    def close(self) -> None:
        """Finish the gzip stream and close the underlying file."""
        self._queue.put(None)
        self._thread.join()
        self._raw.close()
        self._check()


class _FramedRecordsSink(filebasedsink.FileBasedSink):
    """A FileBasedSink whose elements are framed TFRecord bytes."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str) -> None:
        super().__init__(
            file_path_prefix,
            coder=None,
            file_name_suffix=file_name_suffix,
            mime_type="application/octet-stream",
            compression_type=CompressionTypes.AUTO,
        )
        self._gzip = CompressionTypes.detect_compression_type(file_name_suffix) == CompressionTypes.GZIP

    def open(self, temp_path: str) -> BinaryIO | BackgroundGzipWriter:
        """Open a temporary shard; gzip happens in a background thread."""
        if not self._gzip:
            return super().open(temp_path)
        return BackgroundGzipWriter(FileSystems.create(temp_path, self.mime_type, CompressionTypes.UNCOMPRESSED))

    def write_record(self, file_handle: BinaryIO | BackgroundGzipWriter, value: bytes) -> None:
        """Write one batch of framed records."""
        file_handle.write(value)


class WriteFramedRecords(beam.PTransform):
    """Write a PCollection of framed TFRecord ``bytes`` as shards ``<prefix>-SSSSS-of-NNNNN<suffix>``."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str) -> None:
        super().__init__()
        self._sink = _FramedRecordsSink(file_path_prefix, file_name_suffix)

    def expand(self, pcoll: beam.PCollection) -> beam.pvalue.PDone:
        """Apply the write."""
        return pcoll | Write(self._sink)
