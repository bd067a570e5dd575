"""Evaluate step library: run TFMA on a candidate (and optional baseline) model and decide the blessing.

TFMA and TensorFlow are imported inside run_evaluation only, so read_blessing/write_blessing stay cheap.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from beam_jobs.layout import SAVED_MODEL_FILE
from components.evaluate.slicing import (
    Buckets,
    SliceSpec,
    bucketed_columns,
    compute_buckets,
    parse_slices,
    with_bucket_extractor,
)
from components.evaluate.tfma_config import (
    BASELINE,
    CANDIDATE,
    CONFUSION_MATRIX_NAME,
    DEFAULT_DECISION_THRESHOLD,
    DEFAULT_MIN_SLICE_SIZE,
    REPORTED_METRICS,
    THRESHOLD_METRICS,
    build_eval_config,
)

if TYPE_CHECKING:
    from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2, validation_result_pb2

logger = logging.getLogger(__name__)

BLESSED_MARKER = "BLESSED"
NOT_BLESSED_MARKER = "NOT_BLESSED"
BLESSING_JSON = "blessing.json"
OVERALL = "overall"
# The gate outcome of one slice (EvaluationOutcome.slice_gates); a flag wins, since gates ignore flagged slices.
GATE_FAILED = "failed"  # a slice_threshold on this slice failed
GATE_PASSED = "passed"  # a slice_threshold applies to this slice and passed
GATE_SMALL = "small"  # fewer than min_slice_size examples: flagged, not gated
GATE_SINGLE_CLASS = "single_class"  # one class only: flagged, not gated
GATE_UNGATED = "ungated"  # no slice_threshold applies to this slice
SLICE_GATE_STATES = (GATE_FAILED, GATE_PASSED, GATE_SMALL, GATE_SINGLE_CLASS, GATE_UNGATED)

# With a single model TFMA leaves model_name empty in metric and plot keys.
_CANDIDATE_NAMES = (CANDIDATE, "")
_OUTCOME_NAME = {tfma_name: name for name, tfma_name in REPORTED_METRICS.items()}
_THRESHOLD_NAME = {metric.tfma_name: name for name, metric in THRESHOLD_METRICS.items()}
_LOWER_IS_BETTER = {name for name, metric in THRESHOLD_METRICS.items() if metric.lower_is_better}


@dataclass
class EvaluationOutcome:
    """What the evaluate step learned. Undefined metrics (NaN/inf, e.g. precision with no positive
    predictions) are omitted from `overall`, `slices` and `baseline_overall`.

    Slices in `small_slices` (fewer than min_slice_size examples) or `single_class_slices` are flagged and never
    gated on. `failures` holds one readable line per reason the model is not blessed. `slice_gates` maps every name
    in `slices` to one of SLICE_GATE_STATES. `slice_buckets` maps each bucketed column to its bucket labels in
    order (e.g. {"hour": ["[0;4)", ..., "[20;23]"]}), the values its slices are named by."""

    overall: dict[str, float]
    slices: dict[str, dict[str, float]]
    single_class_slices: list[str]
    baseline_overall: dict[str, float] | None
    blessed: bool
    failures: list[str]
    roc: list[dict[str, float]]
    confusion_matrix: dict[str, int]
    small_slices: list[str] = field(default_factory=list)
    decision_threshold: float = DEFAULT_DECISION_THRESHOLD
    min_slice_size: int = DEFAULT_MIN_SLICE_SIZE
    slice_gates: dict[str, str] = field(default_factory=dict)
    slice_buckets: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A dict that json.dumps accepts with allow_nan=False (non-finite floats become None)."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    """Recursively replace NaN/inf by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


# ---- reading TFMA protos --------------------------------------------------------------------------


def _slice_pairs(slice_key: metrics_for_slice_pb2.SliceKey) -> dict[str, str]:
    """Column -> value (as text) of a serialized TFMA slice key; {} for the overall slice."""
    pairs = {}
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        pairs[single.column] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return pairs


def slice_name(pairs: Mapping[str, str], configured: Sequence[Sequence[str]]) -> str:
    """'region=north,plan=premium' with features in configured order ('overall' for no features).

    TFMA sorts slice columns alphabetically; the first configured slice with the same features wins.
    """
    if not pairs:
        return OVERALL
    order = next((list(keys) for keys in configured if set(keys) == set(pairs)), sorted(pairs))
    return ",".join(f"{column}={pairs[column]}" for column in order)


def _scalar(value: metrics_for_slice_pb2.MetricValue) -> float | None:
    """The finite double in a MetricValue, else None."""
    if not value.HasField("double_value"):
        return None
    number = value.double_value.value
    return number if math.isfinite(number) else None


def _model_metrics(metrics: metrics_for_slice_pb2.MetricsForSlice, model_names: Sequence[str]) -> dict[str, float]:
    """Reported scalar metrics of one model in one slice (diffs and sub-keyed metrics skipped)."""
    result = {}
    for item in metrics.metric_keys_and_values:
        key = item.key
        if key.model_name not in model_names or key.is_diff or key.HasField("sub_key") or key.output_name:
            continue
        name = _OUTCOME_NAME.get(key.name)
        number = _scalar(item.value)
        if name is not None and number is not None:
            result[name] = number
    return result


def _is_single_class(metrics: Mapping[str, float]) -> bool:
    """True when every label in the slice is the same class (mean label 0 or 1)."""
    mean_label = metrics.get("mean_label")
    return mean_label is not None and (math.isclose(mean_label, 0.0) or math.isclose(mean_label, 1.0))


def _threshold_matrices(
    metrics: metrics_for_slice_pb2.MetricsForSlice, model_names: Sequence[str]
) -> list[metrics_for_slice_pb2.ConfusionMatrixAtThresholds.ConfusionMatrixAtThreshold]:
    """The ConfusionMatrixAtThresholds matrices (at the decision threshold) of one model in one slice."""
    for item in metrics.metric_keys_and_values:
        key = item.key
        if key.name == CONFUSION_MATRIX_NAME and key.model_name in model_names and not key.is_diff:
            return list(item.value.confusion_matrix_at_thresholds.matrices)
    return []


def _confusion_matrices(
    plots: Iterable[metrics_for_slice_pb2.PlotsForSlice], model_names: Sequence[str]
) -> list[metrics_for_slice_pb2.ConfusionMatrixAtThresholds.ConfusionMatrixAtThreshold]:
    """The overall-slice ConfusionMatrixPlot matrices of one model."""
    for plot in plots:
        if plot.slice_key.single_slice_keys or plot.HasField("cross_slice_key"):
            continue
        for item in plot.plot_keys_and_values:
            if item.key.model_name in model_names and item.value.confusion_matrix_at_thresholds.matrices:
                return list(item.value.confusion_matrix_at_thresholds.matrices)
    return []


def roc_points(matrices: Iterable[Any]) -> list[dict[str, float]]:
    """ROC curve from confusion matrices: one point per distinct (fpr, tpr), sorted by fpr then tpr."""
    points: dict[tuple[float, float], float] = {}
    for m in matrices:
        negatives = m.false_positives + m.true_negatives
        positives = m.true_positives + m.false_negatives
        if negatives <= 0 or positives <= 0:
            continue
        point = (m.false_positives / negatives, m.true_positives / positives)
        points[point] = max(points.get(point, -math.inf), m.threshold)
    return [{"fpr": fpr, "tpr": tpr, "threshold": points[(fpr, tpr)]} for fpr, tpr in sorted(points)]


def confusion_at(matrices: Sequence[Any], threshold: float = DEFAULT_DECISION_THRESHOLD) -> dict[str, int]:
    """tp/fp/tn/fn at the plot threshold nearest `threshold` ({} without matrices)."""
    if not matrices:
        return {}
    m = min(matrices, key=lambda item: abs(item.threshold - threshold))
    return {
        "tp": round(m.true_positives),
        "fp": round(m.false_positives),
        "tn": round(m.true_negatives),
        "fn": round(m.false_negatives),
    }


# ---- validation failures --------------------------------------------------------------------------


def _fmt_pair(value: float, bound: float, decimals: int = 2) -> tuple[str, str]:
    """Format two numbers with the fewest decimals (at least `decimals`) that tell them apart."""
    for places in range(decimals, 13):
        left, right = f"{value:.{places}f}", f"{bound:.{places}f}"
        if left != right:
            return left, right
    return f"{value:.12g}", f"{bound:.12g}"


def describe_failure(
    failure: validation_result_pb2.ValidationFailure,
    where: str = OVERALL,
    count: float | None = None,
    baseline: float | None = None,
) -> str:
    """One line for one TFMA ValidationFailure, e.g. `auc region=south 0.58 < 0.60 (n=212)`,
    `auc overall 0.71 < 0.75` or `auc dropped 0.020 vs baseline 0.801 (max_drop 0.010)`."""
    name = _THRESHOLD_NAME.get(failure.metric_key.name, failure.metric_key.name)
    value = _scalar(failure.metric_value)
    threshold = failure.metric_threshold
    size = f" (n={round(count)})" if count is not None and where != OVERALL else ""
    if value is None:
        return f"{name} {where} has no value to check ({failure.message.strip() or 'NaN'}){size}"
    if failure.metric_key.is_diff and threshold.change_threshold.HasField("absolute"):
        allowed = abs(threshold.change_threshold.absolute.value)
        worse = value if name in _LOWER_IS_BETTER else -value
        verb = "rose" if name in _LOWER_IS_BETTER else "dropped"
        shown, limit = _fmt_pair(worse, allowed, decimals=3)
        places = len(limit.split(".")[-1]) if "." in limit else 3
        against = f" vs baseline {baseline:.{places}f}" if baseline is not None else " vs baseline"
        return f"{name} {verb} {shown}{against} (max_drop {limit})"
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        shown, minimum = _fmt_pair(value, bounds.lower_bound.value)
        return f"{name} {where} {shown} < {minimum}{size}"
    if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
        shown, maximum = _fmt_pair(value, bounds.upper_bound.value)
        return f"{name} {where} {shown} > {maximum}{size}"
    return f"{name} {where} {value:.4g} failed its threshold ({failure.message.strip() or 'no message'}){size}"


def slice_flags(per_slice: Mapping[str, Mapping[str, float]], min_slice_size: int) -> tuple[list[str], list[str]]:
    """(small, single_class): slices with fewer than min_slice_size examples, and slices with one class."""
    small = [name for name, values in per_slice.items() if values.get("example_count", 0.0) < min_slice_size]
    single_class = [name for name, values in per_slice.items() if _is_single_class(values)]
    return sorted(small), sorted(single_class)


def slice_gate_states(
    slice_columns: Mapping[str, Iterable[str]],
    gated: Iterable[Iterable[str]],
    failed: Iterable[str],
    small: Iterable[str] = (),
    single_class: Iterable[str] = (),
) -> dict[str, str]:
    """Slice name -> gate outcome, for every slice in `slice_columns` (name -> its columns).

    `gated` lists the column sets a slice_threshold names, `failed` the slices TFMA failed a gate on. Flags come
    first (small, then single_class: their gates are ignored), then failed, passed (a gate applies), ungated.
    """
    gated_sets = {frozenset(columns) for columns in gated}
    failed, small, single_class = set(failed), set(small), set(single_class)
    states = {}
    for name, columns in slice_columns.items():
        if name in small:
            states[name] = GATE_SMALL
        elif name in single_class:
            states[name] = GATE_SINGLE_CLASS
        elif name in failed:
            states[name] = GATE_FAILED
        elif frozenset(columns) in gated_sets:
            states[name] = GATE_PASSED
        else:
            states[name] = GATE_UNGATED
    return dict(sorted(states.items()))


def failed_slices(validation: validation_result_pb2.ValidationResult, configured: Sequence[Sequence[str]]) -> set[str]:
    """Names of the slices (not overall) on which TFMA reports a failed threshold."""
    named = (
        slice_name(_slice_pairs(item.slice_key), configured)
        for item in validation.metric_validations_per_slice
        if item.failures
    )
    return {name for name in named if name != OVERALL}


def validation_failures(
    validation: validation_result_pb2.ValidationResult,
    configured: Sequence[Sequence[str]],
    per_slice: Mapping[str, Mapping[str, float]],
    ungated: Iterable[str] = (),
    baseline_overall: Mapping[str, float] | None = None,
) -> tuple[list[str], int]:
    """(failure lines, failures ignored): every reason TFMA gives for not validating, as text, except
    failures on `ungated` slices (small or single-class), which are only counted."""
    ungated = set(ungated) - {OVERALL}
    messages, ignored = [], 0
    items = validation.metric_validations_per_slice
    named = [(slice_name(_slice_pairs(item.slice_key), configured), item) for item in items]
    for where, item in sorted(named, key=lambda pair: (pair[0] != OVERALL, pair[0])):
        if where in ungated:
            ignored += len(item.failures)
            continue
        count = per_slice.get(where, {}).get("example_count")
        for failure in item.failures:
            name = _THRESHOLD_NAME.get(failure.metric_key.name)
            baseline = (baseline_overall or {}).get(name) if name else None
            messages.append(describe_failure(failure, where, count, baseline))
    for spec in validation.missing_slices:
        features = ",".join(spec.feature_keys) or OVERALL
        messages.append(f"slice {features} has no results (no examples?)")
    if validation.missing_thresholds:
        messages.append("no thresholds configured: TFMA blesses nothing without at least one threshold")
    return messages, ignored


# ---- running TFMA ---------------------------------------------------------------------------------


def _pipeline_options(beam_args: Sequence[str] | None) -> Any:
    """Beam options from the step's flags (one --runner, built by beam_jobs.options), else the project default;
    never reads sys.argv."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_jobs.options import beam_flags

    return PipelineOptions(flags=list(beam_args) if beam_args else beam_flags())


def _run_tfma(
    config: config_pb2.EvalConfig,
    candidate_dir: str,
    baseline_dir: str | None,
    examples_pattern: str,
    output_dir: str,
    beam_args: Sequence[str] | None,
    buckets: Mapping[str, Buckets] | None = None,
) -> None:
    """Run TFMA, writing metrics, plots, the validation result and the eval config under output_dir.

    With `buckets`, TFMA's default extractors get the bucketing extractor before slicing. The pipeline is
    tfma.run_model_analysis's own (raw tf.Examples through tfx_bsl's TFExampleRecord into
    ExtractEvaluateAndWriteResults) minus its last step, which loads every result back and converts each plot proto
    to a Python dict (json_format): seconds of work whose result nothing here reads."""
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from tfx_bsl.public import tfxio

    model_dirs = {CANDIDATE: candidate_dir, **({BASELINE: baseline_dir} if baseline_dir else {})}
    models = [
        tfma.default_eval_shared_model(eval_saved_model_path=path, model_name=name, eval_config=config)
        for name, path in model_dirs.items()
    ]
    extractors = None
    if buckets:
        defaults = tfma.default_extractors(eval_shared_model=models, eval_config=config)
        extractors = with_bucket_extractor(defaults, buckets)
    examples = tfxio.TFExampleRecord(file_pattern=examples_pattern, raw_record_column_name=tfma.ARROW_INPUT_COLUMN)
    with beam.Pipeline(options=_pipeline_options(beam_args)) as pipeline:
        _ = (
            pipeline
            | "ReadExamples" >> examples.BeamSource()
            | "Evaluate"
            >> tfma.ExtractEvaluateAndWriteResults(
                eval_config=config, eval_shared_model=models, output_path=output_dir, extractors=extractors
            )
        )


def _read_outcome(
    output_dir: str,
    slices: Sequence[Sequence[str]],
    with_baseline: bool,
    decision_threshold: float = DEFAULT_DECISION_THRESHOLD,
    min_slice_size: int = DEFAULT_MIN_SLICE_SIZE,
    slice_thresholds: Sequence[Mapping] = (),
    buckets: Mapping[str, Buckets] | None = None,
) -> EvaluationOutcome:
    """Turn TFMA's written metrics, plots and validation result into an EvaluationOutcome.

    slices: the configured slices' column names (SliceSpec.keys), for slice names in configured order."""
    import tensorflow_model_analysis as tfma

    overall: dict[str, float] = {}
    baseline_overall: dict[str, float] | None = {} if with_baseline else None
    per_slice: dict[str, dict[str, float]] = {}
    slice_columns: dict[str, list[str]] = {}
    at_threshold: list[Any] = []
    for metrics in tfma.load_metrics(output_dir):
        if metrics.HasField("cross_slice_key"):
            continue
        pairs = _slice_pairs(metrics.slice_key)
        name = slice_name(pairs, slices)
        values = _model_metrics(metrics, _CANDIDATE_NAMES)
        if name != OVERALL:
            per_slice[name] = values
            slice_columns[name] = list(pairs)
            continue
        overall = values
        at_threshold = _threshold_matrices(metrics, _CANDIDATE_NAMES)
        if with_baseline:
            baseline_overall = _model_metrics(metrics, (BASELINE,))
    matrices = _confusion_matrices(tfma.load_plots(output_dir), _CANDIDATE_NAMES)
    validation = tfma.load_validation_result(output_dir)
    small, single_class = slice_flags(per_slice, min_slice_size)
    failures, ignored = validation_failures(
        validation, slices, {OVERALL: overall, **per_slice}, {*small, *single_class}, baseline_overall
    )
    # Failures on small or single-class slices are not gates: bless when they were TFMA's only objection.
    blessed = bool(validation.validation_ok) or (ignored > 0 and not failures)
    gates = slice_gate_states(
        slice_columns,
        [entry["slice"] for entry in slice_thresholds],
        failed_slices(validation, slices),
        small,
        single_class,
    )
    return EvaluationOutcome(
        overall=overall,
        slices=dict(sorted(per_slice.items())),
        single_class_slices=sorted(single_class + ([OVERALL] if _is_single_class(overall) else [])),
        baseline_overall=baseline_overall,
        blessed=blessed,
        failures=failures,
        roc=roc_points(matrices),
        confusion_matrix=confusion_at(at_threshold, decision_threshold),
        small_slices=small,
        decision_threshold=decision_threshold,
        min_slice_size=min_slice_size,
        slice_gates=gates,
        slice_buckets={column: list(spec.labels) for column, spec in sorted((buckets or {}).items())},
    )


def _gate_on_example_count(outcome: EvaluationOutcome, examples_pattern: str) -> None:
    """No examples means nothing was checked: never bless, say so first."""
    outcome.overall.setdefault("example_count", 0.0)
    if outcome.overall["example_count"] <= 0:
        outcome.blessed = False
        outcome.failures.insert(0, f"no evaluation examples in {examples_pattern} (example_count is 0)")
    if not outcome.blessed and not outcome.failures:
        outcome.failures.append("TFMA validation failed without reporting a reason")


def _buckets(examples_pattern: str, specs: Sequence[SliceSpec]) -> dict[str, Buckets]:
    """Bucket boundaries of the bucketed slice columns ({} without any), logged with the time the pass took."""
    columns = bucketed_columns(specs)
    if not columns:
        return {}
    started = time.monotonic()
    buckets = compute_buckets(examples_pattern, columns)
    logger.info(
        "slice buckets in %.1fs: %s",
        time.monotonic() - started,
        {column: spec.labels for column, spec in buckets.items()},
    )
    return buckets


def check_saved_model(model_dir: str, role: str) -> None:
    """Raise FileNotFoundError naming the file when ``model_dir`` holds no SavedModel (TFMA would fail deep inside
    TensorFlow); ``role`` names the model (candidate, baseline)."""
    import tensorflow as tf

    path = os.path.join(model_dir, SAVED_MODEL_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{role} model {model_dir}: {SAVED_MODEL_FILE} is missing (not a complete SavedModel)")


def run_evaluation(
    candidate_dir: str,
    examples_pattern: str,
    output_dir: str,
    label_key: str,
    slices: Sequence[Any],
    thresholds: dict[str, dict],
    baseline_dir: str | None = None,
    beam_args: list[str] | None = None,
    decision_threshold: float = DEFAULT_DECISION_THRESHOLD,
    min_slice_size: int = DEFAULT_MIN_SLICE_SIZE,
    slice_thresholds: Sequence[Mapping] = (),
) -> EvaluationOutcome:
    """Evaluate the candidate SavedModel (vs an optional baseline) on gzipped raw tf.Example TFRecords.

    TFMA output (metrics, plots, validations, eval_config.json) lands in output_dir. The default Beam
    runner is the in-process FnApiRunner; beam_args are appended (e.g. ["--runner=DirectRunner",
    "--direct_running_mode=in_memory"]). Raises OSError when examples_pattern matches no file.

    Accuracy, precision, recall, F1 and the confusion matrix are computed at decision_threshold. Slices with
    fewer than min_slice_size examples, or a single class, are flagged and never gated on. slice_thresholds
    ([{"slice": ["region"], "metric": "auc", "min": 0.6}]) gate every other slice of those columns.

    slices: lists of columns, a column being a name or {"column": "hour", "buckets": 6} (components.evaluate.slicing).
    Bucket boundaries are equal-width over the observed range of the bucketed columns in examples_pattern, read by
    one pass that parses only those columns (skipped when no slice is bucketed).
    """
    with_baseline = baseline_dir is not None
    for role, model_dir in ((CANDIDATE, candidate_dir), (BASELINE, baseline_dir)):
        if model_dir is not None:
            check_saved_model(model_dir, role)
    specs: list[SliceSpec] = parse_slices(slices)
    config = build_eval_config(label_key, specs, thresholds, with_baseline, decision_threshold, slice_thresholds)
    buckets = _buckets(examples_pattern, specs)
    _run_tfma(config, candidate_dir, baseline_dir, examples_pattern, output_dir, beam_args, buckets)
    keys = [spec.keys for spec in specs]
    outcome = _read_outcome(
        output_dir, keys, with_baseline, decision_threshold, min_slice_size, slice_thresholds, buckets
    )
    _gate_on_example_count(outcome, examples_pattern)
    logger.info(
        "evaluation: blessed=%s auc=%s examples=%s failures=%s",
        outcome.blessed,
        outcome.overall.get("auc"),
        outcome.overall.get("example_count"),
        outcome.failures,
    )
    return outcome


# ---- blessing -------------------------------------------------------------------------------------


def write_blessing(outcome: EvaluationOutcome, blessing_dir: str) -> None:
    """Write the BLESSED or NOT_BLESSED marker (removing a stale opposite one) and blessing.json."""
    os.makedirs(blessing_dir, exist_ok=True)
    marker, stale = (BLESSED_MARKER, NOT_BLESSED_MARKER) if outcome.blessed else (NOT_BLESSED_MARKER, BLESSED_MARKER)
    stale_path = os.path.join(blessing_dir, stale)
    if os.path.exists(stale_path):
        os.remove(stale_path)
    summary = {
        "blessed": outcome.blessed,
        "failures": outcome.failures,
        "overall": outcome.overall,
        "baseline_overall": outcome.baseline_overall,
        "decision_threshold": outcome.decision_threshold,
        "small_slices": outcome.small_slices,
        "single_class_slices": outcome.single_class_slices,
    }
    with open(os.path.join(blessing_dir, BLESSING_JSON), "w", encoding="utf-8") as handle:
        json.dump(_json_safe(summary), handle, allow_nan=False, indent=2, sort_keys=True)
    with open(os.path.join(blessing_dir, marker), "w", encoding="utf-8"):
        pass


def read_blessing(blessing_dir: str) -> bool:
    """True only if BLESSED is present and NOT_BLESSED is not; FileNotFoundError if neither marker exists."""
    blessed = os.path.exists(os.path.join(blessing_dir, BLESSED_MARKER))
    not_blessed = os.path.exists(os.path.join(blessing_dir, NOT_BLESSED_MARKER))
    if not (blessed or not_blessed):
        raise FileNotFoundError(f"no {BLESSED_MARKER} or {NOT_BLESSED_MARKER} marker in {blessing_dir}")
    return blessed and not not_blessed
