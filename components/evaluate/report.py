"""The evaluation report: one self-contained HTML page (plots as base64 PNG, inline CSS, no external requests).

`write_report` reads TFMA's plots, the training logs and the ingest statistics and writes the page;
`render_report` builds it from plain data only (testable without TFMA). Matplotlib and TFMA are imported
inside the functions that need them, so importing this module is cheap and has no side effects.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from beam_jobs.layout import EVAL_SPLIT, TEST_SPLIT, TRAIN_SPLIT
from components.evaluate.analysis import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_SINGLE_CLASS,
    GATE_SMALL,
    GATE_UNGATED,
    OVERALL,
)
from components.evaluate.report_data import (
    ModelPlots,
    PlotsBySlice,
    ThresholdCounts,
    curve_auc,
    format_count,
    format_number,
    read_plots,
    read_training_logs,
)
from components.evaluate.report_figures import (
    calibration_figure,
    confusion_figure,
    pr_figure,
    roc_figure,
    slices_roc_figure,
    training_figure,
    trials_figure,
)
from components.evaluate.tfma_config import (
    BASELINE,
    CANDIDATE,
    DEFAULT_DECISION_THRESHOLD,
    REPORTED_METRICS,
    THRESHOLD_METRICS,
)
from components.train.result import TrainingResult
from components.tune.select import read_table

if TYPE_CHECKING:
    pass

DEFAULT_TITLE = "bigtrain evaluation report"
WEAKEST_SLICES = 3  # slices drawn with their own ROC curve

# Display names; metrics not listed here show under their own name.
_LABELS = {
    "auc": "AUC",
    "auc_pr": "AUC-PR",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "log_loss": "log loss",
    "calibration": "calibration",
    "mean_label": "mean label",
    "mean_prediction": "mean prediction",
    "example_count": "examples",
}
_AT_THRESHOLD = {name for name, metric in THRESHOLD_METRICS.items() if metric.threshold_key}
_LOWER_IS_BETTER = {name for name, metric in THRESHOLD_METRICS.items() if metric.lower_is_better}
_CLOSER_TO_ONE = {"calibration"}
_NEUTRAL = {"example_count", "mean_label", "mean_prediction"}
_GATE_TEXT = {
    GATE_FAILED: "failed",
    GATE_PASSED: "passed",
    GATE_SMALL: "small",
    GATE_SINGLE_CLASS: "single class",
    GATE_UNGATED: "no gate",
}

# ---- HTML -----------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(value), quote=True)


def _metric_text(name: str, value: float | None) -> str:
    """A metric value formatted for its kind."""
    return format_count(value) if name == "example_count" else format_number(value, 4)


def _delta_text(name: str, value: float | None, other: float | None) -> str:
    """Candidate minus baseline as signed text ('—' when either is undefined)."""
    if value is None or other is None:
        return "—"
    return f"{round(value - other):+,}" if name == "example_count" else f"{value - other:+.4f}"


def _label(name: str, threshold: float) -> str:
    """Display name of a metric (threshold-dependent ones say at which threshold)."""
    base = _LABELS.get(name, name)
    return f"{base} @ {threshold:g}" if name in _AT_THRESHOLD else base


def _verdict(name: str, candidate: float, baseline: float) -> str:
    """'better', 'worse' or 'same' for the candidate, by the metric's direction; 'neutral' if it has none."""
    if name in _NEUTRAL:
        return "neutral"
    if name in _CLOSER_TO_ONE:
        change = abs(baseline - 1.0) - abs(candidate - 1.0)
    elif name in _LOWER_IS_BETTER:
        change = baseline - candidate
    else:
        change = candidate - baseline
    if math.isclose(change, 0.0, abs_tol=1e-9):
        return "same"
    return "better" if change > 0 else "worse"


def _metric_names(*metric_sets: Mapping[str, Any] | None) -> list[str]:
    """Every metric present, in the evaluate step's order, unknown ones last."""
    present = {name for metrics in metric_sets if metrics for name in metrics}
    known = [name for name in REPORTED_METRICS if name in present]
    return known + sorted(present - set(known))


def _img(uri: str, alt: str, css: str = "plot") -> str:
    """An <img> of a data: URI."""
    return f'<img class="{css}" src="{uri}" alt="{_e(alt)}">'


def _threshold(evaluation: Mapping[str, Any]) -> float:
    """The decision threshold the confusion-matrix metrics were computed at."""
    value = evaluation.get("decision_threshold")
    return float(value) if value is not None else DEFAULT_DECISION_THRESHOLD


def _gate(name: str, evaluation: Mapping[str, Any]) -> str | None:
    """The slice's gate outcome from the evaluate step, else derived from its flags (None when unknown)."""
    gates = evaluation.get("slice_gates") or {}
    if name in gates:
        return gates[name]
    if name in (evaluation.get("small_slices") or []):
        return GATE_SMALL
    if name in (evaluation.get("single_class_slices") or []):
        return GATE_SINGLE_CLASS
    return None


def _ranked_slices(evaluation: Mapping[str, Any]) -> list[tuple[str, Mapping[str, float]]]:
    """Slices weakest first: by AUC ascending, slices without an AUC last, then by name."""
    slices = evaluation.get("slices") or {}
    return sorted(slices.items(), key=lambda item: (item[1].get("auc") is None, item[1].get("auc") or 0.0, item[0]))


def weakest_slices(
    evaluation: Mapping[str, Any], plots: PlotsBySlice | None = None, count: int = WEAKEST_SLICES
) -> list[tuple[str, Mapping[str, float]]]:
    """The `count` lowest-AUC slices that are gated by size: never small or single-class (and, when `plots` is
    given, only slices with candidate plot data)."""
    small = set(evaluation.get("small_slices") or [])
    single = set(evaluation.get("single_class_slices") or [])
    chosen = []
    for name, metrics in _ranked_slices(evaluation):
        if (
            metrics.get("auc") is None
            or name in small | single
            or _gate(name, evaluation) in (GATE_SMALL, GATE_SINGLE_CLASS)
        ):
            continue
        if plots is not None and plots.get(name, {}).get(CANDIDATE) is None:
            continue
        chosen.append((name, metrics))
        if len(chosen) == count:
            break
    return chosen


def _positives(metrics: Mapping[str, float]) -> float | None:
    """Positive examples in a slice: example_count × mean_label."""
    count, rate = metrics.get("example_count"), metrics.get("mean_label")
    return None if count is None or rate is None else count * rate


def _split_tag(split: str, note: str = "") -> str:
    """A small label saying which split a number comes from."""
    return f'<span class="split">{_e(split)} split{_e(note)}</span>'


def _decision_html(evaluation: Mapping[str, Any]) -> str:
    """The blessing decision and every reason."""
    blessed = bool(evaluation.get("blessed"))
    failures = list(evaluation.get("failures") or [])
    word = "BLESSED" if blessed else "NOT BLESSED"
    consequence = "The candidate may be pushed" if blessed else "The candidate will not be pushed"
    if failures:
        reasons = "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in failures) + "</ul>"
    elif blessed:
        reasons = "<p>Every configured gate passed.</p>"
    else:
        reasons = "<p>No reason was recorded.</p>"
    skipped = sorted(set(evaluation.get("small_slices") or []) | set(evaluation.get("single_class_slices") or []))
    note = ""
    if skipped:
        note = (
            f'<p class="note">Not gated ({len(skipped)} slices with fewer than '
            f"{_e(evaluation.get('min_slice_size', '?'))} examples or a single class): "
            f"{_e(', '.join(skipped))}.</p>"
        )
    css = "blessed" if blessed else "rejected"
    return (
        f'<section id="decision" class="decision {css}"><h2>Decision: <span id="decision-text">{word}</span></h2>'
        f"<p>{_e(consequence)}.</p>{reasons}{note}</section>"
    )


def _headline_html(evaluation: Mapping[str, Any], training: TrainingResult | None, labels: Mapping[str, str]) -> str:
    """Headline numbers, each with the split it comes from; validation vs test AUC with the gap."""
    split = evaluation.get("split", TEST_SPLIT)
    overall = evaluation.get("overall") or {}
    baseline = evaluation.get("baseline_overall")
    test_auc = overall.get("auc")
    cards = [
        ("test AUC", format_number(test_auc), _split_tag(split)),
        ("test examples", format_count(overall.get("example_count")), _split_tag(split)),
    ]
    if training is not None:
        note = f", best epoch {training.best_epoch} of {training.epochs_run}"
        cards.append(("validation AUC", format_number(training.best_eval_auc), _split_tag(EVAL_SPLIT, note)))
        if test_auc is not None:
            gap = test_auc - training.best_eval_auc
            cards.append(
                ("gap: test − validation", f"{gap:+.3f}", f'<span class="split">{_e(split)} vs {EVAL_SPLIT}</span>')
            )
    if baseline is not None and test_auc is not None and baseline.get("auc") is not None:
        delta = test_auc - baseline["auc"]
        cards.append((f"AUC vs {labels[BASELINE]}", f"{delta:+.4f}", _split_tag(split)))
    body = "".join(
        f'<div class="card"><div class="value">{_e(value)}</div><div class="what">{_e(what)}</div>{tag}</div>'
        for what, value, tag in cards
    )
    return f'<section id="headline" class="cards">{body}</section>'


def _compare_html(evaluation: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Every overall metric, candidate beside baseline with the delta (candidate only without a baseline)."""
    overall = evaluation.get("overall") or {}
    baseline = evaluation.get("baseline_overall")
    threshold = _threshold(evaluation)
    split = evaluation.get("split", TEST_SPLIT)
    head = f"<th>metric</th><th>{_e(labels[CANDIDATE])}</th>"
    if baseline is not None:
        head += f"<th>{_e(labels[BASELINE])}</th><th>Δ candidate − baseline</th>"
    rows = []
    for name in _metric_names(overall, baseline):
        value = overall.get(name)
        cells = f"<td>{_e(_label(name, threshold))}</td><td class=num>{_e(_metric_text(name, value))}</td>"
        if baseline is not None:
            other = baseline.get(name)
            delta = _delta_text(name, value, other)
            css = _verdict(name, value, other) if value is not None and other is not None else "neutral"
            cells += f"<td class=num>{_e(_metric_text(name, other))}</td><td class='num delta {css}'>{_e(delta)}</td>"
        rows.append(f"<tr>{cells}</tr>")
    heading = "Candidate vs baseline" if baseline is not None else "Overall metrics (no baseline to compare)"
    return (
        f'<section id="compare"><h2>{heading} {_split_tag(split)}</h2>'
        f'<table id="compare-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        '<p class="note">Δ is green where the candidate is better (higher, lower for log loss, nearer 1 for '
        "calibration).</p></section>"
    )


def _bytes_text(value: float | None) -> str:
    return "—" if value is None else f"{value / 1024:,.1f} KiB"


def _pruning_rows(pruning: Mapping[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
    """(label, kind, candidate value, reference value) per row; kind is how the change shows: delta or ratio."""
    candidate, reference = pruning["candidate"], pruning.get("reference") or {}
    rows: list[tuple[str, str, float | None, float | None]] = [
        ("dense-kernel sparsity", "delta", candidate["kernel_sparsity"], reference.get("kernel_sparsity")),
        ("sparsity of all weights", "delta", candidate["weight_sparsity"], reference.get("weight_sparsity")),
        ("SavedModel size", "ratio", candidate["size_bytes"], reference.get("size_bytes")),
        ("gzip-compressed size", "ratio", candidate["gzip_bytes"], reference.get("gzip_bytes")),
    ]
    for batch, ms in candidate["latency_ms"].items():
        rows.append((f"latency, batch of {batch} (ms)", "ratio", ms, (reference.get("latency_ms") or {}).get(batch)))
    rows.append(("AUC", "delta", candidate.get("auc"), reference.get("auc")))
    return rows


def _pruning_html(evaluation: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """What pruning bought: sparsity, size, gzip size, latency and AUC, beside the unpruned baseline when served."""
    pruning = evaluation.get("pruning")
    if not pruning:
        return ""
    reference = pruning.get("reference")
    head = f"<th></th><th>{_e(labels[CANDIDATE])} (pruned)</th>"
    if reference:
        head += f"<th>{_e(labels[BASELINE])} (unpruned)</th><th>change</th>"
    rows = []
    for label, kind, value, other in _pruning_rows(pruning):
        shown = _bytes_text if "size" in label else (lambda v: format_number(v, 4))
        cells = f"<td>{_e(label)}</td><td class=num>{_e(shown(value))}</td>"
        if reference:
            if value is None or other is None:
                change = "—"
            elif kind == "ratio":
                change = f"×{value / other:.2f}" if other else "—"
            else:
                change = f"{value - other:+.4f}"
            cells += f"<td class=num>{_e(shown(other))}</td><td class=num>{_e(change)}</td>"
        rows.append(f"<tr>{cells}</tr>")
    note = (
        f"Trained to {pruning['final_sparsity']:.0%} sparsity of the dense kernels (magnitude pruning). Sizes are the "
        "SavedModel directory and the same directory as a .tar.gz; latency is the median of a few serving_default "
        "calls on raw test examples after a warm-up, measured in the evaluate step for both models alike. Zeros "
        "shrink the gzip size, not the raw size or dense-kernel latency."
    )
    if not reference:
        note += " No unpruned model to compare with: the baseline is absent or itself pruned."
    return (
        f'<section id="pruning"><h2>Pruning</h2><table id="pruning-table"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table><p class="note">{_e(note)}</p></section>'
    )


def _curves_html(evaluation: Mapping[str, Any], plots: PlotsBySlice, labels: Mapping[str, str]) -> str:
    """Overall ROC, precision–recall, calibration and confusion matrix."""
    split = evaluation.get("split", TEST_SPLIT)
    threshold = _threshold(evaluation)
    overall = dict(plots.get(OVERALL, {}))
    figures = []
    if overall.get(CANDIDATE) and overall[CANDIDATE].matrices:
        figures.append(_img(roc_figure(overall, labels, threshold), "ROC curve, overall"))
        base_rate = (evaluation.get("overall") or {}).get("mean_label")
        figures.append(_img(pr_figure(overall, labels, base_rate), "precision-recall curve, overall"))
    elif evaluation.get("roc"):
        points = tuple(_roc_counts(evaluation["roc"]))
        figures.append(_img(roc_figure({CANDIDATE: ModelPlots(points)}, labels, threshold), "ROC curve, overall"))
    if any(model.calibration for model in overall.values()):
        figures.append(_img(calibration_figure(overall, labels), "calibration (reliability) plot, overall"))
    matrix = evaluation.get("confusion_matrix") or {}
    confusion = _confusion_html(matrix, threshold, split) if matrix else ""
    if not figures and not confusion:
        return f'<section id="curves"><h2>Overall curves {_split_tag(split)}</h2><p>No plot data.</p></section>'
    return (
        f'<section id="curves"><h2>Overall curves {_split_tag(split)}</h2>'
        f'<div class="grid">{"".join(figures)}</div>{confusion}</section>'
    )


def _rate(numerator: float, denominator: float) -> str:
    """A ratio as text, an em dash when the denominator is 0."""
    return format_number(numerator / denominator) if denominator else "—"


def _confusion_html(matrix: Mapping[str, int], threshold: float, split: str) -> str:
    """The confusion matrix at the decision threshold as a heatmap beside a table of counts and rates."""
    tp, fp, tn, fn = (matrix.get(key, 0) for key in ("tp", "fp", "tn", "fn"))
    rows = [
        ("true negatives (actual 0, predicted 0)", format_count(tn)),
        ("false positives (actual 0, predicted 1)", format_count(fp)),
        ("false negatives (actual 1, predicted 0)", format_count(fn)),
        ("true positives (actual 1, predicted 1)", format_count(tp)),
        ("precision TP / (TP + FP)", _rate(tp, tp + fp)),
        ("recall TP / (TP + FN)", _rate(tp, tp + fn)),
        ("false positive rate FP / (FP + TN)", _rate(fp, fp + tn)),
        ("predicted positive share", _rate(tp + fp, tp + fp + tn + fn)),
    ]
    table = (
        f'<table id="confusion-table" class="small"><caption>at threshold {threshold:g}, {_e(split)} split</caption>'
        "<tbody>"
        + "".join(f"<tr><th>{_e(what)}</th><td class=num>{_e(value)}</td></tr>" for what, value in rows)
        + "</tbody></table>"
    )
    image = _img(confusion_figure(matrix, threshold), f"confusion matrix at threshold {threshold:g}")
    return f'<div class="row confusion">{image}{table}</div>'


def _roc_counts(points: Iterable[Mapping[str, float]]) -> Iterable[ThresholdCounts]:
    """The evaluate step's ROC points as unit counts (enough to redraw the curve)."""
    for p in points:
        yield ThresholdCounts(p.get("threshold", 0.0), p["tpr"], p["fpr"], 1.0 - p["fpr"], 1.0 - p["tpr"])


def _weakest_html(evaluation: Mapping[str, Any], plots: PlotsBySlice, labels: Mapping[str, str]) -> str:
    """ROC curves of the weakest slices that are large enough to be gated."""
    split = evaluation.get("split", TEST_SPLIT)
    chosen = weakest_slices(evaluation, plots)
    heading = f"<h2>Weakest slices {_split_tag(split)}</h2>"
    if not chosen:
        return f'<section id="weakest">{heading}<p>No slice large enough to gate has plot data.</p></section>'
    threshold = _threshold(evaluation)
    names = ", ".join(name for name, _ in chosen)
    image = _img(
        slices_roc_figure(chosen, plots, labels, threshold), f"ROC curves of the weakest slices: {names}", "wide"
    )
    return (
        f'<section id="weakest">{heading}<p>The {len(chosen)} lowest-AUC slices with at least '
        f"{_e(evaluation.get('min_slice_size', '?'))} examples and both classes; grey is the candidate overall.</p>"
        f"{image}</section>"
    )


def _slice_table_html(evaluation: Mapping[str, Any], plots: PlotsBySlice, labels: Mapping[str, str]) -> str:
    """Every slice, weakest AUC first: size, positives, every metric, the gate outcome and flags."""
    split = evaluation.get("split", TEST_SPLIT)
    threshold = _threshold(evaluation)
    ranked = _ranked_slices(evaluation)
    overall = evaluation.get("overall") or {}
    metrics = [name for name in _metric_names(overall, *(values for _, values in ranked)) if name != "example_count"]
    with_baseline = evaluation.get("baseline_overall") is not None and any(BASELINE in p for p in plots.values())
    small = set(evaluation.get("small_slices") or [])
    single = set(evaluation.get("single_class_slices") or [])
    head = "<th>slice</th><th>gate</th><th>n</th><th>positives</th>" + "".join(
        f"<th>{_e(_label(name, threshold))}</th>" for name in metrics
    )
    if with_baseline:
        head += f"<th>Δ AUC vs {_e(labels[BASELINE])}</th>"
    rows = []
    for name, values in ranked:
        gate = _gate(name, evaluation)
        flags = [f'<span class="badge gate-{_e(gate)}">{_e(_GATE_TEXT.get(gate, gate))}</span>'] if gate else ["—"]
        for flagged, state in ((small, GATE_SMALL), (single, GATE_SINGLE_CLASS)):
            if name in flagged and gate != state:
                flags.append(f'<span class="badge gate-{state}">{_GATE_TEXT[state]}</span>')
        css = "muted" if name in small | single else ("failed" if gate == GATE_FAILED else "")
        cells = [
            f'<td class="slice">{_e(name).replace(",", ",<wbr>")}</td>',
            f"<td>{' '.join(flags)}</td>",
            f"<td class=num>{_e(format_count(values.get('example_count')))}</td>",
            f"<td class=num>{_e(format_count(_positives(values)))}</td>",
            *(f"<td class=num>{_e(format_number(values.get(metric)))}</td>" for metric in metrics),
        ]
        if with_baseline:
            cells.append(f"<td class=num>{_e(_slice_delta(plots.get(name, {})))}</td>")
        rows.append(f'<tr class="{css}" data-slice="{_e(name)}">{"".join(cells)}</tr>')
    foot = (
        f'<tr class="overall"><td class="slice">{OVERALL}</td><td></td>'
        f"<td class=num>{_e(format_count(overall.get('example_count')))}</td>"
        f"<td class=num>{_e(format_count(_positives(overall)))}</td>"
        + "".join(f"<td class=num>{_e(format_number(overall.get(metric)))}</td>" for metric in metrics)
        + ("<td class=num></td>" if with_baseline else "")
        + "</tr>"
    )
    note = (
        f"Sorted by AUC, weakest first. Positives = n × mean label. Slices under "
        f"{_e(evaluation.get('min_slice_size', '?'))} examples or with a single class are flagged and never gated."
    )
    if with_baseline:
        note += " Δ AUC vs baseline is computed from the plotted curves of both models."
    return (
        f'<section id="slices"><h2>Per-slice metrics {_split_tag(split)}</h2><p class="note">{note}</p>'
        f'<div class="scroll"><table id="slice-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody><tfoot>{foot}</tfoot></table></div></section>"
    )


def _slice_delta(models: Mapping[str, ModelPlots]) -> str:
    """Candidate minus baseline AUC of one slice from its curves ('—' without both)."""
    candidate, baseline = models.get(CANDIDATE), models.get(BASELINE)
    if candidate is None or baseline is None:
        return "—"
    ours, theirs = curve_auc(candidate.matrices), curve_auc(baseline.matrices)
    return "—" if ours is None or theirs is None else f"{ours - theirs:+.4f}"


def _training_html(
    curves: Mapping[str, Sequence[float]] | None, training: TrainingResult | None, curves_png: bytes | None
) -> str:
    """Training curves (train vs validation) and the run's facts."""
    heading = f"<h2>Training {_split_tag(TRAIN_SPLIT)} {_split_tag(EVAL_SPLIT, ' (validation)')}</h2>"
    parts = []
    if curves:
        image = training_figure(curves, training.best_epoch if training else None)
        parts.append(_img(image, "training curves: loss and AUC per epoch, train vs validation", "wide"))
    elif curves_png:
        uri = "data:image/png;base64," + base64.b64encode(curves_png).decode("ascii")
        parts.append(_img(uri, "training curves: loss and AUC per epoch, train vs validation", "wide"))
    if training is not None:
        facts = [
            (
                "best validation AUC",
                f"{format_number(training.best_eval_auc, 4)} ({EVAL_SPLIT} split, epoch {training.best_epoch})",
            ),
            ("final validation loss", format_number(training.final_eval_loss, 4)),
            ("epochs run", str(training.epochs_run)),
            ("train examples per epoch", format_count(training.train_examples_per_epoch)),
            ("workers", str(training.workers)),
            ("seconds", format_number(training.seconds, 1)),
            ("resumed from epoch", str(training.resumed_from_epoch)),
            ("warm started", "yes" if training.warm_started else "no"),
        ]
        if training.warm_start_note:
            facts.append(("warm start note", training.warm_start_note))
        parts.append(
            '<table id="training-table" class="small"><tbody>'
            + "".join(f"<tr><th>{_e(what)}</th><td>{_e(value)}</td></tr>" for what, value in facts)
            + "</tbody></table>"
        )
    if not parts:
        parts.append("<p>No training logs were given.</p>")
    return f'<section id="training">{heading}<div class="row">{"".join(parts)}</div></section>'


def _trials_html(trials: Mapping[str, Any] | None) -> str:
    """A hyperparameter search: every trial's tuned settings, validation AUC, epochs and seconds, the winner marked,
    and the AUC against each setting; empty without a search."""
    if not trials:
        return ""
    rows, winner = trials["trials"], trials["winner"]
    keys = sorted({key for trial in rows for key in trial["settings"]})
    head = "".join(f"<th>{_e(key)}</th>" for key in ("trial", *keys, "validation AUC", "epochs", "seconds", ""))
    body = []
    for trial in rows:
        auc = trial.get("validation_auc")
        cells = [str(trial["index"])]
        cells += [format_number(v, 4) if isinstance(v, float) else str(v) for v in map(trial["settings"].get, keys)]
        cells += [format_number(auc, 4) if auc is not None else f"none: {trial.get('problem')}"]
        cells += [str(trial.get("epochs", "—")), format_number(trial.get("seconds"), 1)]
        cells += ["winner" if trial["index"] == winner else ""]
        css = ' class="winner"' if trial["index"] == winner else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>")
    scored = [trial for trial in rows if trial.get("validation_auc") is not None]
    image = _img(trials_figure(rows, winner), "validation AUC against each tuned setting", "wide") if scored else ""
    heading = f"<h2>Hyperparameter search {_split_tag(EVAL_SPLIT, ' (validation: chose the winner)')}</h2>"
    note = (
        f"<p>{len(rows)} trials; trial {winner} had the best validation AUC and is the candidate evaluated above on "
        "the test split.</p>"
    )
    rows_html = "".join(body)
    table = f'<table id="trials-table" class="small"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'
    return f'<section id="trials">{heading}{note}<div class="row">{image}{table}</div></section>'


def _data_html(statistics: Mapping[str, Any] | None, test_split: str) -> str:
    """Rows per split and quarantined rows with their reasons."""
    if not statistics:
        return '<section id="data"><h2>Data</h2><p>No ingest statistics were given.</p></section>'
    total = statistics.get("input")
    roles = {
        TRAIN_SPLIT: "fits the model",
        EVAL_SPLIT: "validation: early stopping, the validation AUC above",
        TEST_SPLIT: "held out: every evaluation number in this report" if test_split == TEST_SPLIT else "held out",
        "quarantined": "malformed rows, left out of every split",
    }
    rows = [
        f"<tr><th>input</th><td class=num>{_e(format_count(total))}</td><td class=num>100%</td><td>rows read</td></tr>"
    ]
    for key, role in roles.items():
        value = statistics.get(key)
        share = f"{value / total:.1%}" if value is not None and total else "—"
        rows.append(
            f"<tr><th>{_e(key)}</th><td class=num>{_e(format_count(value))}</td><td class=num>{_e(share)}</td>"
            f"<td>{_e(role)}</td></tr>"
        )
    reasons = sorted((statistics.get("quarantine_reasons") or {}).items(), key=lambda item: (-item[1], item[0]))
    reason_table = "<p>No quarantined rows.</p>"
    if reasons:
        reason_table = (
            '<table id="quarantine-table" class="small"><thead><tr><th>quarantine reason</th><th>rows</th></tr></thead>'
            "<tbody>"
            + "".join(
                f"<tr><td>{_e(reason)}</td><td class=num>{_e(format_count(count))}</td></tr>"
                for reason, count in reasons
            )
            + "</tbody></table>"
        )
    return (
        '<section id="data"><h2>Data</h2><div class="row">'
        '<table id="split-table" class="small"><thead><tr><th>split</th><th>rows</th><th>share</th><th>role</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>{reason_table}</div></section>"
    )


def _columns_html(column_stats: Mapping[str, Any] | None) -> str:
    """The train split's columns as ingest described them: counts, missing share, range or most frequent values."""
    columns = (column_stats or {}).get(TRAIN_SPLIT)
    if not columns:
        return ""
    rows = []
    for name, stats in columns.items():
        if "mean" in stats:
            numbers = [stats.get(key) for key in ("min", "mean", "std", "max")]
            shape = " · ".join(
                f"{label} {'—' if value is None else f'{value:.4g}'}"
                for label, value in zip(("min", "mean", "std", "max"), numbers, strict=True)
            )
        else:
            top = ", ".join(f"{item['value']} ({format_count(item['count'])})" for item in stats["top_values"][:3])
            shape = f"{format_count(stats['distinct'])} distinct · top: {top or '—'}"
        rows.append(
            f"<tr><th>{_e(name)}</th><td class=num>{_e(format_count(stats['count']))}</td>"
            f"<td class=num>{stats['missing_ratio']:.1%}</td><td>{_e(shape)}</td></tr>"
        )
    return (
        f'<section id="columns"><h2>Columns {_split_tag(TRAIN_SPLIT)}</h2>'
        '<table id="column-table" class="small"><thead><tr><th>column</th><th>rows</th><th>missing</th>'
        f"<th>values</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


_CSS = """
:root { --ink: #1d2430; --muted: #6b7380; --line: #dde1e6; --bg: #f6f7f9; --good: #137333; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 10px; }
header .sub { color: var(--muted); margin: 0 0 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 0 0 16px; }
.decision.blessed { border-left: 6px solid var(--good); }
.decision.rejected { border-left: 6px solid var(--bad); }
.decision.blessed #decision-text { color: var(--good); }
.decision.rejected #decision-text { color: var(--bad); }
.decision ul { margin: 6px 0; padding-left: 20px; }
.decision li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; background: none; border: none; padding: 0; }
.card { flex: 1 1 170px; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .what { color: var(--muted); }
.split { display: inline-block; font-size: 11px; font-weight: 500; color: #3c4a5c; background: #e8eef6;
  border-radius: 10px; padding: 1px 8px; margin-left: 4px; vertical-align: middle; }
.note { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
thead th { background: #f0f2f5; vertical-align: bottom; }
#slice-table thead th { white-space: normal; min-width: 52px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.slice { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; white-space: normal;
  overflow-wrap: break-word; min-width: 190px; max-width: 280px; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.muted td { color: var(--muted); }
tr.failed td { background: #fdecea; }
tfoot tr td { font-weight: 600; border-top: 2px solid var(--ink); }
.delta.better { color: var(--good); font-weight: 600; }
.delta.worse { color: var(--bad); font-weight: 600; }
.delta.same, .delta.neutral { color: var(--muted); }
.badge { display: inline-block; font-size: 11px; border-radius: 10px; padding: 1px 8px; background: #eceff3; }
.gate-failed { background: #fbd3cf; color: var(--bad); font-weight: 600; }
.gate-passed { background: #d6f0dd; color: var(--good); }
.gate-small, .gate-single_class { background: #fff1c2; color: #7a5a00; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
img.plot { width: 360px; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
img.wide { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table { width: 100%; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table.small { margin-top: 10px; }
.confusion { margin-top: 12px; }
.confusion table.small { margin-top: 0; }
tr.winner td { font-weight: 600; }
caption { text-align: left; color: var(--muted); font-size: 12px; padding-bottom: 4px; }
footer { color: var(--muted); font-size: 12px; }
"""


def render_report(
    evaluation: Mapping[str, Any],
    plots: PlotsBySlice,
    curves: Mapping[str, Sequence[float]] | None = None,
    training: TrainingResult | None = None,
    statistics: Mapping[str, Any] | None = None,
    baseline_version: int | None = None,
    title: str = DEFAULT_TITLE,
    curves_png: bytes | None = None,
    column_stats: Mapping[str, Any] | None = None,
    trials: Mapping[str, Any] | None = None,
) -> str:
    """The report page as one HTML string, from plain data only (no TFMA, no files). ``trials``: a hyperparameter
    search's trials table (components.tune.select)."""
    split = evaluation.get("split", TEST_SPLIT)
    has_baseline = evaluation.get("baseline_overall") is not None
    baseline_name = f"baseline v{baseline_version}" if baseline_version is not None else "baseline"
    labels = {CANDIDATE: "candidate", BASELINE: baseline_name}
    n = format_count((evaluation.get("overall") or {}).get("example_count"))
    against = f" vs {baseline_name}" if has_baseline else " (no baseline)"
    subtitle = f"candidate{against} · evaluated on the {split} split, {n} examples"
    body = "".join(
        (
            _decision_html(evaluation),
            _headline_html(evaluation, training, labels),
            _compare_html(evaluation, labels),
            _pruning_html(evaluation, labels),
            _curves_html(evaluation, plots, labels),
            _weakest_html(evaluation, plots, labels),
            _slice_table_html(evaluation, plots, labels),
            _training_html(curves, training, curves_png),
            _trials_html(trials),
            _data_html(statistics, split),
            _columns_html(column_stats),
        )
    )
    footer = (
        f"Sources: evaluation metrics, curves and slices from TFMA on the {split} split; training curves from the "
        f"{TRAIN_SPLIT} and {EVAL_SPLIT} (validation) splits; row counts from ingest."
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p></header>'
        f"{body}<footer>{_e(footer)}</footer></main></body></html>\n"
    )


def write_report(
    output_path: str,
    evaluation: Mapping[str, Any],
    tfma_dir: str,
    training_logs_dir: str | None = None,
    statistics: Mapping[str, Any] | None = None,
    baseline_version: int | None = None,
    title: str = DEFAULT_TITLE,
    column_stats: Mapping[str, Any] | None = None,
) -> str:
    """Read TFMA's plots (tfma_dir) and the training logs, write the report to output_path and return the path.

    ``column_stats`` is ingest's per-split column statistics; the train split's columns get a table. A search's
    trials table lies beside the winner's training logs."""
    plots = read_plots(tfma_dir)
    curves, training, curves_png = read_training_logs(training_logs_dir)
    trials = read_table(training_logs_dir or "")
    page = render_report(
        evaluation, plots, curves, training, statistics, baseline_version, title, curves_png, column_stats, trials
    )
    os.makedirs(os.path.dirname(output_path) or ".", exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return output_path


# ---- Markdown (KFP's Markdown visualization) ------------------------------------------------------


def _md(value: Any) -> str:
    """Text safe in a Markdown table cell (HTML-escaped, pipes escaped)."""
    return html.escape(str(value)).replace("|", "\\|")


def markdown_summary(
    evaluation: Mapping[str, Any], statistics: Mapping[str, Any] | None = None, baseline_version: int | None = None
) -> str:
    """A short Markdown summary: decision and reasons, overall metrics vs baseline, weakest slices, data counts."""
    split = evaluation.get("split", TEST_SPLIT)
    blessed = bool(evaluation.get("blessed"))
    threshold = _threshold(evaluation)
    lines = [f"## Evaluation: {'BLESSED' if blessed else 'NOT BLESSED'}", ""]
    lines += [f"- {_md(line)}" for line in evaluation.get("failures") or []] or ["- every configured gate passed"]
    overall = evaluation.get("overall") or {}
    baseline = evaluation.get("baseline_overall")
    name = f"baseline v{baseline_version}" if baseline_version is not None else "baseline"
    lines += ["", f"Metrics on the **{_md(split)}** split:", ""]
    if baseline is not None:
        lines += [f"| metric | candidate | {name} | Δ |", "|---|---:|---:|---:|"]
    else:
        lines += ["| metric | candidate |", "|---|---:|"]
    for metric in _metric_names(overall, baseline):
        value = overall.get(metric)
        row = f"| {_md(_label(metric, threshold))} | {_metric_text(metric, value)} |"
        if baseline is not None:
            other = baseline.get(metric)
            row += f" {_metric_text(metric, other)} | {_delta_text(metric, value, other)} |"
        lines.append(row)
    weakest = weakest_slices(evaluation)
    if weakest:
        lines += ["", "Weakest slices (gated by size):", ""]
        lines += [
            f"- `{_md(slice_)}`: AUC {format_number(values.get('auc'))}, n={format_count(values.get('example_count'))}"
            for slice_, values in weakest
        ]
    if statistics:
        counts = ", ".join(
            f"{key} {format_count(statistics.get(key))}"
            for key in ("input", TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT, "quarantined")
        )
        lines += ["", f"Rows: {counts}."]
    return "\n".join(lines) + "\n"
