"""Streaming CSV: quoted newlines stay in one record, wrong field counts come back with their raw text, blank lines
are skipped, and nothing is lost or repeated across block boundaries or in gzipped files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beam_jobs.csv_source import CsvHeaderError, read_chunks, read_header

HEADER = ["a", "b", "c"]


def _read(path: Path, block_bytes: int = 1 << 20) -> tuple[list[dict], list[tuple[str, int]]]:
    rows, invalid = [], []
    for chunk in read_chunks(str(path), HEADER, block_bytes):
        rows += chunk.cells.to_pylist()
        invalid += [(line.text, line.fields) for line in chunk.invalid]
    return rows, invalid


def test_quotes_newlines_blank_lines_and_bad_field_counts(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'a, b ,c\r\n1,"two\nlines",3\r\n\r\n   \r\n4,5\r\n"x, y",,\r\n6,7,8,9\r\n10,"say ""hi""",12\r\n')
    assert read_header(str(path)) == HEADER
    rows, invalid = _read(path)
    assert rows == [
        {"a": b"1", "b": b"two\nlines", "c": b"3"},
        {"a": b"x, y", "b": b"", "c": b""},
        {"a": b"10", "b": b'say "hi"', "c": b"12"},
    ]
    assert invalid == [("4,5", 2), ("6,7,8,9", 4)]


def test_small_blocks_lose_and_repeat_nothing(tmp_path: Path):
    lines = [f'{i},"v{i}\nmore",{i * 2}' if i % 7 else f"{i},bad" for i in range(2_000)]
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n" + "\n".join(lines) + "\n")
    rows, invalid = _read(path, block_bytes=4_096)
    assert [int(r["a"]) for r in rows] == [i for i in range(2_000) if i % 7]
    assert invalid == [(f"{i},bad", 2) for i in range(0, 2_000, 7)]


def test_gzipped_file_and_header_only_files(tmp_path: Path):
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"a,b,c\n1,2,3\n"))
    assert read_header(str(path)) == HEADER
    assert _read(path) == ([{"a": b"1", "b": b"2", "c": b"3"}], [])
    for text in (b"a,b,c", b"a,b,c\n", b"a,b,c\n\n\n"):
        (tmp_path / "h.csv").write_bytes(text)
        assert _read(tmp_path / "h.csv") == ([], [])
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(CsvHeaderError, match="empty or has no header"):
        read_header(str(tmp_path / "empty.csv"))


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes("a,b,c\n1,2,3\n".encode("utf-8-sig"))
    assert read_header(str(path)) == HEADER
    assert _read(path) == ([{"a": b"1", "b": b"2", "c": b"3"}], [])


def test_null_like_cells_stay_text(tmp_path: Path):
    """Arrow's default null spellings (``NaN``, ``null``, ``n/a``...) are data here: cleaning decides about them."""
    path = tmp_path / "x.csv"
    path.write_text('a,b,c\nNaN,null,n/a\nNULL,"",#N/A\n')
    assert _read(path)[0] == [{"a": b"NaN", "b": b"null", "c": b"n/a"}, {"a": b"NULL", "b": b"", "c": b"#N/A"}]
