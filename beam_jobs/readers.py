"""The reader of each ``data.format``: what is checked about a file before the job starts, and how it is streamed.

:func:`prepare` runs on the driver, file by file, so a wrong format, column set or column type stops the run at
once, naming the file: the content must look like the format (:mod:`beam_jobs.file_kind`), a CSV header or a
Parquet schema must list the config's columns. Its result (a CSV file's header) travels to :func:`read_chunks`,
which runs on the workers. JSON Lines and TFRecord rows carry their own field names and types, so those are
checked while reading.
"""

from __future__ import annotations

from collections.abc import Iterator

from beam_jobs import example_source, jsonl_source, parquet_source
from beam_jobs.batch_cleaning import QuarantinedRow
from beam_jobs.chunks import Chunk, IngestError, check_names
from beam_jobs.cleaning import wrong_column_count
from beam_jobs.contract import DATA_FORMATS, Columns
from beam_jobs.csv_source import CsvHeaderError
from beam_jobs.csv_source import read_chunks as read_csv_chunks
from beam_jobs.csv_source import read_header as read_csv_header
from beam_jobs.file_kind import check_content

Prepared = list[str] | None  # what read_chunks needs to know about a file: a CSV file's header, else nothing
OTHER_DELIMITERS = (";", "\t", "|")  # what a one-column header holding one of these was most likely split by


def check_format(data_format: str) -> str:
    """``data_format`` when ingest reads it; raises IngestError naming the formats otherwise."""
    if data_format not in DATA_FORMATS:
        raise IngestError(f"data.format {data_format!r} is not one of {', '.join(DATA_FORMATS)}")
    return data_format


def read_header(path: str) -> list[str]:
    """The column names on the first line of a CSV file."""
    try:
        return read_csv_header(path)
    except CsvHeaderError as error:
        raise IngestError(str(error)) from None


def prepare(path: str, data_format: str, columns: Columns) -> Prepared:
    """Check one file before the job: its content is ``data_format``, and its header or schema fits the config."""
    check_content(path, data_format)
    if data_format == "csv":
        header = read_header(path)
        _check_delimiter(path, header, columns)
        check_names(path, [name.strip() for name in header], columns, "header")
        return header
    if data_format == "parquet":
        parquet_source.check_schema(path, parquet_source.read_schema(path), columns)
    return None


def _check_delimiter(path: str, header: list[str], columns: Columns) -> None:
    """Raise IngestError when a one-column header looks split by another delimiter than the comma."""
    if len(header) != 1 or len(columns.columns) == 1 or header[0] in columns.columns:
        return
    held = [delimiter for delimiter in OTHER_DELIMITERS if delimiter in header[0]]
    if held:
        raise IngestError(f"{path}: the header is one column holding {held[0]!r}: bigtrain reads comma-separated CSV")


def read_chunks(path: str, data_format: str, columns: Columns, prepared: Prepared, block_bytes: int) -> Iterator[Chunk]:
    """Stream one file as chunks of cell text, whatever its format."""
    if data_format == "csv":
        assert prepared is not None
        fields = len(prepared)
        for chunk in read_csv_chunks(path, prepared, block_bytes):
            unsplit = [QuarantinedRow.unsplit(line, wrong_column_count(fields, line.fields)) for line in chunk.invalid]
            yield Chunk(chunk.cells, chunk.numbers, unsplit, chunk.marked)
    elif data_format == "parquet":
        yield from parquet_source.read_chunks(path, columns, block_bytes)
    elif data_format == "jsonl":
        yield from jsonl_source.read_chunks(path, columns, block_bytes)
    else:
        yield from example_source.read_chunks(path, columns, block_bytes)
