"""Streaming one CSV file as Arrow record batches of raw cell text, through Beam's filesystems.

Every column is read as bytes so that nothing is typed or lost here: typing and quarantine are the
cleaner's job (:mod:`beam_jobs.batch_cleaning`). A quoted field may span lines (it is one record), and a
record with the wrong number of fields is handed back with its raw text instead of failing the file.

A gzip file is recognised by its content, whatever its name. Bytes that are not valid UTF-8 never fail the file:
each arrives as the private-use character ``U+F700 + byte`` (see :func:`marked_codec`), so cleaning can quarantine
its record as ``bad_encoding``. Records are numbered as pyarrow counts them: the header is record 1, a quoted
record spanning lines counts once and blank lines are not counted (in a file with neither, the record number is
the line number).
"""

from __future__ import annotations

import codecs
import csv
import functools
import re
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from pyarrow import csv as pa_csv

DEFAULT_BLOCK_BYTES = 8 << 20  # bytes of CSV parsed per record batch
GZIP_MAGIC = b"\x1f\x8b"
MARKED_CODEC = "utf-8-marked"
MARK_BASE = 0xF700  # a byte b that is not valid UTF-8 is read as chr(MARK_BASE + b)
MARKED = "[\uf700-\uf7ff]"  # a regular expression matching a marked byte
_MARKED_RE = re.compile(MARKED)


class CsvHeaderError(ValueError):
    """The file has no readable header line (empty, not UTF-8, or not decompressible)."""


@dataclass(frozen=True)
class InvalidLine:
    """A record whose field count does not match the header, with its raw text and record number."""

    text: str
    fields: int
    number: int


@dataclass
class CsvChunk:
    """One parsed block of a file: the good records as text columns, and the records that did not split."""

    cells: pa.RecordBatch
    invalid: list[InvalidLine] = field(default_factory=list)
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # record number per cells row
    marked: bool = True  # False when no cell can hold a marked byte (nothing was marked since the file was opened)

    @property
    def records(self) -> int:
        """Records read in this chunk, split or not."""
        return self.cells.num_rows + len(self.invalid)


class _Stream:
    """A forward-only view of a Beam file handle that pyarrow accepts (Beam's CompressedFile has ``closed()`` as a
    method, which pyarrow reads as "closed")."""

    closed = False

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        return self._handle.read(size)

    def readable(self) -> bool:
        """Always."""
        return True

    def seekable(self) -> bool:
        """Never: compressed streams only go forward."""
        return False

    def close(self) -> None:
        """The underlying handle is closed by its owner."""


def open_file(path: str) -> BinaryIO:
    """``path`` opened for reading, decompressed when its content is gzip (whatever its name) or as its suffix says."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        magic = handle.read(len(GZIP_MAGIC))
    compression = CompressionTypes.GZIP if magic == GZIP_MAGIC else CompressionTypes.AUTO
    return FileSystems.open(path, compression_type=compression)


class _Marks:
    """How many runs of bad bytes this process has marked; it only grows, so a file whose reading leaves it
    unchanged has none (and cleaning skips looking for them)."""

    count = 0


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    """The decode error handler: each undecodable byte b becomes chr(MARK_BASE + b)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    _Marks.count += 1
    bad = error.object[error.start : error.end]
    return "".join(chr(MARK_BASE + b) for b in bad), error.end


class _MarkedDecoder(codecs.BufferedIncrementalDecoder):
    """UTF-8, incrementally, with bad bytes marked (pyarrow creates it with errors="strict", which is ignored)."""

    def _buffer_decode(self, data: bytes, errors: str, final: bool) -> tuple[str, int]:
        return codecs.utf_8_decode(data, MARKED_CODEC, final)


@functools.cache
def marked_codec() -> str:
    """The name of the codec "UTF-8 with bad bytes marked", registered on first use (once per process)."""
    codecs.register_error(MARKED_CODEC, _mark_bad_bytes)
    info = codecs.CodecInfo(
        codecs.utf_8_encode,
        lambda data, errors="strict": codecs.utf_8_decode(data, MARKED_CODEC, True),
        incrementaldecoder=_MarkedDecoder,
        name=MARKED_CODEC,
    )
    names = {MARKED_CODEC, MARKED_CODEC.replace("-", "_")}  # Python normalises the name it looks up
    codecs.register(lambda name: info if name in names else None)
    return MARKED_CODEC


def decode_marked(data: bytes) -> str:
    """``data`` as UTF-8 text, each byte that is not valid UTF-8 marked."""
    return data.decode("utf-8", marked_codec())


def has_marks(text: str) -> bool:
    """True when ``text`` holds a marked (undecodable) byte."""
    return _MARKED_RE.search(text) is not None


def show_marked(text: str) -> str:
    """``text`` with each marked byte shown as ``\\xNN``, for people reading the quarantine."""
    return _MARKED_RE.sub(lambda m: f"\\x{ord(m.group()) - MARK_BASE:02x}", text)


def read_header(path: str) -> list[str]:
    """The column names on the first line of a CSV file, stripped of surrounding whitespace."""
    try:
        with open_file(path) as handle:
            line = handle.readline()
    except (OSError, EOFError, zlib.error) as error:
        raise CsvHeaderError(f"{path}: cannot read the header line: {error}") from error
    try:
        first = line.decode("utf-8-sig")  # a byte order mark is not part of the first name
    except UnicodeDecodeError as error:
        raise CsvHeaderError(f"{path}: the header line is not valid UTF-8 (byte {error.start})") from None
    if not first.strip():
        raise CsvHeaderError(f"{path}: the file is empty or has no header line")
    return [name.strip() for name in next(csv.reader([first]))]


def read_chunks(path: str, header: Sequence[str], block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[CsvChunk]:
    """Stream the data records of ``path`` (its header line skipped) in blocks of about ``block_bytes``.

    Blank lines are skipped. Memory stays at a few blocks whatever the file size.
    """
    invalid: deque[InvalidLine] = deque()  # filled by the parser (possibly from its own threads), drained here
    skipped: deque[int] = deque()  # the record numbers the parser did not put in a batch

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        skipped.append(row.number)
        if row.text.strip():
            invalid.append(InvalidLine(row.text, row.actual_columns, row.number))
        return "skip"

    def drain() -> list[InvalidLine]:
        drained = []
        while invalid:
            drained.append(invalid.popleft())
        return drained

    # One thread, so that the parser numbers the invalid rows; the codec marks bad bytes instead of failing.
    read_options = pa_csv.ReadOptions(
        column_names=list(header), skip_rows=1, block_size=block_bytes, use_threads=False, encoding=marked_codec()
    )
    parse_options = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid)
    convert_options = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.binary()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    marks = _Marks.count  # before opening: the reader decodes its first block at once
    with open_file(path) as handle:
        try:
            reader = pa_csv.open_csv(
                pa.PythonFile(_Stream(handle), mode="r"),
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
        except pa.ArrowInvalid:
            if _only_a_header(path):
                return
            raise
        numbering = _Numbering(skipped)
        for batch in reader:
            # A block is decoded before it is parsed, so its marks are counted by now (other files' marks, read in
            # other threads, only make this check a needless one).
            yield CsvChunk(batch, drain(), numbering.next(batch.num_rows), _Marks.count != marks)
        if invalid:
            yield CsvChunk(_empty(reader.schema), drain())


def _only_a_header(path: str) -> bool:
    """True when nothing but blank lines follows the header line (Arrow refuses to open such a file)."""
    with open_file(path) as handle:
        handle.readline()
        return not handle.read(1 << 16).strip()


class _Numbering:
    """The record numbers of the parsed rows, batch after batch: consecutive from 2 (the header is 1), except the
    numbers of the records the parser skipped."""

    def __init__(self, skipped: deque[int]) -> None:
        self._skipped = skipped  # appended to by the parser
        self._pending: list[int] = []  # skipped numbers not yet passed
        self._next = 2

    def next(self, rows: int) -> np.ndarray:
        """The numbers of the next ``rows`` parsed rows."""
        while self._skipped:
            self._pending.append(self._skipped.popleft())
        # Every pending number is >= self._next, so the first ``rows`` free numbers lie in this range.
        candidates = np.arange(self._next, self._next + rows + len(self._pending), dtype=np.int64)
        numbers = np.setdiff1d(candidates, np.array(self._pending, dtype=np.int64), assume_unique=True)[:rows]
        if rows:
            self._next = int(numbers[-1]) + 1
            self._pending = [n for n in self._pending if n >= self._next]
        return numbers


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
