"""Evaluate step library: pure helpers (fast) and real TFMA runs on tiny tf_keras models (slow)."""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from components.evaluate.analysis import (
    BLESSED_MARKER,
    NOT_BLESSED_MARKER,
    EvaluationOutcome,
    confusion_at,
    describe_failure,
    read_blessing,
    roc_points,
    run_evaluation,
    slice_name,
    write_blessing,
)

# The project convention: tf.keras is tf_keras. Set before TensorFlow is first imported (lazily, below).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TFMA's AUCPrecisionRecall divides by zero on single-class slices (by design of this fixture).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

N_EXAMPLES = 400
GOOD_SLOPE = 2.5
SLICES = [["region"], ["segment", "region"], ["segment"]]
GATES = {"auc": {"min": 0.65, "max_drop": 0.01}}


# ---- fixture data and models ----------------------------------------------------------------------


def _make_rows(seed: int = 7) -> dict[str, np.ndarray]:
    """x drives the label; every 10th row is segment 'vip' and always positive (a single-class slice)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N_EXAMPLES).astype(np.float32)
    label = (rng.random(N_EXAMPLES) < 1.0 / (1.0 + np.exp(-GOOD_SLOPE * x))).astype(np.int64)
    vip = np.arange(N_EXAMPLES) % 10 == 0
    label[vip] = 1
    region = rng.choice(np.array([b"north", b"south", b"west"]), size=N_EXAMPLES)
    return {"x": x, "label": label, "region": region, "vip": vip}


def _example(rows: dict[str, np.ndarray], i: int) -> bytes:
    """One raw tf.Example; `segment` and `hour` are absent from most rows."""
    import tensorflow as tf

    feature = {
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[rows["x"][i]])),
        "region": tf.train.Feature(bytes_list=tf.train.BytesList(value=[rows["region"][i]])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[rows["label"][i]])),
    }
    if rows["vip"][i]:
        feature["segment"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"vip"]))
    if i % 3 == 0:
        feature["hour"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 24]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_shards(rows: dict[str, np.ndarray], directory: Path, shards: int = 2) -> str:
    """Gzipped TFRecord shards; returns their file pattern."""
    import tensorflow as tf

    directory.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        path = directory / f"eval-{shard:05d}-of-{shards:05d}.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for i in range(shard, len(rows["x"]), shards):
                writer.write(_example(rows, i))
    return str(directory / "eval-*.tfrecord.gz")


def _export_model(path: Path, slope: float, scramble: bool = False, scramble_region: bytes | None = None) -> str:
    """tf_keras sigmoid(slope*x) behind the contract signature: serialized raw tf.Example -> {'outputs': [N, 1]}.

    scramble replaces x by sin(1000 x), a prediction unrelated to the label; scramble_region does so in one
    region only (a planted bad slice).
    """
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input(shape=(1,), name="x")
    dense = tf_keras.layers.Dense(1, activation="sigmoid")
    model = tf_keras.Model(inputs, dense(inputs))
    dense.set_weights([np.array([[slope]], np.float32), np.zeros(1, np.float32)])
    spec = {
        "x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        "region": tf.io.FixedLenFeature([1], tf.string, default_value=[b""]),
    }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, spec)
        x = parsed["x"]
        if scramble:
            x = tf.sin(x * 1000.0)
        if scramble_region is not None:
            x = tf.where(tf.equal(parsed["region"], scramble_region), tf.sin(x * 1000.0), x)
        return {"outputs": tf.cast(model(x), tf.float32)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})
    return str(path)


def _rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC over all positive/negative pairs, ties counting one half."""
    pos, neg = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Rows, their gzipped TFRecords and two exported models (good and scrambled)."""
    root = tmp_path_factory.mktemp("evaluate")
    rows = _make_rows()
    return SimpleNamespace(
        root=root,
        rows=rows,
        pattern=_write_shards(rows, root / "data"),
        good=_export_model(root / "good", GOOD_SLOPE),
        bad=_export_model(root / "bad", GOOD_SLOPE, scramble=True),
        patchy=_export_model(root / "patchy", GOOD_SLOPE, scramble_region=b"west"),
    )


@pytest.fixture(scope="module")
def good_outcome(world):
    """The good model alone, gated by a minimum AUC (max_drop is ignored without a baseline)."""
    return run_evaluation(world.good, world.pattern, str(world.root / "tfma_good"), "label", SLICES, GATES)


# ---- fast: pure helpers -------------------------------------------------------------------------


def _matrix(threshold, tp, fp, tn, fn):
    return SimpleNamespace(
        threshold=threshold, true_positives=tp, false_positives=fp, true_negatives=tn, false_negatives=fn
    )


def test_slice_name_uses_configured_feature_order():
    configured = [["region"], ["plan", "region"]]
    assert slice_name({}, configured) == "overall"
    assert slice_name({"region": "north"}, configured) == "region=north"
    assert slice_name({"region": "north", "plan": "premium"}, configured) == "plan=premium,region=north"


def test_roc_points_sorted_deduplicated_and_skip_undefined():
    matrices = [
        _matrix(-1e-6, 5, 5, 0, 0),
        _matrix(0.3, 4, 2, 3, 1),
        _matrix(0.4, 4, 2, 3, 1),
        _matrix(0.9, 1, 0, 5, 4),
        _matrix(1.0, 0, 0, 5, 5),
    ]
    roc = roc_points(matrices)
    assert [(p["fpr"], p["tpr"]) for p in roc] == [(0.0, 0.0), (0.0, 0.2), (0.4, 0.8), (1.0, 1.0)]
    assert roc[2]["threshold"] == 0.4
    assert roc_points([_matrix(0.5, 3, 0, 0, 2)]) == [], "no negatives: fpr undefined"


def test_confusion_at_picks_nearest_threshold():
    matrices = [_matrix(0.499, 1, 1, 1, 1), _matrix(0.5, 4.0, 2.0, 3.0, 1.0), _matrix(0.501, 0, 0, 0, 0)]
    assert confusion_at(matrices) == {"tp": 4, "fp": 2, "tn": 3, "fn": 1}
    assert confusion_at([]) == {}


def _outcome(blessed: bool) -> EvaluationOutcome:
    return EvaluationOutcome(
        overall={"auc": 0.8, "precision": float("nan"), "example_count": 10.0},
        slices={"region=north": {"auc": float("inf")}},
        single_class_slices=[],
        baseline_overall=None,
        blessed=blessed,
        failures=[] if blessed else ["auc 0.61 is below the minimum 0.65"],
        roc=[{"fpr": 0.0, "tpr": 0.0, "threshold": 1.0}],
        confusion_matrix={"tp": 1, "fp": 0, "tn": 1, "fn": 0},
    )


def test_to_json_maps_non_finite_to_none():
    data = _outcome(True).to_json()
    json.dumps(data, allow_nan=False)
    assert data["overall"]["precision"] is None
    assert data["slices"]["region=north"]["auc"] is None


def test_blessing_round_trip(tmp_path):
    write_blessing(_outcome(True), str(tmp_path))
    assert read_blessing(str(tmp_path)) is True
    saved = json.loads((tmp_path / "blessing.json").read_text())
    assert saved["blessed"] is True and saved["overall"]["auc"] == 0.8 and saved["baseline_overall"] is None
    write_blessing(_outcome(False), str(tmp_path))
    assert read_blessing(str(tmp_path)) is False
    assert not (tmp_path / BLESSED_MARKER).exists() and (tmp_path / NOT_BLESSED_MARKER).exists()
    assert json.loads((tmp_path / "blessing.json").read_text())["failures"] == ["auc 0.61 is below the minimum 0.65"]


def test_read_blessing_without_marker_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_blessing(str(tmp_path))


def test_describe_failure_texts():
    from google.protobuf import text_format
    from tensorflow_model_analysis.proto import validation_result_pb2

    def failure(text):
        return text_format.Parse(text, validation_result_pb2.ValidationFailure())

    below = failure(
        'metric_key { name: "auc" } metric_value { double_value { value: 0.61 } } '
        "metric_threshold { value_threshold { lower_bound { value: 0.65 } } }"
    )
    assert describe_failure(below) == "auc overall 0.61 < 0.65"
    assert describe_failure(below, "region=south", 212.0) == "auc region=south 0.61 < 0.65 (n=212)"
    drop = failure(
        'metric_key { name: "binary_accuracy" is_diff: true } metric_value { double_value { value: -0.02 } }'
        " metric_threshold { change_threshold { direction: HIGHER_IS_BETTER absolute { value: -0.01 } } }"
    )
    assert describe_failure(drop, baseline=0.801) == "accuracy dropped 0.020 vs baseline 0.801 (max_drop 0.010)"
    rise = failure(
        'metric_key { name: "binary_crossentropy" is_diff: true } metric_value { double_value { value: 0.05 } }'
        " metric_threshold { change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.01 } } }"
    )
    assert describe_failure(rise, baseline=0.4) == "log_loss rose 0.050 vs baseline 0.400 (max_drop 0.010)"
    above = failure(
        'metric_key { name: "binary_crossentropy" } metric_value { double_value { value: 0.62 } } '
        "metric_threshold { value_threshold { upper_bound { value: 0.5 } } }"
    )
    assert describe_failure(above) == "log_loss overall 0.62 > 0.50"
    close = failure(
        'metric_key { name: "auc" } metric_value { double_value { value: 0.649996 } } '
        "metric_threshold { value_threshold { lower_bound { value: 0.65 } } }"
    )
    assert describe_failure(close) == "auc overall 0.649996 < 0.650000"
    nan = failure(
        'metric_key { name: "precision" } metric_threshold { value_threshold { lower_bound { value: 0.5 } } }'
    )
    assert describe_failure(nan, "region=west", 40.0) == "precision region=west has no value to check (NaN) (n=40)"


def _summary(slices: dict, small: list[str], single: list[str], failures: list[str]) -> dict:
    return {
        "run_id": "r1",
        "ok": True,
        "seconds": 1.0,
        "rows": {},
        "metrics": {"overall": {"auc": 0.8, "f1": 0.7, "log_loss": 0.5, "example_count": 500.0}, "slices": slices},
        "single_class_slices": single,
        "small_slices": small,
        "blessed": not failures,
        "failures": failures,
        "pushed": None,
        "log": "run.log",
    }


def test_summary_never_names_a_small_or_single_class_slice_the_weakest():
    from pipelines.summary import format_summary

    slices = {
        "plan=a,region=north": {"auc": 0.40, "example_count": 4.0},
        "plan=a,region=south": {"auc": 0.0, "example_count": 50.0},
        "plan=b,region=north": {"auc": 0.70, "example_count": 120.0},
        "region=north": {"auc": 0.75, "example_count": 124.0},
        "region=west": {"auc": 0.9, "example_count": 8.0},
    }
    failures = ["auc region=north 0.75 < 0.80 (n=124)", "auc overall 0.80 < 0.85"]
    text = format_summary(_summary(slices, ["plan=a,region=north", "region=west"], ["plan=a,region=south"], failures))
    assert "crossed   3 slices; weakest plan=b,region=north auc 0.700 n=120" in text
    assert "region=west" in text and "n=8  (small: not gated)" in text
    assert "f1 0.700  log_loss 0.500" in text
    assert "  blessed   no —\n              auc region=north 0.75 < 0.80 (n=124)\n              auc overall" in text


# ---- slow: real TFMA runs -----------------------------------------------------------------------


@pytest.mark.slow
def test_good_model_is_blessed(good_outcome):
    assert good_outcome.blessed, good_outcome.failures
    assert good_outcome.failures == []
    assert good_outcome.baseline_overall is None


@pytest.mark.slow
def test_overall_metrics_match_numpy(good_outcome, world):
    rows = world.rows
    scores = 1.0 / (1.0 + np.exp(-GOOD_SLOPE * rows["x"].astype(np.float64)))
    overall = good_outcome.overall
    assert overall["auc"] == pytest.approx(_rank_auc(rows["label"], scores), abs=1e-3)
    assert overall["example_count"] == N_EXAMPLES
    assert overall["mean_label"] == pytest.approx(rows["label"].mean(), abs=1e-6)
    assert overall["mean_prediction"] == pytest.approx(scores.mean(), abs=1e-4)
    assert overall["accuracy"] == pytest.approx(((scores > 0.5) == rows["label"]).mean(), abs=1e-6)
    expected = {
        "auc",
        "auc_pr",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "log_loss",
        "example_count",
        "calibration",
        "mean_label",
        "mean_prediction",
    }
    assert set(overall) == expected


@pytest.mark.slow
def test_slice_keys_and_counts(good_outcome, world):
    slices = good_outcome.slices
    regions = {f"region={name}" for name in ("north", "south", "west")}
    assert regions <= set(slices)
    assert sum(slices[key]["example_count"] for key in regions) == N_EXAMPLES
    crossed = [key for key in slices if key.startswith("segment=vip,region=")]
    assert len(crossed) == 3, sorted(slices)
    assert sum(slices[key]["example_count"] for key in crossed) == slices["segment=vip"]["example_count"]
    assert slices["segment=vip"]["example_count"] == world.rows["vip"].sum()


@pytest.mark.slow
def test_single_class_slice_is_flagged_not_gated(good_outcome):
    assert "segment=vip" in good_outcome.single_class_slices
    assert all(key.startswith("segment=vip") for key in good_outcome.single_class_slices)
    assert good_outcome.blessed


@pytest.mark.slow
def test_roc_and_confusion_matrix(good_outcome, world):
    roc = good_outcome.roc
    assert len(roc) > 10
    fpr, tpr = [p["fpr"] for p in roc], [p["tpr"] for p in roc]
    assert all(0.0 <= v <= 1.0 for v in fpr + tpr)
    assert fpr == sorted(fpr) and tpr == sorted(tpr)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    matrix = good_outcome.confusion_matrix
    assert sum(matrix.values()) == N_EXAMPLES
    assert matrix["tp"] + matrix["fn"] == world.rows["label"].sum()


@pytest.mark.slow
def test_outcome_json_is_strict(good_outcome):
    text = json.dumps(good_outcome.to_json(), allow_nan=False)
    assert json.loads(text)["blessed"] is True


@pytest.mark.slow
def test_blessing_written_from_real_outcome(good_outcome, tmp_path):
    write_blessing(good_outcome, str(tmp_path))
    assert read_blessing(str(tmp_path))
    assert json.loads((tmp_path / "blessing.json").read_text())["overall"]["example_count"] == N_EXAMPLES


@pytest.mark.slow
def test_bad_model_below_minimum_is_not_blessed(world):
    outcome = run_evaluation(
        world.bad, world.pattern, str(world.root / "tfma_bad"), "label", [], {"auc": {"min": 0.65}}
    )
    assert not outcome.blessed
    (failure,) = outcome.failures
    assert failure.startswith("auc overall ") and failure.endswith(" < 0.65"), failure


@pytest.mark.slow
def test_drop_versus_baseline_is_not_blessed(world):
    outcome = run_evaluation(
        world.bad,
        world.pattern,
        str(world.root / "tfma_drop"),
        "label",
        [["region"]],
        {"auc": {"max_drop": 0.01}},
        baseline_dir=world.good,
    )
    assert not outcome.blessed
    assert outcome.baseline_overall["auc"] > outcome.overall["auc"] + 0.01
    (failure,) = outcome.failures
    baseline = outcome.baseline_overall["auc"]
    assert failure.startswith("auc dropped ") and failure.endswith(f" vs baseline {baseline:.3f} (max_drop 0.010)")
    drop = baseline - outcome.overall["auc"]
    assert float(failure.split()[2]) == pytest.approx(drop, abs=1e-3)


@pytest.mark.slow
def test_identical_candidate_and_baseline_is_blessed(world):
    beam_args = ["--runner=DirectRunner", "--direct_running_mode=in_memory"]
    outcome = run_evaluation(
        world.good,
        world.pattern,
        str(world.root / "tfma_same"),
        "label",
        [["region"]],
        GATES,
        baseline_dir=world.good,
        beam_args=beam_args,
    )
    assert outcome.blessed, outcome.failures
    assert outcome.baseline_overall["auc"] == pytest.approx(outcome.overall["auc"])


@pytest.mark.slow
def test_no_examples_is_not_blessed(world, tmp_path):
    pattern = _write_shards({"x": np.zeros(0, np.float32)}, tmp_path / "empty", shards=1)
    outcome = run_evaluation(world.good, pattern, str(tmp_path / "tfma"), "label", [["region"]], GATES)
    assert not outcome.blessed
    assert "example_count is 0" in outcome.failures[0]
    assert outcome.overall["example_count"] == 0
    json.dumps(outcome.to_json(), allow_nan=False)


@pytest.mark.slow
def test_planted_bad_slice_fails_the_per_slice_gate_small_slices_do_not(world):
    gates = [
        {"slice": ["region"], "metric": "auc", "min": 0.6},
        {"slice": ["segment", "region"], "metric": "auc", "min": 0.6},  # every one single-class: flagged only
        {"slice": ["hour"], "metric": "auc", "min": 0.99},  # ~17 examples each: small, flagged only
    ]
    outcome = run_evaluation(
        world.patchy,
        world.pattern,
        str(world.root / "tfma_patchy"),
        "label",
        [*SLICES, ["hour"]],
        {"auc": {"min": 0.6}},
        min_slice_size=30,
        slice_thresholds=gates,
    )
    assert not outcome.blessed
    west = outcome.slices["region=west"]
    assert west["auc"] < 0.6 < outcome.overall["auc"]
    assert outcome.failures == [f"auc region=west {west['auc']:.2f} < 0.60 (n={west['example_count']:.0f})"]
    hours = [name for name in outcome.slices if name.startswith("hour=")]
    assert len(hours) == 8 and set(hours) <= set(outcome.small_slices)  # hours 0, 3, .., 21: ~17 rows each
    assert any(outcome.slices[name].get("auc", 0.0) < 0.99 for name in hours), "the gate would have failed them"
    assert "segment=vip,region=west" in outcome.single_class_slices
    assert not any(name.startswith("region=") for name in outcome.small_slices)


@pytest.mark.slow
def test_failures_only_on_small_slices_still_bless(world):
    gates = [{"slice": ["hour"], "metric": "auc", "min": 0.99}, {"slice": ["region"], "metric": "auc", "min": 0.6}]
    outcome = run_evaluation(
        world.good,
        world.pattern,
        str(world.root / "tfma_small"),
        "label",
        [["hour"], ["region"]],
        GATES,
        slice_thresholds=gates,
    )
    assert outcome.blessed and outcome.failures == []
    assert {name for name in outcome.slices if name.startswith("hour=")} <= set(outcome.small_slices)
    assert not any(name.startswith("region=") for name in outcome.small_slices)
