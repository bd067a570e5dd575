"""The local run's summary: the data spans the run read, in the JSON and in the printed lines."""

from __future__ import annotations

from components.notify.run_summary import collect
from pipelines.summary import build_summary, format_summary


def _summary(data_spans: list[str] | None) -> dict:
    facts = {} if data_spans is None else {"data_spans": data_spans}
    return build_summary("r1", "/runs/r1", "/runs/r1/bigtrain.log", {}, facts, 1.0)


def test_the_facts_have_the_spans_and_none_without_them():
    assert collect("", "", "", data_spans=["0041", "0042"])["data_spans"] == ["0041", "0042"]
    assert collect("", "", "")["data_spans"] == []
    assert _summary(["0041", "0042"])["data_spans"] == ["0041", "0042"]
    assert _summary(None)["data_spans"] == []  # a run that failed before summarize


def test_the_printed_summary_shows_the_spans_when_there_are_any():
    lines = format_summary(_summary(["2026-11-27", "2026-11-28"])).splitlines()
    assert lines[1] == "  spans     2026-11-27, 2026-11-28"
    window = [f"2026-11-{day:02d}" for day in range(1, 15)]
    assert "  spans     2026-11-01 … 2026-11-14 (14 spans)" in format_summary(_summary(window))
    assert "spans" not in format_summary(_summary([]))
