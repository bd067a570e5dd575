"""The run config: good configs load, every mistake fails fast naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pipelines.config import ConfigError, load_config, parse_config
from tests.contract.conftest import config_error


def test_demo_config_loads_with_roles_and_transforms(demo_config):
    contract = demo_config.contract
    assert contract.label == "churned"
    assert contract.key == "customer_id"
    assert "notes" not in contract.kept and "signup_channel" not in contract.features
    assert contract.columns["income"].transform.num_buckets == 10
    assert contract.columns["plan"].transform.top_k == 100
    assert contract.columns["region"].required and not contract.columns["age"].required
    assert contract.columns["income"].missing.value == 0.0


def test_relative_paths_resolve_against_the_base_dir(raw, tmp_path: Path):
    config = parse_config(raw, base_dir=tmp_path)
    assert config.data.source == str(tmp_path / "data/demo/*.csv")
    assert config.push.serving_root == str(tmp_path / "serving")
    raw["data"]["source"] = "gs://bucket/data/*.csv"
    assert parse_config(raw).data.source == "gs://bucket/data/*.csv"


def test_columns_round_trip_through_kfp_parameters(demo_config):
    from beam_jobs.contract import parse_columns

    assert parse_columns(demo_config.columns_dict()) == demo_config.contract


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["columns"]["age"].update(transform="zscor"), "columns.age.transform"),
        (lambda r: r["columns"]["age"].update(type="double"), "columns.age.type"),
        (lambda r: r["columns"]["region"].update(transform="zscore"), "needs a numeric column"),
        (lambda r: r["columns"]["income"].update(transform={"bucketize": 1}), "columns.income.transform"),
        (lambda r: r["columns"]["plan"].update(missing="mean"), "'mean' needs a numeric column"),
        (lambda r: r["columns"]["age"].update(missing={"fill": "abc"}), "not a number"),
        (lambda r: r["columns"]["churned"].update(missing="mode"), "cannot be imputed"),
        (
            lambda r: r["columns"]["hour"].update(role="label", transform=None),
            "exactly one column needs role: label, found 2",
        ),
        (lambda r: r["columns"]["notes"].update(role="owner"), "columns.notes.role"),
        (lambda r: r["split"].update(train=0.5), "split: train + eval + test must be 1.0"),
        (lambda r: r["evaluation"].update(thresholds={}), "evaluation.thresholds"),
        (lambda r: r["evaluation"].update(thresholds={"f1_score": {"min": 0.5}}), "unknown metric 'f1_score'"),
        (
            lambda r: r["evaluation"].update(thresholds={"log_loss": {"min": 0.5}}),
            "evaluation.thresholds: log_loss is lower-is-better: give `max`",
        ),
        (
            lambda r: r["evaluation"].update(thresholds={"auc": {"max": 0.9}}),
            "evaluation.thresholds: auc is higher-is-better: give `min`",
        ),
        (
            lambda r: r["evaluation"].update(decision_threshold=1.0),
            "evaluation.decision_threshold: Input should be less",
        ),
        (
            lambda r: r["evaluation"].update(decision_threshold=0),
            "evaluation.decision_threshold: Input should be greater",
        ),
        (lambda r: r["evaluation"].update(min_slice_size=0), "evaluation.min_slice_size: Input should be greater"),
        (
            lambda r: r["evaluation"].update(slice_thresholds=[{"slice": ["region"], "metric": "auroc", "min": 0.6}]),
            "evaluation.slice_thresholds[0].metric: unknown metric 'auroc'",
        ),
        (
            lambda r: r["evaluation"].update(slice_thresholds=[{"slice": ["region"], "metric": "log_loss", "min": 1}]),
            "evaluation.slice_thresholds[0]: log_loss is lower-is-better",
        ),
        (
            lambda r: r["evaluation"].update(slice_thresholds=[{"slice": ["region"], "metric": "auc"}]),
            "evaluation.slice_thresholds[0]: give min",
        ),
        (
            lambda r: r["evaluation"].update(slice_thresholds=[{"slice": ["device"], "metric": "auc", "min": 0.6}]),
            "evaluation: slice_thresholds[0].slice: ['device'] is not one of evaluation.slices",
        ),
        (lambda r: r["evaluation"]["slices"].append(["nope"]), "evaluation.slices[5]: no column named 'nope'"),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "age", "buckets": 1}),
            "run.yaml: evaluation.slices[5].buckets: must be an integer >= 2, got 1",
        ),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "age", "buckets": 2.5}),
            "evaluation.slices[5].buckets: must be an integer >= 2, got 2.5",
        ),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "age"}),
            "evaluation.slices[5].buckets: required",
        ),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "age", "buckets": 3, "edges": [0, 50]}),
            "evaluation.slices[5].edges: unknown key",
        ),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "device", "buckets": 3}),
            "run.yaml: evaluation.slices[5].column: 'device' is a string column: buckets need a numeric",
        ),
        (
            lambda r: r["evaluation"]["slices"].append(["plan", {"column": "ages", "buckets": 3}]),
            "run.yaml: evaluation.slices[5][1].column: no column named 'ages'",
        ),
        (
            lambda r: r["evaluation"]["slices"].append({"column": "churned", "buckets": 3}),
            "evaluation.slices[5].column: cannot slice on label column 'churned'",
        ),
        (
            lambda r: r["evaluation"]["slices"].append(["hour"]),
            "evaluation.slices[5][0]: column 'hour' is sliced in 6 buckets in slices[4]: slice a column one way",
        ),
        (
            lambda r: r["evaluation"].update(
                slice_thresholds=[{"slice": [{"column": "hour", "buckets": 6}], "metric": "auc", "min": 0.6}]
            ),
            "evaluation.slice_thresholds[0].slice: name the column only, e.g. slice: [hour]",
        ),
        (lambda r: r["evaluation"]["slices"].append(["notes"]), "cannot slice on ignore column"),
        (lambda r: r["training"].update(epochs=0), "training.epochs"),
        (lambda r: r["training"].update(epoch=3), "training.epoch: unknown field"),
        (lambda r: r.pop("push"), "push: required field is missing"),
        (lambda r: r.update(name="Demo Run"), "name"),
        (lambda r: r["push"].update(model_name="../x"), "push.model_name"),
        (lambda r: r["data"].update(format="xlsx"), "data.format"),
    ],
)
def test_bad_config_names_the_field(raw, mutate, expected):
    broken = copy.deepcopy(raw)
    mutate(broken)
    message = config_error(broken)
    assert expected in message
    assert message.startswith("run.yaml: ")


def test_evaluation_defaults_and_slice_thresholds(raw):
    config = parse_config(copy.deepcopy(raw))
    assert (config.evaluation.decision_threshold, config.evaluation.min_slice_size) == (0.5, 30)
    assert config.evaluation.slice_thresholds == []
    raw["evaluation"].update(
        decision_threshold=0.3,
        thresholds={"f1": {"min": 0.4}, "log_loss": {"max": 0.6, "max_drop": 0.02}},
        slice_thresholds=[{"slice": ["plan", "region"], "metric": "auc", "min": 0.6}],
    )
    evaluation = parse_config(raw).evaluation
    assert evaluation.decision_threshold == 0.3
    assert evaluation.thresholds["log_loss"].max == 0.6
    assert evaluation.slice_thresholds[0].model_dump(exclude_none=True) == {
        "slice": ["plan", "region"],
        "metric": "auc",
        "min": 0.6,
    }


def test_bucketed_slices_load_gate_by_column_and_stay_a_json_parameter(raw, demo_config):
    import json

    assert demo_config.evaluation.slices[-1] == [{"column": "hour", "buckets": 6}]
    raw["evaluation"]["slices"].append(["plan", {"column": "age", "buckets": 4}])
    raw["evaluation"]["slice_thresholds"] = [
        {"slice": ["hour"], "metric": "auc", "min": 0.6},
        {"slice": ["age", "plan"], "metric": "auc", "min": 0.5},
    ]
    evaluation = parse_config(raw).evaluation
    assert evaluation.slices[-2:] == [[{"column": "hour", "buckets": 6}], ["plan", {"column": "age", "buckets": 4}]]
    # What pipelines/dag.py passes to the evaluate step: plain JSON lists of names and {column, buckets}.
    parameter = [list(s) for s in evaluation.slices]
    assert json.loads(json.dumps(parameter)) == parameter == evaluation.model_dump(mode="json")["slices"]


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(bad)


def test_config_hash_is_stable_and_sensitive(raw):
    first = parse_config(copy.deepcopy(raw)).config_hash()
    assert first == parse_config(copy.deepcopy(raw)).config_hash()
    raw["training"]["epochs"] = 9
    assert parse_config(raw).config_hash() != first


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: r.update(crosses=[{"cross": ["region", "churned"], "hash": 8}]),
            "run.yaml: crosses[0]: 'churned' is a label column; cross feature columns only",
        ),
        (
            lambda r: r.update(
                crosses=[{"cross": ["region", "plan"], "hash": 8}, {"cross": ["plan", "nope"], "hash": 8}]
            ),
            "run.yaml: crosses[1]: no column named 'nope'",
        ),
        (
            lambda r: r.update(crosses=[{"cross": ["region", "age"], "hash": 8}]),
            "run.yaml: crosses[0]: 'age' is a float column with transform zscore; cross it bucketized",
        ),
        (lambda r: r.update(crosses=[{"cross": ["region"], "hash": 8}]), "run.yaml: crosses[0].cross: List should"),
        (lambda r: r.update(crosses=[{"cross": ["region", "plan"], "hash": 1}]), "run.yaml: crosses[0].hash: Input"),
        (
            lambda r: r["columns"]["region"].update(clip={"upper": 0.99}),
            "run.yaml: columns.region: clip applies to numeric feature columns only",
        ),
        (
            lambda r: r["columns"]["churned"].update(clip={"lower": 0.01}),
            "run.yaml: columns.churned: clip applies to numeric feature columns only",
        ),
        (
            lambda r: r["columns"]["age"].update(clip={"lower": 0.9, "upper": 0.1}),
            "run.yaml: columns.age.clip: lower 0.9 must be below upper 0.1",
        ),
    ],
)
def test_bad_cross_or_clip_names_the_field(raw, mutate, expected):
    mutate(raw)
    assert config_error(raw).startswith(expected)


TOKENS = {"tokens": {"vocab_size": 50, "max_tokens": 4}}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda r: r["columns"]["plan"].update(transform=TOKENS),
            "run.yaml: columns.plan: transform 'tokens' needs a text column, this one is string",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(transform="zscore"),
            "run.yaml: columns.ticket_subject: transform 'zscore' does not apply to a text column; use tokens",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(transform={"vocabulary": {"top_k": 5}}),
            "run.yaml: columns.ticket_subject: transform 'vocabulary' does not apply to a text column",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].pop("transform"),
            "run.yaml: columns.ticket_subject: a text feature needs transform: {tokens:",
        ),
        (
            lambda r: r["columns"]["customer_id"].update(type="text"),
            "run.yaml: columns.customer_id: a text column cannot have role key",
        ),
        (
            lambda r: r["columns"]["churned"].update(type="text"),
            "run.yaml: columns.churned: a text column cannot have role label",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(missing="mean"),
            "run.yaml: columns.ticket_subject: 'mean' needs a numeric column",
        ),
        (
            lambda r: r.update(crosses=[{"cross": ["region", "ticket_subject"], "hash": 8}]),
            "run.yaml: crosses[0]: 'ticket_subject' is a text column; cross string, int or bucketized columns",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(transform={"tokens": {"vocab_size": 50}}),
            "run.yaml: columns.ticket_subject.transform: 'tokens' needs vocab_size and max_tokens",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(transform={"tokens": {**TOKENS["tokens"], "ngrams": 4}}),
            "run.yaml: columns.ticket_subject.transform.ngrams: Input should be less than or equal to 3",
        ),
        (
            lambda r: r["columns"]["ticket_subject"].update(transform={"tokens": {**TOKENS["tokens"], "top_k": 9}}),
            "run.yaml: columns.ticket_subject.transform: 'tokens' takes vocab_size (not top_k)",
        ),
        (
            lambda r: r["columns"]["plan"].update(transform={"vocabulary": {"max_tokens": 3}}),
            "run.yaml: columns.plan.transform: 'vocabulary' takes no max_tokens (only 'tokens' does)",
        ),
    ],
)
def test_bad_text_column_names_the_field(raw, mutate, expected):
    mutate(raw)
    assert config_error(raw).startswith(expected)


def test_text_columns_load_as_slice_or_ignore_and_round_trip(raw, demo_config):
    from beam_jobs.contract import parse_columns

    subject = demo_config.contract.columns["ticket_subject"]
    assert (subject.type, subject.value_type, subject.missing.value) == ("text", "string", "")
    assert subject.transform.kind == "tokens" and subject.transform.ngrams == 2
    assert subject.transform.token_slots == 8 + 7  # 8 words and their 7 bigrams
    assert subject.transform.oov_buckets == 1
    raw["columns"]["notes"].update(type="text")
    raw["columns"]["ticket_subject"] = {"type": "text", "role": "slice", "missing": {"fill": ""}}
    contract = parse_config(raw).contract
    assert contract.columns["notes"].role == "ignore" and "ticket_subject" not in contract.features
    assert parse_columns(demo_config.columns_dict()).columns["ticket_subject"] == subject


def test_crosses_and_clips_load_and_reach_the_steps_as_json(raw):
    import json

    from beam_jobs.contract import parse_columns, parse_crosses

    raw["crosses"] = [{"cross": ["region", "plan"], "hash": 64}, {"cross": ["device", "hour", "income"], "hash": 512}]
    raw["columns"]["age"]["clip"] = {"lower": 0.01, "upper": 0.99}
    config = parse_config(raw)
    assert [cross.name for cross in config.crosses] == ["region_x_plan", "device_x_hour_x_income"]
    # What pipelines/dag.py passes to preprocess and train, and what those steps read back.
    contract = parse_columns(json.loads(json.dumps(config.columns_dict())))
    assert contract.columns["age"].clip == config.contract.columns["age"].clip
    assert parse_crosses(json.loads(json.dumps(config.crosses_list())), contract) == config.crosses
