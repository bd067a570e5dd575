"""Bucketed numeric slices: parsing, boundaries and labels, the TFMA extractor, per-slice gate states, and one real
TFMA run on tiny data (slow)."""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from components.evaluate.analysis import run_evaluation, slice_gate_states
from components.evaluate.slicing import (
    Bucketed,
    SliceError,
    SliceSpec,
    bucketed_columns,
    equal_width,
    observed_ranges,
    parse_slices,
)
from tests.unit.test_evaluate import GOOD_SLOPE, N_EXAMPLES, _make_rows, _write_shards
from tests.unit.test_example_encoding import example_bytes

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# TFMA's AUCPrecisionRecall divides by zero on single-class slices (segment=vip, by design of the fixture).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

HOUR = {"column": "hour", "buckets": 4}


# ---- parsing ----------------------------------------------------------------------------------------------------


def test_parse_slices_accepts_names_bucketed_columns_and_crosses():
    specs = parse_slices([["region"], HOUR, ["region", {"column": "hour", "buckets": 4.0}]])  # 4.0: KFP's JSON
    assert specs == [
        SliceSpec(("region",)),
        SliceSpec((Bucketed("hour", 4),)),
        SliceSpec(("region", Bucketed("hour", 4))),
    ]
    assert [spec.keys for spec in specs] == [("region",), ("hour",), ("region", "hour")]
    assert [spec.to_json() for spec in specs] == [["region"], [HOUR], ["region", HOUR]]
    assert parse_slices([spec.to_json() for spec in specs]) == specs, "the KFP form round-trips"
    assert bucketed_columns(specs) == {"hour": 4}
    assert isinstance(specs[1].to_json()[0]["buckets"], int)


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ([["region"], {"column": "hour", "buckets": 1}], "slices[1].buckets: must be an integer >= 2, got 1"),
        ([{"column": "hour", "buckets": 2.5}], "slices[0].buckets: must be an integer >= 2, got 2.5"),
        ([{"column": "hour", "buckets": True}], "slices[0].buckets: must be an integer >= 2, got True"),
        ([{"column": "hour", "buckets": "6"}], "slices[0].buckets: must be an integer >= 2, got '6'"),
        ([["region", {"column": "hour"}]], "slices[0][1].buckets: required"),
        ([{"column": "hour", "buckets": 3, "edges": [1]}], "slices[0].edges: unknown key"),
        ([{"column": "", "buckets": 3}], "slices[0].column: must be a column name"),
        ([[]], "slices[0]: empty slice"),
        ([["region", "region"]], "slices[0]: list distinct columns"),
        ([["region", 7]], "slices[0][1]: must be a column name or {column: <name>, buckets: <N>}"),
        (["region"], "slices[0]: must be a list of columns or {column: <name>, buckets: <N>}"),
        ([["hour"], HOUR], "slices[1]: column 'hour' is sliced by value in slices[0]"),
        ([HOUR, ["region", {"column": "hour", "buckets": 6}]], "slices[1][1]: column 'hour' is sliced in 4 buckets"),
    ],
)
def test_bad_slices_raise_naming_the_field(slices, message):
    with pytest.raises(SliceError) as caught:
        parse_slices(slices)
    assert str(caught.value).startswith(message), str(caught.value)


# ---- boundaries and labels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "labels"),
    [
        (("hour", 6, 0, 23, True), ["[0;4)", "[4;8)", "[8;12)", "[12;16)", "[16;20)", "[20;23]"]),
        (("hour", 4, 0, 21, True), ["[0;5)", "[5;11)", "[11;16)", "[16;21]"]),  # 22 values: runs of 5 or 6
        (("calls", 6, 0, 2, True), ["[0;1)", "[1;2)", "[2;2]"]),  # fewer values than buckets: one bucket each
        (("calls", 3, 7, 7, True), ["[7;7]"]),
        (("age", 4, 18.3, 79.9, False), ["[18;34)", "[34;49)", "[49;64)", "[64;80]"]),
        (("rate", 3, 0.1, 0.4, False), ["[0.1;0.2)", "[0.2;0.3)", "[0.3;0.4]"]),
        (("rate", 3, 0.123, 0.987, False), ["[0.12;0.41)", "[0.41;0.70)", "[0.70;0.99]"]),
        (("z", 3, -1.5, 1.5, False), ["[-1.5;-0.5)", "[-0.5;0.5)", "[0.5;1.5]"]),
        (
            ("income", 5, 37.2, 250000.0, False),
            ["[0;50000)", "[50000;100000)", "[100000;150000)", "[150000;200000)", "[200000;250000]"],
        ),
        (("const", 4, 0.25, 0.25, False), ["[0.25;0.25]"]),
    ],
)
def test_equal_width_labels(args, labels):
    assert list(equal_width(*args).labels) == labels


def test_edges_increase_and_cover_the_range():
    for low, high, buckets in [(0.0, 1e-7, 5), (-3.3, 2.3, 3), (1.0, 1e6, 7), (0.001, 0.0013, 2)]:
        spec = equal_width("c", buckets, low, high, integer=False)
        assert len(spec.labels) == buckets
        assert all(a < b for a, b in zip(spec.edges, spec.edges[1:], strict=False)), spec.edges
        assert spec.edges[0] <= low and spec.edges[-1] >= high


def test_assign_compares_in_the_feature_precision_and_skips_missing():
    rate = equal_width("rate", 10, 0.0, 1.0, integer=False)
    assert rate.labels[7] == "[0.7;0.8)"
    # 0.7 as float32 is 0.69999999 < 0.7 as float64: compared in float64 it would land in [0.6;0.7).
    assert rate.assign(np.array([0.7], np.float32)).tolist() == [b"[0.7;0.8)"]
    assert rate.assign(np.array([[0.05], [1.0], [0.05]], np.float32)).tolist() == [b"[0.0;0.1)", b"[0.9;1.0]"]
    assert rate.assign(np.array([np.nan], np.float32)) is None
    assert rate.assign(np.array([], np.float32)) is None
    assert rate.assign(None) is None
    hour = equal_width("hour", 6, 0, 23, integer=True)
    assert hour.assign(np.array([3, 4, 23, 24], np.int64)).tolist() == [b"[0;4)", b"[4;8)", b"[20;23]"]


def test_bucket_features_replaces_only_bucketed_columns_and_copies():
    from components.evaluate.slicing import _bucket_features

    hour = equal_width("hour", 6, 0, 23, integer=True)
    extracts = {"features": {"hour": np.array([5]), "region": np.array([b"north"])}, "labels": np.array([1])}
    result = _bucket_features(extracts, {"hour": hour, "age": equal_width("age", 2, 0, 9, True)}, "features")
    assert result["features"]["hour"].tolist() == [b"[4;8)"]
    assert result["features"]["region"].tolist() == [b"north"] and "age" not in result["features"]
    assert extracts["features"]["hour"].tolist() == [5], "the input extract is not mutated"


def _write_examples(path: Path, rows: list[dict]) -> str:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in rows:
            writer.write(example_bytes(row))
    return str(path)


def test_observed_ranges_reads_types_from_the_data(tmp_path):
    rows = [{"hour": 5, "age": 79.9, "name": b"a"}, {"age": float("nan")}, {"hour": 23, "age": 18.3}, {"hour": 2}]
    pattern = _write_examples(tmp_path / "part-0.tfrecord.gz", rows)
    ranges = observed_ranges(pattern, ["hour", "age", "absent"], batch_size=2)  # a batch without hour values too
    assert (ranges["hour"].low, ranges["hour"].high, ranges["hour"].integer) == (2, 23, True)
    assert (ranges["age"].low, ranges["age"].high, ranges["age"].integer) == (18.3, 79.9, False)  # not 79.90000153
    assert "absent" not in ranges
    with pytest.raises(ValueError, match="'name' does not hold int64 or float values"):
        observed_ranges(pattern, ["name"])
    assert observed_ranges(str(tmp_path / "none-*.gz"), ["hour"]) == {}


def test_extractor_goes_just_before_tfma_slicing():
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.proto import config_pb2

    from components.evaluate.slicing import BUCKET_STAGE_NAME, with_bucket_extractor

    defaults = tfma.default_extractors(eval_config=config_pb2.EvalConfig())
    stages = [item.stage_name for item in with_bucket_extractor(defaults, {})]
    assert stages[stages.index(BUCKET_STAGE_NAME) + 1] == "ExtractSliceKeys"
    assert stages.index(BUCKET_STAGE_NAME) > stages.index("ExtractUnbatchedInputs"), "works on one example at a time"
    with pytest.raises(ValueError, match="ExtractSliceKeys"):
        with_bucket_extractor(defaults[:1], {})


# ---- per-slice gate states --------------------------------------------------------------------------------------


def test_slice_gate_states_flags_win_then_failed_passed_ungated():
    columns = {
        "region=west": ["region"],
        "region=north": ["region"],
        "region=east": ["region"],
        "region=south": ["region"],
        "hour=[0;4)": ["hour"],
        "plan=a,hour=[0;4)": ["plan", "hour"],
    }
    states = slice_gate_states(
        columns,
        gated=[["region"], ["hour", "plan"]],
        failed={"region=west", "region=east"},
        small={"plan=a,hour=[0;4)", "region=east"},
        single_class={"region=south"},
    )
    assert states == {
        "hour=[0;4)": "ungated",
        "plan=a,hour=[0;4)": "small",  # gated by [hour, plan] (any order), but too small to be
        "region=east": "small",  # its failure was ignored
        "region=north": "passed",
        "region=south": "single_class",
        "region=west": "failed",
    }


def test_failed_slices_from_a_validation_result_and_outcome_json():
    from google.protobuf import text_format
    from tensorflow_model_analysis.proto import validation_result_pb2

    from components.evaluate.analysis import EvaluationOutcome, failed_slices

    validation = text_format.Parse(
        """
        metric_validations_per_slice { failures { metric_key { name: "auc" } } }
        metric_validations_per_slice {
          slice_key { single_slice_keys { column: "hour" bytes_value: "[0;4)" } }
          failures { metric_key { name: "auc" } }
        }
        metric_validations_per_slice {
          slice_key { single_slice_keys { column: "hour" bytes_value: "[4;8)" } }
        }""",
        validation_result_pb2.ValidationResult(),
    )
    assert failed_slices(validation, [("hour",)]) == {"hour=[0;4)"}
    outcome = EvaluationOutcome(
        overall={"auc": 0.8},
        slices={"hour=[0;4)": {"auc": 0.5}},
        single_class_slices=[],
        baseline_overall=None,
        blessed=False,
        failures=["auc hour=[0;4) 0.50 < 0.60 (n=40)"],
        roc=[],
        confusion_matrix={},
        slice_gates={"hour=[0;4)": "failed"},
        slice_buckets={"hour": ["[0;4)", "[4;8]"]},
    )
    data = json.loads(json.dumps(outcome.to_json(), allow_nan=False))
    assert data["slice_gates"] == {"hour=[0;4)": "failed"} and data["slice_buckets"]["hour"][-1] == "[4;8]"


# ---- slow: a real TFMA run --------------------------------------------------------------------------------------


def _export_hour_model(path: Path) -> str:
    """sigmoid(slope * x), but reversed (-slope) on examples with hour < 5: a planted bad hour bucket [0;5)."""
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input(shape=(1,), name="x")
    dense = tf_keras.layers.Dense(1, activation="sigmoid")
    model = tf_keras.Model(inputs, dense(inputs))
    dense.set_weights([np.array([[GOOD_SLOPE]], np.float32), np.zeros(1, np.float32)])
    spec = {
        "x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        "hour": tf.io.FixedLenFeature([1], tf.int64, default_value=[-1]),
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, spec)
        early = tf.logical_and(parsed["hour"] >= 0, parsed["hour"] < 5)
        return {"outputs": tf.cast(model(tf.where(early, -parsed["x"], parsed["x"])), tf.float32)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})
    return str(path)


@pytest.fixture(scope="module")
def bucketed(tmp_path_factory):
    """One TFMA run: hour in 4 buckets (gated), crossed with region (small), x (float) in 3, segment (single-class)."""
    root = tmp_path_factory.mktemp("bucketed")
    rows = _make_rows()
    pattern = _write_shards(rows, root / "data")
    slices = [["region"], HOUR, ["region", HOUR], [{"column": "x", "buckets": 3}], ["segment"]]
    gates = [
        {"slice": ["hour"], "metric": "auc", "min": 0.6},
        {"slice": ["hour", "region"], "metric": "auc", "min": 0.99},  # ~11 examples each: small, never gated
    ]
    outcome = run_evaluation(
        _export_hour_model(root / "model"),
        pattern,
        str(root / "tfma"),
        "label",
        json.loads(json.dumps(slices)),  # exactly what crosses the KFP boundary
        {"auc": {"min": 0.6}},
        min_slice_size=30,
        slice_thresholds=gates,
    )
    return SimpleNamespace(rows=rows, outcome=outcome)


@pytest.mark.slow
def test_hour_buckets_have_the_right_counts(bucketed):
    outcome = bucketed.outcome
    # hour = i % 24 on every third row i < 400: 0, 3, .., 21 (22 possible values 0..21 -> runs of 5 or 6)
    assert outcome.slice_buckets["hour"] == ["[0;5)", "[5;11)", "[11;16)", "[16;21]"]
    hours = np.arange(N_EXAMPLES)[np.arange(N_EXAMPLES) % 3 == 0] % 24
    expected = {
        "hour=[0;5)": int((hours < 5).sum()),
        "hour=[5;11)": int(((hours >= 5) & (hours < 11)).sum()),
        "hour=[11;16)": int(((hours >= 11) & (hours < 16)).sum()),
        "hour=[16;21]": int((hours >= 16).sum()),
    }
    assert expected == {"hour=[0;5)": 34, "hour=[5;11)": 34, "hour=[11;16)": 34, "hour=[16;21]": 32}
    assert {name: outcome.slices[name]["example_count"] for name in expected} == expected
    crossed = [name for name in outcome.slices if name.startswith("region=") and ",hour=" in name]
    assert len(crossed) == 12 and sum(outcome.slices[name]["example_count"] for name in crossed) == hours.size


@pytest.mark.slow
def test_float_buckets_match_numpy_and_predictions_are_untouched(bucketed):
    outcome, x = bucketed.outcome, bucketed.rows["x"]
    labels = outcome.slice_buckets["x"]
    spec = equal_width("x", 3, float(x.min()), float(x.max()), integer=False)
    assert labels == list(spec.labels)
    inner = np.asarray(spec.edges[1:-1], np.float32)
    expected = np.bincount(np.searchsorted(inner, x, side="right"), minlength=3)
    assert [outcome.slices[f"x={label}"]["example_count"] for label in labels] == expected.tolist()
    assert outcome.overall["example_count"] == N_EXAMPLES


@pytest.mark.slow
def test_gate_on_a_bucketed_slice_fails_with_a_readable_line(bucketed):
    outcome = bucketed.outcome
    early = outcome.slices["hour=[0;5)"]
    assert early["auc"] < 0.6
    assert outcome.failures == [f"auc hour=[0;5) {early['auc']:.2f} < 0.60 (n=34)"]
    assert not outcome.blessed


@pytest.mark.slow
def test_slice_gates_in_the_summary_json(bucketed):
    outcome = bucketed.outcome
    gates = json.loads(json.dumps(outcome.to_json(), allow_nan=False))["slice_gates"]
    assert set(gates) == set(outcome.slices)
    assert gates["hour=[0;5)"] == "failed"
    assert {gates[f"hour={label}"] for label in ("[5;11)", "[11;16)", "[16;21]")} == {"passed"}
    assert {gates[name] for name in outcome.slices if "," in name} == {"small"}
    assert gates["segment=vip"] == "single_class"
    single = [name for name in outcome.slices if name.startswith(("region=", "x=")) and "," not in name]
    assert len(single) == 6 and {gates[name] for name in single} == {"ungated"}
    assert {name for name, state in gates.items() if state == "small"} == set(outcome.small_slices)
