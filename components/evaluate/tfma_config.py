"""TFMA EvalConfig for the evaluate step: metrics, slices, overall gates and per-slice gates.

Importing this module is cheap; TFMA (~5-7 s of imports) loads only when a config is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from components.evaluate.slicing import SliceSpec, parse_slices
from components.train.signatures import OUTPUT_KEY, SERVING_SIGNATURE

if TYPE_CHECKING:
    from tensorflow_model_analysis.proto import config_pb2

CANDIDATE = "candidate"
BASELINE = "baseline"
SIGNATURE_NAME = SERVING_SIGNATURE
PREDICTION_KEY = OUTPUT_KEY
# Pinned so TFMA loads the SavedModel with tf.saved_model.load and calls the serving signature, instead of
# trying tf.keras.models.load_model first (whose outcome depends on TF_USE_LEGACY_KERAS).
MODEL_TYPE = "tf_generic"
DEFAULT_DECISION_THRESHOLD = 0.5
# A slice with fewer examples is flagged and never gated on (its metrics are noise).
DEFAULT_MIN_SLICE_SIZE = 30


class GatedMetric(NamedTuple):
    """A metric that thresholds can gate on."""

    class_name: str  # TFMA metric class
    tfma_name: str  # the name TFMA reports it under
    threshold_key: str | None = None  # its TFMA config key for the decision threshold, when it has one
    lower_is_better: bool = False


# Config name -> TFMA metric: the one place metric names are defined (pipelines/config.py validates against it).
THRESHOLD_METRICS: dict[str, GatedMetric] = {
    "auc": GatedMetric("AUC", "auc"),
    "auc_pr": GatedMetric("AUCPrecisionRecall", "auc_precision_recall"),
    "accuracy": GatedMetric("BinaryAccuracy", "binary_accuracy", threshold_key="threshold"),
    "precision": GatedMetric("Precision", "precision", threshold_key="thresholds"),
    "recall": GatedMetric("Recall", "recall", threshold_key="thresholds"),
    "f1": GatedMetric("F1Score", "f1_score", threshold_key="thresholds"),
    "log_loss": GatedMetric("BinaryCrossEntropy", "binary_crossentropy", lower_is_better=True),
}
# Outcome name -> TFMA metric name, for every scalar metric reported by the evaluate step.
REPORTED_METRICS: dict[str, str] = {
    **{name: metric.tfma_name for name, metric in THRESHOLD_METRICS.items()},
    "example_count": "example_count",
    "calibration": "calibration",
    "mean_label": "mean_label",
    "mean_prediction": "mean_prediction",
}
CONFUSION_MATRIX_CLASS = "ConfusionMatrixAtThresholds"  # tp/fp/tn/fn at exactly the decision threshold
CONFUSION_MATRIX_NAME = "confusion_matrix_at_thresholds"
METRIC_CLASSES: tuple[str, ...] = (
    "ExampleCount",
    "AUC",
    "AUCPrecisionRecall",
    "BinaryAccuracy",
    "Precision",
    "Recall",
    "F1Score",
    "BinaryCrossEntropy",
    "MeanLabel",
    "MeanPrediction",
    "Calibration",
    CONFUSION_MATRIX_CLASS,
    "ConfusionMatrixPlot",
    "CalibrationPlot",
)
THRESHOLD_KEYS = ("min", "max", "max_drop")
SLICE_THRESHOLD_KEYS = ("slice", "metric", "min", "max")


def bound_error(metric: str, bounds: Mapping[str, float | None]) -> str | None:
    """Why `bounds` do not fit the metric's direction (higher-is-better takes `min`, lower-is-better `max`)."""
    if THRESHOLD_METRICS[metric].lower_is_better:
        if bounds.get("min") is not None:
            return f"{metric} is lower-is-better: give `max` (an upper bound), not `min`"
    elif bounds.get("max") is not None:
        return f"{metric} is higher-is-better: give `min` (a lower bound), not `max`"
    return None


def validate_thresholds(thresholds: Mapping[str, Mapping[str, float | None] | None]) -> None:
    """Raise ValueError for an unknown metric or key, a bound against the metric's direction, a negative max_drop."""
    for name, bounds in thresholds.items():
        if name not in THRESHOLD_METRICS:
            raise ValueError(f"unknown threshold metric {name!r}; expected one of {sorted(THRESHOLD_METRICS)}")
        for key, value in (bounds or {}).items():
            if key not in THRESHOLD_KEYS:
                raise ValueError(f"unknown threshold key {key!r} for metric {name!r}; expected {THRESHOLD_KEYS}")
            if key == "max_drop" and value is not None and value < 0:
                raise ValueError(f"max_drop for metric {name!r} must be >= 0, got {value}")
        problem = bound_error(name, bounds or {})
        if problem:
            raise ValueError(f"thresholds.{name}: {problem}")


def validate_slice_thresholds(slice_thresholds: Sequence[Mapping], slices: Sequence[Any]) -> None:
    """Raise ValueError naming the entry (slice_thresholds[i]) for anything build_eval_config cannot gate on.

    `slice` names columns only: `[hour]` gates the slices of a bucketed `{column: hour, buckets: 6}`."""
    configured = {frozenset(spec.keys) for spec in parse_slices(slices)}
    for index, entry in enumerate(slice_thresholds):
        where = f"slice_thresholds[{index}]"
        unknown = sorted(set(entry) - set(SLICE_THRESHOLD_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; expected {SLICE_THRESHOLD_KEYS}")
        metric = entry.get("metric")
        if metric not in THRESHOLD_METRICS:
            raise ValueError(f"{where}.metric: unknown metric {metric!r}; expected one of {sorted(THRESHOLD_METRICS)}")
        if frozenset(entry.get("slice") or ()) not in configured:
            raise ValueError(f"{where}.slice: {list(entry.get('slice') or [])} is not one of the configured slices")
        if entry.get("min") is None and entry.get("max") is None:
            raise ValueError(f"{where}: give min or max")
        problem = bound_error(metric, entry)
        if problem:
            raise ValueError(f"{where}: {problem}")


def _model_spec(name: str, label_key: str, is_baseline: bool) -> config_pb2.ModelSpec:
    """One model evaluated through its serving signature on raw serialized tf.Examples."""
    from tensorflow_model_analysis.proto import config_pb2

    return config_pb2.ModelSpec(
        name=name,
        label_key=label_key,
        signature_name=SIGNATURE_NAME,
        prediction_key=PREDICTION_KEY,
        model_type=MODEL_TYPE,
        is_baseline=is_baseline,
    )


def _value_threshold(bounds: Mapping[str, float | None]) -> config_pb2.MetricThreshold | None:
    """A value gate (min -> lower bound, max -> upper bound), or None without bounds."""
    from tensorflow_model_analysis.proto import config_pb2

    threshold = config_pb2.MetricThreshold()
    if bounds.get("min") is not None:
        threshold.value_threshold.lower_bound.value = float(bounds["min"])  # type: ignore[arg-type]
    if bounds.get("max") is not None:
        threshold.value_threshold.upper_bound.value = float(bounds["max"])  # type: ignore[arg-type]
    return threshold if threshold.HasField("value_threshold") else None


def _overall_threshold(
    metric: GatedMetric, bounds: Mapping[str, float | None], with_baseline: bool
) -> config_pb2.MetricThreshold | None:
    """The overall gate for one metric, or None when nothing applies (max_drop needs a baseline)."""
    from tensorflow_model_analysis.proto import config_pb2

    threshold = _value_threshold(bounds) or config_pb2.MetricThreshold()
    max_drop = bounds.get("max_drop")
    if max_drop is not None and with_baseline:
        change = threshold.change_threshold
        if metric.lower_is_better:  # candidate - baseline <= max_drop
            change.direction = config_pb2.MetricDirection.LOWER_IS_BETTER
            change.absolute.value = float(max_drop)
        else:  # candidate - baseline >= -max_drop
            change.direction = config_pb2.MetricDirection.HIGHER_IS_BETTER
            change.absolute.value = -float(max_drop)
    if not (threshold.HasField("value_threshold") or threshold.HasField("change_threshold")):
        return None
    return threshold


def _metric_config(class_name: str, decision_threshold: float) -> config_pb2.MetricConfig:
    """One metric; those computed at a decision threshold get it in their TFMA config."""
    from tensorflow_model_analysis.proto import config_pb2

    key = next((m.threshold_key for m in THRESHOLD_METRICS.values() if m.class_name == class_name), None)
    if class_name == CONFUSION_MATRIX_CLASS:
        key = "thresholds"
    if key is None:
        return config_pb2.MetricConfig(class_name=class_name)
    value: float | list[float] = [decision_threshold] if key == "thresholds" else decision_threshold
    return config_pb2.MetricConfig(class_name=class_name, config=json.dumps({key: value}))


def _metric_configs(
    thresholds: Mapping[str, Mapping[str, float | None] | None],
    slice_thresholds: Sequence[Mapping],
    with_baseline: bool,
    decision_threshold: float,
) -> list[config_pb2.MetricConfig]:
    """All reported metrics and plots, with their overall gates and per-slice gates."""
    from tensorflow_model_analysis.proto import config_pb2

    configs = []
    for class_name in METRIC_CLASSES:
        metric = _metric_config(class_name, decision_threshold)
        for name, gated in THRESHOLD_METRICS.items():
            if gated.class_name != class_name:
                continue
            threshold = _overall_threshold(gated, thresholds.get(name) or {}, with_baseline)
            if threshold is not None:
                # An empty SlicingSpec is the overall slice; a plain `threshold` would gate every slice.
                metric.per_slice_thresholds.add(slicing_specs=[config_pb2.SlicingSpec()], threshold=threshold)
            # TFMA expresses "every value of these columns": a SlicingSpec with feature_keys and no values applies
            # to each slice with exactly those columns. Small and single-class slices cannot be excluded here;
            # analysis.py drops their failures (flagged, never gated).
            for entry in slice_thresholds:
                if entry["metric"] == name:
                    metric.per_slice_thresholds.add(
                        slicing_specs=[config_pb2.SlicingSpec(feature_keys=list(entry["slice"]))],
                        threshold=_value_threshold(entry),
                    )
        configs.append(metric)
    return configs


def build_eval_config(
    label_key: str,
    slices: Sequence[Any],
    thresholds: Mapping[str, Mapping[str, float | None] | None],
    with_baseline: bool,
    decision_threshold: float = DEFAULT_DECISION_THRESHOLD,
    slice_thresholds: Sequence[Mapping] = (),
) -> config_pb2.EvalConfig:
    """EvalConfig for model `candidate` (and `baseline` when with_baseline) on raw tf.Examples.

    slices: each one slicing spec (the overall slice is always added): a list of columns, a column being a name or
    {"column": "hour", "buckets": 6} (a bare mapping is a one-column slice); see components.evaluate.slicing. A bucketed
    column is sliced on its name: the bucket labels are put in its place by the extractor run_evaluation adds.
    thresholds: e.g. {"auc": {"min": 0.65, "max_drop": 0.01}, "log_loss": {"max": 0.5}}; `min`/`max` are value
    bounds, `max_drop` the absolute allowed worsening vs the baseline (ignored without one). Overall slice only.
    decision_threshold: the score above which a prediction is positive, for accuracy, precision, recall, F1 and
    the confusion matrix.
    slice_thresholds: e.g. [{"slice": ["region"], "metric": "auc", "min": 0.6}]: a value gate on every slice of a
    configured slice's columns (a bucketed column named by its column: ["hour"]).
    """
    from tensorflow_model_analysis.proto import config_pb2

    validate_thresholds(thresholds)
    specs: list[SliceSpec] = parse_slices(slices)
    validate_slice_thresholds(slice_thresholds, specs)
    if not 0.0 < decision_threshold < 1.0:
        raise ValueError(f"decision_threshold must be in (0, 1), got {decision_threshold}")
    config = config_pb2.EvalConfig()
    config.model_specs.append(_model_spec(CANDIDATE, label_key, is_baseline=False))
    if with_baseline:
        config.model_specs.append(_model_spec(BASELINE, label_key, is_baseline=True))
    config.slicing_specs.append(config_pb2.SlicingSpec())
    config.slicing_specs.extend(config_pb2.SlicingSpec(feature_keys=list(spec.keys)) for spec in specs)
    config.metrics_specs.add(metrics=_metric_configs(thresholds, slice_thresholds, with_baseline, decision_threshold))
    # Keras-compiled metrics would be recomputed on raw inputs; only the metrics above are wanted.
    config.options.include_default_metrics.value = False
    return config
