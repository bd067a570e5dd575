"""Resolving the data source at run time: the chosen spans (latest, the newest N, a list), their files, and a
fingerprint that follows the chosen spans and their content."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.sources import SourceError, choose_files, describe_spans, resolve_source


def _span(root: Path, name: str, rows: str = "a,b\n1,2\n", file: str = "part-0.csv") -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / file).write_text(rows)


def _source(root: Path) -> str:
    return str(root / "span-{SPAN}" / "*.csv")


def _pattern(root: Path, name: str) -> str:
    return str(root / f"span-{name}" / "*.csv")


def test_latest_is_the_numerically_newest_span_with_its_zero_padding(tmp_path: Path):
    for name in ("span-2", "span-10", "span-009"):
        _span(tmp_path, name)
    _span(tmp_path, "span-11x")  # not a span: the span part must be a whole number or date
    _span(tmp_path, "span-tmp")
    (tmp_path / "span-12").mkdir()  # a span without files does not count
    resolved = resolve_source(_source(tmp_path))
    assert resolved.spans == ("10",)
    assert resolved.patterns == (_pattern(tmp_path, "10"),)
    assert resolved.files == (str(tmp_path / "span-10" / "part-0.csv"),)
    _span(tmp_path, "span-011")
    assert resolve_source(_source(tmp_path)).spans == ("011",)


def test_a_window_is_the_newest_n_spans_oldest_first(tmp_path: Path):
    for name in ("1", "02", "3", "10"):
        _span(tmp_path, f"span-{name}")
    resolved = resolve_source(_source(tmp_path), 3)
    assert resolved.spans == ("02", "3", "10")
    assert resolved.patterns == tuple(_pattern(tmp_path, name) for name in ("02", "3", "10"))
    assert resolved.files == tuple(str(tmp_path / f"span-{name}" / "part-0.csv") for name in ("02", "3", "10"))


def test_a_window_larger_than_what_exists_uses_every_span(tmp_path: Path):
    for name in ("1", "2"):
        _span(tmp_path, f"span-{name}")
    assert resolve_source(_source(tmp_path), 5).spans == ("1", "2")


def test_dated_spans_are_ordered_by_date(tmp_path: Path):
    for name in ("2026-11-28", "2025-12-31", "2026-02-01", "2026-11-27"):
        _span(tmp_path, f"span-{name}")
    assert resolve_source(_source(tmp_path)).spans == ("2026-11-28",)
    assert resolve_source(_source(tmp_path), 2).spans == ("2026-11-27", "2026-11-28")
    listed = resolve_source(_source(tmp_path), ["2026-11-28", "2025-12-31"])
    assert listed.spans == ("2025-12-31", "2026-11-28")  # oldest first, whatever the order listed
    assert listed.patterns == (_pattern(tmp_path, "2025-12-31"), _pattern(tmp_path, "2026-11-28"))


def test_a_date_span_after_a_wildcard_is_read_whole(tmp_path: Path):
    _span(tmp_path / "drops", "daily-2026-11-28")
    resolved = resolve_source(str(tmp_path / "drops" / "*-{SPAN}" / "*.csv"))
    assert resolved.spans == ("2026-11-28",)


def test_a_list_chooses_exactly_those_spans_and_finds_padded_numbers(tmp_path: Path):
    for name in ("0007", "0008", "0009"):
        _span(tmp_path, f"span-{name}")
    resolved = resolve_source(_source(tmp_path), ["9", "0007"])
    assert resolved.spans == ("0007", "0009")  # as written in the paths
    assert resolved.patterns == (_pattern(tmp_path, "0007"), _pattern(tmp_path, "0009"))


def test_a_listed_span_without_files_names_it_and_data_spans(tmp_path: Path):
    _span(tmp_path, "span-2026-11-27")
    (tmp_path / "span-2026-11-28").mkdir()  # the directory exists, but holds nothing
    with pytest.raises(SourceError, match=r"^data\.spans: no files for span 2026-11-28, 2026-11-29 under data\.source"):
        resolve_source(_source(tmp_path), ["2026-11-27", "2026-11-28", "2026-11-29"])


def test_numbered_and_dated_spans_under_one_source_are_refused(tmp_path: Path):
    _span(tmp_path, "span-7")
    _span(tmp_path, "span-2026-11-28")
    for spans in ("latest", 2, ["7"]):
        with pytest.raises(SourceError, match=r"both numbered and dated spans \(7, 2026-11-28\); keep one kind"):
            resolve_source(_source(tmp_path), spans)


def test_one_span_written_two_ways_is_refused_only_when_chosen(tmp_path: Path):
    for name in ("9", "009", "10"):
        _span(tmp_path, f"span-{name}")
    assert resolve_source(_source(tmp_path)).spans == ("10",)
    with pytest.raises(SourceError, match=r"span 009 and 9 are one span written two ways"):
        resolve_source(_source(tmp_path), 2)


def test_without_a_span_the_glob_is_used_as_is(tmp_path: Path):
    _span(tmp_path, "d")
    resolved = resolve_source(str(tmp_path / "d" / "*.csv"))
    assert resolved.spans == () and resolved.patterns == (str(tmp_path / "d" / "*.csv"),) and len(resolved.files) == 1
    with pytest.raises(ValueError, match=r"data\.spans: choosing spans needs \{SPAN\}"):
        resolve_source(str(tmp_path / "d" / "*.csv"), 2)


def test_choose_files_lists_without_reading(tmp_path: Path):
    _span(tmp_path, "span-1", rows="a,b\n" + "1,2\n" * 10)
    (group,) = choose_files(_source(tmp_path))
    assert (group.span, group.pattern) == ("1", _pattern(tmp_path, "1"))
    assert [(Path(path).name, size) for path, size, _ in group.files] == [("part-0.csv", 44)]


@pytest.mark.parametrize(
    ("source", "spans", "message"),
    [
        ("nothing-{SPAN}/*.csv", "latest", "data.source: no span of"),
        ("nothing-{SPAN}/*.csv", 3, "data.source: no span of"),
        ("empty/*.csv", "latest", "data.source: no files match"),
        ("{SPAN}/{SPAN}.csv", "latest", "data.source: {SPAN} may appear once"),
    ],
)
def test_missing_data_names_the_field(tmp_path: Path, source: str, spans, message: str):
    with pytest.raises(SourceError, match=message.replace("{", r"\{").replace("}", r"\}")):
        resolve_source(str(tmp_path / source), spans)


@pytest.mark.parametrize("spans", [0, -1, "newest", ["tomorrow"]])
def test_a_malformed_selection_is_a_value_error(tmp_path: Path, spans):
    _span(tmp_path, "span-1")
    with pytest.raises(ValueError, match=r"data\.spans|neither a number nor a date"):
        resolve_source(_source(tmp_path), spans)


def test_describe_spans_shortens_a_long_window():
    assert describe_spans(["1", "2", "3"]) == "1, 2, 3"
    assert describe_spans([f"2026-11-{day:02d}" for day in range(1, 8)]) == "2026-11-01 … 2026-11-07 (7 spans)"
