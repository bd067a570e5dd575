"""Shape of the TFMA EvalConfig built for the evaluate step (no Beam run)."""

import pytest

from components.evaluate.tfma_config import METRIC_CLASSES, THRESHOLD_METRICS, build_eval_config

SLICES = [["region"], ["region", "plan"]]


def _metric(config, class_name):
    """The MetricConfig of one class in the single metrics spec."""
    (spec,) = config.metrics_specs
    return next(metric for metric in spec.metrics if metric.class_name == class_name)


def test_model_specs_without_baseline():
    config = build_eval_config("label", SLICES, {}, with_baseline=False)
    (spec,) = config.model_specs
    assert (spec.name, spec.label_key, spec.signature_name, spec.is_baseline) == (
        "candidate",
        "label",
        "serving_default",
        False,
    )
    assert spec.prediction_key == "outputs"


def test_model_specs_with_baseline():
    config = build_eval_config("label", SLICES, {}, with_baseline=True)
    assert [(spec.name, spec.is_baseline) for spec in config.model_specs] == [
        ("candidate", False),
        ("baseline", True),
    ]
    assert {spec.label_key for spec in config.model_specs} == {"label"}


def test_slicing_specs_overall_first_then_configured():
    config = build_eval_config("label", SLICES, {}, with_baseline=False)
    assert [list(spec.feature_keys) for spec in config.slicing_specs] == [[], ["region"], ["region", "plan"]]


def test_all_metrics_and_plots_present():
    config = build_eval_config("label", [], {}, with_baseline=False)
    (spec,) = config.metrics_specs
    assert [metric.class_name for metric in spec.metrics] == list(METRIC_CLASSES)
    assert {"AUC", "ConfusionMatrixPlot", "CalibrationPlot", "MeanPrediction", "ExampleCount"} <= set(METRIC_CLASSES)
    assert {metric.class_name for metric in THRESHOLD_METRICS.values()} <= set(METRIC_CLASSES)


def test_min_threshold_is_on_overall_slice_only():
    config = build_eval_config("label", SLICES, {"auc": {"min": 0.65, "max_drop": 0.01}}, with_baseline=False)
    auc = _metric(config, "AUC")
    assert not auc.HasField("threshold"), "a plain threshold would gate every slice"
    (per_slice,) = auc.per_slice_thresholds
    assert [list(spec.feature_keys) for spec in per_slice.slicing_specs] == [[]]
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.65)
    assert not per_slice.threshold.HasField("change_threshold"), "max_drop needs a baseline"
    (spec,) = config.metrics_specs
    assert not spec.thresholds and not spec.per_slice_thresholds


def test_change_threshold_only_with_baseline():
    from tensorflow_model_analysis.proto import config_pb2

    config = build_eval_config("label", SLICES, {"auc_pr": {"max_drop": 0.02}}, with_baseline=True)
    (per_slice,) = _metric(config, "AUCPrecisionRecall").per_slice_thresholds
    change = per_slice.threshold.change_threshold
    assert change.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-0.02)
    assert not per_slice.threshold.HasField("value_threshold")


def test_unthresholded_metrics_have_no_gates():
    config = build_eval_config("label", SLICES, {"recall": {"min": 0.5}}, with_baseline=True)
    (spec,) = config.metrics_specs
    gated = [
        metric.class_name for metric in spec.metrics if metric.per_slice_thresholds or metric.HasField("threshold")
    ]
    assert gated == ["Recall"]


def test_none_and_missing_bounds_add_nothing():
    config = build_eval_config("label", [], {"auc": {"min": None}, "precision": {}, "recall": None}, True)
    (spec,) = config.metrics_specs
    assert not any(metric.per_slice_thresholds for metric in spec.metrics)


def test_max_drop_without_baseline_adds_nothing():
    config = build_eval_config("label", [], {"accuracy": {"max_drop": 0.01}}, with_baseline=False)
    assert not _metric(config, "BinaryAccuracy").per_slice_thresholds


def test_unknown_metric_raises_naming_it():
    with pytest.raises(ValueError, match="f1_score"):
        build_eval_config("label", [], {"f1_score": {"min": 0.5}}, with_baseline=False)


def test_unknown_threshold_key_raises():
    with pytest.raises(ValueError, match="minimum"):
        build_eval_config("label", [], {"auc": {"minimum": 0.5}}, with_baseline=False)


def test_negative_max_drop_raises():
    with pytest.raises(ValueError, match="max_drop"):
        build_eval_config("label", [], {"auc": {"max_drop": -0.1}}, with_baseline=True)


def test_empty_slice_raises():
    with pytest.raises(ValueError, match="empty slice"):
        build_eval_config("label", [[]], {}, with_baseline=False)


def test_decision_threshold_reaches_every_thresholded_metric():
    import json

    config = build_eval_config("label", [], {"auc": {"min": 0.5}}, with_baseline=False, decision_threshold=0.3)
    for class_name in ("Precision", "Recall", "F1Score", "ConfusionMatrixAtThresholds"):
        assert json.loads(_metric(config, class_name).config) == {"thresholds": [0.3]}, class_name
    assert json.loads(_metric(config, "BinaryAccuracy").config) == {"threshold": 0.3}
    assert not _metric(config, "AUC").config and not _metric(config, "BinaryCrossEntropy").config


def test_log_loss_is_lower_is_better():
    from tensorflow_model_analysis.proto import config_pb2

    config = build_eval_config("label", [], {"log_loss": {"max": 0.5, "max_drop": 0.02}}, with_baseline=True)
    (per_slice,) = _metric(config, "BinaryCrossEntropy").per_slice_thresholds
    assert per_slice.threshold.value_threshold.upper_bound.value == pytest.approx(0.5)
    assert not per_slice.threshold.value_threshold.HasField("lower_bound")
    change = per_slice.threshold.change_threshold
    assert change.direction == config_pb2.MetricDirection.LOWER_IS_BETTER
    assert change.absolute.value == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [({"log_loss": {"min": 0.1}}, "log_loss is lower-is-better"), ({"f1": {"max": 0.9}}, "f1 is higher-is-better")],
)
def test_bound_against_direction_raises(thresholds, message):
    with pytest.raises(ValueError, match=message):
        build_eval_config("label", [], thresholds, with_baseline=False)


def test_slice_thresholds_gate_every_value_of_the_columns():
    gates = [
        {"slice": ["plan", "region"], "metric": "auc", "min": 0.6},
        {"slice": ["region"], "metric": "f1", "min": 0.4},
    ]
    config = build_eval_config("label", SLICES, {"auc": {"min": 0.7}}, False, slice_thresholds=gates)
    overall, crossed = _metric(config, "AUC").per_slice_thresholds
    assert [list(spec.feature_keys) for spec in overall.slicing_specs] == [[]]
    assert [list(spec.feature_keys) for spec in crossed.slicing_specs] == [["plan", "region"]]
    assert not crossed.slicing_specs[0].feature_values, "no values: every slice of the columns"
    assert crossed.threshold.value_threshold.lower_bound.value == pytest.approx(0.6)
    (f1,) = _metric(config, "F1Score").per_slice_thresholds
    assert f1.threshold.value_threshold.lower_bound.value == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"slice": ["plan"], "metric": "auc", "min": 0.6}, r"slice_thresholds\[0\]\.slice: \['plan'\]"),
        ({"slice": ["region"], "metric": "auroc", "min": 0.6}, r"slice_thresholds\[0\]\.metric: unknown metric"),
        ({"slice": ["region"], "metric": "log_loss", "min": 0.6}, r"slice_thresholds\[0\]: log_loss is lower"),
        ({"slice": ["region"], "metric": "auc"}, r"slice_thresholds\[0\]: give min or max"),
    ],
)
def test_bad_slice_threshold_raises_naming_it(gate, message):
    with pytest.raises(ValueError, match=message):
        build_eval_config("label", SLICES, {"auc": {"min": 0.5}}, False, slice_thresholds=[gate])


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_decision_threshold_out_of_range_raises(threshold):
    with pytest.raises(ValueError, match="decision_threshold"):
        build_eval_config("label", [], {"auc": {"min": 0.5}}, False, decision_threshold=threshold)


def test_bucketed_slices_slice_on_the_column_name_and_take_its_gates():
    slices = [["region"], {"column": "hour", "buckets": 6}, ["region", {"column": "hour", "buckets": 6.0}]]
    gates = [
        {"slice": ["hour"], "metric": "auc", "min": 0.6},
        {"slice": ["hour", "region"], "metric": "auc", "min": 0.5},
    ]
    config = build_eval_config("label", slices, {"auc": {"min": 0.7}}, False, slice_thresholds=gates)
    assert [list(spec.feature_keys) for spec in config.slicing_specs] == [[], ["region"], ["hour"], ["region", "hour"]]
    _, hour, crossed = _metric(config, "AUC").per_slice_thresholds
    assert [list(spec.feature_keys) for spec in hour.slicing_specs] == [["hour"]]
    assert hour.threshold.value_threshold.lower_bound.value == pytest.approx(0.6)
    assert [list(spec.feature_keys) for spec in crossed.slicing_specs] == [["hour", "region"]]


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ([{"column": "hour", "buckets": 1}], r"slices\[0\]\.buckets: must be an integer >= 2"),
        ([["hour"], {"column": "hour", "buckets": 6}], r"slices\[1\]: column 'hour' is sliced by value"),
    ],
)
def test_bad_bucketed_slice_raises_naming_it(slices, message):
    with pytest.raises(ValueError, match=message):
        build_eval_config("label", slices, {"auc": {"min": 0.5}}, False)
