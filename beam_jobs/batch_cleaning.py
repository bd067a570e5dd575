"""Cleaning a record batch of raw cell text at once: typed clean rows, their split keys, and the rejected rows.

The rules and messages are :mod:`beam_jobs.cleaning`'s; this module applies them column by column with
pyarrow.compute and numpy. Cells in the usual shapes (``12``, ``-3.5``, ``1e-3``, empty) are typed in bulk; any
other cell (``+1``, `` 7 ``, ``NaN``, ``abc``) goes through :func:`beam_jobs.cleaning.parse_value`, so the
outcome equals :func:`beam_jobs.cleaning.clean_row` cell for cell. Rejected rows are few: their messages are
built row by row. Bytes that are not valid UTF-8 (marked by :mod:`beam_jobs.csv_source`) reject their row as
``bad_encoding`` and are shown as ``\\xNN`` in the quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_jobs.cleaning import (
    FLOAT32_MAX,
    Rejection,
    bad_encoding,
    bad_label,
    bad_number,
    is_missing,
    join_reasons,
    missing_action,
    missing_rejection,
    parse_value,
)
from beam_jobs.contract import LABEL_VALUES, Columns, ColumnSpec
from beam_jobs.csv_source import MARKED, InvalidLine, decode_marked, has_marks, show_marked

# Texts that Arrow's casts and Python's int()/float() read as the same number; anything else goes to Python.
_FAST_INT = r"^-?[0-9]{1,18}$"
_FAST_FLOAT = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
ARROW_TYPES = {"float": pa.float32(), "int": pa.int64(), "string": pa.binary()}


@dataclass(frozen=True)
class QuarantinedRow:
    """A rejected input record: the first rejection's kind, every reason, its non-empty cells, its raw text, and
    its record number in the file (see :mod:`beam_jobs.csv_source`)."""

    kind: str
    reason: str
    cells: dict[str, str]
    raw: str | None = None
    line: int | None = None

    @classmethod
    def of(
        cls, rejections: list[Rejection], cells: dict[str, str], raw: str | None = None, line: int | None = None
    ) -> QuarantinedRow:
        """A quarantined row from its rejections, in column order."""
        return cls(rejections[0].kind, join_reasons(rejections), cells, raw, line)

    @classmethod
    def unsplit(cls, invalid: InvalidLine, rejection: Rejection) -> QuarantinedRow:
        """A record that did not split (``rejection`` says how), rejected first for bad bytes if it has some."""
        if has_marks(invalid.text):
            return cls.of([bad_encoding("the line"), rejection], {}, show_marked(invalid.text), invalid.number)
        return cls.of([rejection], {}, invalid.text, invalid.number)

    def to_json(self, source: str) -> str:
        """The quarantine line: ``{"source", "line", "kind", "reason", "row"[, "raw"]}``."""
        record: dict[str, object] = {"source": source, "kind": self.kind, "reason": self.reason, "row": self.cells}
        if self.line is not None:
            record["line"] = self.line
        if self.raw is not None:
            record["raw"] = self.raw
        return json.dumps(record, sort_keys=True)


@dataclass(frozen=True)
class CleanedBatch:
    """The outcome of one batch: every input row is in exactly one of ``values`` and ``quarantined``."""

    values: pa.RecordBatch  # the clean rows' kept columns, typed (float32, int64, binary); null = missing
    keys: list[bytes]  # the split key of each clean row, UTF-8
    quarantined: list[QuarantinedRow]
    lines: np.ndarray | None = None  # the record number of each clean row, when the batch's were given


def kept_schema(columns: Columns) -> pa.Schema:
    """The schema of :attr:`CleanedBatch.values`: the kept columns, typed."""
    return pa.schema([(name, ARROW_TYPES[spec.value_type]) for name, spec in columns.kept.items()])


@dataclass
class _Typed:
    """One kept column of a batch, typed, with the rows it rejects."""

    values: pa.Array
    rejected: np.ndarray  # bool per row
    kinds: np.ndarray  # per row: 0 ok, 1 missing, 2 bad number, 3 bad label
    key_text: pa.Array | None = None  # the split key's text (only for the key column)


_OK, _MISSING, _BAD_NUMBER, _BAD_LABEL = 0, 1, 2, 3


def _decode(cells: pa.RecordBatch, marked: bool) -> tuple[dict[str, pa.Array], dict[int, str]]:
    """Every column as UTF-8 text, and the rows (with their first such column) holding bytes that are not UTF-8.

    Marked bytes are only looked for when ``marked`` (the search costs about half of reading the file).
    """
    text: dict[str, pa.Array] = {}
    invalid: dict[int, str] = {}
    for name, column in zip(cells.schema.names, cells.columns, strict=True):
        try:
            text[name] = column.cast(pa.string())
            if not marked:
                continue
        except pa.ArrowInvalid:  # raw bytes not read through the marking codec
            text[name] = pa.array([decode_marked(raw) for raw in column.to_pylist()], pa.string())
        found = pc.match_substring_regex(text[name], MARKED).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(found).tolist():
            invalid.setdefault(i, name)
    return text, invalid


def _to_numbers(text: pa.Array, column_type: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, present, bad) of a numeric column: float64 or int64 values, valid where ``present``."""
    n = len(text)
    fast = pc.match_substring_regex(text, _FAST_INT if column_type == "int" else _FAST_FLOAT)
    target = pa.int64() if column_type == "int" else pa.float64()
    try:
        values = pc.cast(pc.if_else(fast, text, pa.scalar("0")), target).to_numpy(zero_copy_only=False).copy()
        present = fast.to_numpy(zero_copy_only=False).copy()
    except pa.ArrowInvalid:  # a shape Arrow does not read after all: every cell goes through Python
        values = np.zeros(n, dtype=np.int64 if column_type == "int" else np.float64)
        present = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    empty = pc.equal(text, pa.scalar("")).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~present & ~empty).tolist():
        cell = text[i].as_py()
        if is_missing(cell, column_type):
            continue
        try:
            values[i] = parse_value(cell, column_type)
        except ValueError:
            bad[i] = True
            continue
        present[i] = True
    if column_type == "float":  # NaN, inf, and finite values that float32 cannot hold (they would become inf)
        unheld = present & ~(np.abs(values) <= FLOAT32_MAX)
        bad |= unheld
        present &= ~unheld
    return values, present, bad


def _type_column(name: str, spec: ColumnSpec, text: pa.Array, raw: pa.Array, is_key: bool) -> _Typed:
    """Type one kept column under its missing-value rule."""
    n = len(text)
    kinds = np.zeros(n, dtype=np.int8)
    action = missing_action(spec)
    key_text = None
    if spec.value_type == "string":
        present = pc.not_equal(text, pa.scalar("")).to_numpy(zero_copy_only=False)
        values: pa.Array = raw
        if action == "fill":
            values = pc.if_else(pa.array(present), raw, pa.scalar(str(spec.missing.value).encode("utf-8")))
            present = np.ones(n, dtype=bool)
        if is_key:
            key_text = values
        kinds[~present] = _MISSING if action == "reject" else _OK
        typed = pc.if_else(pa.array(present), values, pa.scalar(None, pa.binary()))
    else:
        numbers, present, bad = _to_numbers(text, spec.type)
        kinds[bad] = _BAD_NUMBER
        missing = ~present & ~bad
        if action == "reject":
            kinds[missing] = _MISSING
        elif action == "fill":
            numbers[missing] = spec.missing.value
            present = present | missing
        if spec.role == "label":
            kinds[present & ~np.isin(numbers, LABEL_VALUES)] = _BAD_LABEL
        if is_key:
            key_text = pa.array([str(v) for v in numbers.tolist()], pa.string()).cast(pa.binary())
        with np.errstate(over="ignore"):  # rejected cells may hold values beyond float32; they are masked
            stored = numbers.astype(np.float32) if spec.type == "float" else numbers
        typed = pa.array(stored, type=ARROW_TYPES[spec.value_type], mask=~present)
    return _Typed(typed, kinds != _OK, kinds, key_text)


def _whole_row_keys(text: dict[str, pa.Array], columns: Columns) -> pa.Array:
    """``name=text`` of every column by name, joined by ``\\x1f`` (as :func:`beam_jobs.cleaning.whole_row_key`)."""
    parts = [pc.binary_join_element_wise(pa.scalar(f"{name}="), text[name], "") for name in sorted(columns.columns)]
    return pc.binary_join_element_wise(*parts, "\x1f").cast(pa.binary())


def clean_batch(
    cells: pa.RecordBatch, columns: Columns, lines: Sequence[int] | None = None, marked: bool = True
) -> CleanedBatch:
    """Clean a batch of raw cells (binary columns named as the header): type kept columns, reject bad rows.

    ``lines``, the record number of each row, is carried into the quarantined rows; ``marked`` False says no cell
    holds a byte marked as not UTF-8 (:attr:`beam_jobs.csv_source.CsvChunk.marked`).
    """
    n = cells.num_rows
    text, invalid = _decode(cells, marked)
    key = columns.key
    typed = {
        name: _type_column(name, spec, text[name], cells.column(name), name == key)
        for name, spec in columns.kept.items()
    }
    rejected = np.zeros(n, dtype=bool)
    for column in typed.values():
        rejected |= column.rejected
    if invalid:
        rejected[list(invalid)] = True
    quarantined = _quarantine(np.flatnonzero(rejected), text, typed, invalid, columns, lines)
    keep = pa.array(~rejected)
    values = pa.RecordBatch.from_arrays([c.values for c in typed.values()], names=list(typed)).filter(keep)
    if key is not None:
        key_text = typed[key].key_text
        assert key_text is not None
        keys = key_text.filter(keep)
    else:
        keys = _whole_row_keys({name: text[name].filter(keep) for name in columns.columns}, columns)
    kept_lines = None if lines is None else np.asarray(lines, dtype=np.int64)[~rejected]
    return CleanedBatch(values, keys.to_pylist(), quarantined, kept_lines)


def _quarantine(
    rows: np.ndarray,
    text: dict[str, pa.Array],
    typed: dict[str, _Typed],
    invalid: dict[int, str],
    columns: Columns,
    lines: Sequence[int] | None,
) -> list[QuarantinedRow]:
    """The rejected rows with every reason, in column order, and their non-empty cells."""
    if not len(rows):
        return []
    indices = pa.array(rows)
    cells = pa.RecordBatch.from_arrays([t.take(indices) for t in text.values()], names=list(text)).to_pylist()
    kept = columns.kept
    out = []
    for row, row_cells in zip(rows.tolist(), cells, strict=True):
        present = {name: value for name, value in row_cells.items() if value != ""}
        line = None if lines is None else int(lines[row])
        if row in invalid:
            shown = {name: show_marked(value) for name, value in present.items()}
            out.append(QuarantinedRow.of([bad_encoding(f"column '{invalid[row]}'")], shown, line=line))
            continue
        rejections = []
        for name, column in typed.items():
            kind = column.kinds[row]
            if kind == _MISSING:
                rejections.append(missing_rejection(name, kept[name]))
            elif kind == _BAD_NUMBER:
                rejections.append(bad_number(name, kept[name], row_cells[name]))
            elif kind == _BAD_LABEL:
                rejections.append(bad_label(name, row_cells[name]))
        out.append(QuarantinedRow.of(rejections, present, line=line))
    return out
