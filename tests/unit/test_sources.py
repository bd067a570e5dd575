"""Resolving the data source at run time: the newest span, its files, and a fingerprint that follows content."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.sources import SourceError, resolve_source


def _span(root: Path, name: str, rows: str = "a,b\n1,2\n") -> None:
    (root / name).mkdir(parents=True)
    (root / name / "part-0.csv").write_text(rows)


def test_newest_span_wins_numerically_and_keeps_zero_padding(tmp_path: Path):
    for name in ("span-2", "span-10", "span-009"):
        _span(tmp_path, name)
    (tmp_path / "span-11x").mkdir()  # not a span: digits must end where the pattern continues
    (tmp_path / "span-11x" / "part-0.csv").write_text("a,b\n")
    resolved = resolve_source(str(tmp_path / "span-{SPAN}" / "*.csv"))
    assert resolved.span == 10
    assert resolved.pattern == str(tmp_path / "span-10" / "*.csv")
    assert resolved.files == (str(tmp_path / "span-10" / "part-0.csv"),)
    _span(tmp_path, "span-011")
    assert resolve_source(str(tmp_path / "span-{SPAN}" / "*.csv")).pattern == str(tmp_path / "span-011" / "*.csv")


def test_a_new_span_changes_the_fingerprint_the_same_data_does_not(tmp_path: Path):
    _span(tmp_path, "span-1")
    source = str(tmp_path / "span-{SPAN}" / "*.csv")
    first = resolve_source(source)
    assert resolve_source(source).fingerprint == first.fingerprint
    _span(tmp_path, "span-2", rows="a,b\n3,4\n")
    second = resolve_source(source)
    assert second.span == 2 and second.fingerprint != first.fingerprint


def test_without_a_span_the_glob_is_used_as_is(tmp_path: Path):
    _span(tmp_path, "d")
    resolved = resolve_source(str(tmp_path / "d" / "*.csv"))
    assert resolved.span is None and len(resolved.files) == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nothing-{SPAN}/*.csv", "data.source: no span of"),
        ("empty/*.csv", "data.source: no files match"),
        ("{SPAN}/{SPAN}.csv", "data.source: {SPAN} may appear once"),
    ],
)
def test_missing_data_names_the_field(tmp_path: Path, source: str, message: str):
    with pytest.raises(SourceError, match=message.replace("{", r"\{").replace("}", r"\}")):
        resolve_source(str(tmp_path / source))
