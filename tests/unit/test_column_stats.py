"""Per-column statistics: exact on small data, the same when bundles are merged, written by ingest per split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from beam_jobs.column_stats import ColumnStatistics
from beam_jobs.ingest import IngestPaths, run_ingest
from beam_jobs.layout import COLUMN_STATS_FILE, SPLITS
from tests.unit.test_ingest import HEADER, RATIOS, ROW, _write

AGES = [31.0, None, 45.5, 18.0, 62.25, None, 40.0]
PLANS = [b"basic", b"basic", None, b"premium", b"basic", b"family", b"premium"]


def _batch(ages: list, plans: list) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(ages, pa.float32()), pa.array(plans, pa.binary())], ["age", "plan"])


def _combine(*batches: pa.RecordBatch) -> dict:
    fn = ColumnStatistics()
    accumulators = []
    for batch in batches:  # one bundle per batch, then merged, as a runner would
        accumulators.append(fn.add_input(fn.create_accumulator(), batch))
    return fn.extract_output(fn.merge_accumulators(accumulators))


def test_numbers_and_strings_are_summarised_exactly_on_small_data() -> None:
    stats = _combine(_batch(AGES, PLANS))
    present = np.array([a for a in AGES if a is not None])
    age = stats["age"]
    assert (age["count"], age["missing"]) == (7, 2) and age["missing_ratio"] == pytest.approx(2 / 7)
    assert (age["min"], age["max"]) == (18.0, 62.25)
    assert age["mean"] == pytest.approx(present.mean()) and age["std"] == pytest.approx(present.std())
    assert age["quantiles"][0] == 18.0 and age["quantiles"][-1] == 62.25 and len(age["quantiles"]) == 11
    plan = stats["plan"]
    assert (plan["count"], plan["missing"], plan["distinct"]) == (7, 1, 3)
    assert plan["top_values"] == [
        {"value": "basic", "count": 3},
        {"value": "premium", "count": 2},
        {"value": "family", "count": 1},
    ]


def test_merged_bundles_give_what_one_pass_gives() -> None:
    whole = _combine(_batch(AGES, PLANS))
    parts = _combine(_batch(AGES[:3], PLANS[:3]), _batch(AGES[3:], PLANS[3:]))
    assert parts == whole


def test_a_column_with_no_values_has_counts_and_no_numbers() -> None:
    stats = _combine(_batch([None, None], [None, None]))
    assert stats["age"] == {
        "count": 2,
        "missing": 2,
        "missing_ratio": 1.0,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "quantiles": [],
    }
    assert stats["plan"]["distinct"] == 0 and stats["plan"]["top_values"] == []


def test_ingest_writes_each_splits_column_statistics(tmp_path: Path, demo_config) -> None:
    source = tmp_path / "data"
    source.mkdir()
    _write(source / "a.csv", [HEADER, *(ROW.format(i) for i in range(60))])
    paths = IngestPaths.under(str(tmp_path / "out"))
    stats = run_ingest(str(source / "*.csv"), demo_config.contract, RATIOS, paths)
    written = json.loads((Path(paths.stats).parent / COLUMN_STATS_FILE).read_text())
    present = [split for split in SPLITS if getattr(stats, split)]
    assert sorted(written) == sorted(present)
    for split in present:
        assert written[split]["age"]["count"] == getattr(stats, split)
        assert written[split]["region"]["top_values"] == [{"value": "north", "count": getattr(stats, split)}]
        assert "notes" not in written[split]  # ignored columns are not kept, so not described
