"""The headline facts of a run, read from its output artifacts (statistics, evaluation, pushed)."""

from __future__ import annotations

import json
import os
from typing import Any

from beam_jobs.layout import ANOMALIES_FILE, EVALUATION_SUMMARY_FILE, PUSH_RECORD_FILE, REPORT_FILE, STATS_FILE
from components.train.result import RESULT_FILE
from components.tune.select import read_table, summary_trials

ROW_KEYS = ("input", "train", "eval", "test", "quarantined")
HEADLINE_METRICS = ("auc", "auc_pr", "accuracy", "precision", "recall", "example_count")


class MissingArtifactFile(FileNotFoundError):
    """A step's artifact lacks a file its producer always writes: the run's facts cannot be trusted."""


def _read_json(directory: str, name: str) -> dict[str, Any]:
    """The JSON file ``name`` in an artifact directory; {} when no directory is given (the step never ran)."""
    if not directory:
        return {}
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise MissingArtifactFile(f"{path}: missing; the step that produced {directory} always writes it")
    with open(path) as handle:
        return json.load(handle)


def collect(
    statistics_dir: str,
    evaluation_dir: str,
    pushed_dir: str,
    training_dir: str = "",
    served_version: int = 0,
    candidate_is_served: bool = False,
    data_spans: list[str] | None = None,
    anomalies_dir: str = "",
    run_dir: str = "",
) -> dict[str, Any]:
    """Counts, metrics (and the split they come from), training's validation AUC, blessing, push result and the
    report's path, and the data spans trained on. An artifact not given (empty path) leaves its facts empty; a given
    artifact missing its file raises MissingArtifactFile instead of passing for "not blessed".

    With a hyperparameter search, ``trials`` and ``winner`` come from the trials table beside the winner's training
    logs; a trial is ``cached`` when its train task did not run in the run whose directory is ``run_dir``."""
    stats = _read_json(statistics_dir, STATS_FILE)
    evaluation = _read_json(evaluation_dir, EVALUATION_SUMMARY_FILE)
    pushed = _read_json(pushed_dir, PUSH_RECORD_FILE)
    training = _read_json(training_dir, RESULT_FILE)
    anomalies = _read_json(anomalies_dir, ANOMALIES_FILE)
    report = os.path.join(evaluation_dir, REPORT_FILE) if evaluation_dir else ""
    return {
        "data_spans": list(data_spans or []),  # oldest first; [] when the source has no spans
        # validate-data's anomalies (only mild ones reach a summary: a severe one stops the run before training).
        "data_anomalies": (
            {"anomalies": anomalies["anomalies"], "baseline_version": anomalies["baseline_version"]}
            if anomalies
            else None
        ),
        "evaluated_split": evaluation.get("split"),
        # The AUC on the split that chose the model (early stopping): a large gap to the test AUC means overfitting it.
        "validation_auc": training.get("best_eval_auc"),
        "rows": {key: stats.get(key) for key in ROW_KEYS},
        "quarantine_reasons": stats.get("quarantine_reasons", {}),
        "metrics": {"overall": evaluation.get("overall", {}), "slices": evaluation.get("slices", {})},
        "single_class_slices": evaluation.get("single_class_slices", []),
        "small_slices": evaluation.get("small_slices", []),
        "baseline": evaluation.get("baseline_overall"),
        # When the model was trained with pruning: its footprint and AUC, and the unpruned baseline's (or None).
        "pruning": evaluation.get("pruning"),
        "blessed": bool(evaluation.get("blessed", False)),
        "failures": evaluation.get("failures", []),
        "pushed": (
            {"version": pushed["version"], "path": pushed["path"], "new_version": pushed.get("created", False)}
            if pushed.get("pushed")
            else None
        ),
        "push_reason": pushed.get("reason"),
        "report": report if report and os.path.isfile(report) else None,
        # The candidate was byte-identical to the served version: it was not compared with itself, its evaluation
        # is the one from when it was first evaluated (the cached evaluate step) and push skipped the serving check.
        "candidate_is_served_version": served_version if candidate_is_served else None,
        # A hyperparameter search's trials ({settings, validation_auc, epochs, seconds, cached}) and the winner's
        # index; both None without one.
        **summary_trials(read_table(training_dir), run_dir),
    }


_PRUNING_SHOWN = (("sparsity", ".2f"), ("gzip KiB", ",.1f"), ("ms@1", ".2f"), ("ms@256", ".2f"), ("auc", ".3f"))


def _pruning_numbers(model: dict[str, Any]) -> dict[str, float | None]:
    latency = model.get("latency_ms") or {}
    return {
        "sparsity": model["kernel_sparsity"],
        "gzip KiB": model["gzip_bytes"] / 1024,
        "ms@1": latency.get("1"),
        "ms@256": latency.get("256"),
        "auc": model.get("auc"),
    }


def pruning_line(pruning: dict[str, Any]) -> str:
    """The pruned model's footprint in one line; ``unpruned → pruned`` when the unpruned baseline was measured."""
    candidate = _pruning_numbers(pruning["candidate"])
    reference = _pruning_numbers(pruning["reference"]) if pruning.get("reference") else None

    def text(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    parts = []
    for key, fmt in _PRUNING_SHOWN:
        shown = text(candidate[key], fmt)
        parts.append(f"{key} {text(reference[key], fmt)} → {shown}" if reference else f"{key} {shown}")
    versus = f"vs unpruned baseline v{pruning['reference'].get('version')}" if reference else "no unpruned baseline"
    return "  ".join(parts) + f"  ({versus})"


def headline(facts: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a notification carries: overall metrics, rows, blessing and pushed version."""
    overall = facts["metrics"]["overall"]
    return {
        "metrics": {name: overall[name] for name in HEADLINE_METRICS if overall.get(name) is not None},
        "evaluated_split": facts["evaluated_split"],
        "validation_auc": facts["validation_auc"],
        "rows": facts["rows"],
        "blessed": facts["blessed"],
        "pushed_version": (facts["pushed"] or {}).get("version"),
        "failures": facts["failures"],
    }
