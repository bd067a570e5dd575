"""What every reader hands the cleaner, whatever the file format, and the error for a file that cannot be ingested.

A reader streams one file as :class:`Chunk` s: its readable records as a record batch of cell text (a binary column
per config column, empty = missing, so :func:`beam_jobs.batch_cleaning.clean_batch` applies the same rules to every
format), their record numbers, and the records it could not read, already rejected with their reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from beam_jobs.batch_cleaning import QuarantinedRow
from beam_jobs.contract import Columns


class IngestError(ValueError):
    """The input cannot be ingested as configured (no files, wrong format, columns or types); one line naming the
    file."""


@dataclass
class Chunk:
    """One block of a file: readable records as cell text, their numbers, and the records rejected while reading."""

    cells: pa.RecordBatch  # a binary column per config column, named as the config's columns
    numbers: np.ndarray  # the record number of each cells row (CSV: as the CSV reader counts; JSONL: line; else index)
    rejected: list[QuarantinedRow] = field(default_factory=list)
    marked: bool = False  # True when a cell may hold bytes marked as not UTF-8 (see beam_jobs.csv_source)

    @property
    def records(self) -> int:
        """Records read in this chunk, readable or not."""
        return self.cells.num_rows + len(self.rejected)


def merged(chunks: Sequence[Chunk]) -> Chunk:
    """One chunk of consecutive chunks of a file (every cells batch has the config's binary columns)."""
    if len(chunks) == 1:
        return chunks[0]
    names = chunks[0].cells.schema.names
    cells = pa.RecordBatch.from_arrays(
        [pa.concat_arrays([c.cells.column(name) for c in chunks]) for name in names], names=names
    )
    numbers = np.concatenate([c.numbers for c in chunks])
    return Chunk(cells, numbers, [row for c in chunks for row in c.rejected], any(c.marked for c in chunks))


def check_names(path: str, found: Sequence[str], columns: Columns, where: str) -> None:
    """Every column ``found`` in a file must be declared and every declared column present; ``where`` names the
    place the file lists its columns (``header``, ``schema``)."""
    declared = set(columns.columns)
    duplicated = sorted({name for name in found if found.count(name) > 1})
    if duplicated:
        raise IngestError(f"{path}: {where} repeats column(s) {duplicated}")
    undeclared = [name for name in found if name not in declared]
    if undeclared:
        raise IngestError(f"{path}: column(s) {undeclared} are in the data but not in the config's columns")
    absent = [name for name in columns.columns if name not in found]
    if absent:
        raise IngestError(f"{path}: config column(s) {absent} are missing from the data's {where}")


def undeclared_field(path: str, name: str, what: str) -> IngestError:
    """A schemaless record (JSON Lines, tf.Example) holding a ``what`` (key, feature) that is not a config column."""
    return IngestError(f"{path}: {what} {name!r} is in the data but not in the config's columns")
