"""Streaming one JSON Lines file (gzip by content) as chunks of cell text, a block of whole lines at a time.

Each line is one JSON object whose keys are config columns; a key that is not one is an error naming the file, an
absent key or ``null`` a missing value. A line that is not a JSON object, or holds an object or array as a value, is
quarantined as ``bad_json`` (bytes that are not UTF-8: ``bad_encoding``). A JSON string is cell text whatever the
column's type, so ``"12"`` in a number column is read like the CSV cell ``12`` and ``"abc"`` is a ``bad_number``;
other values must be of a kind the declared type takes (:mod:`beam_jobs.typed_text`) or the job stops naming the
file, line and column. Records are numbered by line (1-based; blank lines count but are no records).

pyarrow parses a block at once. Python's ``json``, line by line, is the reference for every value: it decides the
lines pyarrow refuses, or whose values need a closer look (a float in an int column, an integer beyond int64, a
nested value). A block pyarrow refuses is cut around those lines (:class:`_RefusedBlock`): pyarrow parses the lines
between them, and only the odd lines, or stretches where they are close together, go line by line, so one odd line
costs about itself, not its block. A piece pyarrow parses gives exactly the cells the reference would, so where a
block is cut changes nothing.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from beam_jobs.batch_cleaning import QuarantinedRow
from beam_jobs.chunks import Chunk, merged, undeclared_field
from beam_jobs.cleaning import Rejection, bad_encoding, bad_json
from beam_jobs.contract import Columns
from beam_jobs.csv_source import decode_marked, open_file, show_marked
from beam_jobs.typed_text import accepts, to_text, type_mismatch, value_kind

RAW_CHARS = 200  # of a line that is not a JSON object, the quarantine keeps this many characters
MIN_PIECE_LINES = 64  # fewer lines than this go line by line: a pyarrow parse costs about as much as that many
CLOSE_LINES = 2 * MIN_PIECE_LINES  # odd lines closer together go line by line, in stretches
_MAX_STRETCH_LINES = 8192  # the longest such stretch
_STOPPED_AT = re.compile(r" in row (\d+)$")  # how pyarrow's JSON reader names the record it stopped at


class _DuplicateKey(ValueError):
    """An object names the same key twice."""


def _blocks(path: str, block_bytes: int) -> Iterator[bytes]:
    """The file's bytes in blocks of whole lines (the last may lack its newline), a byte order mark dropped."""
    pending = b""
    first = True
    with open_file(path) as handle:
        while data := handle.read(block_bytes):
            data = pending + data
            if first:
                data, first = data.removeprefix(codecs.BOM_UTF8), False
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut]
            pending = data[cut:]
    if pending:
        yield pending


def read_chunks(path: str, columns: Columns, block_bytes: int) -> Iterator[Chunk]:
    """Stream the lines of ``path`` in blocks of about ``block_bytes``."""
    first = 1
    for block in _blocks(path, block_bytes):
        lines = block.split(b"\n")
        numbers = _numbers(lines, first)
        chunk = _parse_block(block, numbers, columns)
        if not isinstance(chunk, Chunk):
            stopped_at = int(numbers[chunk]) - first if chunk is not None and chunk < len(numbers) else None
            chunk = merged(list(_RefusedBlock(path, block, lines, first, columns).chunks(stopped_at)))
        yield chunk
        first += block.count(b"\n")


def _numbers(lines: list[bytes], first: int) -> np.ndarray:
    """The line numbers of the records among ``lines`` (the first is line ``first``; blank lines are no records)."""
    return np.array([first + i for i, line in enumerate(lines) if line.strip()], dtype=np.int64)


def _json_kind(value: Any) -> str:
    """The JSON type of a parsed value, as the type rules and messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return "bool"
    return {int: "int", float: "float", str: "string", dict: "object", list: "array"}[type(value)]


def _takes(declared: str, kind: str) -> bool:
    """A JSON string is cell text for any column; other kinds follow the type rules."""
    return kind == "string" or accepts(declared, kind)


def _read_table(data: bytes | pa.Buffer, columns: Columns) -> pa.Table | int | None:
    """pyarrow's parse of a block: text columns read as text (left to infer, pyarrow makes date-like strings
    timestamps), or, when one holds a number, everything inferred. When pyarrow refuses the block: the first record
    it stopped at (the records before it parse either way), if it says, else None."""
    text = pa.schema([(name, pa.string()) for name, spec in columns.columns.items() if spec.value_type == "string"])
    read_options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    stopped_at: list[int] = []
    for explicit in (text, None) if len(text) else (None,):
        try:
            parse_options = pa_json.ParseOptions(explicit_schema=explicit)
            return pa_json.read_json(pa.BufferReader(data), read_options=read_options, parse_options=parse_options)
        except pa.ArrowInvalid as error:
            found = _STOPPED_AT.search(str(error))
            if found is None:
                return None
            stopped_at.append(int(found.group(1)))
        except UnicodeDecodeError:
            return None
    return min(stopped_at)


def _accepted(data: bytes | pa.Buffer, records: int, columns: Columns) -> pa.Table | int | None:
    """pyarrow's parse of a block of ``records`` records when every value in it is one the fast path takes. Else the
    first record pyarrow stopped at or that holds a value it does not take, when known, or None."""
    table = _read_table(data, columns)
    if not isinstance(table, pa.Table):
        return table
    if table.num_rows != records:
        return None  # two objects on a line: the line-by-line parse names them
    odd = []
    for name in table.column_names:
        spec = columns.columns.get(name)
        column = table.column(name)
        kind = value_kind(column.type)
        if spec is not None and kind == "float" and spec.type != "float":
            values = column.to_numpy()  # a float, or an integer beyond int64 (pyarrow makes it a float); null: NaN
            odd.append(~np.isnan(values) & ((np.trunc(values) != values) | (np.abs(values) >= 2.0**63)))
        elif spec is None or kind is None or not _takes(spec.type, kind):
            odd.append(column.is_valid())  # an undeclared key, a nested value, a bool
    if not odd:
        return table
    rows = np.flatnonzero(np.logical_or.reduce([np.asarray(found, dtype=bool) for found in odd]))
    return int(rows[0]) if len(rows) else None


def _cells(table: pa.Table, columns: Columns) -> dict[str, pa.Array]:
    """The cell text of every config column of a table :func:`_accepted` returned."""
    empty = pa.array([b""] * table.num_rows, pa.binary())
    return {
        name: to_text(table.column(name).combine_chunks()) if name in table.column_names else empty
        for name in columns.columns
    }


def parse_block(path: str, block: bytes, numbers: np.ndarray, columns: Columns) -> Chunk | None:
    """The block parsed by pyarrow at once; None when pyarrow refuses it or a value needs :func:`_parsed_lines`."""
    chunk = _parse_block(block, numbers, columns)
    return chunk if isinstance(chunk, Chunk) else None


def _parse_block(block: bytes, numbers: np.ndarray, columns: Columns) -> Chunk | int | None:
    """:func:`parse_block`, or when pyarrow refuses the block, the record it stopped at, when known."""
    table = _accepted(block, len(numbers), columns)
    if not isinstance(table, pa.Table):
        return table
    return Chunk(pa.RecordBatch.from_pydict(_cells(table, columns)), numbers)


class _RefusedBlock:
    """A block pyarrow refused, read in pieces: pyarrow parses the lines up to the record it stopped at (or, when it
    does not say, each half of the piece), the odd line goes line by line, and so on from the line after it. Where
    odd lines are closer together than :data:`CLOSE_LINES`, a stretch of lines goes line by line, twice as long as
    the last one while they stay that close. A piece pyarrow parses is made exactly what :func:`_parsed_lines`
    makes of it (:meth:`_attempt`)."""

    def __init__(self, path: str, block: bytes, lines: list[bytes], first: int, columns: Columns) -> None:
        self._path, self._lines, self._first, self._columns = path, lines, first, columns
        self._buffer = pa.py_buffer(block)
        self._starts = np.zeros(len(lines) + 1, dtype=np.int64)  # the byte each line starts at
        np.cumsum([len(line) + 1 for line in lines], out=self._starts[1:])
        self._records = np.flatnonzero([bool(line.strip()) for line in lines])  # the lines that are records
        self._not_utf8 = self._lines_not_utf8(block)

    def _lines_not_utf8(self, block: bytes) -> np.ndarray:
        """The lines holding bytes that are not UTF-8 (pyarrow would keep them in a string; the reference quarantines
        the line)."""
        try:
            block.decode("utf-8")
            return np.zeros(0, dtype=np.int64)
        except UnicodeDecodeError:
            return np.array([i for i, line in enumerate(self._lines) if not _is_utf8(line)], dtype=np.int64)

    def chunks(self, stopped_at: int | None) -> Iterator[Chunk]:
        """The block's chunks, in line order; ``stopped_at`` is the line where pyarrow stopped, if it said."""
        todo: list[tuple[int, int, int | None]] = [(0, len(self._lines), stopped_at)]
        stretch = MIN_PIECE_LINES
        while todo:  # (lines lo:hi, the line pyarrow stopped at when it refused them, else -1 while untried)
            lo, hi, odd = todo.pop()
            if hi - lo <= MIN_PIECE_LINES:
                yield _parsed_lines(self._path, self._lines[lo:hi], self._first + lo, self._columns)
                continue
            if odd == -1:
                chunk = self._attempt(lo, hi)
                if isinstance(chunk, Chunk):
                    yield chunk
                    continue
                odd = chunk
            if odd is None:  # pyarrow did not say where: halves
                middle = (lo + hi) // 2
                todo += [(middle, hi, -1), (lo, middle, -1)]
            elif odd - lo < CLOSE_LINES:  # odd lines close together: a stretch line by line
                stop = min(hi, max(odd + 1, lo + stretch))
                stretch = min(2 * stretch, _MAX_STRETCH_LINES)
                yield _parsed_lines(self._path, self._lines[lo:stop], self._first + lo, self._columns)
                todo.append((stop, hi, -1))
            else:
                stretch = MIN_PIECE_LINES
                todo += [(odd + 1, hi, -1), (odd, odd + 1, -1), (lo, odd, -1)]

    def _attempt(self, lo: int, hi: int) -> Chunk | int | None:
        """Lines lo:hi parsed by pyarrow, exactly as the reference parses them; else the line pyarrow stopped at
        (or whose value it does not take), when known, or None."""
        not_utf8 = self._not_utf8[(self._not_utf8 >= lo) & (self._not_utf8 < hi)]
        if len(not_utf8):
            return int(not_utf8[0])
        first_record, end_record = np.searchsorted(self._records, [lo, hi])
        records = self._records[first_record:end_record]
        start, stop = int(self._starts[lo]), min(int(self._starts[hi]), self._buffer.size)
        table = _accepted(self._buffer.slice(start, stop - start), len(records), self._columns)
        if not isinstance(table, pa.Table):
            return int(records[table]) if table is not None and table < len(records) else None
        cells = _cells(table, self._columns)
        floats = [name for name in table.column_names if pa.types.is_floating(table.schema.field(name).type)]
        if floats:
            exact = _reference_floats(table, cells, floats, [self._lines[i] for i in records.tolist()])
            if exact is None:
                return None
            cells.update(exact)
        return Chunk(pa.RecordBatch.from_pydict(cells), records + self._first)


def _reference_floats(
    table: pa.Table, cells: dict[str, pa.Array], names: list[str], lines: list[bytes]
) -> dict[str, pa.Array] | None:
    """The float columns ``names`` of a piece's table as :func:`_parsed_lines` writes them, from pyarrow's ``cells``
    of them and the piece's ``lines`` (one per row). pyarrow writes the same shortest digits as ``repr``, but writes
    ``0.00001`` for ``1e-05`` and some numbers with an exponent that ``repr`` writes without: those are written with
    ``repr``. A whole number reads the same from ``1`` and ``1.0``, and the reference writes ``1`` or ``1.0`` as the
    line has it, so the line of a row holding one is parsed again with ``json``. None when such a line is not what
    pyarrow made of it."""
    exact: dict[str, pa.Array] = {}
    whole = np.zeros(table.num_rows, dtype=bool)
    for name in names:
        values = table.column(name).to_numpy()  # a null is NaN (JSON has none)
        whole |= np.trunc(values) == values
        texts = cells[name]
        other = (np.abs(values) < 1e-4) | np.asarray(pc.match_substring(texts, "e"), dtype=bool)
        other &= ~np.isnan(values) & (np.trunc(values) != values)
        if other.any():
            rows = np.flatnonzero(other)
            shortest = pa.array([repr(float(values[row])).encode() for row in rows], pa.binary())
            texts = pc.replace_with_mask(texts, pa.array(other), shortest)
        exact[name] = texts
    rows = np.flatnonzero(whole).tolist()
    if not rows:
        return exact
    patched = {name: exact[name].to_pylist() for name in names}
    for row in rows:
        try:
            record = json.loads(lines[row])
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        for name in names:
            value = record.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float | None):
                return None
            patched[name][row] = b"" if value is None else _cell_text(value).encode()
    return {name: pa.array(texts, pa.binary()) for name, texts in patched.items()}


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"key {key!r} appears twice")
            seen.add(key)
    return record


def _cell_text(value: Any) -> str:
    """A JSON value as cell text: numbers in their shortest round-trip form, strings as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)  # shown in the quarantine only
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else str(value)


def _shown(raw: bytes) -> str:
    return show_marked(decode_marked(raw.rstrip(b"\r")))[:RAW_CHARS]


def _parse_line(raw: bytes) -> dict[str, Any] | Rejection:
    """One line as a JSON object, or why it is not one."""
    try:
        record = json.loads(raw, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        return bad_encoding("the line")
    except json.JSONDecodeError as error:
        return bad_json(f"not valid JSON: {error.msg} at column {error.colno}")
    except (_DuplicateKey, RecursionError) as error:
        return bad_json(f"not a JSON object of single values: {error}")
    if not isinstance(record, dict):
        return bad_json(f"the line holds a JSON {_json_kind(record)}, not an object")
    return record


def _parsed_lines(path: str, lines: list[bytes], first: int, columns: Columns) -> Chunk:
    """The block parsed line by line with Python's ``json`` (the reference for every value)."""
    texts: dict[str, list[bytes]] = {name: [] for name in columns.columns}
    numbers: list[int] = []
    rejected: list[QuarantinedRow] = []
    for offset, raw in enumerate(lines):
        if not raw.strip():
            continue
        number = first + offset
        record = _parse_line(raw)
        if isinstance(record, Rejection):
            rejected.append(QuarantinedRow.of([record], {}, _shown(raw), number))
            continue
        nested = []
        for name, value in record.items():
            spec = columns.columns.get(name)
            if spec is None:
                raise undeclared_field(path, name, "key")
            kind = _json_kind(value)
            if kind in ("object", "array"):
                nested.append(bad_json(f"column '{name}' holds a JSON {kind}, not a single value"))
            elif not _takes(spec.type, kind):
                raise type_mismatch(f"{path}: line {number}", name, f"JSON {kind}", spec.type)
        if nested:
            cells = {name: _cell_text(value) for name, value in record.items() if value is not None}
            rejected.append(QuarantinedRow.of(nested, cells, line=number))
            continue
        numbers.append(number)
        for name, cells_of_column in texts.items():
            value = record.get(name)
            # surrogatepass: a lone surrogate escape becomes bytes that are not UTF-8, quarantined as bad_encoding
            cells_of_column.append(b"" if value is None else _cell_text(value).encode("utf-8", "surrogatepass"))
    cells = pa.RecordBatch.from_arrays([pa.array(v, pa.binary()) for v in texts.values()], names=list(texts))
    return Chunk(cells, np.array(numbers, dtype=np.int64), rejected)
