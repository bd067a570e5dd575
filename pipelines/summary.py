"""The run summary: one JSON document (``--summary FILE``) and the same facts printed for people."""

from __future__ import annotations

import re
from typing import Any

from beam_jobs.sources import describe_spans
from components.notify.run_summary import collect, pruning_line
from pipelines.progress import StepRecord


def build_summary(
    run_id: str,
    run_dir: str,
    log_path: str,
    steps: dict[str, StepRecord],
    facts: dict[str, Any],
    seconds: float,
    error: str | None = None,
) -> dict[str, Any]:
    """The local run's summary: its steps and timing, plus the facts the summarize step collected."""
    empty = collect("", "", "")
    return {
        "run_id": run_id,
        "ok": error is None,
        "error": error,
        "run_dir": run_dir,
        "log": log_path,
        "seconds": round(seconds, 2),
        "steps": {name: {"cached": r.cached, "seconds": r.seconds} for name, r in steps.items()},
        **{key: facts.get(key, value) for key, value in empty.items()},
    }


def _natural(name: str) -> list[Any]:
    """Sort key putting numbers in numeric order: hour=[4;8) before hour=[12;16)."""
    return [float(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+(?:\.\d+)?)", name))]


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _slice_lines(summary: dict[str, Any]) -> list[str]:
    """Single-feature slices one per line; crossed slices only as a count and the weakest one. Small and
    single-class slices are flagged and never named the weakest (their AUC is noise or meaningless)."""
    single_class = set(summary["single_class_slices"])
    small = set(summary["small_slices"])
    lines = []
    crossed = []
    for name, values in sorted(summary["metrics"]["slices"].items(), key=lambda item: _natural(item[0])):
        count = int(values.get("example_count") or 0)
        if "," in name:
            if name not in single_class and name not in small and values.get("auc") is not None:
                crossed.append((values["auc"], name, count))
            continue
        flag = "  (single class: AUC not meaningful)" if name in single_class else ""
        flag = flag or ("  (small: not gated)" if name in small else "")
        lines.append(f"  slice     {name:<24} auc {_fmt(values.get('auc'))}  n={count}{flag}")
    crossed_total = sum("," in name for name in summary["metrics"]["slices"])
    if crossed:
        auc, name, count = min(crossed)
        weakest = f"weakest {name} auc {auc:.3f} n={count}"
        lines.append(f"  crossed   {crossed_total} slices; {weakest} (all in the summary JSON)")
    elif crossed_total:
        lines.append(f"  crossed   {crossed_total} slices, all small or single-class (all in the summary JSON)")
    return lines


def _value_text(value: Any) -> str:
    """A tuned setting's value, short: 0.00123 → 0.00123, 0.1251066 → 0.125, [64, 32] → [64,32]."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace(" ", "")


def _trial_lines(summary: dict[str, Any]) -> list[str]:
    """A search's trials, one line each: the tuned values, validation AUC, epochs, seconds, cached, the winner."""
    trials = summary.get("trials")
    if not trials:
        return []
    lines = [f"  search    {len(trials)} trials; winner trial {summary['winner']} (best validation auc, eval split)"]
    for trial in trials:
        auc = trial["validation_auc"]
        result = f"auc {auc:.3f}" if auc is not None else f"no auc: {trial.get('problem')}"
        ran = "cached" if trial["cached"] else f"{trial['seconds'] or 0:.1f} s" if trial["cached"] is False else ""
        values = " ".join(f"{key.split('.', 1)[1]}={_value_text(v)}" for key, v in sorted(trial["settings"].items()))
        mark = "*" if trial["index"] == summary["winner"] else " "
        epochs = f"{trial['epochs']} ep" if trial["epochs"] is not None else ""
        lines.append(f"   {mark}trial {trial['index']:<2} {result}  {epochs}  {ran}  {values}".rstrip())
    return lines


def format_summary(summary: dict[str, Any], with_error: bool = True) -> str:
    """The summary as a few readable lines; ``with_error`` False leaves a failure's message out (the CLI prints it
    once, on stderr, right after)."""
    status = "succeeded" if summary["ok"] else f"FAILED: {summary['error']}" if with_error else "FAILED (see below)"
    lines = [f"bigtrain run {summary['run_id']} {status} ({summary['seconds']:.1f} s)"]
    if summary.get("data_spans"):
        lines.append(f"  spans     {describe_spans(summary['data_spans'])}")
    rows = summary["rows"]
    if rows.get("input") is not None:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["quarantine_reasons"].items()))
        lines.append(
            f"  rows      {rows['input']} in → train {rows['train']} · eval {rows['eval']} · test {rows['test']}"
            f" · quarantined {rows['quarantined']}" + (f" ({reasons})" if reasons else "")
        )
    if (summary.get("data_anomalies") or {}).get("anomalies"):
        lines.append(f"  anomalies {len(summary['data_anomalies']['anomalies'])} mild (data checks; see the summary)")
    lines.extend(_trial_lines(summary))
    overall = summary["metrics"]["overall"]
    if overall:
        shown = ("auc", "auc_pr", "accuracy", "precision", "recall", "f1", "log_loss")
        values = "  ".join(f"{k} {_fmt(overall[k])}" for k in shown if overall.get(k) is not None)
        split = summary.get("evaluated_split") or "?"
        lines.append(f"  overall   {values}  n={int(overall.get('example_count') or 0)}  ({split} split)")
        if summary.get("validation_auc") is not None:
            lines.append(f"  validation auc {summary['validation_auc']:.3f} (eval split, chose the model in training)")
        if summary.get("baseline"):
            lines.append(f"  baseline  auc {_fmt(summary['baseline'].get('auc'))}")
        if summary.get("pruning"):
            lines.append(f"  pruning   {pruning_line(summary['pruning'])}")
    lines.extend(_slice_lines(summary))
    if overall:
        lines.append("  blessed   yes" if summary["blessed"] else "  blessed   no —")
        if not summary["blessed"]:
            lines.extend(f"              {failure}" for failure in summary["failures"])
    served = summary.get("candidate_is_served_version")
    if served is not None:
        lines.append(
            f"  reused    the model is served version {served}: its evaluation and blessing stand"
            " (not compared with itself); serving check skipped"
        )
    pushed = summary["pushed"]
    if pushed:
        note = "" if pushed["new_version"] else " (identical model was already there)"
        lines.append(f"  pushed    version {pushed['version']} → {pushed['path']}{note}")
    elif summary.get("push_reason"):
        lines.append(f"  pushed    nothing: {summary['push_reason']}")
    if summary.get("report"):
        lines.append(f"  report    {summary['report']}")
    lines.append(f"  log       {summary['log']}")
    return "\n".join(lines)
