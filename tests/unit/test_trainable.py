"""Data that cannot train a classifier stops at ingest, before training, with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.ingest import IngestPaths, IngestStats, UntrainableDataError, check_trainable, run_ingest
from tests.unit.test_ingest import HEADER, RATIOS, ROW, _write

LABEL = "churned"


def _stats(**overrides: object) -> IngestStats:
    fields: dict = {"input": 10, "train": 8, "eval": 1, "test": 1, "quarantined": 0, "files": ["a.csv"]}
    fields["labels"] = {"train": {"0": 5, "1": 3}, "eval": {"0": 1, "1": 0}, "test": {"0": 0, "1": 1}}
    return IngestStats(**{**fields, **overrides})


def test_rows_of_both_classes_can_train() -> None:
    assert _stats().untrainable(LABEL) is None
    check_trainable(_stats(), LABEL)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"input": 0, "train": 0, "eval": 0, "test": 0}, "no data rows: the 1 input file(s) hold a header and nothing"),
        (
            {"train": 0, "eval": 0, "test": 0, "quarantined": 10, "quarantine_reasons": {"bad_label": 10}},
            "no rows in the train split: 10 of 10 input rows quarantined (bad_label 10)",
        ),
        ({"labels": {"train": {"0": 0, "1": 8}}}, "every train row has churned=1 (8 rows): a classifier needs both"),
    ],
)
def test_untrainable_data_is_named_in_one_line(overrides: dict, reason: str) -> None:
    stats = _stats(**overrides)
    assert stats.untrainable(LABEL).startswith(reason)
    with pytest.raises(UntrainableDataError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_trainable(stats, LABEL)


def test_ingest_counts_labels_per_split_and_one_class_is_refused(tmp_path: Path, demo_config) -> None:
    source = tmp_path / "data"
    source.mkdir()
    _write(source / "a.csv", [HEADER, *(ROW.format(i).removesuffix(",0") + ",1" for i in range(40))])
    stats = run_ingest(str(source / "*.csv"), demo_config.contract, RATIOS, IngestPaths.under(str(tmp_path / "out")))
    assert {split: sum(counts.values()) for split, counts in stats.labels.items()} == {
        "train": stats.train,
        "eval": stats.eval,
        "test": stats.test,
    }
    assert stats.labels["train"] == {"0": 0, "1": stats.train}
    with pytest.raises(UntrainableDataError, match=rf"every train row has churned=1 \({stats.train} rows\)"):
        check_trainable(stats, LABEL)


def test_a_header_only_file_is_refused(tmp_path: Path, demo_config) -> None:
    source = tmp_path / "data"
    source.mkdir()
    _write(source / "a.csv", [HEADER])
    stats = run_ingest(str(source / "*.csv"), demo_config.contract, RATIOS, IngestPaths.under(str(tmp_path / "out")))
    assert stats.input == 0
    with pytest.raises(UntrainableDataError, match="no data rows"):
        check_trainable(stats, LABEL)
