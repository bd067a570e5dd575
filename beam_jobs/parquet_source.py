"""Streaming one Parquet file as chunks of cell text, a batch of rows at a time, through Beam's filesystems.

The file's schema decides: its columns must be the config's columns, and each column's type must be one the
declared type takes (:mod:`beam_jobs.typed_text`); both are checked before any row is converted. Values become
cell text without loss, and records are numbered from 1 in file order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_jobs.chunks import Chunk, IngestError, check_names
from beam_jobs.contract import Columns
from beam_jobs.typed_text import check_type, to_text


def check_schema(path: str, schema: pa.Schema, columns: Columns) -> None:
    """Raise IngestError when the file's columns or their types do not fit the config."""
    check_names(path, schema.names, columns, "schema")
    for name, spec in columns.columns.items():
        check_type(path, name, spec.type, schema.field(name).type)


def read_schema(path: str) -> pa.Schema:
    """The Arrow schema of a Parquet file (its footer only)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        try:
            return pq.ParquetFile(handle).schema_arrow
        except pa.ArrowException as error:
            raise IngestError(f"{path}: cannot read the Parquet footer: {error}") from None


def read_chunks(path: str, columns: Columns, block_bytes: int) -> Iterator[Chunk]:
    """Stream the rows of ``path`` in batches of about ``block_bytes`` (as the file's metadata sizes its rows)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(path, parquet.schema_arrow, columns)
        metadata = parquet.metadata
        row_bytes = max(1, sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)))
        row_bytes = max(1, row_bytes // max(1, metadata.num_rows))
        names = list(columns.columns)
        first = 1
        for batch in parquet.iter_batches(batch_size=max(1, block_bytes // row_bytes), columns=names):
            cells = pa.RecordBatch.from_arrays([to_text(batch.column(name)) for name in names], names=names)
            yield Chunk(cells, np.arange(first, first + batch.num_rows, dtype=np.int64))
            first += batch.num_rows
