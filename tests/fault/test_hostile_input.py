"""Hostile and broken input, end to end through a command line: one table of input files (``tests/data/bad/``) and
the outcome each must have. Every case runs the standalone ingest CLI (``python -m beam_jobs.ingest``): it either
reads the rows, each ending in a split or in quarantine with its kind, or stops with exit 2 and one line naming the
file and the problem. The cases the ingest CLI cannot judge alone (no data rows, one class) and one header error
also run the whole ``bigtrain run``. ``docs/reliability.md`` is written from :data:`CASES`
(``python -m tests.fault.reliability_table``)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_CONFIG

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "bad"
INGEST_CLI, RUN_CLI = "python -m beam_jobs.ingest", "bigtrain run"
EXIT_USAGE, EXIT_FAILED = 2, 1


@dataclass(frozen=True)
class Case:
    """One hostile input and the outcome it must have."""

    file: str  # under tests/data/bad/
    what: str  # what is wrong with it, for people
    rows: int | None = None  # data records in the file (all read: each in a split or quarantined); None: run error
    quarantined: dict[str, int] = field(default_factory=dict)  # rejection kind -> rows
    error: str | None = None  # the one-line error (after "<file>: "), for a run-level error
    run_error: str | None = None  # what `bigtrain run` stops with (also run end to end), if it is run

    @property
    def data_format(self) -> str:
        """The format the file is ingested as: its suffix."""
        return self.file.rsplit(".", 1)[-1]

    @property
    def paths(self) -> str:
        """The command line(s) the case goes through."""
        return f"`{INGEST_CLI}`" + (f", `{RUN_CLI}`" if self.run_error else "")

    @property
    def outcome(self) -> str:
        """The expected outcome, for people."""
        run = f"; `{RUN_CLI}` stops at ingest (exit {EXIT_USAGE}): `{self.run_error}`" if self.run_error else ""
        if self.error is not None:
            return f"run-level error, exit {EXIT_USAGE}: `<file>: {self.error}`{run}"
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.quarantined.items()))
        return f"{self.rows} rows read, " + (f"quarantined: {kinds}" if kinds else "none quarantined") + run


CASES = (
    Case("empty.csv", "an empty file", error="the file is empty or has no header line"),
    Case(
        "header_only.csv",
        "a header and no rows",
        rows=0,
        run_error="no data rows: the 1 input file(s) hold a header and nothing else",
    ),
    Case(
        "wrong_delimiter.csv",
        "`;` instead of `,`",
        error="the header is one column holding ';': bigtrain reads comma-separated CSV",
    ),
    Case("ragged_rows.csv", "a row with too few fields, one too many", rows=8, quarantined={"wrong_column_count": 2}),
    Case(
        "open_quote.csv",
        "a quote left open (it runs to the end of the file)",
        rows=7,
        quarantined={"wrong_column_count": 1},  # the open field swallows the last 3 lines, kept in its raw text
    ),
    Case("non_utf8.csv", "a Latin-1 byte in a cell", rows=7, quarantined={"bad_encoding": 1}),
    Case("big_field.csv", "a 1 MB single field", rows=7),
    Case("special_floats.csv", "NaN, inf, 1e308 (beyond float32) and -0.0", rows=10, quarantined={"bad_number": 3}),
    Case("labels_outside.csv", "labels 2, -1 and yes", rows=9, quarantined={"bad_label": 2, "bad_number": 1}),
    Case(
        "one_class.csv",
        "every row one class",
        rows=40,
        run_error="every train row has y=1 (29 rows): a classifier needs both classes",
    ),
    Case(
        "missing_column.csv",
        "a config column missing entirely",
        error="config column(s) ['city'] are missing from the data's header",
        run_error="config column(s) ['city'] are missing from the data's header",
    ),
    Case("duplicate_header.csv", "a column name twice in the header", error="header repeats column(s) ['x']"),
    Case(
        "extra_column.csv",
        "a column the config does not know",
        error="column(s) ['z'] are in the data but not in the config's columns",
    ),
    Case("bom.csv", "a UTF-8 byte order mark", rows=8),
    Case("crlf.csv", "CRLF line endings", rows=8),
    Case("gzip_named.csv", "gzip content named .csv", rows=8),
    Case(
        "wrong_type.parquet",
        "Parquet with a string column declared float",
        error="column 'x' holds string values, but the config declares it float (float takes integers and floats)",
    ),
    Case(
        "broken_lines.jsonl",
        "JSON Lines with a line cut short, an array, and a nested value",
        rows=11,
        quarantined={"bad_json": 3},
    ),
    Case(
        "wrong_type.jsonl",
        "JSON Lines with a bool in a float column",
        error="line 4: column 'x' holds JSON bool values, but the config declares it float (float takes integers and "
        "floats)",
    ),
    Case(
        "multi_value.tfrecord", "a tf.Example with two values in a feature", rows=8, quarantined={"multiple_values": 1}
    ),
    Case(
        "truncated.tfrecord",
        "a TFRecord file cut in its last record",
        error="79 trailing bytes are not a whole record (record 8; truncated file?)",
    ),
)


def _ingest_cli(case: Case, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "beam_jobs.ingest", "--source", str(BAD / case.file), "--format", case.data_format]
    command += ["--columns-json", str(BAD / "columns.json"), "--output", str(output)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Every case through the ingest CLI, a few processes at a time."""
    root = tmp_path_factory.mktemp("hostile")
    outputs = {case.file: root / case.file for case in CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(outputs, pool.map(lambda c: _ingest_cli(c, outputs[c.file]), CASES), strict=True))
    return {name: (done[name], outputs[name]) for name in outputs}


def _quarantine(output: Path) -> Iterator[dict]:
    for part in sorted((output / "quarantine").glob("part*.jsonl")):
        yield from (json.loads(line) for line in part.read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_hostile_input_through_the_ingest_cli(case: Case, ingested):
    done, output = ingested[case.file]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if case.error is not None:
        assert done.returncode == EXIT_USAGE, done.stderr[-3000:]
        assert done.stderr.strip().splitlines()[-1].endswith(f"{BAD / case.file}: {case.error}")
        return
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((output / "stats.json").read_text())
    assert stats == json.loads(done.stdout.strip().splitlines()[-1])
    # Every record of the file is read, and each is in exactly one split or in quarantine with its kind.
    assert stats["input"] == case.rows
    assert stats["train"] + stats["eval"] + stats["test"] + stats["quarantined"] == stats["input"]
    assert stats["quarantine_reasons"] == case.quarantined
    rejected = list(_quarantine(output))
    assert len(rejected) == stats["quarantined"]
    assert all(q["source"] == case.file and q["kind"] in case.quarantined and q["reason"] for q in rejected)


@pytest.mark.slow
def test_an_open_quote_keeps_the_lines_it_swallowed_in_the_quarantine(ingested):
    _, output = ingested["open_quote.csv"]
    (rejected,) = _quarantine(output)
    assert rejected["line"] == 8 and all(f"C{i}," in rejected["raw"] for i in (90, 20, 21, 22))


@pytest.mark.slow
def test_a_one_megabyte_field_arrives_whole(ingested):
    _, output = ingested["big_field.csv"]
    stats = json.loads((output / "column_stats.json").read_text())
    assert stats and not list(_quarantine(output))


RUN_CASES = [case for case in CASES if case.run_error]


def _run_config(work: Path, case: Case) -> Path:
    """The demo config with the bad data's columns and ``case``'s file as the source."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["name"] = "hostile"
    config["data"] = {"source": str(BAD / case.file), "format": case.data_format}
    config["columns"] = json.loads((BAD / "columns.json").read_text())
    config.pop("crosses", None)
    config.pop("cluster", None)
    config["evaluation"]["slices"] = [["city"]]
    config["training"]["epochs"] = 1
    config["push"]["serving_root"] = str(work / "serving")
    path = work / f"{case.file}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", RUN_CASES, ids=[case.file for case in RUN_CASES])
def test_hostile_input_through_bigtrain_run(case: Case, tmp_path: Path):
    config = _run_config(tmp_path, case)
    command = [sys.executable, "-m", "pipelines.cli", "run", "--config", str(config), "--pipeline-root", "runs"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == EXIT_USAGE, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("bigtrain:")]
    assert case.run_error in line and "Traceback" not in done.stderr
    assert not (tmp_path / "serving").exists()  # nothing was published


def test_the_bad_files_are_what_their_script_writes(tmp_path: Path):
    from tests.data.bad import make_bad

    for path in make_bad.write_all(tmp_path):
        checked_in = BAD / path.name
        if path.suffix == ".parquet":  # the writer's version is in the footer: compare the tables
            import pyarrow.parquet as pq

            assert pq.read_table(path).equals(pq.read_table(checked_in)), path.name
        elif path.read_bytes().startswith(b"\x1f\x8b"):  # zlib versions may compress differently
            assert gzip.decompress(path.read_bytes()) == gzip.decompress(checked_in.read_bytes()), path.name
        else:
            assert path.read_bytes() == checked_in.read_bytes(), path.name
    assert {case.file for case in CASES} == set(make_bad.FILES)


def test_docs_reliability_is_generated_from_these_cases():
    from tests.fault.reliability_table import DOC, render

    assert (REPO / DOC).read_text() == render(), f"regenerate it: python -m tests.fault.reliability_table > {DOC}"
