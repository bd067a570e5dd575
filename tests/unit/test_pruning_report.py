"""The evaluation report's Pruning section and the run summary's ``pruning`` entry and line."""

from __future__ import annotations

import json

from components.evaluate.report import render_report
from components.notify.run_summary import collect
from pipelines.summary import build_summary, format_summary
from tests.report.synthetic import report_inputs
from tests.unit.test_report import _Page


def _model(sparsity: float, gzip_bytes: int, auc: float) -> dict:
    return {
        "kernel_sparsity": sparsity,
        "weight_sparsity": sparsity / 2,
        "size_bytes": 400_000,
        "gzip_bytes": gzip_bytes,
        "latency_ms": {"1": 2.0, "256": 10.0},
        "auc": auc,
    }


PRUNING = {
    "final_sparsity": 0.5,
    "candidate": _model(0.5, 100_000, 0.81),
    "reference": {**_model(0.0, 150_000, 0.82), "version": 3},
}


def _render(pruning: dict | None) -> _Page:
    inputs = {**report_inputs(), "baseline_version": 3}
    inputs["evaluation"] = {**inputs["evaluation"], **({"pruning": pruning} if pruning else {})}
    return _Page(render_report(**inputs))


def test_report_shows_pruning_against_the_unpruned_baseline() -> None:
    page = _render(PRUNING)
    assert page.header("pruning-table")[1:] == ["candidate (pruned)", "baseline v3 (unpruned)", "change"]
    rows = {row["cells"][0]: row["cells"][1:] for row in page.rows("pruning-table")}
    assert rows["dense-kernel sparsity"] == ["0.5000", "0.0000", "+0.5000"]
    assert rows["gzip-compressed size"] == ["97.7 KiB", "146.5 KiB", "×0.67"]
    assert rows["latency, batch of 1 (ms)"][2] == "×1.00" and "latency, batch of 256 (ms)" in rows
    assert rows["AUC"] == ["0.8100", "0.8200", "-0.0100"]


def test_report_pruning_without_a_reference_and_no_section_unpruned() -> None:
    page = _render({**PRUNING, "reference": None})
    assert page.header("pruning-table")[1:] == ["candidate (pruned)"]
    assert "No unpruned model to compare with" in "".join(page.text)
    assert "pruning-table" not in _render(None).tables


def test_summary_has_pruning_and_one_printed_line(tmp_path) -> None:
    from beam_jobs.layout import EVALUATION_SUMMARY_FILE

    (tmp_path / EVALUATION_SUMMARY_FILE).write_text(json.dumps({"overall": {"auc": 0.81}, "pruning": PRUNING}))
    facts = collect("", str(tmp_path), "")
    assert facts["pruning"] == PRUNING
    assert collect("", "", "")["pruning"] is None
    summary = build_summary("r1", "/runs/r1", "/runs/r1/log", {}, facts, 1.0)
    assert summary["pruning"] == PRUNING
    lines = [line for line in format_summary(summary).splitlines() if line.startswith("  pruning")]
    assert lines == [
        "  pruning   sparsity 0.00 → 0.50  gzip KiB 146.5 → 97.7  ms@1 2.00 → 2.00  ms@256 10.00 → 10.00"
        "  auc 0.820 → 0.810  (vs unpruned baseline v3)"
    ]
    alone = build_summary("r1", "/runs/r1", "/runs/r1/log", {}, {**facts, "pruning": {**PRUNING, "reference": None}}, 1)
    assert "sparsity 0.50  gzip KiB 97.7" in format_summary(alone) and "(no unpruned baseline)" in format_summary(alone)
