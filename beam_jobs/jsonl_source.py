"""Streaming one JSON Lines file (gzip by content) as chunks of cell text, a block of whole lines at a time.

Each line is one JSON object whose keys are config columns; a key that is not one is an error naming the file, an
absent key or ``null`` a missing value. pyarrow parses a block at once; a block it refuses, or whose values need a
closer look (a float in an int column, an integer beyond int64, a nested value), is parsed line by line with
Python's ``json``, which decides. A line that is not a JSON object, or holds an object or array as a value, is
quarantined as ``bad_json`` (bytes that are not UTF-8: ``bad_encoding``). A JSON string is cell text whatever the
column's type, so ``"12"`` in a number column is read like the CSV cell ``12`` and ``"abc"`` is a ``bad_number``;
other values must be of a kind the declared type takes (:mod:`beam_jobs.typed_text`) or the job stops naming the
file, line and column. Records are numbered by line (1-based; blank lines count but are no records).
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from beam_jobs.batch_cleaning import QuarantinedRow
from beam_jobs.chunks import Chunk, undeclared_field
from beam_jobs.cleaning import Rejection, bad_encoding, bad_json
from beam_jobs.contract import Columns
from beam_jobs.csv_source import decode_marked, open_file, show_marked
from beam_jobs.typed_text import accepts, to_text, type_mismatch, value_kind

RAW_CHARS = 200  # of a line that is not a JSON object, the quarantine keeps this many characters


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
        numbers = np.array([first + i for i, line in enumerate(lines) if line.strip()], dtype=np.int64)
        yield parse_block(path, block, numbers, columns) or _parsed_lines(path, lines, first, columns)
        first += block.count(b"\n")


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


def _read_table(block: bytes, columns: Columns) -> pa.Table | None:
    """pyarrow's parse of a block: text columns read as text (left to infer, pyarrow makes date-like strings
    timestamps), or, when one holds a number, everything inferred; None when pyarrow refuses the block."""
    text = pa.schema([(name, pa.string()) for name, spec in columns.columns.items() if spec.value_type == "string"])
    read_options = pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1)
    for explicit in (text, None) if len(text) else (None,):
        try:
            parse_options = pa_json.ParseOptions(explicit_schema=explicit)
            return pa_json.read_json(io.BytesIO(block), read_options=read_options, parse_options=parse_options)
        except pa.ArrowInvalid:
            continue
        except UnicodeDecodeError:
            return None
    return None


def parse_block(path: str, block: bytes, numbers: np.ndarray, columns: Columns) -> Chunk | None:
    """The block parsed by pyarrow at once; None when pyarrow refuses it or a value needs :func:`_parsed_lines`."""
    table = _read_table(block, columns)
    if table is None:
        return None
    if table.num_rows != len(numbers) or any(name not in columns.columns for name in table.column_names):
        return None  # two objects on a line, or an undeclared key: the line-by-line parse names them
    cells = []
    for name, spec in columns.columns.items():
        if name not in table.column_names:
            cells.append(pa.array([b""] * table.num_rows, pa.binary()))
            continue
        column = table.column(name).combine_chunks()
        kind = value_kind(column.type)
        if kind is None or not _takes(spec.type, kind) or (kind == "float" and spec.type != "float"):
            return None  # a nested value, a bool, a float (or an integer beyond int64, which pyarrow makes a float)
        cells.append(to_text(column))
    return Chunk(pa.RecordBatch.from_arrays(cells, names=list(columns.columns)), numbers)


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
