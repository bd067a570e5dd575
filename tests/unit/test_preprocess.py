"""Ingest output feeds preprocess (1,500 demo rows): every row lands in exactly one place, the transform graph
describes the raw features the model is served with, and the transformed examples are what that graph computes."""

from __future__ import annotations

import collections
import glob
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs.cleaning import REJECTION_KINDS
from beam_jobs.ingest import IngestPaths, IngestStats
from beam_jobs.layout import SPLITS, split_files
from beam_jobs.preprocess import PreprocessPaths, TransformStats, main
from beam_jobs.records import decode_typed

ROWS = 1_500
FEATURES = {"age", "income", "monthly_spend", "tenure_months", "support_calls", "plan", "region", "device", "hour"}
FEATURES |= {"ticket_subject"}
LABEL = "churned"


def _records(pattern: str) -> list[bytes]:
    files = sorted(glob.glob(pattern))
    assert files, f"nothing matches {pattern}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.fixture(scope="module")
def prepared(preprocessed) -> tuple[IngestPaths, IngestStats, PreprocessPaths, TransformStats]:
    """The shared ingest + preprocess run of the small demo set (tests/conftest.py), as this module's paths."""
    paths, stats, transformed = preprocessed
    ingest = IngestPaths(examples=paths.raw, quarantine=paths.quarantine, stats=paths.stats)
    return ingest, stats, PreprocessPaths(paths.transformed, paths.transform_graph), transformed


@pytest.fixture(scope="module")
def raw_splits(prepared) -> dict[str, list[dict]]:
    ingest = prepared[0]
    return {split: [decode_typed(r) for r in _records(split_files(ingest.examples, split))] for split in SPLITS}


@pytest.fixture(scope="module")
def quarantined(prepared) -> list[dict]:
    ingest = prepared[0]
    files = sorted(glob.glob(str(Path(ingest.quarantine) / "part*.jsonl")))
    assert files
    return [json.loads(line) for f in files for line in Path(f).read_text().splitlines()]


def test_counts_add_up_and_every_split_is_transformed(prepared):
    ingest, stats, paths, transformed = prepared
    assert stats.input == ROWS and stats.train + stats.eval + stats.test + stats.quarantined == ROWS
    assert 0.75 < stats.train / stats.input < 0.85 and min(stats.eval, stats.test) > 0
    assert asdict(transformed) == {"train": stats.train, "eval": stats.eval, "test": stats.test}
    counts = {split: len(_records(split_files(paths.transformed, split))) for split in SPLITS}
    assert counts == asdict(transformed)
    assert json.loads(Path(ingest.stats).read_text()) == asdict(stats)


def test_quarantine_holds_exactly_the_broken_rows(prepared, quarantined, tmp_path: Path):
    _, stats, _, _ = prepared
    assert len(quarantined) == stats.quarantined
    for record in quarantined:
        assert record["kind"] in REJECTION_KINDS and record["reason"].strip()
        assert record["source"] == "part-00000.csv"
        if record["kind"] == "wrong_column_count":
            assert "wrong column count" in record["reason"] and record["raw"]
    assert dict(collections.Counter(r["kind"] for r in quarantined)) == stats.quarantine_reasons
    from pipelines.demo_data import write_demo_data

    report = write_demo_data(tmp_path, rows=ROWS, seed=11)
    assert stats.quarantine_reasons == {kind: n for kind, n in report.malformed.items() if n}


def test_every_row_lands_exactly_once(raw_splits, quarantined):
    ids = [row["customer_id"] for rows in raw_splits.values() for row in rows]
    ids += [r["row"]["customer_id"] if r["row"] else r["raw"].split(",")[0] for r in quarantined]
    assert sorted(ids) == [f"C{i:07d}" for i in range(1, ROWS + 1)]


def test_raw_examples_are_typed_and_drop_ignored_columns(raw_splits):
    rows = [row for split_rows in raw_splits.values() for row in split_rows]
    for row in rows:
        assert "notes" not in row
        assert row[LABEL] in (0, 1) and isinstance(row[LABEL], int)
        assert isinstance(row["region"], str) and row["region"]
        assert isinstance(row["hour"], int)
        assert row["signup_channel"]  # a slice column is filled at cleaning time, never absent
        assert set(row) <= FEATURES | {LABEL, "customer_id", "signup_channel"}
    assert any("age" not in row for row in rows)  # imputed features stay absent (imputed in the graph)


def test_transform_graph_describes_the_raw_and_transformed_features(prepared):
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(prepared[2].transform_graph)
    raw_spec = output.raw_feature_spec()
    assert set(raw_spec) == FEATURES | {LABEL}
    assert {n for n, s in raw_spec.items() if isinstance(s, tf.io.FixedLenFeature)} == {"region", "hour", LABEL}
    assert set(output.transformed_feature_spec()) == FEATURES | {LABEL}
    assert output.vocabulary_size_by_name("region") == 5


@pytest.mark.parametrize("split", SPLITS)
def test_transformed_examples_are_what_the_graph_computes(prepared, split):
    """The batch path (record batches in and out, columnar encoding) equals the serving graph on the raw examples."""
    import tensorflow_transform as tft

    ingest, _, paths, _ = prepared
    output = tft.TFTransformOutput(paths.transform_graph)
    raw = tf.io.parse_example(_records(split_files(ingest.examples, split)), output.raw_feature_spec())
    expected = output.transform_features_layer()(raw)  # a TF1 transform graph (force_tf_compat_v1), applied in TF2
    written = tf.io.parse_example(_records(split_files(paths.transformed, split)), output.transformed_feature_spec())
    names = sorted(expected)
    assert names == sorted(written)
    for name in names:
        assert written[name].dtype == expected[name].dtype, name

    def rows(features: dict) -> np.ndarray:
        n = len(np.asarray(features[names[0]]))
        # One column per feature value: a text column's bag of token ids spans several.
        table = np.hstack([np.asarray(features[name], dtype=np.float64).reshape(n, -1) for name in names])
        return table[np.lexsort(np.round(table, 5).T[::-1])]

    np.testing.assert_allclose(rows(written), rows(expected), rtol=1e-6, atol=1e-6)


def _cli_args(examples: str, directory: Path, columns: dict, crosses: list) -> list[str]:
    """The CLI's arguments, with the columns and crosses written to JSON files in ``directory``."""
    (directory / "columns.json").write_text(json.dumps(columns))
    (directory / "crosses.json").write_text(json.dumps(crosses))
    return [
        *("--examples", examples, "--columns-json", str(directory / "columns.json")),
        *("--crosses-json", str(directory / "crosses.json"), "--output", str(directory / "out")),
    ]


def test_cli_prints_the_counts(prepared, tmp_path: Path, capsys, demo_config):
    import tensorflow_transform as tft

    crosses = [{"cross": ["region", "plan"], "hash": 64}]
    main(_cli_args(prepared[0].examples, tmp_path, demo_config.columns_dict(), crosses))
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == asdict(prepared[3])
    assert (tmp_path / "out" / "transform_graph" / "transform_fn" / "saved_model.pb").exists()
    assert not (tmp_path / "out" / "transform_graph" / ".tft_tmp").exists()
    spec = tft.TFTransformOutput(str(tmp_path / "out" / "transform_graph")).transformed_feature_spec()
    assert set(spec) == FEATURES | {LABEL, "region_x_plan"}


def test_cli_refuses_a_bad_cross_naming_the_file(prepared, tmp_path: Path, capsys, demo_config):
    bad = [{"cross": ["region", "age"], "hash": 8}]
    with pytest.raises(SystemExit) as exited:
        main(_cli_args(prepared[0].examples, tmp_path, demo_config.columns_dict(), bad))
    assert exited.value.code == 2
    crosses = tmp_path / "crosses.json"
    assert f"--crosses-json {crosses}: crosses[0]: 'age' is a float column" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_split_is_read_once_and_labelled_by_its_directory() -> None:
    from beam_jobs.layout import split_of_file

    assert split_of_file("gs://bucket/run/examples/eval/part-00000-of-00002.tfrecord.gz") == "eval"
    assert split_of_file("/runs/ingest/examples/test/part-00001-of-00002.tfrecord.gz") == "test"
    with pytest.raises(ValueError, match="not in a split directory"):
        split_of_file("/runs/ingest/examples/part-00000-of-00001.tfrecord.gz")
