"""Deduplication by key: of the clean rows sharing a key, the first by (position of its file in the input list, record
number) is kept, i.e. oldest span, then file, then line; every other one is quarantined as ``duplicate_key`` naming
the row kept. Quarantined rows take no part, counts add up, column statistics see only the rows kept, files in
different spans are told apart in the quarantine, and the CLI runs it on Parquet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from beam_jobs.chunks import IngestError
from beam_jobs.contract import parse_columns
from beam_jobs.layout import COLUMN_STATS_FILE, SPLITS
from tests.unit.format_files import COLUMNS, examples, ingest, quarantine, write_table

REPO = Path(__file__).resolve().parents[2]


def _row(key: str, x: float, y: int = 1) -> dict:
    return {"customer_id": key, "x": x, "n": 1, "city": "north", "y": y}


def _spans(root: Path, data_format: str = "csv") -> list[str]:
    """Two spans; ``x`` tells the copies of a key apart (span.file.line)."""
    suffix = {"csv": ".csv", "parquet": ".parquet"}[data_format]
    files = {
        "span-1/a": [_row("D1", 1.11), _row("D2", 1.12), _row("D2", 1.13), _row("D4", 1.14, y=7), _row("D5", 1.15)],
        "span-2/a": [_row("D1", 2.11), _row("D3", 2.12), _row("D4", 2.13), _row("D6", 2.14)],
        "span-2/b": [_row("D3", 2.21), _row("D1", 2.22)],
    }
    for name, rows in files.items():
        write_table(root / f"{name}{suffix}", data_format, rows)
    return [str(root / "span-1" / "*"), str(root / "span-2" / "*")]


@pytest.fixture(scope="module")
def deduplicated(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dedupe")
    stats, paths = ingest(_spans(root / "in"), root / "out", "csv", dedupe_by_key=True)
    return stats, paths


def test_the_first_row_of_each_key_is_kept_by_span_then_file_then_line(deduplicated):
    stats, paths = deduplicated
    kept = {row["customer_id"]: row["x"] for split in examples(paths).values() for row in split}
    expected = {"D1": 1.11, "D2": 1.12, "D3": 2.12, "D4": 2.13, "D5": 1.15, "D6": 2.14}
    assert kept == pytest.approx(expected)  # D4's first row is a bad label: quarantined rows take no part
    assert stats.input == 11 and stats.train + stats.eval + stats.test == 6
    assert stats.quarantine_reasons == {"bad_label": 1, "duplicate_key": 4} and stats.quarantined == 5


def test_duplicates_are_quarantined_naming_the_row_kept(deduplicated):
    _, paths = deduplicated
    duplicates = sorted(
        ((q["source"], q["line"], q["reason"]) for q in quarantine(paths) if q["kind"] == "duplicate_key"),
    )
    assert duplicates == [
        ("span-1/a.csv", 4, "duplicate customer_id 'D2': the row kept is span-1/a.csv line 3"),
        ("span-2/a.csv", 2, "duplicate customer_id 'D1': the row kept is span-1/a.csv line 2"),
        ("span-2/b.csv", 2, "duplicate customer_id 'D3': the row kept is span-2/a.csv line 3"),
        ("span-2/b.csv", 3, "duplicate customer_id 'D1': the row kept is span-1/a.csv line 2"),
    ]
    record = next(q for q in quarantine(paths) if q["kind"] == "duplicate_key" and q["line"] == 4)
    assert record["row"] == {"customer_id": "D2", "x": "1.13", "n": "1", "city": "north", "y": "1"}
    bad = next(q for q in quarantine(paths) if q["kind"] == "bad_label")
    assert (bad["source"], bad["line"]) == ("span-1/a.csv", 5)


def test_column_statistics_see_only_the_rows_kept(deduplicated):
    stats, paths = deduplicated
    column_stats = json.loads((Path(paths.stats).parent / COLUMN_STATS_FILE).read_text())
    for split in SPLITS:
        if getattr(stats, split):
            assert column_stats[split]["customer_id"]["count"] == getattr(stats, split)
    assert sum(column_stats[split]["x"]["count"] for split in column_stats) == 6


def test_the_order_of_the_globs_decides_which_span_is_first(tmp_path: Path):
    spans = _spans(tmp_path / "in")
    stats, paths = ingest(spans[::-1], tmp_path / "out", "csv", dedupe_by_key=True)
    kept = {row["customer_id"]: row["x"] for split in examples(paths).values() for row in split}
    assert kept["D1"] == pytest.approx(2.11) and kept["D3"] == pytest.approx(2.12) and kept["D2"] == pytest.approx(1.12)
    assert stats.files[0].endswith("span-2/a.csv") and stats.files[-1].endswith("span-1/a.csv")


def test_without_dedupe_duplicates_are_kept(tmp_path: Path):
    stats, paths = ingest(_spans(tmp_path / "in"), tmp_path / "out", "csv")
    keys = sorted(row["customer_id"] for split in examples(paths).values() for row in split)
    assert keys == ["D1", "D1", "D1", "D2", "D2", "D3", "D3", "D4", "D5", "D6"]
    assert stats.quarantine_reasons == {"bad_label": 1}
    assert {q["source"] for q in quarantine(paths)} == {"span-1/a.csv"}


def test_dedupe_needs_a_key_column(tmp_path: Path):
    columns = parse_columns({**COLUMNS, "customer_id": {"type": "string", "role": "slice"}})
    with pytest.raises(IngestError, match=r"data\.dedupe: key needs a column with role: key"):
        ingest(_spans(tmp_path / "in"), tmp_path / "out", "csv", columns=columns, dedupe_by_key=True)


def test_cli_reads_parquet_spans_and_dedupes_by_key(tmp_path: Path):
    spans = _spans(tmp_path / "in", "parquet")
    out = tmp_path / "out"
    flags = ["--source", spans[0], "--source", spans[1], "--format", "parquet", "--dedupe", "key"]
    done = _cli(tmp_path, *flags, "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["format"] == "parquet" and printed["input"] == 11 and len(printed["files"]) == 3
    assert printed["quarantine_reasons"] == {"bad_label": 1, "duplicate_key": 4}
    assert json.loads((out / "stats.json").read_text()) == printed
    lines = {(q["source"], q["line"]) for q in quarantine(_paths(out)) if q["kind"] == "duplicate_key"}
    assert lines == {("span-1/a.parquet", 3), ("span-2/a.parquet", 1), ("span-2/b.parquet", 1), ("span-2/b.parquet", 2)}


def test_cli_reports_bad_input_in_one_line(tmp_path: Path):
    (tmp_path / "a.csv").write_text("customer_id,x,n,city,y\nD1,1,1,north,1\n")
    done = _cli(tmp_path, "--source", str(tmp_path / "a.csv"), "--format", "parquet", "--output", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("a.csv: looks like CSV, but data.format is parquet")
    assert "Traceback" not in done.stderr


def _cli(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    """``python -m beam_jobs.ingest`` with the test columns and ``flags``, in a fresh process."""
    (tmp_path / "columns.json").write_text(json.dumps(COLUMNS))
    command = [sys.executable, "-m", "beam_jobs.ingest", "--columns-json", str(tmp_path / "columns.json"), *flags]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def _paths(out: Path):
    from beam_jobs.ingest import IngestPaths

    return IngestPaths.under(str(out))
