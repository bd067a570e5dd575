"""TFMA EvalConfig for the evaluate step: metrics, slices and overall-only gates.

Importing this module is cheap; TFMA (~5-7 s of imports) loads only when a config is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tensorflow_model_analysis.proto import config_pb2

CANDIDATE = "candidate"
BASELINE = "baseline"
SIGNATURE_NAME = "serving_default"
PREDICTION_KEY = "outputs"
# Pinned so TFMA loads the SavedModel with tf.saved_model.load and calls the serving signature, instead of
# trying tf.keras.models.load_model first (whose outcome depends on TF_USE_LEGACY_KERAS).
MODEL_TYPE = "tf_generic"

# Config name -> (TFMA metric class, TFMA metric name).
THRESHOLD_METRICS: dict[str, tuple[str, str]] = {
    "auc": ("AUC", "auc"),
    "auc_pr": ("AUCPrecisionRecall", "auc_precision_recall"),
    "accuracy": ("BinaryAccuracy", "binary_accuracy"),
    "precision": ("Precision", "precision"),
    "recall": ("Recall", "recall"),
}
# Outcome name -> TFMA metric name, for every scalar metric reported by the evaluate step.
REPORTED_METRICS: dict[str, str] = {
    **{name: tfma_name for name, (_, tfma_name) in THRESHOLD_METRICS.items()},
    "example_count": "example_count",
    "calibration": "calibration",
    "mean_label": "mean_label",
    "mean_prediction": "mean_prediction",
}
METRIC_CLASSES: tuple[str, ...] = (
    "ExampleCount",
    "AUC",
    "AUCPrecisionRecall",
    "BinaryAccuracy",
    "Precision",
    "Recall",
    "MeanLabel",
    "MeanPrediction",
    "Calibration",
    "ConfusionMatrixPlot",
    "CalibrationPlot",
)
THRESHOLD_KEYS = ("min", "max_drop")


def validate_thresholds(thresholds: Mapping[str, Mapping[str, float | None] | None]) -> None:
    """Raise ValueError for an unknown metric, an unknown key or a negative max_drop."""
    for name, bounds in thresholds.items():
        if name not in THRESHOLD_METRICS:
            raise ValueError(f"unknown threshold metric {name!r}; expected one of {sorted(THRESHOLD_METRICS)}")
        for key, value in (bounds or {}).items():
            if key not in THRESHOLD_KEYS:
                raise ValueError(f"unknown threshold key {key!r} for metric {name!r}; expected {THRESHOLD_KEYS}")
            if key == "max_drop" and value is not None and value < 0:
                raise ValueError(f"max_drop for metric {name!r} must be >= 0, got {value}")


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


def _overall_threshold(bounds: Mapping[str, float | None], with_baseline: bool) -> config_pb2.MetricThreshold | None:
    """The gate for one metric, or None when nothing applies (max_drop needs a baseline)."""
    from tensorflow_model_analysis.proto import config_pb2

    threshold = config_pb2.MetricThreshold()
    minimum = bounds.get("min")
    max_drop = bounds.get("max_drop")
    if minimum is not None:
        threshold.value_threshold.lower_bound.value = float(minimum)
    if max_drop is not None and with_baseline:
        threshold.change_threshold.direction = config_pb2.MetricDirection.HIGHER_IS_BETTER
        threshold.change_threshold.absolute.value = -float(max_drop)
    if not (threshold.HasField("value_threshold") or threshold.HasField("change_threshold")):
        return None
    return threshold


def _metric_configs(
    thresholds: Mapping[str, Mapping[str, float | None] | None], with_baseline: bool
) -> list[config_pb2.MetricConfig]:
    """All reported metrics and plots; gated ones carry a threshold on the overall slice only."""
    from tensorflow_model_analysis.proto import config_pb2

    gated_by_class = {THRESHOLD_METRICS[name][0]: bounds or {} for name, bounds in thresholds.items()}
    configs = []
    for class_name in METRIC_CLASSES:
        metric = config_pb2.MetricConfig(class_name=class_name)
        threshold = _overall_threshold(gated_by_class.get(class_name, {}), with_baseline)
        if threshold is not None:
            # An empty SlicingSpec is the overall slice; a plain `threshold` would gate every slice.
            metric.per_slice_thresholds.add(slicing_specs=[config_pb2.SlicingSpec()], threshold=threshold)
        configs.append(metric)
    return configs


def build_eval_config(
    label_key: str,
    slices: Sequence[Sequence[str]],
    thresholds: Mapping[str, Mapping[str, float | None] | None],
    with_baseline: bool,
) -> config_pb2.EvalConfig:
    """EvalConfig for model `candidate` (and `baseline` when with_baseline) on raw tf.Examples.

    slices: lists of feature keys, each one slicing spec (the overall slice is always added).
    thresholds: e.g. {"auc": {"min": 0.65, "max_drop": 0.01}}; `min` is a lower bound, `max_drop` an
    absolute allowed drop vs the baseline (ignored without one). Both apply to the overall slice only.
    """
    from tensorflow_model_analysis.proto import config_pb2

    validate_thresholds(thresholds)
    for feature_keys in slices:
        if not feature_keys:
            raise ValueError("empty slice: the overall slice is always evaluated, list only feature keys")
    config = config_pb2.EvalConfig()
    config.model_specs.append(_model_spec(CANDIDATE, label_key, is_baseline=False))
    if with_baseline:
        config.model_specs.append(_model_spec(BASELINE, label_key, is_baseline=True))
    config.slicing_specs.append(config_pb2.SlicingSpec())
    config.slicing_specs.extend(config_pb2.SlicingSpec(feature_keys=list(keys)) for keys in slices)
    config.metrics_specs.add(metrics=_metric_configs(thresholds, with_baseline))
    # Keras-compiled metrics would be recomputed on raw inputs; only the metrics above are wanted.
    config.options.include_default_metrics.value = False
    return config
