"""Streaming one TFRecord file of tf.Examples (gzip by content) as chunks of cell text, checksums verified.

Examples are decoded a batch at a time by tfx_bsl's C++ decoder without a schema (it infers each feature's list
type), so no TensorFlow is imported. Every feature must be a config column (else the job stops naming the file and
the feature); an absent feature, or one with no value, is a missing value. The feature's kind (``int64_list``,
``float_list``, ``bytes_list``) must be one the declared type takes (:mod:`beam_jobs.typed_text`), or the job stops
naming the file, record and feature. A feature with more than one value quarantines its row (``multiple_values``).
Records are numbered from 1 in file order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

from beam_jobs.batch_cleaning import QuarantinedRow
from beam_jobs.chunks import Chunk, IngestError, merged, undeclared_field
from beam_jobs.cleaning import multiple_values
from beam_jobs.contract import Columns
from beam_jobs.csv_source import decode_marked, open_file, show_marked
from beam_jobs.tfrecord_framing import CorruptRecordError, read_framed
from beam_jobs.typed_text import accepts, to_text, type_mismatch, value_kind

FEATURE_KINDS = {"int": "int64_list", "float": "float_list", "string": "bytes_list"}  # value kind → Feature field


def read_chunks(path: str, columns: Columns, block_bytes: int) -> Iterator[Chunk]:
    """Stream the examples of ``path`` in batches of about ``block_bytes``."""
    decoder = ExamplesToRecordBatchDecoder()
    first = 1
    for records in _records(path, block_bytes):
        try:
            batch = decoder.DecodeBatch(records)
        except RuntimeError:  # a record that is not a tf.Example, or a feature of two kinds in one batch
            numbered = enumerate(records, start=first)
            yield merged([_chunk(path, _decode_one(path, decoder, r, i), i, columns) for i, r in numbered])
        else:
            yield _chunk(path, batch, first, columns)
        first += len(records)


def _records(path: str, block_bytes: int) -> Iterator[list[bytes]]:
    """The records of ``path`` (gzip recognised by content) in batches of about ``block_bytes``; a truncated or
    corrupt file is an IngestError, which ingest reports in one line."""
    with open_file(path) as handle:
        try:
            yield from read_framed(handle, path, batch_bytes=block_bytes)
        except CorruptRecordError as error:
            raise IngestError(str(error)) from None


def _decode_one(path: str, decoder: ExamplesToRecordBatchDecoder, record: bytes, number: int) -> pa.RecordBatch:
    try:
        return decoder.DecodeBatch([record])
    except RuntimeError:
        raise IngestError(f"{path}: record {number} is not a tf.Example") from None


def _text(values: pa.Array) -> str:
    """A feature's values as people read them in the quarantine: one value as is, several as ``[a, b]``."""
    texts = [show_marked(decode_marked(t)) for t in to_text(values).to_pylist()]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _chunk(path: str, batch: pa.RecordBatch, first: int, columns: Columns) -> Chunk:
    """A decoded batch as cell text; rows with a feature holding several values rejected."""
    n = batch.num_rows
    for name in batch.schema.names:
        if name not in columns.columns:
            raise undeclared_field(path, name, "feature")
    cells: list[pa.Array] = []
    counts_of: dict[str, np.ndarray] = {}  # values per row, of the features where some row has several
    for name, spec in columns.columns.items():
        column = batch.column(name) if name in batch.schema.names else None
        if column is None or pa.types.is_null(column.type):
            cells.append(pa.array([b""] * n, pa.binary()))
            continue
        offsets = column.offsets.to_numpy()
        counts = np.diff(offsets)
        kind = value_kind(column.type.value_type)
        if not accepts(spec.type, kind):
            holding = np.flatnonzero(counts)
            if not len(holding):  # only empty lists: missing values, whatever their kind
                cells.append(pa.array([b""] * n, pa.binary()))
                continue
            where = f"{path}: record {first + int(holding[0])}"
            raise type_mismatch(where, name, FEATURE_KINDS.get(str(kind), str(column.type.value_type)), spec.type)
        single = counts == 1
        cells.append(to_text(column.values.take(pa.array(offsets[:-1], mask=~single))))
        if (counts > 1).any():
            counts_of[name] = counts
    names = list(columns.columns)
    numbers = np.arange(first, first + n, dtype=np.int64)
    if not counts_of:
        return Chunk(pa.RecordBatch.from_arrays(cells, names=names), numbers)
    several = np.zeros(n, dtype=bool)
    for counts in counts_of.values():
        several |= counts > 1
    rejected = []
    for row in np.flatnonzero(several).tolist():
        shown = {}
        for name in names:
            column = batch.column(name) if name in batch.schema.names else None
            if column is not None and not pa.types.is_null(column.type) and column[row].is_valid:
                values = column[row].values
                if len(values):
                    shown[name] = _text(values)
        reasons = [multiple_values(name, int(counts[row])) for name, counts in counts_of.items() if counts[row] > 1]
        rejected.append(QuarantinedRow.of(reasons, shown, line=first + row))
    keep = pa.array(~several)
    kept = pa.RecordBatch.from_arrays(cells, names=names).filter(keep)
    return Chunk(kept, numbers[~several], rejected)
