"""The serving contract: the exported signatures accept exactly what training accepts, and say so in the model.

Fast tests apply ``enforce_serving_contract`` in a tf.function on hand-made tensors; the rest export an untrained
model over the demo transform graph (the shared ``preprocessed`` fixture) and load it back as a client would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs.contract import parse_columns
from beam_jobs.layout import split_files
from beam_jobs.records import decode_typed
from beam_jobs.transform import raw_feature_spec
from components.train import signatures
from components.train.dataset import as_model_input
from components.train.serving_contract import SERVING_SCHEMA_FILE, enforce_serving_contract, serving_schema

COLUMNS = parse_columns(
    {
        "x": {"type": "float", "transform": "zscore"},  # required float
        "y": {"type": "float", "transform": "zscore", "missing": "mean"},  # optional float
        "n": {"type": "int", "transform": "identity", "missing": "mode"},
        "region": {"type": "string", "transform": "vocabulary"},  # required string
        "plan": {"type": "string", "transform": "vocabulary", "missing": "mode"},  # optional string
        "who": {"type": "string", "role": "key"},
        "label": {"type": "int", "role": "label"},
    }
)
SPEC = {
    "x": tf.io.FixedLenFeature([], tf.float32),
    "y": tf.io.VarLenFeature(tf.float32),
    "n": tf.io.VarLenFeature(tf.int64),
    "region": tf.io.FixedLenFeature([], tf.string),
    "plan": tf.io.VarLenFeature(tf.string),
}
NAN, INF = float("nan"), float("inf")


def _example(values: dict) -> bytes:
    """A serialized tf.Example: float → float_list, int → int64_list, str → bytes_list (a list: several values)."""
    feature = {}
    for name, value in values.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(items[0], float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=items))
        elif isinstance(items[0], int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=items))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in items]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
def _enforced(examples: tf.Tensor) -> dict:
    return enforce_serving_contract(tf.io.parse_example(examples, SPEC), COLUMNS)


def _row(**overrides) -> bytes:
    return _example({"x": 1.0, "y": 2.0, "n": 3, "region": "north", "plan": "basic", **overrides})


# ---------------------------------------------------------------------------------------------------------------
# The contract on parsed tensors (no model)


def test_ordinary_rows_pass_unchanged() -> None:
    batch = [_row(), _row(x=-1.5, y=0.0, plan="pro")]
    out = _enforced(tf.constant(batch))
    raw = tf.io.parse_example(batch, SPEC)
    np.testing.assert_array_equal(out["x"].numpy(), raw["x"].numpy())
    np.testing.assert_array_equal(out["region"].numpy(), raw["region"].numpy())
    for name in ("y", "n", "plan"):
        np.testing.assert_array_equal(out[name].indices.numpy(), raw[name].indices.numpy())
        np.testing.assert_array_equal(out[name].values.numpy(), raw[name].values.numpy())


def test_empty_optional_string_is_dropped_like_an_absent_value() -> None:
    without = {"x": 1.0, "y": 2.0, "n": 3, "region": "north"}
    out = _enforced(tf.constant([_row(plan=""), _example(without), _row(plan="pro")]))
    plan = out["plan"]
    assert plan.indices.numpy().tolist() == [[2, 0]]
    assert plan.values.numpy().tolist() == [b"pro"]
    assert plan.dense_shape.numpy().tolist() == [3, 1]


NOT_FINITE = r"NaN or inf is not a finite number \(training quarantines such rows as bad_number\)"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(x=NAN), r"column `x`: " + NOT_FINITE),
        (_row(y=INF), r"column `y`: " + NOT_FINITE),
        (_row(y=-INF), r"column `y`: " + NOT_FINITE),
        (_row(region=""), r"column `region`: missing required value \(empty string\); its missing rule is quarantine"),
        (_row(plan=["", "pro"]), r"column `plan`: more than one value in an example"),
        (_row(n=[1, 2]), r"column `n`: more than one value in an example"),
    ],
    ids=["nan-required", "inf-optional", "minus-inf-optional", "empty-required-string", "two-strings", "two-ints"],
)
def test_rows_training_would_quarantine_are_rejected_naming_column_rule_and_row(row: bytes, message: str) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match=message + r".*batch rows:\] \[1\]"):
        _enforced(tf.constant([_row(), row, _row()]))


def test_all_offending_rows_are_listed_once() -> None:
    batch = [_row(x=NAN), _row(), _row(x=INF), _row(x=-INF)]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column `x`.*batch rows:\] \[0 2 3\]"):
        _enforced(tf.constant(batch))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column `y`: more .*batch rows:\] \[1\]\n"):
        _enforced(tf.constant([_row(), _row(y=[1.0, 2.0, 3.0])]))


def test_a_spec_that_disagrees_with_the_columns_fails_at_trace_time() -> None:
    parsed = tf.io.parse_example([_row()], {**SPEC, "plan": tf.io.FixedLenFeature([], tf.string)})
    with pytest.raises(ValueError, match="column 'plan' is optional in the contract but parsed as fixed-length"):
        enforce_serving_contract(parsed, COLUMNS)
    with pytest.raises(ValueError, match="parsed feature 'label' is not a feature column"):
        enforce_serving_contract({**tf.io.parse_example([_row()], SPEC), "label": tf.constant([1])}, COLUMNS)


# ---------------------------------------------------------------------------------------------------------------
# The schema (TensorFlow-free)


def test_serving_schema_describes_every_parsed_feature() -> None:
    schema = serving_schema(COLUMNS, "label")
    assert schema["serving_signature"] == signatures.SERVING_SIGNATURE
    assert schema["transform_signature"] == signatures.TRANSFORM_SIGNATURE
    assert schema["input_name"] == signatures.INPUT_NAME
    assert schema["output_key"] == signatures.OUTPUT_KEY
    assert schema["label"] == {"name": "label", "needed": False}
    features = {f["name"]: f for f in schema["features"]}
    assert list(features) == ["x", "y", "n", "region", "plan"]  # the parse spec's keys: no key column, no label
    assert features["x"] == {
        "name": "x",
        "type": "float",
        "tf_example_list": "float_list",
        "required": True,
        "values_per_example": "exactly 1",
        "missing": "quarantine",
        "if_absent": "reject",
        "if_nan_or_inf": "reject",
    }
    assert features["y"]["if_absent"] == "impute" and features["y"]["if_nan_or_inf"] == "reject"
    assert features["n"]["tf_example_list"] == "int64_list" and "if_nan_or_inf" not in features["n"]
    assert (features["region"]["if_empty_string"], features["plan"]["if_empty_string"]) == ("reject", "impute")
    assert features["plan"]["missing"] == "mode" and features["plan"]["tf_example_list"] == "bytes_list"
    assert json.loads(json.dumps(schema)) == schema


def test_serving_schema_rejects_a_label_that_is_not_the_contracts() -> None:
    with pytest.raises(ValueError, match="label 'x' is not the contract's label 'label'"):
        serving_schema(COLUMNS, "x")


def test_schema_module_imports_without_tensorflow() -> None:
    code = "import sys, components.train.serving_contract; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


TOKENS = {"tokens": {"vocab_size": 10, "max_tokens": 4}}
TEXT_COLUMNS = parse_columns(
    {
        "subject": {"type": "text", "transform": TOKENS},  # required text
        "body": {"type": "text", "transform": TOKENS, "missing": {"fill": ""}},  # optional text
        "label": {"type": "int", "role": "label"},
    }
)


def test_text_columns_follow_the_string_rules() -> None:
    """A text column is a string column to the contract: "" is missing (rejected when required, imputed when
    optional); whitespace or punctuation alone is a value (it has zero tokens, as in training)."""
    spec = raw_feature_spec(TEXT_COLUMNS)
    spec.pop("label")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def enforced(examples: tf.Tensor) -> dict:
        return enforce_serving_contract(tf.io.parse_example(examples, spec), TEXT_COLUMNS)

    out = enforced(tf.constant([_example({"subject": "Hi", "body": ""}), _example({"subject": " ?", "body": "x"})]))
    assert out["subject"].numpy().tolist() == [b"Hi", b" ?"]
    assert out["body"].indices.numpy().tolist() == [[1, 0]] and out["body"].values.numpy().tolist() == [b"x"]
    message = r"column `subject`: missing required value \(empty string\).*batch rows:\] \[1\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        enforced(tf.constant([_example({"subject": "Hi"}), _example({"subject": ""})]))
    features = {f["name"]: f for f in serving_schema(TEXT_COLUMNS)["features"]}
    assert features["subject"]["type"] == "text" and features["subject"]["tf_example_list"] == "bytes_list"
    assert (features["subject"]["if_empty_string"], features["body"]["if_empty_string"]) == ("reject", "impute")
    assert features["body"]["fill_value"] == "" and "lowercases" in features["body"]["tokenized"]


# ---------------------------------------------------------------------------------------------------------------
# An exported model, loaded back


@pytest.fixture(scope="module")
def exported(preprocessed, demo_config, tmp_path_factory: pytest.TempPathFactory):
    """(loaded SavedModel, export dir, reference scorer without the contract, raw eval examples)."""
    import tensorflow_transform as tft
    import tf_keras as keras

    from components.train.export import export_model
    from components.train.model import build_model
    from components.train.trainer import model_inputs

    paths, _, _ = preprocessed
    columns = demo_config.contract
    tft_output = tft.TFTransformOutput(paths.transform_graph)
    keras.utils.set_random_seed(3)
    model = build_model(
        model_inputs(columns, tft_output),
        hidden_units=[8],
        dropout=0.0,
        max_embedding_dim=4,
        learning_rate=0.01,
        clipnorm=None,
    )
    export_dir = tmp_path_factory.mktemp("export") / "model"
    export_model(model, tft_output, columns, str(export_dir))

    raw_spec = tft_output.raw_feature_spec()
    raw_spec.pop(columns.label)
    layer = tft_output.transform_features_layer()

    def reference(examples: list[bytes]) -> np.ndarray:
        """What serving computed before the contract: parse → transform → model."""
        transformed = layer(tf.io.parse_example(tf.constant(examples), raw_spec))
        inputs = {name: as_model_input(transformed[name]) for name in model.input_names}
        return model(inputs).numpy()

    raw = [r.numpy() for r in tf.data.TFRecordDataset(tf.io.gfile.glob(split_files(paths.raw, "eval")), "GZIP")]
    return tf.saved_model.load(str(export_dir)), export_dir, reference, raw[:32]


def _request(raw_example: bytes, **changes) -> bytes:
    """A raw eval example without its label, with features replaced (value) or removed (None)."""
    values = decode_typed(raw_example)
    values.pop("churned")
    values.update(changes)
    return _example({k: v for k, v in values.items() if v is not None})


def test_exported_model_scores_ordinary_examples_as_before(exported) -> None:
    loaded, _, reference, raw = exported
    requests = [_request(r) for r in raw]
    scores = loaded.signatures[signatures.SERVING_SIGNATURE](examples=tf.constant(requests))[signatures.OUTPUT_KEY]
    assert scores.shape == (len(requests), 1)
    np.testing.assert_allclose(scores.numpy(), reference(requests), rtol=0, atol=1e-6)
    assert np.ptp(scores.numpy()) > 0  # the comparison is not between two constants


@pytest.mark.parametrize("signature", [signatures.SERVING_SIGNATURE, signatures.TRANSFORM_SIGNATURE])
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"age": NAN}, r"column `age`: NaN or inf is not a finite number \(training quarantines such rows"),
        ({"monthly_spend": INF}, r"column `monthly_spend`: NaN or inf is not a finite number"),
        ({"region": ""}, r"column `region`: missing required value \(empty string\)"),
    ],
    ids=["nan", "inf", "empty-required-string"],
)
def test_exported_model_rejects_what_training_quarantines(exported, signature: str, changes: dict, message: str):
    loaded, _, _, raw = exported
    batch = [_request(raw[0]), _request(raw[1], **changes)]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message + r".*batch rows:\] \[1\]"):
        loaded.signatures[signature](examples=tf.constant(batch))


def test_exported_model_imputes_an_empty_optional_string_like_an_absent_one(exported) -> None:
    loaded, _, _, raw = exported
    column = "device"  # optional, missing: {fill: unknown}
    rows = [r for r in raw if decode_typed(r).get(column) not in (None, "")][:4]
    empty = tf.constant([_request(r, **{column: ""}) for r in rows])
    absent = tf.constant([_request(r, **{column: None}) for r in rows])
    for name, signature in loaded.signatures.items():
        got, want = signature(examples=empty), signature(examples=absent)
        for key in want:
            np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=f"{name}/{key}")
    transform = loaded.signatures[signatures.TRANSFORM_SIGNATURE]
    present = transform(examples=tf.constant([_request(r) for r in rows]))[column].numpy()
    assert not np.array_equal(transform(examples=empty)[column].numpy(), present)  # "" was not kept as a value


def test_export_writes_the_serving_schema(exported, demo_config) -> None:
    _, export_dir, _, _ = exported
    written = json.loads((Path(export_dir) / SERVING_SCHEMA_FILE).read_text())
    assert written == serving_schema(demo_config.contract)
    features = {f["name"]: f for f in written["features"]}
    assert list(features) == list(demo_config.contract.features)
    assert features["region"]["required"] and features["hour"]["required"]
    assert features["device"]["missing"] == "fill" and features["device"]["fill_value"] == "unknown"
    assert features["age"]["missing"] == "mean" and features["age"]["if_nan_or_inf"] == "reject"
    assert "churned" not in features and written["label"]["name"] == "churned"
