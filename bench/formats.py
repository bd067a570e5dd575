"""Time the ingest job (``beam_jobs.ingest.run_ingest``) on the same demo table in each input format, against CSV.

``.venv/bin/python bench/formats.py --rows 200000 [--repeat 3] [--workdir DIR]``

The demo generator (``pipelines.demo_data.write_demo_data``) writes ``--rows`` rows as CSV once; they are then
converted once to Parquet, JSON Lines and TFRecord of tf.Example, typed by the columns of
``pipelines/configs/demo.yaml`` (float → float64 / JSON number / float_list, int → int64 / JSON integer /
int64_list, string or text → string / JSON string / bytes_list; an empty cell is a null, an absent JSON key, an absent
feature). The demo's malformed rows go where the format can hold them:

* ``wrong_column_count`` is a CSV defect: dropped from every other format.
* ``bad_number``: a ``NaN`` in a float column is kept as a float NaN (JSON Lines: the string ``"NaN"``); any other
  bad number (``abc``, ``12,50``) is kept by JSON Lines as a JSON string (which ingest reads as cell text, so it is
  quarantined as in CSV) and dropped from Parquet and TFRecord, whose typed columns cannot hold it.
* ``missing_label`` and ``missing_required`` are missing values: kept everywhere.

A second JSON Lines copy (``jsonl-sparse/``) keeps only one bad-number line per ingest block (8 MB) and drops the
others: in the full copy every block holds dozens, so the two show what odd lines cost the JSON Lines reader when
they are rare and when they are common.

Every format has as many files as the CSV (one per 250,000 rows). Cases: csv (the baseline), parquet, jsonl,
``jsonl 1 odd/block`` (the sparse copy), tfrecord, and csv with ``dedupe_by_key=True``. Each case runs in a fresh
process (``bench/formats.py --child``, which imports the job and calls ``run_ingest``; DirectRunner as the tests use
it), timed from process start to exit with bench/measure.py: "peak MB" is the sampled peak of the process tree, "max
proc" the largest process. "ingest s" is the ``run_ingest`` call alone (imports excluded). Ratios are against csv
measured in the same run; with ``--repeat N`` the cases run in N interleaved rounds and the median of each is shown.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from measure import run_measured

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"
DEFAULT_WORKDIR = Path("/tmp/bigtrain-bench-formats")
SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "tfrecord": ".tfrecord"}
SPARSE = "jsonl-sparse"  # the directory of the JSON Lines copy with one bad-number line per ingest block
DIRECTORIES = {**{fmt: fmt for fmt in SUFFIXES}, SPARSE: "jsonl"}  # data directory → its data format
CASES: dict[str, tuple[str, bool]] = {  # case → (data directory, dedupe_by_key)
    "csv": ("csv", False),
    "parquet": ("parquet", False),
    "jsonl": ("jsonl", False),
    "jsonl 1 odd/block": (SPARSE, False),
    "tfrecord": ("tfrecord", False),
    "csv dedupe_by_key": ("csv", True),
}
RESULT_KEY = "bench_formats_result"
_ENCODE_ROWS = 50_000  # rows per Parquet row group / tf.Example encoding batch


# --- the data, written once ---------------------------------------------------------------------------------------


class _Bad:
    """A cell a typed column cannot hold (its CSV text is kept for JSON Lines)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _typed(text: str, kind: str) -> Any:
    """A CSV cell as a typed value: None when empty, a float NaN for a non-finite float, _Bad when unparsable."""
    if text == "":
        return None
    if kind == "string":
        return text
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return _Bad(text)


def _csv_rows(files: Sequence[Path]) -> Iterator[tuple[Path, list[str]]]:
    """(file, fields) of every data record of the CSV files."""
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            for fields in reader:
                yield path, fields


def convert(csv_files: Sequence[Path], columns: dict[str, dict[str, Any]], out: Path) -> dict[str, dict[str, int]]:
    """Write every non-CSV format from the CSV files into ``out/<format>/``, one file per CSV file; returns per
    format how many rows were written and how many dropped (by reason)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from beam_jobs.csv_source import DEFAULT_BLOCK_BYTES
    from beam_jobs.example_encoding import ExampleEncoder

    names = list(columns)
    kinds = [columns[n]["type"] if columns[n]["type"] in ("float", "int") else "string" for n in names]  # text: str
    arrow_types = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}
    schema = pa.schema([(n, arrow_types[k]) for n, k in zip(names, kinds, strict=True)])
    report = {fmt: Counter() for fmt in ("parquet", "jsonl", SPARSE, "tfrecord")}
    typed_rows: dict[Path, list[list[Any]]] = {path: [] for path in csv_files}
    json_lines: dict[Path, list[str]] = {path: [] for path in csv_files}
    sparse_lines: dict[Path, list[str]] = {path: [] for path in csv_files}
    since_odd = DEFAULT_BLOCK_BYTES  # bytes of sparse JSON Lines written since its last bad-number line
    for path, fields in _csv_rows(csv_files):
        if len(fields) != len(names):
            for fmt in report:
                report[fmt]["dropped wrong_column_count"] += 1
            continue
        values = [_typed(text, kind) for text, kind in zip(fields, kinds, strict=True)]
        record = {}
        for name, text, value in zip(names, fields, values, strict=True):
            if isinstance(value, _Bad) or (isinstance(value, float) and not math.isfinite(value)):
                record[name] = text  # JSON has no NaN: the cell text, as CSV has it
            elif value is not None:
                record[name] = value
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        json_lines[path].append(line)
        report["jsonl"]["written"] += 1
        odd = any(isinstance(v, _Bad) or (isinstance(v, float) and not math.isfinite(v)) for v in values)
        if odd and since_odd < DEFAULT_BLOCK_BYTES:
            report[SPARSE]["dropped bad_number (beyond one per 8 MB block)"] += 1
        else:
            sparse_lines[path].append(line)
            report[SPARSE]["written"] += 1
            since_odd = 0 if odd else since_odd + len(line.encode()) + 1
        if any(isinstance(value, _Bad) for value in values):
            report["parquet"]["dropped bad_number (not a number)"] += 1
            report["tfrecord"]["dropped bad_number (not a number)"] += 1
            continue
        typed_rows[path].append(values)
        report["parquet"]["written"] += 1
        report["tfrecord"]["written"] += 1
    encoder = ExampleEncoder()
    for fmt in report:
        (out / fmt).mkdir(parents=True, exist_ok=True)
    for path in csv_files:
        stem = path.stem
        (out / "jsonl" / f"{stem}.jsonl").write_text("\n".join(json_lines[path]) + "\n", encoding="utf-8")
        (out / SPARSE / f"{stem}.jsonl").write_text("\n".join(sparse_lines[path]) + "\n", encoding="utf-8")
        rows = typed_rows[path]
        table = pa.Table.from_arrays(
            [pa.array([row[i] for row in rows], type=schema.field(i).type) for i in range(len(names))], schema=schema
        )
        pq.write_table(table, out / "parquet" / f"{stem}.parquet", row_group_size=_ENCODE_ROWS)
        with (out / "tfrecord" / f"{stem}.tfrecord").open("wb") as handle:
            for batch in table.to_batches(max_chunksize=_ENCODE_ROWS):
                handle.write(encoder.encode_framed(batch).data)
    return {fmt: dict(counts) for fmt, counts in report.items()}


def ensure_data(workdir: Path, rows: int) -> tuple[Path, dict[str, Any]]:
    """The demo rows in every format under ``workdir/data-<rows>`` (reused when the same code wrote them)."""
    directory = workdir / f"data-{rows}"
    code = b"".join(p.read_bytes() for p in (REPO / "pipelines" / "demo_data.py", Path(__file__), DEMO_CONFIG))
    stamp = {"rows": rows, "code": hashlib.sha256(code).hexdigest()}
    stamp_file = directory / "stamp.json"
    if stamp_file.is_file():
        saved = json.loads(stamp_file.read_text())
        if saved.get("stamp") == stamp:
            return directory, saved
    from pipelines.config import load_config
    from pipelines.demo_data import write_demo_data

    shutil.rmtree(directory, ignore_errors=True)
    config = load_config(DEMO_CONFIG)
    columns = config.columns_dict()
    start = time.perf_counter()
    demo = write_demo_data(directory / "csv", rows=rows)
    written = time.perf_counter()
    report = convert([Path(f) for f in demo.files], columns, directory)
    converted = time.perf_counter()
    (directory / "columns.json").write_text(json.dumps(columns))
    saved = {
        "stamp": stamp,
        "ratios": config.split.model_dump(),
        "malformed": demo.malformed,
        "conversion": report,
        "seconds": {"demo csv": round(written - start, 1), "conversion": round(converted - written, 1)},
        "bytes": {
            name: sum(p.stat().st_size for p in (directory / name).glob(f"*{SUFFIXES[fmt]}"))
            for name, fmt in DIRECTORIES.items()
        },
    }
    stamp_file.write_text(json.dumps(saved))
    return directory, saved


# --- one case, in its own process ---------------------------------------------------------------------------------


def child(spec_file: Path) -> None:
    """Import the job, run ``run_ingest`` once as ``spec_file`` says, print the counts and seconds as one JSON line."""
    start = time.perf_counter()
    from dataclasses import asdict

    from beam_jobs.contract import parse_columns
    from beam_jobs.ingest import IngestPaths, run_ingest

    spec = json.loads(spec_file.read_text())
    columns = parse_columns(json.loads(Path(spec["columns_json"]).read_text()))
    imported = time.perf_counter()
    stats = run_ingest(
        [spec["source"]],
        columns,
        spec["ratios"],
        IngestPaths.under(spec["output"]),
        data_format=spec["format"],
        dedupe_by_key=spec["dedupe"],
    )
    done = time.perf_counter()
    counts = {k: v for k, v in asdict(stats).items() if k not in ("files", "labels")}
    print(json.dumps({RESULT_KEY: {**counts, "import_s": imported - start, "ingest_s": done - imported}}), flush=True)


@dataclass
class Run:
    """One timed case."""

    case: str
    seconds: float
    ingest_s: float
    peak_mb: float
    max_proc_mb: float
    ok: bool
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _result(log: Path) -> dict[str, Any]:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("{") and RESULT_KEY in line:
            return json.loads(line)[RESULT_KEY]
    return {}


def run_case(case: str, data: Path, saved: dict[str, Any], runs: Path, round_: int) -> Run:
    """Run one case in a fresh process and measure it."""
    directory, dedupe = CASES[case]
    data_format = DIRECTORIES[directory]
    slug = case.replace(" ", "-")
    out = runs / f"{slug}-{round_}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spec = {
        "source": str(data / directory / f"*{SUFFIXES[data_format]}"),
        "columns_json": str(data / "columns.json"),
        "ratios": saved["ratios"],
        "output": str(out / "ingest"),
        "format": data_format,
        "dedupe": dedupe,
    }
    spec_file = out / "spec.json"
    spec_file.write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    log = out / "ingest.log"
    m = run_measured([sys.executable, str(Path(__file__).resolve()), "--child", str(spec_file)], REPO, env, log)
    result = _result(log) if m.ok else {}
    note = "" if result else " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])[-300:]
    return Run(
        case, m.seconds, result.get("ingest_s", math.nan), m.tree_peak_mb, m.max_rss_mb, bool(result), result, note
    )


# --- the report ---------------------------------------------------------------------------------------------------


def _median(runs: list[Run]) -> Run:
    """The median of each measure over the runs of one case (counts of the first)."""
    ok = [r for r in runs if r.ok] or runs
    return Run(
        ok[0].case,
        statistics.median(r.seconds for r in ok),
        statistics.median(r.ingest_s for r in ok),
        statistics.median(r.peak_mb for r in ok),
        statistics.median(r.max_proc_mb for r in ok),
        all(r.ok for r in runs),
        ok[0].counts,
        ok[0].note,
    )


def print_report(rows: int, saved: dict[str, Any], results: dict[str, list[Run]]) -> None:
    """The table of every case with its ratios to csv, then the row counts and what each format dropped."""
    median = {case: _median(runs) for case, runs in results.items()}
    base = median["csv"]
    repeat = max(len(runs) for runs in results.values())
    print(f"\n{rows:,} demo rows; {repeat} run(s) per case{', medians' if repeat > 1 else ''}; ratios vs csv\n")
    header = (
        f"{'case':<18} {'rows in':>9} {'wall s':>7} {'x csv':>6} {'ingest s':>9} {'x csv':>6} "
        f"{'peak MB':>8} {'x csv':>6} {'max proc MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for case, r in median.items():
        if not r.ok:
            print(f"{case:<18} {'failed':>9}  {r.note}")
            continue
        print(
            f"{case:<18} {r.counts['input']:>9,} {r.seconds:7.1f} {r.seconds / base.seconds:5.2f}x "
            f"{r.ingest_s:9.1f} {r.ingest_s / base.ingest_s:5.2f}x {r.peak_mb:8.0f} {r.peak_mb / base.peak_mb:5.2f}x "
            f"{r.max_proc_mb:12.0f}"
        )
    if repeat > 1:
        print("\nwall s of every run:")
        for case, runs in results.items():
            print(f"  {case:<18} " + ", ".join(f"{r.seconds:.1f}" for r in runs))
    print("\nrows in / train / eval / test / quarantined (reasons):")
    for case, r in median.items():
        c = r.counts
        if c:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(c["quarantine_reasons"].items()))
            print(
                f"  {case:<18} {c['input']} / {c['train']} / {c['eval']} / {c['test']} / {c['quarantined']} ({reasons})"
            )
    splits = {case: tuple(r.counts[s] for s in ("train", "eval", "test")) for case, r in median.items() if r.counts}
    same = len(set(splits.values())) == 1
    print(f"  clean rows per split {'equal in every case' if same else 'DIFFER between cases'}")
    deduped = median["csv dedupe_by_key"].counts.get("quarantine_reasons", {}).get("duplicate_key", 0)
    print(
        f"  csv dedupe_by_key quarantined {deduped} duplicate_key rows (demo keys are unique: the cost is the grouping)"
    )
    print(f"\ndemo CSV: {rows:,} rows, malformed: " + ", ".join(f"{k} {v}" for k, v in saved["malformed"].items()))
    for fmt, counts in saved["conversion"].items():
        dropped = ", ".join(f"{k.removeprefix('dropped ')} {v}" for k, v in sorted(counts.items()) if k != "written")
        print(f"  {fmt:<12} {counts['written']:,} rows written; dropped: {dropped or 'none'}")
    print(
        "  kept in every format: missing_label, missing_required (nulls), and NaN in float columns (bad_number); "
        "jsonl keeps every bad number as a JSON string"
    )
    sizes = ", ".join(f"{fmt} {size / 2**20:.1f} MB" for fmt, size in saved["bytes"].items())
    print(
        f"  file sizes: {sizes}; written in {saved['seconds']['demo csv']} s (csv), converted in "
        f"{saved['seconds']['conversion']} s"
    )


def main() -> None:
    """Parse the flags, write the data once, run every case in its own process, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="demo rows (default 200000)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds of every case (median shown)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"data and outputs ({DEFAULT_WORKDIR})")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    load_at_start = os.getloadavg()[0]
    data, saved = ensure_data(args.workdir, args.rows)
    runs = args.workdir / f"runs-{args.rows}"
    results: dict[str, list[Run]] = {case: [] for case in CASES}
    for round_ in range(args.repeat):
        for case in CASES:
            run = run_case(case, data, saved, runs, round_)
            results[case].append(run)
            status = f"{run.seconds:.1f} s, {run.peak_mb:.0f} MB" if run.ok else f"FAILED: {run.note}"
            print(f"  round {round_ + 1} {case}: {status}", flush=True)
    print_report(args.rows, saved, results)
    print(f"\nlogs and outputs: {runs}; load average at start {load_at_start:.2f}, now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
