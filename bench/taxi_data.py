"""A deterministic generator of Chicago-taxi-shaped CSV rows (the shape of TFX's taxi example) for the benchmarks.

``python bench/taxi_data.py --rows N --output DIR`` writes ``DIR/data/part-NNNNN.csv`` (at most 250,000 rows per
file) and ``DIR/columns.json``, the bigtrain ``columns`` mapping for them (what ``--columns-json`` reads).

The rows look like the taxi trips table: floats (fare, trip_miles, tips, pickup/dropoff latitude/longitude), ints
(trip_seconds, trip_start_hour/day/month, community areas, the start timestamp), strings (payment_type, company,
census tracts), a key ``trip_id`` and a label ``tips_big`` (tips > 20% of the fare, as in TFX), which depends on the
payment type, hour, company and trip length, so a model has something to learn. Several columns have empty cells,
and every file has a few malformed rows: non-numbers in a float and in an int column, an extra or a missing field,
a missing or non-0/1 label, an empty required cell. Everything is numpy-vectorized; the same ``--rows`` and
``--seed`` give byte-identical files.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from beam_jobs.contract import parse_columns

ROWS_PER_FILE = 250_000
# Columns in file order (close to the BigQuery export of the taxi table, plus the key and the label).
COLUMNS: dict[str, dict[str, Any]] = {
    "trip_id": {"type": "string", "role": "key"},
    "trip_start_timestamp": {"type": "int", "role": "ignore"},
    "pickup_community_area": {"type": "int", "transform": {"hash": 100}, "missing": "mode"},
    "fare": {"type": "float", "transform": "zscore", "missing": "mean"},
    "trip_start_month": {"type": "int", "transform": "identity"},  # required
    "trip_start_hour": {"type": "int", "transform": "zscore"},  # required
    "trip_start_day": {"type": "int", "transform": "vocabulary", "missing": {"fill": 1}},  # not mode: see README
    "pickup_latitude": {"type": "float", "transform": {"bucketize": 10}, "missing": "mean"},
    "pickup_longitude": {"type": "float", "transform": {"bucketize": 10}, "missing": "mean"},
    "dropoff_latitude": {"type": "float", "transform": {"bucketize": 10}, "missing": {"fill": 41.88}},
    "dropoff_longitude": {"type": "float", "transform": {"bucketize": 10}, "missing": {"fill": -87.63}},
    "trip_miles": {"type": "float", "transform": "log", "missing": {"fill": 0}},
    "pickup_census_tract": {"type": "string", "transform": {"hash": 1000}, "missing": {"fill": ""}},
    "dropoff_census_tract": {"type": "string", "transform": {"hash": 1000}, "missing": {"fill": ""}},
    "payment_type": {"type": "string", "transform": "vocabulary"},  # required
    "company": {"type": "string", "transform": {"vocabulary": {"top_k": 50, "oov_buckets": 2}}, "missing": "mode"},
    "trip_seconds": {"type": "int", "transform": "scale_0_1", "missing": "mean"},
    "dropoff_community_area": {"type": "int", "transform": "vocabulary", "missing": {"fill": 0}},
    "tips": {"type": "float", "role": "ignore"},  # the label is derived from it: never a feature
    "tips_big": {"type": "int", "role": "label"},
}
NAMES = list(COLUMNS)

PAYMENT_TYPES = np.array(["Credit Card", "Cash", "Mobile", "Prcard", "No Charge", "Unknown", "Dispute"])
PAYMENT_WEIGHTS = np.array([0.45, 0.45, 0.04, 0.03, 0.015, 0.01, 0.005])
NAMED_COMPANIES = [
    "Flash Cab", "Taxi Affiliation Services", "Dispatch Taxi Affiliation", "Yellow Cab", "Chicago Carriage Cab Corp",
    "City Service", "Sun Taxi", "Star North Management LLC", "Choice Taxi Association", "Globe Taxi",
    "Top Cab Affiliation", "KOAM Taxi Association", "Northwest Management LLC", "Medallion Leasin",
    "Blue Ribbon Taxi Association Inc.", "Nova Taxi Affiliation Llc", "Checker Taxi Affiliation",
    "Taxicab Insurance Agency, LLC", "Chicago Independents", "5 Star Taxi",
]
# A long tail of owner-operators, as in the real table ("1234 - 56789 Name"): more companies than top_k.
COMPANIES = np.array(NAMED_COMPANIES + [f"{1000 + 37 * i} - {20000 + 911 * i} Owner Operator" for i in range(140)])
_RANK = np.arange(1, len(COMPANIES) + 1)
COMPANY_WEIGHTS = (1 / _RANK**1.1) / (1 / _RANK**1.1).sum()
# Each company's customers tip a little more or less (signal for the label).
COMPANY_TIP_SHIFT = np.random.default_rng(99).normal(0.0, 0.04, len(COMPANIES))
TRACTS = np.array([f"17031{n:06d}" for n in np.random.default_rng(98).choice(999_999, 800, replace=False)])
EPOCH_2015 = 1_420_070_400
_COMMA = "\x1e"  # stands in for a comma inside a value until the CSV text is written


def _to_strings(values: np.ndarray, missing: np.ndarray | None = None, decimals: int | None = None) -> pa.Array:
    """A numpy column as an Arrow string array; ``missing`` cells become null (an empty CSV cell)."""
    if decimals is not None:
        values = np.round(values, decimals)
    array = pa.array(values, mask=missing)
    return array if pa.types.is_string(array.type) else pc.cast(array, pa.string())


def _shard(rows: int, first_row: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    """One file's columns as Arrow string arrays (null = empty cell), before the malformed rows go in."""
    n = rows
    index = np.arange(first_row, first_row + n, dtype=np.int64)
    timestamp = EPOCH_2015 + rng.integers(0, 3 * 365 * 86400, n) // 900 * 900
    seconds_of_day = timestamp % 86400
    hour = seconds_of_day // 3600
    day = (timestamp // 86400 + 4) % 7 + 1  # 1 = Sunday, as in BigQuery's DAYOFWEEK
    month = ((timestamp - EPOCH_2015) // (30.44 * 86400)).astype(np.int64) % 12 + 1
    miles = np.clip(rng.lognormal(0.6, 1.0, n), 0.0, 120.0)
    miles[rng.random(n) < 0.08] = 0.0  # zero-mile trips are common in the real data
    seconds = (miles * rng.uniform(150, 330, n) + rng.exponential(240, n)).astype(np.int64)
    fare = np.round(3.25 + 2.25 * miles + 0.25 * seconds / 36 + rng.exponential(0.5, n), 2)
    payment = rng.choice(len(PAYMENT_TYPES), n, p=PAYMENT_WEIGHTS)
    company = rng.choice(len(COMPANIES), n, p=COMPANY_WEIGHTS)
    pickup_area = rng.integers(1, 78, n)
    dropoff_area = np.where(rng.random(n) < 0.5, pickup_area, rng.integers(1, 78, n))
    pickup_lat = 41.65 + pickup_area * 0.0045 + rng.normal(0, 0.01, n)
    pickup_lon = -87.9 + (pickup_area * 37 % 77) * 0.0035 + rng.normal(0, 0.01, n)
    dropoff_lat = 41.65 + dropoff_area * 0.0045 + rng.normal(0, 0.01, n)
    dropoff_lon = -87.9 + (dropoff_area * 37 % 77) * 0.0035 + rng.normal(0, 0.01, n)
    # Tips: card-like payments tip about 20% (more at night, on long trips, for some companies); cash shows 0.
    card = np.isin(payment, [0, 2, 3])
    night = (hour >= 20) | (hour <= 3)
    rate = 0.16 + 0.05 * night + 0.03 * (miles > 5) + COMPANY_TIP_SHIFT[company] + rng.normal(0, 0.05, n)
    tips = np.round(np.where(card, np.clip(rate, 0, None) * fare, 0.0), 2)
    tips_big = (tips > 0.2 * fare).astype(np.int64)

    def gaps(rate: float) -> np.ndarray:
        return rng.random(n) < rate

    area_missing = gaps(0.06)
    pickup_geo_missing = area_missing | gaps(0.01)
    dropoff_area_missing = gaps(0.07)
    return {
        "trip_id": pc.binary_join_element_wise("t", pc.cast(pa.array(index * 7919 + 1_000_003), pa.string()), ""),
        "trip_start_timestamp": _to_strings(timestamp),
        "pickup_community_area": _to_strings(pickup_area, area_missing),
        "fare": _to_strings(fare, gaps(0.002), 2),
        "trip_start_month": _to_strings(month),
        "trip_start_hour": _to_strings(hour),
        "trip_start_day": _to_strings(day, gaps(0.01)),
        "pickup_latitude": _to_strings(pickup_lat, pickup_geo_missing, 6),
        "pickup_longitude": _to_strings(pickup_lon, pickup_geo_missing, 6),
        "dropoff_latitude": _to_strings(dropoff_lat, dropoff_area_missing, 6),
        "dropoff_longitude": _to_strings(dropoff_lon, dropoff_area_missing, 6),
        "trip_miles": _to_strings(miles, gaps(0.003), 2),
        "pickup_census_tract": _to_strings(TRACTS[(pickup_area * 10 + rng.integers(0, 10, n)) % 800], gaps(0.3)),
        "dropoff_census_tract": _to_strings(TRACTS[(dropoff_area * 10 + rng.integers(0, 10, n)) % 800], gaps(0.33)),
        "payment_type": _to_strings(PAYMENT_TYPES[payment]),
        "company": _to_strings(COMPANIES[company], gaps(0.2)),
        "trip_seconds": _to_strings(seconds, gaps(0.01)),
        "dropoff_community_area": _to_strings(dropoff_area, dropoff_area_missing),
        "tips": _to_strings(tips, None, 2),
        "tips_big": _to_strings(tips_big),
    }


# Malformed rows per file: (column, bad cell text) replaced into a random row; counted by preprocess as
# bad_number (fare, trip_seconds), missing_required (payment_type, trip_start_hour), missing_label, bad_label.
BAD_CELLS = [
    ("fare", "n/a"),
    ("fare", "12.3.4"),
    ("pickup_latitude", "north"),
    ("trip_seconds", "7.5"),
    ("trip_start_hour", ""),
    ("payment_type", ""),
    ("tips_big", ""),
    ("tips_big", "2"),
]
WRONG_FIELD_COUNT_ROWS = 2  # per file: one line with an extra field, one with a field missing


def _with_bad_cells(columns: dict[str, pa.Array], rng: np.random.Generator) -> dict[str, pa.Array]:
    n = len(columns["trip_id"])
    rows = rng.choice(n, len(BAD_CELLS), replace=False)
    for row, (name, text) in zip(rows, BAD_CELLS, strict=True):
        mask = np.zeros(n, dtype=bool)
        mask[row] = True
        columns[name] = pc.if_else(pa.array(mask), pa.scalar(text or None, pa.string()), columns[name])
    return columns


def _wrong_field_count_lines(text: bytes, rng: np.random.Generator) -> bytes:
    """Break ``WRONG_FIELD_COUNT_ROWS`` data lines: the first gains a field, the second loses its last one."""
    lines = []
    for extra in (True, False)[:WRONG_FIELD_COUNT_ROWS]:
        start = text.index(b"\n", int(rng.integers(len(text) // 4, len(text) * 3 // 4))) + 1
        end = text.index(b"\n", start)
        line = text[start:end]
        lines.append((start, end, line + b",surplus" if extra else line[: line.rindex(b",")]))
    out, position = [], 0
    for start, end, replacement in sorted(lines):
        out += [text[position:start], replacement]
        position = end
    out.append(text[position:])
    return b"".join(out)


def _csv_bytes(columns: dict[str, pa.Array]) -> bytes:
    """The CSV text, quoting only the cells that need it (as Python's csv module and most exports do).

    Arrow quotes every string cell unless told not to quote at all, which fails on a comma in a value; so the
    few values with a comma are written with a placeholder and quoted afterwards.
    """
    quoted = [value for value in COMPANIES if "," in value]
    for value in quoted:
        columns["company"] = pc.replace_substring(columns["company"], value, value.replace(",", _COMMA))
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(columns), buffer, pacsv.WriteOptions(quoting_style="none"))
    text = buffer.getvalue()
    text = ",".join(columns).encode() + text[text.index(b"\n") :]  # Arrow quotes the header line regardless
    for value in quoted:
        text = text.replace(value.replace(",", _COMMA).encode(), f'"{value}"'.encode())
    return text


def write_taxi_data(output: Path, rows: int, seed: int = 11) -> list[Path]:
    """Write ``rows`` data rows as ``output/data/part-NNNNN.csv`` and ``output/columns.json``; return the files."""
    data = output / "data"
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob("part-*.csv"):
        stale.unlink()
    files = []
    shards = max(1, math.ceil(rows / ROWS_PER_FILE))
    for shard in range(shards):
        first = shard * ROWS_PER_FILE
        count = min(ROWS_PER_FILE, rows - first)
        rng = np.random.default_rng([seed, shard])
        columns = _shard(count, first, rng)
        if count >= 100:
            columns = _with_bad_cells(columns, rng)
        text = _csv_bytes(columns)
        if count >= 100:
            text = _wrong_field_count_lines(text, rng)
        path = data / f"part-{shard:05d}.csv"
        path.write_bytes(text)
        files.append(path)
    parse_columns(COLUMNS)  # the mapping must pass bigtrain's own contract
    (output / "columns.json").write_text(json.dumps(COLUMNS, indent=2) + "\n")
    return files


def main() -> None:
    """Parse ``--rows/--output/--seed``, write the data and print what was written and how fast."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--output", required=True, help="directory for data/part-*.csv and columns.json")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    start = time.perf_counter()
    files = write_taxi_data(Path(args.output), args.rows, args.seed)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in files)
    print(f"{args.rows:,} rows in {len(files)} file(s), {size / 1e6:.1f} MB, {seconds:.2f} s "
          f"({args.rows / seconds:,.0f} rows/s) -> {args.output}")


if __name__ == "__main__":
    main()
