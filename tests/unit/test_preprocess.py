"""Preprocess on 1,500 demo rows: every row lands in exactly one place, splits follow the key hash, and the
transform graph describes the raw features the model is served with."""

from __future__ import annotations

import collections
import glob
import json
from dataclasses import asdict
from pathlib import Path

import pytest
import tensorflow as tf

from beam_jobs.cleaning import REJECTION_KINDS
from beam_jobs.layout import split_files
from beam_jobs.preprocess import CountMismatchError, PreprocessStats
from beam_jobs.records import decode_typed
from beam_jobs.split import SPLITS, assign_split

ROWS = 1_500
FEATURES = {"age", "income", "monthly_spend", "tenure_months", "support_calls", "plan", "region", "device", "hour"}
LABEL = "churned"


def _records(pattern: str) -> list[bytes]:
    files = sorted(glob.glob(pattern))
    assert files, f"nothing matches {pattern}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.fixture(scope="module")
def raw_splits(preprocessed) -> dict[str, list[dict]]:
    paths, _, _ = preprocessed
    return {split: [decode_typed(r) for r in _records(split_files(paths.raw, split))] for split in SPLITS}


@pytest.fixture(scope="module")
def quarantined(preprocessed) -> list[dict]:
    paths, _, _ = preprocessed
    files = sorted(glob.glob(str(Path(paths.quarantine) / "part*.jsonl")))
    assert files
    return [json.loads(line) for f in files for line in Path(f).read_text().splitlines()]


def test_counts_add_up_and_stats_file_matches(preprocessed):
    paths, stats, ingested = preprocessed
    assert stats.input == ingested.rows == ROWS
    assert stats.train + stats.eval + stats.test + stats.quarantined == stats.input
    assert stats.quarantined > 0 and min(stats.train, stats.eval, stats.test) > 0
    # The ratios are 0.8 / 0.1 / 0.1; 1,500 hashed keys land close to them.
    assert 0.75 < stats.train / stats.input < 0.85
    assert json.loads(Path(paths.stats).read_text()) == asdict(stats)


def test_quarantine_holds_every_rejected_row_with_a_reason(preprocessed, quarantined, tmp_path: Path):
    _, stats, _ = preprocessed
    assert len(quarantined) == stats.quarantined
    for record in quarantined:
        assert record["kind"] in REJECTION_KINDS
        assert isinstance(record["reason"], str) and record["reason"].strip()
        assert record["source"] == "part-00000.csv"
        if record["kind"] == "wrong_column_count":
            assert "wrong column count" in record["reason"] and record["raw"]
        if record["kind"] == "missing_required":
            assert "region" in record["reason"]
    assert dict(collections.Counter(r["kind"] for r in quarantined)) == stats.quarantine_reasons

    # Exactly the rows the generator broke on purpose, no more, no fewer.
    from pipelines.demo_data import write_demo_data

    report = write_demo_data(tmp_path, rows=ROWS, seed=11)
    assert stats.quarantine_reasons == {kind: n for kind, n in report.malformed.items() if n}


def test_every_row_lands_exactly_once(raw_splits, quarantined):
    ids = [row["customer_id"] for rows in raw_splits.values() for row in rows]
    for record in quarantined:
        # Rows that could not be split into columns keep their raw line; the id is its first field.
        ids.append(record["row"]["customer_id"] if record["row"] else record["raw"].split(",")[0])
    assert sorted(ids) == [f"C{i:07d}" for i in range(1, ROWS + 1)]


def test_raw_splits_follow_the_key_hash(preprocessed, raw_splits, demo_config):
    _, stats, _ = preprocessed
    ratios = demo_config.split.model_dump()
    assert {split: len(rows) for split, rows in raw_splits.items()} == {
        "train": stats.train,
        "eval": stats.eval,
        "test": stats.test,
    }
    seen: dict[str, str] = {}
    for split, rows in raw_splits.items():
        for row in rows:
            key = row["customer_id"]
            assert assign_split(key, ratios) == split, key
            assert key not in seen, f"{key} is in {seen[key]} and {split}"
            seen[key] = split


def test_raw_examples_are_typed_and_drop_ignored_columns(raw_splits):
    rows = [row for split_rows in raw_splits.values() for row in split_rows]
    for row in rows:
        assert "notes" not in row
        assert row[LABEL] in (0, 1) and isinstance(row[LABEL], int)
        assert isinstance(row["region"], str) and row["region"]
        assert isinstance(row["hour"], int)
        assert row["signup_channel"]  # a slice column is filled at cleaning time, never absent
        assert set(row) <= FEATURES | {LABEL, "customer_id", "signup_channel"}
    # Imputed features stay absent in raw examples (imputation happens in the transform graph).
    assert any("age" not in row for row in rows)
    assert all(isinstance(row["age"], float) for row in rows if "age" in row)


def test_transformed_splits_match_raw_counts(preprocessed):
    paths, stats, _ = preprocessed
    counts = {split: len(_records(split_files(paths.transformed, split))) for split in SPLITS}
    assert counts == {"train": stats.train, "eval": stats.eval, "test": stats.test}


def test_transform_graph_describes_the_raw_and_transformed_features(preprocessed):
    import tensorflow_transform as tft

    paths, _, _ = preprocessed
    output = tft.TFTransformOutput(paths.transform_graph)
    raw_spec = output.raw_feature_spec()
    assert set(raw_spec) == FEATURES | {LABEL}
    assert not {"notes", "customer_id", "signup_channel"} & set(raw_spec)
    # Required columns must be present at serving; imputed ones may be absent.
    assert {n for n, s in raw_spec.items() if isinstance(s, tf.io.FixedLenFeature)} == {"region", "hour", LABEL}
    assert set(output.transformed_feature_spec()) == FEATURES | {LABEL}
    assert output.vocabulary_size_by_name("region") == 5


def test_check_raises_when_counts_do_not_add_up():
    PreprocessStats(input=10, train=6, eval=2, test=1, quarantined=1).check()
    with pytest.raises(CountMismatchError, match=r"10 rows in, 9 out"):
        PreprocessStats(input=10, train=6, eval=2, test=1, quarantined=0).check()
    with pytest.raises(CountMismatchError, match=r"10 rows in, 11 out"):
        PreprocessStats(input=10, train=7, eval=2, test=1, quarantined=1).check()
