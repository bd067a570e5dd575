"""Time ``write_demo_data`` against a plain ``csv.writer`` baseline writing as many constant rows.

Run from the repo root: ``.venv/bin/python bench/bench_demo_data.py --rows 200000``.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from pipelines.demo_data import COLUMNS, write_demo_data

CONSTANT_ROW = ("C0000001", "42.5", "52341.27", "45.10", "12", "1", "basic", "north", "iphone-15", "14", "web", "", "0")


def baseline(path: Path, rows: int) -> float:
    """Seconds to write ``rows`` identical rows with ``csv.writer``."""
    start = time.perf_counter()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(CONSTANT_ROW for _ in range(rows))
    return time.perf_counter() - start


def main() -> None:
    """Parse ``--rows``, time both writers and print rows/s and the slowdown against the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(Path(tmp) / "baseline.csv", args.rows)
        start = time.perf_counter()
        write_demo_data(Path(tmp) / "demo", rows=args.rows)
        demo = time.perf_counter() - start
    print(f"baseline csv.writer: {args.rows / base:,.0f} rows/s ({base:.2f} s)")
    print(f"write_demo_data:     {args.rows / demo:,.0f} rows/s ({demo:.2f} s)")
    print(f"ratio (demo time / baseline time): {demo / base:.2f}x")


if __name__ == "__main__":
    main()
