"""The evaluation report page, built from small synthetic inputs (no TFMA, no browser)."""

from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from components.evaluate.report import markdown_summary, render_report, weakest_slices
from components.evaluate.report_data import (
    CalibrationBucket,
    ThresholdCounts,
    curve_auc,
    pr_points,
    read_training_logs,
    reliability,
)
from components.train.curves import CURVES_JSON
from tests.report.synthetic import FAILED, HOSTILE, SINGLE_CLASS, SLICES, SMALL, report_inputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """The parts of the page the tests look at: images, and each table's header and body rows."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str]] = []
        self.tables: dict[str, dict[str, list]] = {}
        self.scripts = 0
        self._table: str | None = None
        self._part = ""
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "script":
            self.scripts += 1
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "table":
            self._table = attributes.get("id", "")
            self.tables[self._table] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr" and self._table is not None:
            self._row = {"attrs": attributes, "cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row["cells"].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table][self._part or "tbody"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table, self._part = None, ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def header(self, table: str) -> list[str]:
        return self.tables[table]["thead"][0]["cells"]

    def rows(self, table: str) -> list[dict]:
        return self.tables[table]["tbody"]


@pytest.fixture(scope="module")
def inputs() -> dict:
    return report_inputs()


@pytest.fixture(scope="module")
def page(inputs: dict) -> str:
    return render_report(**inputs)


@pytest.fixture(scope="module")
def parsed(page: str) -> _Page:
    return _Page(page)


@pytest.fixture(scope="module")
def other() -> str:
    """The other variant: no baseline, no slice_gates from the evaluate step, blessed, a hostile title."""
    inputs = report_inputs(with_baseline=False, with_gates=False, blessed=True)
    return render_report(**inputs, title="<b>run</b>")


def test_one_row_per_slice_sorted_by_auc_weakest_first(inputs: dict, parsed: _Page) -> None:
    slices = inputs["evaluation"]["slices"]
    rows = parsed.rows("slice-table")
    names = [row["attrs"]["data-slice"] for row in rows]
    expected = sorted(slices, key=lambda name: (slices[name].get("auc") is None, slices[name].get("auc") or 0.0))
    assert names == expected
    assert len(rows) == len(SLICES)
    assert slices[SINGLE_CLASS].get("auc") is None and names[-1] == SINGLE_CLASS  # no AUC: last, not first
    aucs = [float(row["cells"][4]) for row in rows if row["cells"][4] != "—"]
    assert aucs == sorted(aucs)
    assert parsed.tables["slice-table"]["tfoot"][0]["cells"][0] == "overall"


def test_slice_rows_have_size_positives_every_metric_and_gate(inputs: dict, parsed: _Page) -> None:
    header = parsed.header("slice-table")
    assert header[:4] == ["slice", "gate", "n", "positives"]
    for metric in ("AUC", "AUC-PR", "accuracy @ 0.5", "precision @ 0.5", "recall @ 0.5", "F1 @ 0.5", "log loss"):
        assert metric in header
    assert {"calibration", "mean label", "mean prediction"} <= set(header)
    by_name = {row["attrs"]["data-slice"]: row for row in parsed.rows("slice-table")}
    north = inputs["evaluation"]["slices"]["region=north"]
    cells = by_name["region=north"]["cells"]
    assert cells[2] == f"{round(north['example_count']):,}"
    assert cells[3] == f"{round(north['example_count'] * north['mean_label']):,}"
    assert cells[1] == "passed"
    assert by_name[FAILED]["cells"][1] == "failed"
    assert "failed" in by_name[FAILED]["attrs"]["class"]


def test_small_and_single_class_slices_are_flagged(parsed: _Page) -> None:
    by_name = {row["attrs"]["data-slice"]: row for row in parsed.rows("slice-table")}
    assert by_name[SMALL]["cells"][1] == "small"
    assert by_name[SINGLE_CLASS]["cells"][1] == "single class"
    assert "muted" in by_name[SMALL]["attrs"]["class"] and "muted" in by_name[SINGLE_CLASS]["attrs"]["class"]


def test_gates_fall_back_to_the_flags_without_slice_gates(other: str) -> None:
    by_name = {row["attrs"]["data-slice"]: row for row in _Page(other).rows("slice-table")}
    assert by_name[SMALL]["cells"][1] == "small"
    assert by_name[SINGLE_CLASS]["cells"][1] == "single class"
    assert by_name["region=north"]["cells"][1] == "—"  # unknown, not claimed to have passed


def test_weakest_slices_skip_small_and_single_class(inputs: dict) -> None:
    evaluation = inputs["evaluation"]
    chosen = [name for name, _ in weakest_slices(evaluation, inputs["plots"])]
    eligible = {name: v["auc"] for name, v in evaluation["slices"].items() if name not in (SMALL, SINGLE_CLASS)}
    assert chosen == sorted(eligible, key=eligible.get)[:3]
    assert evaluation["slices"][SMALL]["auc"] < min(eligible.values())  # the small slice is the weakest, yet skipped


def test_baseline_columns_only_with_a_baseline(parsed: _Page, other: str) -> None:
    assert parsed.header("compare-table") == ["metric", "candidate", "baseline v7", "Δ candidate − baseline"]
    assert parsed.header("slice-table")[-1] == "Δ AUC vs baseline v7"
    alone = _Page(other)
    assert alone.header("compare-table") == ["metric", "candidate"]
    assert not any("baseline" in cell for cell in alone.header("slice-table"))


def test_compare_table_has_every_overall_metric_and_its_delta(inputs: dict, parsed: _Page) -> None:
    evaluation = inputs["evaluation"]
    rows = {row["cells"][0]: row["cells"] for row in parsed.rows("compare-table")}
    assert len(rows) == len(evaluation["overall"])
    ours, theirs = evaluation["overall"]["auc"], evaluation["baseline_overall"]["auc"]
    assert rows["AUC"][1:] == [f"{ours:.4f}", f"{theirs:.4f}", f"{ours - theirs:+.4f}"]


def test_decision_and_every_reason_are_shown(inputs: dict, parsed: _Page, other: str) -> None:
    text = " ".join(parsed.text)
    assert "Decision: NOT BLESSED" in " ".join(text.split())
    for line in inputs["evaluation"]["failures"]:
        assert line in text
    blessed = " ".join(_Page(other).text)
    assert "Decision: BLESSED" in " ".join(blessed.split())
    assert "Every configured gate passed." in blessed


def test_hostile_text_is_escaped(page: str, parsed: _Page, other: str) -> None:
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    assert parsed.scripts == 0
    assert HOSTILE in {row["attrs"]["data-slice"] for row in parsed.rows("slice-table")}  # shown, as text
    assert "<b>run</b>" not in other and "&lt;b&gt;run&lt;/b&gt;" in other


def test_every_image_is_an_embedded_png(parsed: _Page) -> None:
    assert len(parsed.images) == 6  # ROC, PR, calibration, confusion matrix, weakest slices, training curves
    for image in parsed.images:
        prefix, _, data = image["src"].partition(",")
        assert prefix == "data:image/png;base64"
        assert base64.b64decode(data).startswith(PNG_MAGIC)
        assert image["alt"]


def test_page_is_self_contained(page: str) -> None:
    for needle in ("http://", "https://", "<link", "@import", "url("):
        assert needle not in page
    assert len(page) < 1_500_000


def test_splits_are_labelled_with_the_validation_gap(inputs: dict, parsed: _Page) -> None:
    text = " ".join(" ".join(parsed.text).split())
    test_auc = inputs["evaluation"]["overall"]["auc"]
    assert "test AUC" in text and "validation AUC" in text
    assert "eval split, best epoch 3 of 4" in text
    assert f"{test_auc - 0.79:+.3f}" in text
    assert "test split" in text


def test_data_section_counts_rows_and_quarantine_reasons(parsed: _Page) -> None:
    splits = {row["cells"][0]: row["cells"][1:3] for row in parsed.rows("split-table")}
    assert splits["train"] == ["7,900", "79.0%"]
    assert splits["quarantined"] == ["100", "1.0%"]
    reasons = [row["cells"] for row in parsed.rows("quarantine-table")]
    assert reasons == [["bad_number", "60"], ["missing_label", "40"]]


def test_report_without_optional_inputs() -> None:
    inputs = report_inputs()
    page = _Page(
        render_report(inputs["evaluation"], {}, curves=None, training=None, statistics=None, baseline_version=None)
    )
    text = " ".join(page.text)
    assert [image["alt"] for image in page.images] == ["ROC curve, overall", "confusion matrix at threshold 0.5"]
    assert "No training logs were given." in text
    assert "No ingest statistics were given." in text
    assert len(page.rows("slice-table")) == len(SLICES)


def test_curve_arithmetic() -> None:
    perfect = [ThresholdCounts(t, 10.0 if t < 0.5 else 0.0, 0.0 if t >= 0.3 else 10.0, 10.0, 0.0) for t in (0.1, 0.4)]
    assert curve_auc(perfect) == pytest.approx(1.0)
    assert curve_auc([]) is None
    assert pr_points([ThresholdCounts(0.5, 3.0, 1.0, 5.0, 1.0)]) == [{"recall": 0.75, "precision": 0.75}]
    buckets = [
        CalibrationBucket(-math.inf, 0.0, 0.0, 0.0, 0.0),
        CalibrationBucket(0.02, 0.03, 4.0, 1.0, 0.1),
        CalibrationBucket(0.05, 0.06, 6.0, 0.0, 0.3),
        CalibrationBucket(1.0, math.inf, 2.0, 2.0, 2.0),
    ]
    bins = reliability(buckets)
    assert [b["count"] for b in bins] == [10.0, 2.0]
    assert bins[0]["mean_prediction"] == pytest.approx(0.04) and bins[0]["label_rate"] == pytest.approx(0.1)


def test_read_training_logs(tmp_path: Path) -> None:
    assert read_training_logs(None) == (None, None, None)
    assert read_training_logs(str(tmp_path)) == (None, None, None)
    inputs = report_inputs()
    (tmp_path / CURVES_JSON).write_text(json.dumps(inputs["curves"]))
    inputs["training"].write(str(tmp_path))
    curves, training, png = read_training_logs(str(tmp_path))
    assert curves == inputs["curves"] and training == inputs["training"] and png is None


def test_markdown_summary(inputs: dict) -> None:
    text = markdown_summary(inputs["evaluation"], inputs["statistics"], baseline_version=7)
    assert text.startswith("## Evaluation: NOT BLESSED")
    assert "| metric | candidate | baseline v7 | Δ |" in text
    assert "&lt;img src=x" in text and "<img" not in text
    assert "Rows: input 10,000, train 7,900, eval 1,000, test 1,000, quarantined 100." in text
    assert SMALL not in text


# ---- reading a (tiny, hand-written) TFMA output: imports TensorFlow, hence slow ---------------------


def _write_tfma_output(directory: Path) -> None:
    """eval_config.json and a plots file as TFMA writes them: overall (candidate + baseline), one crossed slice,
    one single-model slice (model_name ''), one cross-slice comparison (ignored)."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import config_pb2, metrics_for_slice_pb2

    config = config_pb2.EvalConfig(
        slicing_specs=[config_pb2.SlicingSpec(), config_pb2.SlicingSpec(feature_keys=["region", "plan"])]
    )
    run = config_pb2.EvalRun(eval_config=config, version=tfma.version.VERSION)
    (directory / "eval_config.json").write_text(json_format.MessageToJson(run))

    def plot(plots: metrics_for_slice_pb2.PlotsForSlice, model: str, shift: float) -> None:
        item = plots.plot_keys_and_values.add()
        item.key.model_name = model
        counts = {0.0: (10, 20, 0, 0), 0.5: (6 + shift, 4, 16, 4 - shift), 1.0: (0, 0, 20, 10)}  # tp, fp, tn, fn
        for threshold, (tp, fp, tn, fn) in counts.items():
            item.value.confusion_matrix_at_thresholds.matrices.add(
                threshold=threshold, true_positives=tp, false_positives=fp, true_negatives=tn, false_negatives=fn
            )
        bucket = item.value.calibration_histogram_buckets.buckets.add()
        bucket.lower_threshold_inclusive, bucket.upper_threshold_exclusive = 0.3, 0.31
        bucket.num_weighted_examples.value, bucket.total_weighted_label.value = 30, 10
        bucket.total_weighted_refined_prediction.value = 9.2

    records = []
    overall = metrics_for_slice_pb2.PlotsForSlice()
    plot(overall, "candidate", 1)
    plot(overall, "baseline", 0)
    records.append(overall)
    crossed = metrics_for_slice_pb2.PlotsForSlice()
    crossed.slice_key.single_slice_keys.add(column="plan", bytes_value=b"premium")  # TFMA sorts columns
    crossed.slice_key.single_slice_keys.add(column="region", bytes_value=b"north")
    plot(crossed, "candidate", 2)
    records.append(crossed)
    single_model = metrics_for_slice_pb2.PlotsForSlice()
    single_model.slice_key.single_slice_keys.add(column="region", bytes_value=b"south")
    plot(single_model, "", 0)
    records.append(single_model)
    cross = metrics_for_slice_pb2.PlotsForSlice()
    cross.cross_slice_key.baseline_slice_key.single_slice_keys.add(column="region", bytes_value=b"north")
    plot(cross, "candidate", 0)
    records.append(cross)
    with tf.io.TFRecordWriter(str(directory / "plots-00000-of-00001.tfrecord")) as writer:
        for record in records:
            writer.write(record.SerializeToString())


@pytest.mark.slow
def test_read_plots_and_write_report_from_a_tfma_output(tmp_path: Path) -> None:
    from components.evaluate.report import write_report
    from components.evaluate.report_data import read_plots
    from components.train.curves import write_curves

    tfma_dir = tmp_path / "tfma"
    tfma_dir.mkdir()
    _write_tfma_output(tfma_dir)
    plots = read_plots(str(tfma_dir))
    assert set(plots) == {"overall", "region=north,plan=premium", "region=south"}
    assert set(plots["overall"]) == {"candidate", "baseline"}
    assert set(plots["region=south"]) == {"candidate"}  # model_name '' is the candidate
    north = plots["region=north,plan=premium"]["candidate"]
    assert [m.threshold for m in north.matrices] == [0.0, 0.5, 1.0]
    assert north.matrices[1].true_positives == 8 and north.matrices[1].false_positives == 4
    assert north.calibration[0].count == 30 and north.calibration[0].prediction_sum == pytest.approx(9.2)

    inputs = report_inputs()
    logs = tmp_path / "training_logs"
    write_curves({key: value for key, value in inputs["curves"].items() if key != "epoch"}, str(logs))
    inputs["training"].write(str(logs))
    target = tmp_path / "out" / "report.html"
    written = write_report(str(target), inputs["evaluation"], str(tfma_dir), str(logs), inputs["statistics"], 7)
    assert written == str(target)
    page = _Page(target.read_text(encoding="utf-8"))
    assert len(page.images) >= 4 and all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert any(img["alt"].startswith("training curves") for img in page.images)


def test_the_train_splits_columns_are_described(parsed: _Page, page: str) -> None:
    rows = {row["cells"][0]: row["cells"][1:] for row in parsed.rows("column-table")}
    assert rows["age"] == ["7,900", "3.0%", "min 18.1 · mean 43.5 · std 12.8 · max 86.3"]
    assert rows["plan"][:2] == ["7,900", "2.0%"] and rows["plan"][2].startswith("5 distinct · top: basic (2,900)")
    assert "<script>x</script>" not in page  # a value from the data is text, never markup
