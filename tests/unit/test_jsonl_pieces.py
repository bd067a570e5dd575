"""A JSON Lines block pyarrow refuses is cut into pieces and pyarrow retried on each, so a few odd lines cost their
neighbourhood, not the block. The result must be the one the whole block gives: pyarrow's parse of a block it takes,
else the line-by-line reference (``json``), whose texts pyarrow's pieces must match byte for byte (``1`` or ``1.0``
as written, ``1e-05`` where pyarrow writes ``0.00001``)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from beam_jobs import jsonl_source
from beam_jobs.chunks import Chunk, IngestError, merged
from beam_jobs.contract import parse_columns
from beam_jobs.jsonl_source import parse_block, read_chunks

COLUMNS = parse_columns(
    {
        "id": {"type": "string", "role": "key"},
        "x": {"type": "float", "missing": "mean"},
        "z": {"type": "float", "missing": {"fill": 0}},
        "n": {"type": "int", "missing": {"fill": 0}},
        "city": {"type": "string", "missing": {"fill": ""}},
        "y": {"type": "int", "role": "label"},
    }
)
FLOATS = ["0.0", "-0.0", "3", "3.0", "2.5", "1e-05", "2.5E3", "100000000000000000000", "1.0000000000000002", "5e-324",
          "123456789.125", "-17.75", "0.1", "1e16", "12345678901234567.5", "null"]  # fmt: skip
INTS = ["0", "-0", "7", "-12", "9223372036854775807", "null"]
TEXTS = ['"north"', '"Z\\u00fcrich"', '"say \\"hi\\""', '"2026-01-01"', '"12.5"', '""', "null", '"\\ud83d\\ude00"']
ODD = [  # lines the reference quarantines or keeps as text, which pyarrow refuses in their block
    '{"id": "o1", "x": "abc", "y": 1}',  # a string in a number column (a bad_number once cleaned)
    '{"id": "o2", "x": {"a": 1}, "y": 1}',
    "not json",
    "[1, 2]",
    '{"id": "o3", "id": "o4", "y": 0}',
    '{"id": "o5", "x": NaN, "y": 1}',
    '{"id": "o6", "n": 9223372036854775808, "y": 1}',  # beyond int64 in an int column
    '{"id": "o7", "y": 1} {"id": "o8", "y": 0}',
    '{"id": "o9", "city": "\\ud800", "y": 0}',  # a lone surrogate
    '{"id": "o10", "x": 1e400, "y": 1}',
    '{"id": 11, "city": "north", "y": 1}',  # a number in a text column of strings
    '{"id": "o12", "n": -9223372036854775808, "y": 1}',  # pyarrow reads the least int64 as a float
    b'{"id": "s\xffuth", "y": 1}'.decode("latin-1"),  # not UTF-8
]


def _clean_line(rng: random.Random, i: int) -> str:
    fields = {
        "id": f'"k{i}"',
        "x": rng.choice(FLOATS) if rng.random() < 0.3 else repr(round(rng.uniform(-1e4, 1e4), rng.randint(0, 6))),
        "z": rng.choice(INTS) if rng.random() < 0.5 else rng.choice(FLOATS),
        "n": rng.choice(INTS),
        "city": rng.choice(TEXTS),
        "y": rng.choice(["0", "1", "1", "2"]),
    }
    names = [name for name in fields if rng.random() > 0.1 or name == "id"]
    if rng.random() < 0.2:
        rng.shuffle(names)
    return "{" + ", ".join(f'"{name}": {fields[name]}' for name in names) + "}"


def _write(path: Path, count: int, odd_every: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        if i % odd_every == odd_every // 2:
            lines.append(rng.choice(ODD).encode("latin-1"))
        elif rng.random() < 0.01:
            lines.append(rng.choice([b"", b"   "]))  # blank lines count but are no records
        else:
            lines.append(_clean_line(rng, i).encode() + (b"\r" if rng.random() < 0.005 else b""))
    path.write_bytes(b"\n".join(lines))  # no newline at the end


def _today(path: str, block_bytes: int) -> list[Chunk]:
    """What each block gave before blocks were cut: pyarrow's parse of the whole block, or every line by json."""
    chunks, first = [], 1
    for block in jsonl_source._blocks(path, block_bytes):
        lines = block.split(b"\n")
        numbers = jsonl_source._numbers(lines, first)
        chunks.append(
            parse_block(path, block, numbers, COLUMNS) or jsonl_source._parsed_lines(path, lines, first, COLUMNS)
        )
        first += block.count(b"\n")
    return chunks


def _content(chunk: Chunk) -> tuple:
    return chunk.cells.to_pylist(), chunk.numbers.tolist(), chunk.rejected


@pytest.mark.parametrize("block_bytes", [2_000, 16_000, 1 << 20])
def test_odd_lines_scattered_in_clean_data_give_what_the_whole_block_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
):
    path = tmp_path / "d.jsonl"
    _write(path, 3_000, odd_every=150)
    attempt = jsonl_source._RefusedBlock._attempt
    pieces: list[int] = []  # lines of each piece tried: > 0 when pyarrow parsed it, < 0 when it refused it

    def counted(self: jsonl_source._RefusedBlock, lo: int, hi: int) -> Chunk | int | None:
        chunk = attempt(self, lo, hi)
        pieces.append(hi - lo if isinstance(chunk, Chunk) else lo - hi)
        return chunk

    monkeypatch.setattr(jsonl_source._RefusedBlock, "_attempt", counted)
    got = list(read_chunks(str(path), COLUMNS, block_bytes))
    today = _today(str(path), block_bytes)
    assert [_content(chunk) for chunk in got] == [_content(chunk) for chunk in today]
    if block_bytes > 2_000:  # blocks of more than MIN_PIECE_LINES lines were cut, and pyarrow took some pieces
        assert any(n > 0 for n in pieces) and any(n < 0 for n in pieces)
    if block_bytes == 1 << 20:  # one block, refused: the result is the reference's, line by line
        every_line = jsonl_source._parsed_lines(str(path), path.read_bytes().split(b"\n"), 1, COLUMNS)
        assert _content(merged(got)) == _content(every_line) and len(every_line.rejected) > 10
        assert sum(n for n in pieces if n > 0) > 3_000 * 0.6, pieces  # most lines went through pyarrow


def test_a_value_that_stops_the_run_stops_it_at_the_same_line(tmp_path: Path):
    path = tmp_path / "b.jsonl"
    _write(path, 1_000, odd_every=100)
    lines = path.read_bytes().split(b"\n")
    lines[700] = b'{"id": "b", "n": true, "y": 1}'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(IngestError, match=r"b\.jsonl: line 701: column 'n' holds JSON bool values"):
        list(read_chunks(str(path), COLUMNS, 1 << 20))


def test_pyarrow_floats_are_written_as_the_reference_writes_them():
    lines = [b'{"id": "a", "x": %s, "y": 1}' % literal.encode() for literal in FLOATS]
    piece = jsonl_source._RefusedBlock("p", b"\n".join(lines), lines, 1, COLUMNS)._attempt(0, len(lines))
    assert isinstance(piece, Chunk)
    typed = [None if f == "null" else float(f) if "." in f or "e" in f.lower() else int(f) for f in FLOATS]
    expected = [b"" if value is None else repr(value).encode() for value in typed]
    assert piece.cells.column("x").to_pylist() == expected
    assert piece.numbers.tolist() == list(range(1, len(FLOATS) + 1))
    assert parse_block("p", b"\n".join(lines), np.arange(1, len(lines) + 1), COLUMNS) is not None  # pyarrow takes it
