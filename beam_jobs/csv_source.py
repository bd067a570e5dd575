"""Streaming one CSV file as Arrow record batches of raw cell text, through Beam's filesystems.

Every column is read as bytes so that nothing is typed or lost here: typing and quarantine are the
cleaner's job (:mod:`beam_jobs.batch_cleaning`). A quoted field may span lines (it is one record), and a
record with the wrong number of fields is handed back with its raw text instead of failing the file.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from pyarrow import csv as pa_csv

DEFAULT_BLOCK_BYTES = 8 << 20  # bytes of CSV parsed per record batch


class CsvHeaderError(ValueError):
    """The file has no header line."""


@dataclass(frozen=True)
class InvalidLine:
    """A record whose field count does not match the header, with its raw text."""

    text: str
    fields: int


@dataclass
class CsvChunk:
    """One parsed block of a file: the good records as text columns, and the records that did not split."""

    cells: pa.RecordBatch
    invalid: list[InvalidLine] = field(default_factory=list)

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


def read_header(path: str) -> list[str]:
    """The column names on the first line of a CSV file, stripped of surrounding whitespace."""
    with FileSystems.open(path) as handle:
        first = handle.readline().decode("utf-8-sig")  # a byte order mark is not part of the first name
    if not first.strip():
        raise CsvHeaderError(f"{path}: the file is empty or has no header line")
    return [name.strip() for name in next(csv.reader([first]))]


def read_chunks(path: str, header: Sequence[str], block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[CsvChunk]:
    """Stream the data records of ``path`` (its header line skipped) in blocks of about ``block_bytes``.

    Blank lines are skipped. Memory stays at a few blocks whatever the file size.
    """
    invalid: deque[InvalidLine] = deque()  # filled by the parser (possibly from its own threads), drained here

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        if row.text.strip():
            invalid.append(InvalidLine(row.text, row.actual_columns))
        return "skip"

    def drain() -> list[InvalidLine]:
        drained = []
        while invalid:
            drained.append(invalid.popleft())
        return drained

    read_options = pa_csv.ReadOptions(column_names=list(header), skip_rows=1, block_size=block_bytes)
    parse_options = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid)
    convert_options = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.binary()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    with FileSystems.open(path) as handle:
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
        for batch in reader:
            yield CsvChunk(batch, drain())
        if invalid:
            yield CsvChunk(_empty(reader.schema), drain())


def _only_a_header(path: str) -> bool:
    """True when nothing but blank lines follows the header line (Arrow refuses to open such a file)."""
    with FileSystems.open(path) as handle:
        handle.readline()
        return not handle.read(1 << 16).strip()


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)
