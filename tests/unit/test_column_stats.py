"""Per-column statistics: exact on small data, the same when bundles are merged, written by ingest per split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from beam_jobs.column_stats import QUANTILES, TOP_VALUES, ColumnStatistics
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
    assert age["quantiles"][0] == 18.0 and age["quantiles"][-1] == 62.25 and len(age["quantiles"]) == QUANTILES + 1
    assert age["quantiles"] == sorted(age["quantiles"]) and set(age["quantiles"]) == set(present)
    plan = stats["plan"]
    assert (plan["count"], plan["missing"], plan["distinct"]) == (7, 1, 3)
    assert plan["top_values"] == [
        {"value": "basic", "count": 3},
        {"value": "premium", "count": 2},
        {"value": "family", "count": 1},
    ]
    assert plan["top_values_complete"] is True


def test_ints_beyond_float_precision_are_summarised_not_refused() -> None:
    """An int64 beyond 2**53 has no exact float64: its statistics round instead of failing the ingest job."""
    ints = pa.array([2**62, -(2**63), 5], pa.int64())
    stats = _combine(pa.RecordBatch.from_arrays([ints, pa.array([b"a"] * 3)], ["big", "plan"]))
    assert (stats["big"]["min"], stats["big"]["max"]) == (float(-(2**63)), float(2**62))


def test_quantiles_are_equal_mass_boundaries():
    values = np.arange(1000, dtype=np.float32)
    stats = _combine(*(_batch(list(part), [b"x"] * len(part)) for part in np.array_split(values, 4)))
    step = len(values) / QUANTILES
    assert stats["age"]["quantiles"] == pytest.approx([min(i * step, 999) for i in range(QUANTILES + 1)], abs=1.0)


def test_top_values_list_every_value_up_to_their_limit_and_say_when_they_do_not():
    """Counts stay exact past TOP_VALUES distinct values (the sketch holds more than it lists)."""
    few = [f"v{i:03d}".encode() for i in range(TOP_VALUES) for _ in range(i + 2)]
    many = few + [f"w{i:03d}".encode() for i in range(50)]
    complete, partial = (_combine(_batch([None] * len(plans), plans))["plan"] for plans in (few, many))
    assert complete["distinct"] == len(complete["top_values"]) == TOP_VALUES and complete["top_values_complete"]
    assert partial["distinct"] == TOP_VALUES + 50 and not partial["top_values_complete"]
    assert len(partial["top_values"]) == TOP_VALUES
    assert partial["top_values"] == complete["top_values"]  # the 50 values seen once are left out
    assert complete["top_values"][0] == {"value": f"v{TOP_VALUES - 1:03d}", "count": TOP_VALUES + 1}
    assert complete["top_values"][-1] == {"value": "v000", "count": 2}


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
    assert stats["plan"]["top_values_complete"] is True


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
