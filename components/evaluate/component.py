"""KFP adapter for evaluate: TFMA via ``components.evaluate.analysis``; KFP Metrics/ROC for the UI."""

from typing import NamedTuple

from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output


def evaluate(
    model: Input[Model],
    raw_examples: Input[Dataset],
    statistics: Input[Artifact],
    training_logs: Input[Artifact],
    baseline_path: str,
    baseline_version: int,
    label: str,
    slices: list,
    thresholds: dict,
    decision_threshold: float,
    min_slice_size: int,
    slice_thresholds: list,
    beam_runner: str,
    beam_args: list,
    code_version: str,
    data_fingerprint: str,
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
    metrics: Output[Metrics],
    roc: Output[ClassificationMetrics],
    report: Output[HTML],
) -> NamedTuple("EvaluateOutputs", [("blessed", bool), ("auc", float)]):
    """Evaluate the candidate on the held-out test split (against the baseline when there is one), decide the
    blessing and write the report.

    Args:
        model: The candidate SavedModel (serving signature on raw tf.Examples).
        raw_examples: Ingest's typed raw examples per split; only the test split is read.
        statistics: Ingest's row counts, quarantine reasons and column statistics, for the report.
        training_logs: Train's curves and result (validation AUC), for the report.
        baseline_path: The served version to compare with; empty for none (or when the candidate is that version).
        baseline_version: The baseline's version number (0: none), for the report.
        label: The label column.
        slices: Slices to compute metrics for, besides overall.
        thresholds: Overall gates per metric: min/max values and max_drop against the baseline.
        decision_threshold: Score above which a prediction is positive (accuracy, precision, recall, F1).
        min_slice_size: Slices with fewer examples are flagged and never gated.
        slice_thresholds: Value gates applied to every slice of the named columns.
        beam_runner: Beam runner for TFMA.
        beam_args: Extra Beam pipeline options.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
    """
    from components.step_exit import exit_promptly_on_success

    exit_promptly_on_success()  # skip interpreter teardown once the step has succeeded

    import json
    import os
    import shutil
    from collections import namedtuple

    from beam_jobs.layout import (
        COLUMN_STATS_FILE,
        EVALUATION_SUMMARY_FILE,
        REPORT_FILE,
        SERVING_CHECK_FILE,
        SERVING_CHECK_SPLIT,
        STATS_FILE,
        TEST_SPLIT,
        split_files,
    )
    from beam_jobs.options import beam_flags
    from components.evaluate.analysis import run_evaluation, write_blessing
    from components.evaluate.footprint import LATENCY_BATCHES, pruning_comparison
    from components.evaluate.report import write_report
    from components.push.serving_verdict import serving_check_beside
    from components.push.tfrecords import sample_records
    from components.train.result import TrainingResult, has_result

    # Push's serving check of this model runs now, on the core TFMA leaves idle; push honours its verdict.
    with serving_check_beside(
        model.path,
        split_files(raw_examples.path, SERVING_CHECK_SPLIT),
        os.path.join(blessing.path, SERVING_CHECK_FILE),
    ):
        outcome = run_evaluation(
            candidate_dir=model.path,
            examples_pattern=split_files(raw_examples.path, TEST_SPLIT),  # held out: nothing before this step read it
            output_dir=os.path.join(evaluation.path, "tfma"),
            label_key=label,
            slices=slices,
            thresholds=thresholds,
            baseline_dir=baseline_path or None,
            beam_args=beam_flags(beam_runner, beam_args),
            decision_threshold=decision_threshold,
            min_slice_size=min_slice_size,
            slice_thresholds=slice_thresholds,
        )
    summary = {**outcome.to_json(), "split": TEST_SPLIT}
    pruning = TrainingResult.read(training_logs.path).pruning if has_result(training_logs.path) else None
    if pruning:  # what pruning bought: measured here, where TensorFlow is loaded, for candidate and baseline alike
        summary["pruning"] = pruning_comparison(
            model.path,
            baseline_path or None,
            sample_records(split_files(raw_examples.path, TEST_SPLIT), max(LATENCY_BATCHES)),
            final_sparsity=pruning["final_sparsity"],
            candidate_auc=summary["overall"].get("auc"),
            baseline_auc=(summary.get("baseline_overall") or {}).get("auc"),
            baseline_version=baseline_version or None,
        )
    with open(os.path.join(evaluation.path, EVALUATION_SUMMARY_FILE), "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True, allow_nan=False)
    write_blessing(outcome, blessing.path)
    with open(os.path.join(statistics.path, STATS_FILE)) as handle:
        stats = json.load(handle)
    column_stats_path = os.path.join(statistics.path, COLUMN_STATS_FILE)
    column_stats = None
    if os.path.isfile(column_stats_path):
        with open(column_stats_path) as handle:
            column_stats = json.load(handle)
    report_path = write_report(
        os.path.join(evaluation.path, REPORT_FILE),
        evaluation=summary,
        tfma_dir=os.path.join(evaluation.path, "tfma"),
        training_logs_dir=training_logs.path,
        statistics=stats,
        baseline_version=baseline_version or None,
        column_stats=column_stats,
    )
    shutil.copyfile(report_path, report.path)  # an HTML artifact: the KFP run page shows it
    blessing.metadata.update({"blessed": outcome.blessed, "failures": outcome.failures})

    for name, value in summary["overall"].items():
        if value is not None:
            metrics.log_metric(name, value)
    metrics.log_metric("blessed", 1.0 if outcome.blessed else 0.0)
    points = outcome.roc
    if points:
        roc.log_roc_curve([p["fpr"] for p in points], [p["tpr"] for p in points], [p["threshold"] for p in points])
    cm = outcome.confusion_matrix
    if cm:
        roc.log_confusion_matrix(["0", "1"], [[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]])
    # The local KFP cache only serves a task whose Metrics outputs exist as files: write them.
    for artifact in (metrics, roc):
        with open(artifact.path, "w") as handle:
            json.dump(artifact.metadata, handle, sort_keys=True)
    auc = summary["overall"].get("auc")
    return namedtuple("EvaluateOutputs", ["blessed", "auc"])(outcome.blessed, float(auc) if auc is not None else 0.0)
