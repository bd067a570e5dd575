"""The preprocessing_fn on a few rows, with outputs computed by hand."""

from __future__ import annotations

import json
import math

import apache_beam as beam
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata

from beam_jobs.contract import parse_columns
from beam_jobs.options import pipeline_options
from beam_jobs.transform import make_preprocessing_fn, raw_feature_spec, raw_schema

COLUMNS = parse_columns(
    {
        "z": {"type": "float", "transform": "zscore", "missing": "mean"},
        "s01": {"type": "float", "transform": "scale_0_1", "missing": {"fill": 0}},
        "lg": {"type": "float", "transform": "log"},
        "n": {"type": "int", "transform": "identity", "missing": "mode"},
        "cat": {"type": "string", "transform": {"vocabulary": {"oov_buckets": 1}}, "missing": "mode"},
        "h": {"type": "string", "transform": {"hash": 8}, "missing": {"fill": "zz"}},
        "b": {"type": "float", "transform": {"bucketize": 2}},
        "who": {"type": "string", "role": "key"},
        "y": {"type": "int", "role": "label"},
    }
)
ROWS = [
    {"z": [1.0], "s01": [10.0], "lg": 0.0, "n": [3], "cat": ["x"], "h": ["q"], "b": 1.0, "y": 0},
    {"z": [3.0], "s01": [30.0], "lg": math.e - 1, "n": [3], "cat": ["x"], "h": [], "b": 2.0, "y": 1},
    {"z": [], "s01": [], "lg": -5.0, "n": [5], "cat": [], "h": ["q"], "b": 3.0, "y": 1},
    {"z": [2.0], "s01": [20.0], "lg": 0.0, "n": [], "cat": ["y"], "h": ["q"], "b": 4.0, "y": 0},
]


def test_raw_spec_required_vs_optional():
    spec = raw_feature_spec(COLUMNS)
    assert isinstance(spec["lg"], tf.io.FixedLenFeature) and isinstance(spec["z"], tf.io.VarLenFeature)
    assert isinstance(spec["y"], tf.io.FixedLenFeature)
    assert "who" not in spec


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("xf")
    metadata = dataset_metadata.DatasetMetadata(raw_schema(COLUMNS))
    with beam.Pipeline(options=pipeline_options()) as pipeline, tft_beam.Context(temp_dir=str(out / "tmp")):
        (data, _), _ = (pipeline | beam.Create(ROWS), metadata) | tft_beam.AnalyzeAndTransformDataset(
            make_preprocessing_fn(COLUMNS)
        )
        _ = (
            data
            | beam.Map(lambda row: json.dumps({k: v.item() if hasattr(v, "item") else v for k, v in row.items()}))
            | beam.io.WriteToText(str(out / "rows"), shard_name_template="")
        )
    return [json.loads(line) for line in (out / "rows").read_text().splitlines()]


def test_known_outputs(transformed):
    # z: present 1,3,2 → mean 2 imputed for the missing row; z-score over (1,3,2,2): std = sqrt(0.5)
    assert sorted(r["z"] for r in transformed) == pytest.approx([-1.4142, 0.0, 0.0, 1.4142], abs=1e-3)
    rows = {r["n"]: r for r in transformed}
    assert set(rows) == {3.0, 5.0}  # n missing → mode 3
    cats = sorted(r["cat"] for r in transformed)
    assert cats == [0, 0, 0, 1]  # 'x' most frequent → id 0; missing → mode 'x'
    for row in transformed:
        assert 0.0 <= row["s01"] <= 1.0
        assert 0 <= row["h"] < 8 and row["b"] in (0, 1)
        assert row["y"] in (0.0, 1.0)
    # s01 missing → fill 0, which becomes the minimum after scaling
    assert min(r["s01"] for r in transformed) == 0.0
    # log: negative clipped to 0 → log1p 0; e-1 → 1; z-score of (0, 1, 0, 0)
    assert sorted(round(r["lg"], 3) for r in transformed) == pytest.approx([-0.577, -0.577, -0.577, 1.732], abs=1e-3)
    hashes = [r["h"] for r in transformed]
    assert len(set(hashes)) == 2  # 'q' ×3 and the 'zz' fill


# A mode feeding a vocabulary (numbers first counted by one vocabulary analyzer, then by another), and a float mode.
MODE_COLUMNS = parse_columns(
    {
        "i": {"type": "int", "transform": "identity"},  # the row's number, to find it again
        "k": {"type": "int", "transform": {"vocabulary": {"oov_buckets": 1}}, "missing": "mode"},
        "f": {"type": "float", "transform": "vocabulary", "missing": "mode"},
        "g": {"type": "float", "transform": "identity", "missing": "mode"},
        "y": {"type": "int", "role": "label"},
    }
)
G_MODE = 7.1234567  # no 6-decimal string holds it as a float32
MODE_ROWS = [
    {"i": 0, "k": [7], "f": [0.5], "g": [G_MODE], "y": 0},
    {"i": 1, "k": [7], "f": [], "g": [G_MODE], "y": 1},
    {"i": 2, "k": [2], "f": [1.25], "g": [], "y": 0},
    {"i": 3, "k": [], "f": [1.25], "g": [2.5], "y": 1},
]


def test_a_numeric_mode_feeds_a_vocabulary_and_fills_the_exact_train_value(tmp_path):
    import numpy as np
    import tensorflow_transform as tft

    metadata = dataset_metadata.DatasetMetadata(raw_schema(MODE_COLUMNS))
    with beam.Pipeline(options=pipeline_options()) as pipeline, tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        (data, _), transform_fn = (pipeline | beam.Create(MODE_ROWS), metadata) | tft_beam.AnalyzeAndTransformDataset(
            make_preprocessing_fn(MODE_COLUMNS)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "graph"))
        _ = (
            data
            | beam.Map(lambda row: json.dumps({k: v.item() if hasattr(v, "item") else v for k, v in row.items()}))
            | beam.io.WriteToText(str(tmp_path / "rows"), shard_name_template="")
        )
    rows = {r["i"]: r for r in map(json.loads, (tmp_path / "rows").read_text().splitlines())}
    output = tft.TFTransformOutput(str(tmp_path / "graph"))
    # k: 7 twice, 2 once; the missing row is filled with the mode 7 before the vocabulary counts it (7 ×3 → id 0)
    assert output.vocabulary_by_name("k") == [b"7", b"2"]
    assert [rows[i]["k"] for i in range(4)] == [0, 0, 1, 0]
    # f: 1.25 twice, 0.5 once; the missing row gets 1.25, the most frequent id
    assert [rows[i]["f"] for i in range(4)] == [1, 0, 0, 0]
    assert rows[2]["g"] == np.float32(G_MODE)  # the train value itself, not a rounded decimal of it
