"""The evaluation report's figures: matplotlib on its own Agg canvas (no pyplot, no global backend), each returned
as a base64 PNG data URI. Matplotlib is imported inside the functions."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from beam_jobs.layout import EVAL_SPLIT, TRAIN_SPLIT
from components.evaluate.analysis import (
    OVERALL,
    roc_points,
)
from components.evaluate.report_data import (
    CALIBRATION_BINS,
    ModelPlots,
    PlotsBySlice,
    format_count,
    format_number,
    nearest_counts,
    pr_points,
    reliability,
)
from components.evaluate.tfma_config import (
    BASELINE,
    CANDIDATE,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 90
COLORS = {CANDIDATE: "#1f6fb4", BASELINE: "#e0822a", "reference": "#9a9a9a"}

# ---- figures --------------------------------------------------------------------------------------


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **grid: Any) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas (no pyplot, no global backend state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, cols, squeeze=False, **grid)


def _png(figure: Figure) -> str:
    """The figure as a data: URI (PNG, no timestamp or version metadata, so the page is reproducible)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    figure.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _style(axis: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Titles and labels drawn as plain text (a `$` in a slice name is not math), square unit axes."""
    axis.set_title(title, fontsize=10, parse_math=False)
    axis.set_xlabel(xlabel, parse_math=False)
    axis.set_ylabel(ylabel, parse_math=False)
    axis.set_xlim(-0.01, 1.01)
    axis.set_ylim(-0.01, 1.01)
    axis.grid(alpha=0.3)


def _clip(text: str, width: int) -> str:
    """`text` shortened to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _roc_axis(
    axis: Axes, curves: Mapping[str, ModelPlots], labels: Mapping[str, str], threshold: float, title: str
) -> None:
    """ROC curves of the models in `curves` on one axis, with the decision threshold marked."""
    axis.plot([0, 1], [0, 1], ":", color=COLORS["reference"], linewidth=1)
    for role, plots in curves.items():
        points = roc_points(plots.matrices)
        if not points:
            continue
        style = "--" if role != CANDIDATE else "-"
        color = COLORS.get(role, COLORS["reference"])
        axis.plot([p["fpr"] for p in points], [p["tpr"] for p in points], style, color=color, label=labels[role])
        at = nearest_counts(plots.matrices, threshold)
        if at is not None and role == CANDIDATE and at.false_positives + at.true_negatives > 0:
            fpr = at.false_positives / (at.false_positives + at.true_negatives)
            tpr = at.true_positives / max(at.true_positives + at.false_negatives, 1e-12)
            axis.plot([fpr], [tpr], "o", color=color, markersize=5, label=f"threshold {threshold:g}")
    _style(axis, title, "false positive rate", "true positive rate")
    axis.legend(loc="lower right", fontsize=8)


def roc_figure(curves: Mapping[str, ModelPlots], labels: Mapping[str, str], threshold: float) -> str:
    """Overall ROC, candidate and (when present) baseline on the same axes."""
    figure, axes = _figure(4.2, 4.0)
    _roc_axis(axes[0][0], curves, labels, threshold, "ROC (overall)")
    return _png(figure)


def pr_figure(curves: Mapping[str, ModelPlots], labels: Mapping[str, str], base_rate: float | None) -> str:
    """Overall precision–recall curves, with the positive rate as the no-skill line."""
    figure, axes = _figure(4.2, 4.0)
    axis = axes[0][0]
    if base_rate is not None:
        axis.axhline(base_rate, linestyle=":", color=COLORS["reference"], linewidth=1, label="positive rate")
    for role, plots in curves.items():
        points = pr_points(plots.matrices)
        if points:
            style = "--" if role != CANDIDATE else "-"
            axis.plot(
                [p["recall"] for p in points],
                [p["precision"] for p in points],
                style,
                color=COLORS.get(role, COLORS["reference"]),
                label=labels[role],
            )
    _style(axis, "Precision–recall (overall)", "recall", "precision")
    axis.legend(loc="upper right", fontsize=8)
    return _png(figure)


def calibration_figure(curves: Mapping[str, ModelPlots], labels: Mapping[str, str]) -> str:
    """Reliability diagram (observed positive rate per predicted-probability bin) over a prediction histogram."""
    figure, axes = _figure(4.2, 4.6, rows=2, cols=1, sharex=True, height_ratios=[3, 1])
    top, bottom = axes[0][0], axes[1][0]
    top.plot([0, 1], [0, 1], ":", color=COLORS["reference"], linewidth=1, label="perfectly calibrated")
    width = 1.0 / CALIBRATION_BINS
    roles = [role for role in curves if curves[role].calibration]
    for offset, role in enumerate(roles):
        bins = reliability(curves[role].calibration)
        color = COLORS.get(role, COLORS["reference"])
        style = "--" if role != CANDIDATE else "-"
        top.plot(
            [b["mean_prediction"] for b in bins],
            [b["label_rate"] for b in bins],
            style,
            marker="o",
            markersize=4,
            color=color,
            label=labels[role],
        )
        bar = width / max(len(roles), 1)
        bottom.bar(
            [b["bin"] + bar * (offset + 0.5) for b in bins],
            [b["count"] for b in bins],
            width=bar * 0.9,
            color=color,
            alpha=0.7,
        )
    _style(top, "Calibration (overall)", "", "observed positive rate")
    top.legend(loc="upper left", fontsize=8)
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("examples")
    bottom.grid(alpha=0.3)
    return _png(figure)


def confusion_figure(matrix: Mapping[str, int], threshold: float) -> str:
    """The 2×2 confusion matrix as a heatmap: counts and the share of each actual class."""
    figure, axes = _figure(3.8, 3.4)
    axis = axes[0][0]
    cells = [[matrix.get("tn", 0), matrix.get("fp", 0)], [matrix.get("fn", 0), matrix.get("tp", 0)]]
    shares = [[value / max(sum(row), 1) for value in row] for row in cells]
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = [["TN", "FP"], ["FN", "TP"]]
    for row in range(2):
        for col in range(2):
            dark = shares[row][col] > 0.55
            axis.text(
                col,
                row,
                f"{names[row][col]}\n{cells[row][col]:,}\n{shares[row][col]:.0%} of row",
                ha="center",
                va="center",
                fontsize=10,
                color="white" if dark else "#1a1a1a",
            )
    axis.set_xticks([0, 1], ["predicted 0", "predicted 1"])
    axis.set_yticks([0, 1], ["actual 0", "actual 1"])
    axis.set_title(f"Confusion matrix at threshold {threshold:g}", fontsize=10)
    return _png(figure)


def slices_roc_figure(
    chosen: Sequence[tuple[str, Mapping[str, float]]],
    plots: PlotsBySlice,
    labels: Mapping[str, str],
    threshold: float,
) -> str:
    """One ROC panel per chosen slice (candidate, baseline when present, and the overall candidate curve)."""
    figure, axes = _figure(4.0 * len(chosen), 4.0, cols=len(chosen))
    overall = plots.get(OVERALL, {}).get(CANDIDATE)
    for axis, (name, metrics) in zip(axes[0], chosen, strict=True):
        if overall is not None:
            points = roc_points(overall.matrices)
            axis.plot(
                [p["fpr"] for p in points],
                [p["tpr"] for p in points],
                color=COLORS["reference"],
                linewidth=1,
                alpha=0.7,
                label="candidate, overall",
            )
        size, auc = format_count(metrics.get("example_count")), format_number(metrics.get("auc"))
        title = f"{_clip(name, 34)}\nn={size}, AUC {auc}"
        _roc_axis(axis, plots.get(name, {}), labels, threshold, title)
    return _png(figure)


def training_figure(curves: Mapping[str, Sequence[float]], best_epoch: int | None) -> str:
    """Loss and AUC per epoch, train (train split) vs validation (eval split), best epoch marked."""
    from matplotlib.ticker import MaxNLocator

    epochs = list(curves.get("epoch") or [])
    figure, axes = _figure(8.4, 3.2, cols=2)
    for axis, key, title in ((axes[0][0], "loss", "loss"), (axes[0][1], "auc", "AUC")):
        for name, label, style in (
            (key, f"train ({TRAIN_SPLIT})", "-"),
            (f"val_{key}", f"validation ({EVAL_SPLIT})", "--"),
        ):
            values = list(curves.get(name) or [])
            if values:
                xs = epochs[: len(values)] if len(epochs) >= len(values) else list(range(1, len(values) + 1))
                axis.plot(xs, values, style, marker="o", markersize=4, label=label)
        if best_epoch:
            axis.axvline(best_epoch, color=COLORS["reference"], linestyle=":", label=f"best epoch {best_epoch}")
        axis.set_title(f"{title} per epoch", fontsize=10)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return _png(figure)


def trials_figure(trials: Sequence[Mapping[str, Any]], winner: int) -> str:
    """A search's trials: validation AUC (eval split) against each tuned setting, one panel per setting, the winner
    marked. Numeric settings on their own scale (log when they span more than 20×), others as categories."""
    keys = sorted({key for trial in trials for key in trial["settings"]})
    scored = [trial for trial in trials if trial.get("validation_auc") is not None]
    figure, axes = _figure(min(3.0 * len(keys), 12.0), 2.9, cols=len(keys))
    for axis, key in zip(axes[0], keys, strict=True):
        values = [trial["settings"][key] for trial in scored]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            xs = [float(v) for v in values]
            if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
                axis.set_xscale("log")
        else:
            categories = sorted({str(v) for v in values})
            xs = [float(categories.index(str(v))) for v in values]
            axis.set_xticks(range(len(categories)), [_clip(c, 14) for c in categories], fontsize=8)
            axis.set_xlim(-0.5, len(categories) - 0.5)
        aucs = [trial["validation_auc"] for trial in scored]
        axis.scatter(xs, aucs, color=COLORS[CANDIDATE], alpha=0.7, s=28, label="trial")
        best = [(x, auc) for x, auc, trial in zip(xs, aucs, scored, strict=True) if trial["index"] == winner]
        if best:
            axis.scatter(*zip(*best, strict=True), marker="*", s=160, color=COLORS[BASELINE], label=f"winner {winner}")
        axis.set_title(_clip(key, 34), fontsize=10, parse_math=False)
        axis.set_xlabel(key.split(".", 1)[1], parse_math=False)
        axis.set_ylabel(f"validation AUC ({EVAL_SPLIT})")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return _png(figure)
