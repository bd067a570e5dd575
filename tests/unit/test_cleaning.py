"""Cleaning: each bad-row kind is rejected with a reason naming the column; good rows are typed."""

from __future__ import annotations

import pytest

from beam_jobs.cleaning import clean_row, split_key
from beam_jobs.records import ERROR, decode_ingested, decode_typed, encode_ingested, encode_typed

GOOD = {
    "customer_id": "C1", "age": "41.5", "income": "52000", "monthly_spend": "30.5", "tenure_months": "12",
    "support_calls": "2", "plan": "basic", "region": "north", "device": "pixel", "hour": "13",
    "signup_channel": "web", "notes": "", "churned": "1",
}


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
        ({"tenure_months": "3.5"}, "bad_number", "as int"),
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


def test_all_reasons_are_reported(demo_config):
    result = clean_row({**GOOD, "age": "x", "hour": "y"}, demo_config.contract)
    assert "'age'" in result.reason and "'hour'" in result.reason


def test_wrong_column_count_record_is_quarantined(demo_config):
    message = "wrong column count: expected 13 fields, got 12"
    cells = decode_ingested(encode_ingested({}, "a.csv", error=message, raw="x"))
    assert ERROR in cells
    result = clean_row(cells, demo_config.contract)
    assert result.kind == "wrong_column_count" and "expected 13" in result.reason


def test_split_key_uses_key_column_or_whole_row(demo_config):
    values = clean_row(GOOD, demo_config.contract).values
    assert split_key(GOOD, values, demo_config.contract) == "C1"
    from beam_jobs.contract import parse_columns

    keyless = parse_columns({k: v for k, v in demo_config.columns_dict().items() if k != "customer_id"})
    one = split_key(GOOD, values, keyless)
    assert one == split_key(dict(GOOD), values, keyless)
    assert one != split_key({**GOOD, "age": "41.6"}, values, keyless)


def test_typed_examples_round_trip(demo_config):
    values = clean_row(GOOD, demo_config.contract).values
    types = {n: c.type for n, c in demo_config.contract.kept.items()}
    decoded = decode_typed(encode_typed(values, types))
    assert decoded["plan"] == "basic" and decoded["hour"] == 13 and decoded["age"] == pytest.approx(41.5)
