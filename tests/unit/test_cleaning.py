"""Cleaning: each bad-row kind is rejected with a reason naming the column; good rows are typed; the columnar
cleaner ingest runs agrees with the row-by-row rules cell for cell, including the odd cells."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from beam_jobs.batch_cleaning import QuarantinedRow, clean_batch
from beam_jobs.cleaning import CleanResult, clean_row, split_key, whole_row_key
from beam_jobs.contract import parse_columns

GOOD = {
    "customer_id": "C1", "age": "41.5", "income": "52000", "monthly_spend": "30.5", "tenure_months": "12",
    "support_calls": "2", "plan": "basic", "region": "north", "device": "pixel", "hour": "13",
    "signup_channel": "web", "notes": "", "churned": "1",
}  # fmt: skip


def test_good_row_is_typed(demo_config):
    result = clean_row(GOOD, demo_config.contract)
    assert result.ok
    assert result.values["age"] == 41.5 and result.values["tenure_months"] == 12 and result.values["churned"] == 1
    assert "notes" not in result.values


def test_missing_imputable_feature_stays_missing_slice_is_filled(demo_config):
    cells = {k: v for k, v in GOOD.items() if k not in ("age", "plan", "signup_channel")}
    result = clean_row(cells, demo_config.contract)
    assert result.ok
    assert result.values["age"] is None and result.values["plan"] is None  # imputed in the transform graph
    assert result.values["signup_channel"] == "unknown"  # slice column: filled here


@pytest.mark.parametrize(
    ("change", "kind", "reason"),
    [
        ({"age": "abc"}, "bad_number", "column 'age': cannot parse 'abc' as float"),
        ({"hour": "12h"}, "bad_number", "column 'hour': cannot parse '12h' as int"),
        ({"income": "NaN"}, "bad_number", "column 'income'"),
        ({"income": "-inf"}, "bad_number", "column 'income'"),
        ({"income": "1e999"}, "bad_number", "column 'income'"),
        ({"tenure_months": "3.5"}, "bad_number", "as int"),
        ({"tenure_months": "3.0"}, "bad_number", "as int"),
        ({"tenure_months": "99999999999999999999"}, "bad_number", "as int"),  # beyond int64
        ({"churned": ""}, "missing_label", "missing label 'churned'"),
        ({"churned": "2"}, "bad_label", "must be 0 or 1"),
        ({"region": ""}, "missing_required", "missing required value in 'region'"),
        ({"customer_id": ""}, "missing_required", "'customer_id'"),
    ],
)
def test_each_bad_row_kind_has_a_reason(demo_config, change, kind, reason):
    cells = {k: v for k, v in {**GOOD, **change}.items() if v != ""}
    result = clean_row(cells, demo_config.contract)
    assert not result.ok
    assert result.kind == kind
    assert reason in result.reason


def test_ignored_column_is_never_checked(demo_config):
    assert clean_row({**GOOD, "notes": "x, y"}, demo_config.contract).ok
    assert clean_row({k: v for k, v in GOOD.items() if k != "notes"}, demo_config.contract).ok


def test_all_reasons_are_reported_in_column_order(demo_config):
    result = clean_row({**GOOD, "hour": "y", "age": "x"}, demo_config.contract)
    assert result.reason == "column 'age': cannot parse 'x' as float; column 'hour': cannot parse 'y' as int"
    assert result.kind == "bad_number"


def test_split_key_uses_key_column_or_whole_row(demo_config):
    values = clean_row(GOOD, demo_config.contract).values
    assert split_key(GOOD, values, demo_config.contract) == "C1"
    keyless = parse_columns({k: v for k, v in demo_config.columns_dict().items() if k != "customer_id"})
    one = split_key(GOOD, values, keyless)
    assert one == split_key(dict(GOOD), values, keyless) == whole_row_key(GOOD, keyless)
    assert one != split_key({**GOOD, "age": "41.6"}, values, keyless)


# --- the columnar cleaner against the row rules -----------------------------------------------------------------

ODD = parse_columns(
    {
        "k": {"type": "string", "role": "key"},
        "f": {"type": "float", "transform": "zscore", "missing": "mean"},
        "i": {"type": "int", "transform": "identity", "missing": {"fill": 0}},
        "r": {"type": "float", "transform": "zscore"},  # required
        "s": {"type": "string", "transform": "vocabulary", "missing": "mode"},
        "slice_i": {"type": "int", "role": "slice", "missing": {"fill": 7}},
        "slice_s": {"type": "string", "role": "slice", "missing": {"fill": "none"}},
        "skip": {"type": "float", "role": "ignore"},
        "y": {"type": "int", "role": "label"},
    }
)
FLOAT_CELLS = [
    "1", "-2.5", "1e3", "1E-3", ".5", "5.", "-.5", "007.25", "  3.5 ", "+1.5", "1_000.5", "٣.٥", "nan", "NaN", "inf",
    "-Infinity", "1e999", "1e-400", "abc", "12,50", "0x10", " ", "\t", "", "3.4028236e38", "-0", "1.0000000000000002",
    "123456789012345678901234567890", "0.1", "2.5e-45",
]  # fmt: skip
INT_CELLS = [
    "0", "1", "-7", "007", " 12", "12 ", "+3", "1_000", "٣", "3.0", "3.5", "1e3", "9223372036854775807",
    "-9223372036854775808", "9223372036854775808", "99999999999999999999", "", " ", "x", "123456789012345678",
]  # fmt: skip
LABEL_CELLS = ["0", "1", " 1 ", "+1", "2", "-1", "", "one", "1.0", "01"]
STRING_CELLS = ["a", " ", "", "ü", "x,y", 'say "hi"', "two\nlines"]


def _table(rows: list[dict[str, str]], columns) -> pa.RecordBatch:
    names = list(columns.columns)
    return pa.RecordBatch.from_arrays(
        [pa.array([row[n].encode("utf-8") for row in rows], pa.binary()) for n in names], names=names
    )


def _rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)

    def pick(cells: list[str]) -> str:
        return cells[int(rng.integers(len(cells)))]

    return [
        {
            "k": f"k{i}", "f": pick(FLOAT_CELLS), "i": pick(INT_CELLS), "r": pick(FLOAT_CELLS),
            "s": pick(STRING_CELLS), "slice_i": pick(INT_CELLS), "slice_s": pick(STRING_CELLS),
            "skip": pick(FLOAT_CELLS), "y": pick(LABEL_CELLS),
        }
        for i in range(count)
    ]  # fmt: skip


def _same(expected: object, actual: object, column_type: str) -> bool:
    if expected is None or actual is None:
        return expected is actual
    if column_type == "float":  # a raw example holds float32
        with np.errstate(over="ignore"):
            return np.float32(expected) == np.float32(actual) or (math.isnan(expected) and math.isnan(actual))
    if column_type == "string":
        return expected.encode("utf-8") == actual
    return expected == actual


def test_batch_cleaner_equals_row_rules_on_odd_cells():
    rows = _rows(3_000)
    cleaned = clean_batch(_table(rows, ODD), ODD)
    expected = [clean_row(row, ODD) for row in rows]
    clean_rows = [row for row, result in zip(rows, expected, strict=True) if result.ok]
    assert cleaned.values.num_rows == len(clean_rows) and len(cleaned.quarantined) == len(rows) - len(clean_rows)
    assert 0 < len(clean_rows) < len(rows)
    typed = cleaned.values.to_pylist()
    results = [r for r in expected if r.ok]
    for got, result, row in zip(typed, results, clean_rows, strict=True):
        for name, spec in ODD.kept.items():
            assert _same(result.values[name], got[name], spec.type), (name, row[name], result.values[name], got[name])
    assert cleaned.keys == [split_key(row, r.values, ODD).encode() for row, r in zip(clean_rows, results, strict=True)]
    rejected = [(row, r) for row, r in zip(rows, expected, strict=True) if not r.ok]
    for quarantined, (row, result) in zip(cleaned.quarantined, rejected, strict=True):
        assert (quarantined.kind, quarantined.reason) == (result.kind, result.reason)
        assert quarantined.cells == {name: text for name, text in row.items() if text != ""}


def test_floats_are_exactly_what_python_parses():
    rng = np.random.default_rng(1)
    texts = [repr(float(v)) for v in rng.normal(0, 1e3, 2_000)]
    texts += [f"{v:.{d}e}" for v, d in zip(rng.normal(0, 1e-30, 500), rng.integers(0, 17, 500), strict=True)]
    texts += [f"{v:.9f}" for v in rng.uniform(-180, 180, 2_000)]
    columns = parse_columns({"x": {"type": "float"}, "y": {"type": "int", "role": "label"}})
    cleaned = clean_batch(_table([{"x": t, "y": "1"} for t in texts], columns), columns)
    got = cleaned.values.column("x").to_numpy()
    assert np.array_equal(got, np.array([float(t) for t in texts], dtype=np.float64).astype(np.float32))


def test_whole_row_key_when_there_is_no_key_column():
    columns = parse_columns(
        {n: s.model_dump(mode="json", exclude_none=True) for n, s in ODD.columns.items() if n != "k"}
    )
    rows = [{**row, "f": "1", "r": "2", "i": "3", "y": "1"} for row in _rows(50)]
    for row in rows:
        del row["k"]
    cleaned = clean_batch(_table(rows, columns), columns)
    clean = [row for row in rows if clean_row(row, columns).ok]
    assert 0 < len(clean) < len(rows)
    assert cleaned.keys == [whole_row_key(row, columns).encode("utf-8") for row in clean]


def test_invalid_utf8_cell_is_quarantined_as_bad_encoding_with_its_line():
    columns = parse_columns({"s": {"type": "string"}, "y": {"type": "int", "role": "label"}})
    batch = pa.RecordBatch.from_arrays(
        [pa.array([b"ok", b"bad \xff", b"fine"], pa.binary()), pa.array([b"1", b"1", b"x"], pa.binary())],
        names=["s", "y"],
    )
    cleaned = clean_batch(batch, columns, lines=[2, 4, 5])
    assert cleaned.values.num_rows == 1
    bad_bytes, bad_label = cleaned.quarantined
    assert bad_bytes.kind == "bad_encoding" and bad_bytes.reason == "column 's' is not valid UTF-8"
    assert bad_bytes.cells == {"s": "bad \\xff", "y": "1"} and bad_bytes.line == 4
    assert bad_label.kind == "bad_number" and bad_label.reason == "column 'y': cannot parse 'x' as int"
    assert bad_label.line == 5


def test_bytes_marked_by_the_reader_are_bad_encoding():
    """The CSV reader's codec turns byte 0xE9 into U+F7E9: the cell is valid UTF-8 but still rejected."""
    columns = parse_columns({"s": {"type": "string"}, "y": {"type": "int", "role": "label"}})
    batch = pa.RecordBatch.from_arrays(
        [pa.array(["caf\uf7e9".encode(), b"cafe"], pa.binary()), pa.array([b"1", b"0"], pa.binary())],
        names=["s", "y"],
    )
    (row,) = clean_batch(batch, columns).quarantined
    assert (row.kind, row.cells, row.line) == ("bad_encoding", {"s": "caf\\xe9", "y": "1"}, None)


def test_quarantine_line_shape():
    row = QuarantinedRow("wrong_column_count", "wrong column count: expected 3 fields, got 2", {}, raw="1,2")
    assert json.loads(row.to_json("a.csv")) == {
        "source": "a.csv",
        "kind": "wrong_column_count",
        "reason": "wrong column count: expected 3 fields, got 2",
        "row": {},
        "raw": "1,2",
    }
    assert "raw" not in json.loads(QuarantinedRow("bad_label", "r", {"y": "2"}).to_json("a.csv"))
    assert json.loads(QuarantinedRow("bad_label", "r", {"y": "2"}, line=7).to_json("a.csv"))["line"] == 7


def test_clean_result_reason_and_kind():
    result = CleanResult(None, ())
    assert not result.ok and result.reason == ""
