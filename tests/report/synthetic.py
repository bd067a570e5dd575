"""Small synthetic report inputs (evaluation summary, plot data, training logs, statistics) built without TFMA."""

from __future__ import annotations

from typing import Any

import numpy as np

from components.evaluate.analysis import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_SINGLE_CLASS,
    GATE_SMALL,
    GATE_UNGATED,
    OVERALL,
    roc_points,
)
from components.evaluate.report_data import CalibrationBucket, ModelPlots, ThresholdCounts
from components.evaluate.tfma_config import BASELINE, CANDIDATE
from components.train.result import TrainingResult

HOSTILE = 'plan=<script>alert("x")</script>'
SMALL = "region=tiny"
SINGLE_CLASS = "region=vip"
FAILED = "region=west"
# slice -> (examples, separation of the scores: higher is an easier slice, positive rate)
SLICES: dict[str, tuple[int, float, float]] = {
    "region=north": (400, 2.5, 0.25),
    "region=south": (300, 1.6, 0.3),
    FAILED: (250, 0.5, 0.35),
    "plan=basic": (350, 1.2, 0.25),
    "plan=premium": (200, 2.0, 0.2),
    HOSTILE: (120, 0.9, 0.3),
    SMALL: (12, 0.1, 0.4),
    SINGLE_CLASS: (40, 1.0, 1.0),
}
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)


def _scores(n: int, separation: float, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores where positives score higher by `separation` (in logits)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < rate).astype(float)
    logits = rng.normal(size=n) + separation * (labels - 0.5) - 1.0
    return labels, 1.0 / (1.0 + np.exp(-logits))


def _plots(labels: np.ndarray, scores: np.ndarray) -> ModelPlots:
    """Confusion counts per threshold and 0.01-wide calibration buckets, as TFMA writes them."""
    matrices = tuple(
        ThresholdCounts(
            float(t),
            float(((scores > t) & (labels == 1)).sum()),
            float(((scores > t) & (labels == 0)).sum()),
            float(((scores <= t) & (labels == 0)).sum()),
            float(((scores <= t) & (labels == 1)).sum()),
        )
        for t in THRESHOLDS
    )
    buckets = []
    for low in THRESHOLDS[:-1]:
        inside = (scores >= low) & (scores < low + 0.01)
        buckets.append(
            CalibrationBucket(
                float(low),
                float(low + 0.01),
                float(inside.sum()),
                float(labels[inside].sum()),
                float(scores[inside].sum()),
            )
        )
    return ModelPlots(matrices, tuple(buckets))


def _metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The evaluate step's metrics of one slice (AUC omitted for a single class, as TFMA's NaN is)."""
    predicted = scores > threshold
    tp = float((predicted & (labels == 1)).sum())
    fp = float((predicted & (labels == 0)).sum())
    fn = float((~predicted & (labels == 1)).sum())
    eps = 1e-7
    clipped = np.clip(scores, eps, 1 - eps)
    result = {
        "example_count": float(len(labels)),
        "accuracy": float((predicted == (labels == 1)).mean()),
        "log_loss": float(-(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)).mean()),
        "mean_label": float(labels.mean()),
        "mean_prediction": float(scores.mean()),
        "calibration": float(scores.mean() / labels.mean()) if labels.mean() else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
    }
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if len(positives) and len(negatives):
        result["auc"] = float((positives[:, None] > negatives[None, :]).mean())
        result["auc_pr"] = float(np.mean([(scores >= s)[labels == 1].sum() / (scores >= s).sum() for s in positives]))
    if result["precision"] + result["recall"] > 0:
        result["f1"] = 2 * result["precision"] * result["recall"] / (result["precision"] + result["recall"])
    return {name: value for name, value in result.items() if np.isfinite(value)}


def report_inputs(with_baseline: bool = True, with_gates: bool = True, blessed: bool = False) -> dict[str, Any]:
    """Keyword arguments for render_report: a candidate (and baseline) over the SLICES above."""
    plots: dict[str, dict[str, ModelPlots]] = {}
    slices: dict[str, dict[str, float]] = {}
    all_labels, all_scores, base_labels, base_scores = [], [], [], []
    for seed, (name, (n, separation, rate)) in enumerate(SLICES.items()):
        labels, scores = _scores(n, separation, rate, seed)
        slices[name] = _metrics(labels, scores)
        plots[name] = {CANDIDATE: _plots(labels, scores)}
        all_labels.append(labels)
        all_scores.append(scores)
        if with_baseline:
            _, weaker = _scores(n, separation * 0.8, rate, seed)
            plots[name][BASELINE] = _plots(labels, weaker)
            base_labels.append(labels)
            base_scores.append(weaker)
    labels, scores = np.concatenate(all_labels), np.concatenate(all_scores)
    overall = _metrics(labels, scores)
    plots[OVERALL] = {CANDIDATE: _plots(labels, scores)}
    baseline_overall = None
    if with_baseline:
        baseline_scores = np.concatenate(base_scores)
        baseline_overall = _metrics(np.concatenate(base_labels), baseline_scores)
        plots[OVERALL][BASELINE] = _plots(labels, baseline_scores)
    predicted = scores > 0.5
    failures = (
        []
        if blessed
        else [
            f"auc {FAILED} {slices[FAILED]['auc']:.2f} < 0.70 (n=250)",
            "auc dropped 0.020 vs baseline 0.801 (max_drop 0.010) <img src=x onerror=alert(1)>",
        ]
    )
    evaluation: dict[str, Any] = {
        "overall": overall,
        "slices": slices,
        "baseline_overall": baseline_overall,
        "blessed": blessed,
        "failures": failures,
        "roc": roc_points(plots[OVERALL][CANDIDATE].matrices),
        "confusion_matrix": {
            "tp": int((predicted & (labels == 1)).sum()),
            "fp": int((predicted & (labels == 0)).sum()),
            "tn": int((~predicted & (labels == 0)).sum()),
            "fn": int((~predicted & (labels == 1)).sum()),
        },
        "decision_threshold": 0.5,
        "min_slice_size": 30,
        "small_slices": [SMALL],
        "single_class_slices": [SINGLE_CLASS],
        "split": "test",
    }
    if with_gates:
        gates = {name: GATE_UNGATED for name in slices}
        gates.update(
            {
                "region=north": GATE_PASSED,
                "region=south": GATE_PASSED,
                SMALL: GATE_SMALL,
                SINGLE_CLASS: GATE_SINGLE_CLASS,
            }
        )
        gates[FAILED] = GATE_PASSED if blessed else GATE_FAILED
        evaluation["slice_gates"] = gates
    curves = {
        "epoch": [1, 2, 3, 4],
        "loss": [0.62, 0.51, 0.47, 0.45],
        "val_loss": [0.58, 0.52, 0.5, 0.51],
        "auc": [0.7, 0.78, 0.81, 0.83],
        "val_auc": [0.72, 0.77, 0.79, 0.785],
    }
    training = TrainingResult(
        epochs_run=4,
        best_epoch=3,
        best_eval_auc=0.79,
        final_eval_loss=0.51,
        train_examples_per_epoch=8000,
        seconds=12.5,
        workers=2,
        chief=True,
        resumed_from_epoch=0,
        warm_started=False,
        warm_start_note="",
    )
    statistics = {
        "input": 10_000,
        "train": 7_900,
        "eval": 1_000,
        "test": 1_000,
        "quarantined": 100,
        "quarantine_reasons": {"bad_number": 60, "missing_label": 40},
    }
    numbers = {"min": 18.1, "max": 86.3, "mean": 43.5, "std": 12.8, "quantiles": [18.1, 43.0, 86.3]}
    column_stats = {
        "train": {
            "age": {"count": 7_900, "missing": 237, "missing_ratio": 0.03, **numbers},
            "plan": {
                "count": 7_900,
                "missing": 158,
                "missing_ratio": 0.02,
                "distinct": 5,
                "top_values": [{"value": "basic", "count": 2_900}, {"value": "<script>x</script>", "count": 2_200}],
            },
        }
    }
    return {
        "evaluation": evaluation,
        "plots": plots,
        "curves": curves,
        "training": training,
        "statistics": statistics,
        "baseline_version": 7 if with_baseline else None,
        "column_stats": column_stats,
    }
