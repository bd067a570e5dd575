"""Bad configs that used to load: duplicated YAML keys, thresholds that never pass, huge values, impossible roles."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from beam_jobs.contract import MAX_HASH_BUCKETS, MAX_QUANTILE_BUCKETS, MAX_TOKENS, MAX_VOCABULARY
from components.evaluate.tfma_config import THRESHOLD_METRICS
from components.train.settings import MAX_BATCH_SIZE, MAX_EMBEDDING_DIM, MAX_EPOCHS, MAX_UNITS
from components.tune.space import MAX_TRIALS
from pipelines.config import ConfigError, load_config, load_yaml, metric_range, parse_config
from tests.conftest import DEMO_CONFIG
from tests.contract.conftest import config_error


def _demo_with(tmp_path: Path, old: str, new: str) -> Path:
    """The demo config's text with one line replaced, written to tmp_path/run.yaml."""
    text = DEMO_CONFIG.read_text()
    assert text.count(old) == 1
    path = tmp_path / "run.yaml"
    path.write_text(text.replace(old, new))
    return path


def _line_of(path: Path, start: str, occurrence: int) -> int:
    """The 1-based line number of the ``occurrence``-th line of ``path`` that starts with ``start``."""
    lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start)]
    return lines[occurrence - 1]


# ---- duplicated YAML keys ----


def test_a_duplicated_column_is_refused_naming_the_key_and_its_lines(tmp_path: Path):
    """A label that is also a feature can only be written as the column twice: plain YAML kept the last entry, so
    the label silently became a feature (or a feature vanished)."""
    label = "  churned:        {type: int, role: label}\n"
    path = _demo_with(tmp_path, label, label + "  churned:        {type: int, transform: identity}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    first, second = _line_of(path, "  churned:", 1), _line_of(path, "  churned:", 2)
    assert str(caught.value) == (
        f"{path}: line {second}: duplicated key 'churned' (first on line {first}); a key may appear once"
    )


def test_a_key_column_listed_again_as_a_feature_is_refused(tmp_path: Path):
    key = "  customer_id:    {type: string, role: key}                 # the split hashes this\n"
    path = _demo_with(tmp_path, key, key + "  customer_id: {type: string, transform: {hash: 100}}\n")
    with pytest.raises(ConfigError, match="duplicated key 'customer_id'"):
        load_config(path)


def test_a_duplicated_section_is_refused(tmp_path: Path):
    training = "training: {epochs: 5, batch_size: 256, learning_rate: 0.005, early_stopping_patience: 2}\n"
    path = _demo_with(tmp_path, training, training + "training: {epochs: 1}\n")
    with pytest.raises(ConfigError, match=r"line \d+: duplicated key 'training'"):
        load_config(path)


def test_a_duplicated_key_in_a_flow_mapping_is_refused():
    with pytest.raises(yaml.YAMLError, match="line 1: duplicated key 'min'"):
        load_yaml("auc: {min: 0.6, min: 0.9}")


def test_merge_keys_may_still_be_overridden_and_distinct_keys_load():
    assert load_yaml("base: &b {x: 1, y: 2}\nrun:\n  <<: *b\n  x: 3\n") == {
        "base": {"x": 1, "y": 2},
        "run": {"x": 3, "y": 2},
    }
    assert load_yaml("") is None


def test_the_loader_stays_safe(tmp_path: Path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_the_demo_config_has_no_duplicated_key():
    assert load_yaml(DEMO_CONFIG.read_text()) == yaml.safe_load(DEMO_CONFIG.read_text())


# ---- thresholds inside their metric's range ----


def test_every_gated_metric_has_a_range():
    for name in THRESHOLD_METRICS:
        low, high = metric_range(name)
        assert low == 0 and high == (float("inf") if THRESHOLD_METRICS[name].lower_is_better else 1)


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        ({"auc": {"min": 1.5}}, "evaluation.thresholds.auc.min: 1.5 is out of range: auc lies in [0, 1]"),
        ({"recall": {"min": -0.1}}, "evaluation.thresholds.recall.min: -0.1 is out of range: recall lies in [0, 1]"),
        (
            {"auc": {"min": 0.6, "max_drop": 2}},
            "evaluation.thresholds.auc.max_drop: 2 is out of range: a change of auc lies in [0, 1]",
        ),
        ({"f1": {"min": float("nan")}}, "evaluation.thresholds.f1.min: nan is out of range"),
        ({"log_loss": {"max": -1}}, "evaluation.thresholds.log_loss.max: -1 is out of range: log_loss is 0 or more"),
        ({"auc": {"max_drop": -0.1}}, "evaluation.thresholds.auc.max_drop: Input should be greater than or equal"),
    ],
)
def test_a_threshold_outside_its_metric_range_is_refused(raw, thresholds, expected):
    raw["evaluation"]["thresholds"] = thresholds
    message = config_error(raw)
    assert message.startswith(f"run.yaml: {expected}"), message
    assert len(message.splitlines()) == 1


def test_log_loss_is_unbounded_above_and_range_edges_load(raw):
    raw["evaluation"]["thresholds"] = {"log_loss": {"max": 50, "max_drop": 3}, "auc": {"min": 1.0, "max_drop": 1}}
    parse_config(raw)
    raw["evaluation"]["thresholds"] = {"accuracy": {"min": 0.0}}
    parse_config(raw)


def test_a_slice_threshold_outside_its_metric_range_is_refused(raw):
    raw["evaluation"]["slice_thresholds"] = [{"slice": ["region"], "metric": "auc", "min": 2}]
    assert config_error(raw) == "run.yaml: evaluation.slice_thresholds[0].min: 2 is out of range: auc lies in [0, 1]"


# ---- huge values ----


def _set(section: str, **values):
    return lambda r: r.setdefault(section, {}).update(values)


def _transform(column: str, transform):
    return lambda r: r["columns"][column].update(transform=transform)


CAPS = [
    ("epochs", _set("training", epochs=10**9), _set("training", epochs=MAX_EPOCHS), "training.epochs"),
    ("batch", _set("training", batch_size=10**9), _set("training", batch_size=MAX_BATCH_SIZE), "training.batch_size"),
    ("units", _set("model", hidden_units=[10**7]), _set("model", hidden_units=[MAX_UNITS]), "model.hidden_units"),
    ("layers", _set("model", hidden_units=[8] * 1000), _set("model", hidden_units=[8] * 32), "model.hidden_units"),
    (
        "embedding",
        _set("model", max_embedding_dim=10**6),
        _set("model", max_embedding_dim=MAX_EMBEDDING_DIM),
        "model.max_embedding_dim",
    ),
    (
        "hash",
        _transform("device", {"hash": 10**7}),
        _transform("device", {"hash": MAX_HASH_BUCKETS}),
        "columns.device.transform.num_buckets",
    ),
    (
        "bucketize",
        _transform("income", {"bucketize": 10**6}),
        _transform("income", {"bucketize": MAX_QUANTILE_BUCKETS}),
        "columns.income.transform: bucketize takes at most",
    ),
    (
        "top_k",
        _transform("plan", {"vocabulary": {"top_k": 10**9}}),
        _transform("plan", {"vocabulary": {"top_k": MAX_VOCABULARY}}),
        "columns.plan.transform.top_k",
    ),
    (
        "oov",
        _transform("plan", {"vocabulary": {"oov_buckets": 10**9}}),
        _transform("plan", {"vocabulary": {"oov_buckets": MAX_HASH_BUCKETS}}),
        "columns.plan.transform.oov_buckets",
    ),
    (
        "vocab_size",
        _transform("ticket_subject", {"tokens": {"vocab_size": 10**9, "max_tokens": 8}}),
        _transform("ticket_subject", {"tokens": {"vocab_size": MAX_VOCABULARY, "max_tokens": 8}}),
        "columns.ticket_subject.transform.vocab_size",
    ),
    (
        "max_tokens",
        _transform("ticket_subject", {"tokens": {"vocab_size": 10, "max_tokens": 10**6}}),
        _transform("ticket_subject", {"tokens": {"vocab_size": 10, "max_tokens": MAX_TOKENS}}),
        "columns.ticket_subject.transform.max_tokens",
    ),
    (
        "cross",
        lambda r: r.update(crosses=[{"cross": ["region", "plan"], "hash": 10**7}]),
        lambda r: r.update(crosses=[{"cross": ["region", "plan"], "hash": MAX_HASH_BUCKETS}]),
        "crosses[0].hash",
    ),
    (
        "trials",
        lambda r: r.update(tuning={"trials": 10**4, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
        lambda r: r.update(tuning={"trials": MAX_TRIALS, "space": {"model.dropout": {"uniform": [0.0, 0.5]}}}),
        "tuning.trials",
    ),
    (
        "tuned_epochs",
        lambda r: r.update(tuning={"trials": 2, "space": {"training.epochs": {"int_uniform": [1, 10**9]}}}),
        lambda r: r.update(tuning={"trials": 2, "space": {"training.epochs": {"int_uniform": [1, MAX_EPOCHS]}}}),
        "tuning.space.training.epochs: 1000000000:",
    ),
]


@pytest.mark.parametrize(("huge", "at_cap", "field"), [case[1:] for case in CAPS], ids=[case[0] for case in CAPS])
def test_a_huge_value_is_refused_naming_the_field_and_its_cap_loads(raw, huge, at_cap, field):
    capped = copy.deepcopy(raw)
    huge(raw)
    message = config_error(raw)
    assert message.startswith(f"run.yaml: {field}"), message
    assert len(message.splitlines()) == 1
    at_cap(capped)
    parse_config(capped)


# ---- roles: what one `role` field makes impossible, and slices on columns the model never sees ----


def test_a_column_cannot_take_two_roles(raw):
    raw["columns"]["churned"]["role"] = ["label", "feature"]
    assert config_error(raw).startswith("run.yaml: columns.churned.role: Input should be 'feature', 'label'")


@pytest.mark.parametrize(("column", "role"), [("notes", "ignore"), ("churned", "label")])
def test_a_slice_on_an_ignored_or_label_column_is_refused(raw, column, role):
    raw["evaluation"]["slices"] = [["region"], [column]]
    assert config_error(raw) == f"run.yaml: evaluation.slices[1]: cannot slice on {role} column {column!r}"


def test_a_cross_with_the_label_or_key_is_refused(raw):
    raw["crosses"] = [{"cross": ["region", "churned"], "hash": 64}]
    assert "crosses[0]: 'churned' is a label column; cross feature columns only" in config_error(raw)
    raw["crosses"] = [{"cross": ["customer_id", "plan"], "hash": 64}]
    assert "crosses[0]: 'customer_id' is a key column; cross feature columns only" in config_error(raw)
