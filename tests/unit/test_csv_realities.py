"""Files as they come in production, through the real ingest: gzip whatever the name, a byte order mark, bytes that
are not UTF-8 (in the header: a clear error; in a record: quarantined as ``bad_encoding``, never a dead job),
quoted newlines, and every quarantine record pointing at its file and record number."""

from __future__ import annotations

import glob
import gzip
import json
from pathlib import Path

import pytest

from beam_jobs.ingest import IngestError, IngestPaths, IngestStats, run_ingest

HEADER = (
    "customer_id,age,income,monthly_spend,tenure_months,support_calls,plan,region,device,hour,signup_channel,notes,"
    "ticket_subject,churned"
)
ROW = "C{},40,50000,20,10,1,basic,north,pixel,3,web,,,{}"
RATIOS = {"train": 0.6, "eval": 0.2, "test": 0.2}


def _lines(*lines: str | bytes) -> bytes:
    return b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)


def _ingest(directory: Path, demo_config) -> tuple[IngestStats, list[dict]]:
    paths = IngestPaths.under(str(directory / "out"))
    stats = run_ingest(str(directory / "*.csv"), demo_config.contract, RATIOS, paths)
    files = sorted(glob.glob(str(Path(paths.quarantine) / "part*.jsonl")))
    return stats, [json.loads(line) for f in files for line in Path(f).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, demo_config) -> tuple[IngestStats, list[dict]]:
    data = tmp_path_factory.mktemp("data")
    (data / "gz.csv").write_bytes(gzip.compress(_lines(HEADER, *(ROW.format(i, i % 2) for i in range(1, 4)))))
    (data / "bom.csv").write_bytes(b"\xef\xbb\xbf" + _lines(HEADER, ROW.format(4, 0), ROW.format(5, 1)))
    (data / "bad.csv").write_bytes(
        _lines(
            HEADER,
            ROW.format(10, 0),  # record 2
            ROW.format(11, 1).replace("basic", "bas\xe9ic").encode("latin-1"),  # 3: a Latin-1 cell
            b"C12,\xff,too,few",  # 4: wrong field count and not UTF-8
            "",  # blank: not a record
            ROW.format(13, 1).replace(",40,", ",forty,"),  # 5: bad number
            ROW.format(14, 0),  # 6
        )
    )
    return _ingest(data, demo_config)


def test_every_file_is_read_and_counts_add_up(ingested):
    stats, _ = ingested
    assert stats.input == 3 + 2 + 5
    assert stats.train + stats.eval + stats.test == 7 and stats.quarantined == 3
    assert stats.quarantine_reasons == {"bad_encoding": 2, "bad_number": 1}


def test_a_gzip_file_named_csv_and_a_bom_file_ingest_cleanly(ingested):
    _, quarantine = ingested
    assert {q["source"] for q in quarantine} == {"bad.csv"}  # nothing from gz.csv or bom.csv was rejected


def test_bad_bytes_are_quarantined_as_bad_encoding_with_their_line(ingested):
    _, quarantine = ingested
    by_line = {q["line"]: q for q in quarantine}
    assert sorted(by_line) == [3, 4, 5]
    cell = by_line[3]
    assert cell["kind"] == "bad_encoding" and cell["reason"] == "column 'plan' is not valid UTF-8"
    assert cell["row"]["plan"] == "bas\\xe9ic" and cell["row"]["customer_id"] == "C11"
    unsplit = by_line[4]
    assert unsplit == {
        "source": "bad.csv",
        "line": 4,
        "kind": "bad_encoding",
        "reason": "the line is not valid UTF-8; wrong column count: expected 14 fields, got 4",
        "row": {},
        "raw": "C12,\\xff,too,few",
    }
    assert by_line[5]["kind"] == "bad_number" and by_line[5]["row"]["customer_id"] == "C13"


def test_every_quarantine_record_has_its_source_and_line(ingested):
    _, quarantine = ingested
    assert quarantine and all(isinstance(q["source"], str) and isinstance(q["line"], int) for q in quarantine)


def test_a_quoted_newline_is_one_record(tmp_path: Path, demo_config):
    quoted = ROW.format(2, 1).replace(",,", ',"two\nlines, and a comma",')
    (tmp_path / "q.csv").write_bytes(_lines(HEADER, ROW.format(1, 0), quoted, ROW.format(3, 1)))
    stats, quarantine = _ingest(tmp_path, demo_config)
    assert (stats.input, stats.quarantined, quarantine) == (3, 0, [])
    assert stats.train + stats.eval + stats.test == 3


def test_a_header_that_is_not_utf8_names_the_file(tmp_path: Path, demo_config):
    (tmp_path / "latin.csv").write_bytes(_lines(HEADER.replace("region", "r\xe9gion").encode("latin-1")))
    with pytest.raises(IngestError, match=r"latin\.csv: the header line is not valid UTF-8"):
        _ingest(tmp_path, demo_config)
