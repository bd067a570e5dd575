"""The bundled demo dataset: shape, determinism, sharding, malformed rows and label signal."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipelines.config import load_config
from pipelines.demo_data import (
    CHANNELS,
    COLUMNS,
    DEVICES,
    MALFORMED_KINDS,
    PLANS,
    REGIONS,
    TICKET_WORD_EFFECTS,
    DemoDataReport,
    churn_probability,
    ticket_effect,
    write_demo_data,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"
IX = {name: i for i, name in enumerate(COLUMNS)}
NUMERIC: dict[str, type] = {"age": float, "income": float, "monthly_spend": float}
NUMERIC |= {"tenure_months": int, "support_calls": int, "hour": int}


def read_parts(report: DemoDataReport) -> tuple[list[list[str]], list[list[str]]]:
    """(headers, data rows) over all part files, in order."""
    headers, rows = [], []
    for name in report.files:
        with open(name, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            headers.append(next(reader))
            rows.extend(reader)
    return headers, rows


def parses(text: str, kind: type) -> bool:
    """True when a non-empty cell is a finite number of the column's type."""
    try:
        value = kind(text)
    except ValueError:
        return False
    return math.isfinite(value)


def classify(row: list[str]) -> str | None:
    """The malformed kind of a data row, or None for a well-formed row."""
    if len(row) != len(COLUMNS):
        return "wrong_column_count"
    if any(row[IX[c]] and not parses(row[IX[c]], kind) for c, kind in NUMERIC.items()):
        return "bad_number"
    if row[IX["churned"]] == "":
        return "missing_label"
    if row[IX["region"]] == "":
        return "missing_required"
    return None


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Rank-based ROC AUC (Mann-Whitney U), ties get average ranks."""
    order = np.argsort(score, kind="mergesort")
    _, inverse, counts = np.unique(score[order], return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = np.empty(len(score))
    ranks[order] = average[inverse]
    positive = label == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoDataReport, list[list[str]], list[list[str]]]:
    report = write_demo_data(tmp_path_factory.mktemp("small"), rows=2_000, seed=7)
    return (report, *read_parts(report))


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoDataReport, list[list[str]]]:
    report = write_demo_data(tmp_path_factory.mktemp("medium"), rows=12_000, seed=11)
    return report, read_parts(report)[1]


def test_header_is_exactly_the_config_columns(small) -> None:
    report, headers, _ = small
    config_columns = list(load_config(DEMO_CONFIG).columns)
    assert len(COLUMNS) == len(set(COLUMNS))
    assert sorted(COLUMNS) == sorted(config_columns)
    assert headers == [list(COLUMNS)] * len(report.files)
    first_line = Path(report.files[0]).read_text(encoding="utf-8").split("\n", 1)[0]
    assert first_line == ",".join(COLUMNS)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    def contents(directory: str, seed: int) -> list[bytes]:
        report = write_demo_data(tmp_path / directory, rows=1_500, seed=seed, rows_per_file=600)
        return [Path(f).read_bytes() for f in report.files]

    first, again, other = contents("a", 3), contents("b", 3), contents("c", 4)
    assert first == again
    assert len(other) == len(first)
    assert all(x != y for x, y in zip(first, other, strict=True))
    assert b"\r" not in b"".join(first)


def test_rows_and_sharding(tmp_path: Path) -> None:
    report = write_demo_data(tmp_path / "shards", rows=2_500, seed=5, rows_per_file=1_000)
    assert report.rows == 2_500
    assert [Path(f).name for f in report.files] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [Path(f).name for f in report.files]
    sizes = []
    for name in report.files:
        lines = Path(name).read_text(encoding="utf-8").split("\n")
        assert lines[0] == ",".join(COLUMNS) and lines[-1] == ""
        sizes.append(len(lines) - 2)  # one line per record: no multi-line cells
    assert sizes == [1_000, 1_000, 500]
    # Sharding and the total only cut the same row stream: one file of 2,500 rows, or the first 1,200 rows.
    whole = read_parts(write_demo_data(tmp_path / "whole", rows=2_500, seed=5))[1]
    prefix = read_parts(write_demo_data(tmp_path / "prefix", rows=1_200, seed=5))[1]
    assert read_parts(report)[1] == whole
    assert whole[:1_200] == prefix


def test_stale_part_files_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "part-00007.csv").write_text("old\n")
    (tmp_path / "part-00000.csv").write_text("old\n")
    (tmp_path / "README.txt").write_text("keep me\n")
    report = write_demo_data(tmp_path, rows=10, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.txt", "part-00000.csv"]
    assert report.files == [str(tmp_path / "part-00000.csv")]
    assert len(read_parts(report)[1]) == 10


def test_malformed_rows_match_report(small) -> None:
    report, _, rows = small
    assert len(rows) == 2_000
    found = Counter(kind for kind in map(classify, rows) if kind is not None)
    assert set(report.malformed) == set(MALFORMED_KINDS)
    assert dict(found) == {kind: n for kind, n in report.malformed.items() if n}
    assert all(report.malformed[kind] >= 2 for kind in MALFORMED_KINDS)
    assert sum(report.malformed.values()) == 10  # 0.5%
    positions = [i for i, row in enumerate(rows) if classify(row)]
    assert positions[0] < 400 and positions[-1] > 1_600  # spread over the file
    lengths = {len(row) for row in rows if classify(row) == "wrong_column_count"}
    assert lengths <= {len(COLUMNS) - 1, len(COLUMNS) + 1}


def test_malformed_counts_at_scale(medium) -> None:
    report, rows = medium
    found = Counter(kind for kind in map(classify, rows) if kind is not None)
    assert dict(found) == report.malformed
    assert sum(found.values()) == 60
    assert min(found.values()) >= 10


def test_customer_ids_unique_and_values_in_range(medium) -> None:
    _, rows = medium
    ids = [row[0] for row in rows]
    assert len(set(ids)) == len(ids) and ids[0] == "C0000001"
    good = [row for row in rows if classify(row) is None]

    def numbers(column: str) -> np.ndarray:
        return np.array([NUMERIC[column](r[IX[column]]) for r in good if r[IX[column]]])

    assert numbers("age").min() >= 18 and numbers("age").max() <= 90
    assert numbers("income").min() > 0 and numbers("monthly_spend").min() >= 0
    assert set(numbers("tenure_months")) <= set(range(121)) and numbers("tenure_months").max() > 60
    assert numbers("support_calls").min() >= 0 and numbers("support_calls").max() >= 5
    assert set(numbers("hour")) == set(range(24))
    assert {r[IX["plan"]] for r in good} == {*PLANS, ""}
    assert {r[IX["region"]] for r in good} == set(REGIONS)
    assert {r[IX["signup_channel"]] for r in good} == set(CHANNELS)
    assert {r[IX["device"]] for r in good} == {*DEVICES, ""}
    assert {r[IX["churned"]] for r in good} == {"0", "1"}
    plans = Counter(r[IX["plan"]] for r in good)
    assert plans["basic"] > 2 * plans["premium"] > 2 * plans["student"]  # skewed
    notes = [r[IX["notes"]] for r in good]
    assert 0.5 < notes.count("") / len(notes) < 0.8
    assert any("," in n for n in notes) and any('"' in n for n in notes)


def test_missing_rates(medium) -> None:
    _, rows = medium
    good = [row for row in rows if len(row) == len(COLUMNS)]
    spec = {"age": 0.03, "income": 0.02, "monthly_spend": 0.02, "tenure_months": 0.01, "support_calls": 0.01}
    for column, rate in (spec | {"plan": 0.02, "device": 0.02}).items():
        share = sum(row[IX[column]] == "" for row in good) / len(good)
        assert rate * 0.6 < share < rate * 1.4, (column, share)
    for column in ("customer_id", "hour", "signup_channel"):
        assert all(row[IX[column]] for row in good), column
    assert sum(row[IX["region"]] == "" for row in good) == medium[0].malformed["missing_required"]


def test_label_is_learnable_and_harder_in_west_and_partner(medium) -> None:
    _, rows = medium
    needed = ("age", "tenure_months", "support_calls", "monthly_spend", "plan", "region", "signup_channel")
    needed += ("ticket_subject",)
    rows = [r for r in rows if classify(r) is None and all(r[IX[c]] for c in needed if c != "ticket_subject")]
    label = np.array([int(r[IX["churned"]]) for r in rows])
    region = np.array([r[IX["region"]] for r in rows])
    channel = np.array([r[IX["signup_channel"]] for r in rows])
    score = churn_probability(*([NUMERIC.get(c, str)(r[IX[c]]) for r in rows] for c in needed))
    assert 0.20 <= label.mean() <= 0.35
    assert abs(score.mean() - label.mean()) < 0.02  # the score is the probability the labels were drawn from
    assert 0.78 <= auc(score, label) <= 0.87
    west = region == "west"
    auc_west, auc_rest = auc(score[west], label[west]), auc(score[~west], label[~west])
    assert auc_west < auc_rest - 0.1
    partner = channel == "partner"
    assert auc(score[partner], label[partner]) < auc(score[~partner], label[~partner]) - 0.04


@pytest.mark.parametrize("rows", [0, -3])
def test_rejects_fewer_than_one_row(tmp_path: Path, rows: int) -> None:
    with pytest.raises(ValueError, match="rows"):
        write_demo_data(tmp_path, rows=rows)
    assert not list(tmp_path.iterdir())


def test_rejects_bad_rows_per_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows_per_file"):
        write_demo_data(tmp_path, rows=10, rows_per_file=0)


def test_ticket_subjects_are_short_free_text_whose_words_carry_signal(medium) -> None:
    _, rows = medium
    good = [r for r in rows if classify(r) is None]
    subjects = [r[IX["ticket_subject"]] for r in good]
    assert 0.25 < subjects.count("") / len(subjects) < 0.45  # no ticket
    written = [s for s in subjects if s]
    assert max(len(s.split()) for s in written) <= 5
    assert any(s.isupper() for s in written) and any(s.islower() for s in written)  # casing varies
    assert any("," in s for s in written)  # quoted in the CSV
    label = np.array([int(r[IX["churned"]]) for r in good])

    def churn_rate(word: str) -> float:
        return float(label[[word in s.lower().split() for s in subjects]].mean())

    no_ticket = float(label[[s == "" for s in subjects]].mean())
    for word, effect in TICKET_WORD_EFFECTS.items():
        if abs(effect) >= 0.5:
            assert (churn_rate(word) > no_ticket + 0.05) == (effect > 0), word
    effects = ticket_effect(subjects)
    assert abs(effects.mean()) < 0.05  # centred: the text shifts the score, not the churn rate
    assert ticket_effect(["CANCEL my plan - slow!"])[0] == pytest.approx(ticket_effect(["cancel my slow plan"])[0])
