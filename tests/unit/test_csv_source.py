"""Streaming CSV: quoted newlines stay in one record, wrong field counts come back with their raw text, blank lines
are skipped, and nothing is lost or repeated across block boundaries or in gzipped files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from beam_jobs.csv_source import CsvHeaderError, has_marks, read_chunks, read_header, show_marked

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
    chunks = list(read_chunks(str(path), HEADER, 4_096))
    assert len(chunks) > 5  # record i is record number i + 2 (the header is 1), across block boundaries too
    assert [n for c in chunks for n in c.numbers.tolist()] == [i + 2 for i in range(2_000) if i % 7]
    assert [line.number for c in chunks for line in c.invalid] == [i + 2 for i in range(0, 2_000, 7)]


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


def test_gzip_is_recognised_by_content_and_bad_headers_are_csv_header_errors(tmp_path: Path):
    path = tmp_path / "x.csv"  # gzip, but not named so
    path.write_bytes(gzip.compress(b"a,b,c\n1,2,3\n"))
    assert read_header(str(path)) == HEADER
    assert _read(path) == ([{"a": b"1", "b": b"2", "c": b"3"}], [])
    path.write_bytes(b"a,\xff,c\n1,2,3\n")
    with pytest.raises(CsvHeaderError, match=r"x\.csv: the header line is not valid UTF-8"):
        read_header(str(path))
    path.write_bytes(b"\x1f\x8b not gzip after all\n")
    with pytest.raises(CsvHeaderError, match=r"x\.csv: cannot read the header line"):
        read_header(str(path))


def test_records_are_numbered_and_bad_bytes_are_marked(tmp_path: Path):
    path = tmp_path / "x.csv"
    path.write_bytes(b'a,b,c\n1,"x\ny",3\n\n4,5\n   \n6,7,8\n9,\xff,1,2\n10,\xe9,12\n')
    numbers, invalid, cells = [], [], []
    for chunk in read_chunks(str(path), HEADER):
        assert chunk.marked  # cleaning looks for the marks
        numbers += chunk.numbers.tolist()
        invalid += [(line.number, show_marked(line.text)) for line in chunk.invalid]
        cells += chunk.cells.column("b").to_pylist()
    # header 1, the quoted record 2, blank line not counted, 4,5 is 3, the spaces 4, 6,7,8 is 5, ...
    assert numbers == [2, 5, 7] and invalid == [(3, "4,5"), (6, "9,\\xff,1,2")]
    assert cells[2].decode("utf-8") == "\uf7e9" and has_marks(cells[2].decode("utf-8"))
    path.write_bytes(b"a,b,c\n1,2,3\n")
    assert [chunk.marked for chunk in read_chunks(str(path), HEADER)] == [False]  # nothing to look for


def test_null_like_cells_stay_text(tmp_path: Path):
    """Arrow's default null spellings (``NaN``, ``null``, ``n/a``...) are data here: cleaning decides about them."""
    path = tmp_path / "x.csv"
    path.write_text('a,b,c\nNaN,null,n/a\nNULL,"",#N/A\n')
    assert _read(path)[0] == [{"a": b"NaN", "b": b"null", "c": b"n/a"}, {"a": b"NULL", "b": b"", "c": b"#N/A"}]
