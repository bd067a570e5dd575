"""The evaluation report's data: TFMA's plots and the training logs read into plain dataclasses, and the curve
arithmetic on them (PR points, AUC by trapezoids, reliability bins). TFMA is imported only inside read_plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.evaluate.analysis import (
    roc_points,
    slice_name,
)
from components.evaluate.tfma_config import (
    BASELINE,
    CANDIDATE,
)
from components.train.curves import CURVES_JSON, CURVES_PNG
from components.train.result import RESULT_FILE, TrainingResult

if TYPE_CHECKING:
    pass

CALIBRATION_BINS = 10

# ---- plot data (plain, TFMA-free) -----------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdCounts:
    """Confusion counts at one threshold (a prediction above `threshold` is positive); field names as in TFMA."""

    threshold: float
    true_positives: float
    false_positives: float
    true_negatives: float
    false_negatives: float


@dataclass(frozen=True)
class CalibrationBucket:
    """Examples whose prediction falls in [lower, upper): their count, label sum and prediction sum."""

    lower: float
    upper: float
    count: float
    label_sum: float
    prediction_sum: float


@dataclass(frozen=True)
class ModelPlots:
    """One model's plot data in one slice."""

    matrices: tuple[ThresholdCounts, ...] = ()
    calibration: tuple[CalibrationBucket, ...] = ()


# slice name -> model role (CANDIDATE or BASELINE) -> plot data
PlotsBySlice = Mapping[str, Mapping[str, ModelPlots]]


def read_plots(tfma_dir: str) -> dict[str, dict[str, ModelPlots]]:
    """TFMA's plots under tfma_dir as plain data, slices named as the evaluate step names them."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers.eval_config_writer import load_eval_run

    config = load_eval_run(tfma_dir)[0]  # None without eval_config.json: name columns alphabetically
    configured = [list(spec.feature_keys) for spec in config.slicing_specs] if config is not None else []
    result: dict[str, dict[str, ModelPlots]] = {}
    for plots in tfma.load_plots(tfma_dir):
        if plots.HasField("cross_slice_key"):
            continue
        pairs = {
            column: value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            for column, value in tfma.slicer.deserialize_slice_key(plots.slice_key)
        }
        name = slice_name(pairs, configured)
        for item in plots.plot_keys_and_values:
            key = item.key
            role = CANDIDATE if key.model_name in (CANDIDATE, "") else key.model_name
            if role not in (CANDIDATE, BASELINE) or key.HasField("sub_key") or key.output_name:
                continue
            found = result.setdefault(name, {}).get(role, ModelPlots())
            matrices = tuple(
                ThresholdCounts(m.threshold, m.true_positives, m.false_positives, m.true_negatives, m.false_negatives)
                for m in item.value.confusion_matrix_at_thresholds.matrices
            )
            buckets = tuple(
                CalibrationBucket(
                    b.lower_threshold_inclusive,
                    b.upper_threshold_exclusive,
                    b.num_weighted_examples.value,
                    b.total_weighted_label.value,
                    b.total_weighted_refined_prediction.value,
                )
                for b in item.value.calibration_histogram_buckets.buckets
            )
            result[name][role] = ModelPlots(found.matrices or matrices, found.calibration or buckets)
    return result


def read_training_logs(training_logs_dir: str | None) -> tuple[dict | None, TrainingResult | None, bytes | None]:
    """(curves.json, result.json, curves.png) from the train step's training_logs; None for each missing one."""
    if not training_logs_dir:
        return None, None, None
    curves = result = png = None
    curves_path = os.path.join(training_logs_dir, CURVES_JSON)
    if os.path.exists(curves_path):
        with open(curves_path, encoding="utf-8") as handle:
            curves = json.load(handle)
    if os.path.exists(os.path.join(training_logs_dir, RESULT_FILE)):
        result = TrainingResult.read(training_logs_dir)
    png_path = os.path.join(training_logs_dir, CURVES_PNG)
    if os.path.exists(png_path):
        with open(png_path, "rb") as handle:
            png = handle.read()
    return curves, result, png


# ---- curve arithmetic -----------------------------------------------------------------------------


def pr_points(matrices: Iterable[ThresholdCounts]) -> list[dict[str, float]]:
    """Precision–recall curve: one point per threshold with a positive prediction, sorted by recall."""
    points = []
    for m in matrices:
        predicted, positives = m.true_positives + m.false_positives, m.true_positives + m.false_negatives
        if predicted > 0 and positives > 0:
            points.append({"recall": m.true_positives / positives, "precision": m.true_positives / predicted})
    return sorted(points, key=lambda p: (p["recall"], -p["precision"]))


def curve_auc(matrices: Iterable[ThresholdCounts]) -> float | None:
    """Trapezoidal area under the ROC curve of the thresholded counts (None when undefined)."""
    points = roc_points(matrices)
    if not points:
        return None
    xs = [0.0, *(p["fpr"] for p in points), 1.0]
    ys = [0.0, *(p["tpr"] for p in points), 1.0]
    return sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1))


def reliability(buckets: Iterable[CalibrationBucket], bins: int = CALIBRATION_BINS) -> list[dict[str, float]]:
    """TFMA's fine calibration buckets merged into `bins` equal-width bins: count, mean prediction, label rate."""
    merged = [[0.0, 0.0, 0.0] for _ in range(bins)]
    for bucket in buckets:
        if bucket.count <= 0:
            continue
        start = bucket.lower if math.isfinite(bucket.lower) else 0.0
        index = min(max(int(start * bins), 0), bins - 1)
        merged[index][0] += bucket.count
        merged[index][1] += bucket.prediction_sum
        merged[index][2] += bucket.label_sum
    return [
        {"bin": i / bins, "count": n, "mean_prediction": pred / n, "label_rate": labels / n}
        for i, (n, pred, labels) in enumerate(merged)
        if n > 0
    ]


def nearest_counts(matrices: Sequence[ThresholdCounts], threshold: float) -> ThresholdCounts | None:
    """The matrix whose threshold is nearest `threshold`."""
    return min(matrices, key=lambda m: abs(m.threshold - threshold)) if matrices else None


def format_number(value: float | None, digits: int = 3) -> str:
    """A metric as text; an em dash when undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def format_count(value: float | None) -> str:
    """A count as text with thousands separators; an em dash when undefined."""
    return "—" if value is None else f"{round(value):,}"
