"""The serving contract: a request is scored only when training would have used the same row, and as training would.

Training cleans rows in ``beam_jobs.cleaning``: a numeric cell that is not a finite number quarantines the row
(``bad_number``, whatever the column's missing rule), a missing value in a required column (missing rule
``quarantine``) quarantines it (``missing_required``), and an empty cell is missing (ingest drops empty cells).
Optional features are imputed inside the transform graph (``beam_jobs.transform``). A text column follows a string
column's rules: an empty string is missing, so it is rejected when the column is required and imputed (e.g. to zero
tokens by ``{fill: ""}``) when it is optional; whitespace or punctuation alone is a value with zero tokens, as in
training. The serving signatures apply
the same rules with :func:`enforce_serving_contract`, between ``tf.io.parse_example`` and the transform layer, and
:func:`serving_schema` describes them for clients; the export writes it into the model as ``serving_schema.json``.

Importing this module is cheap: TensorFlow loads only when the contract is applied, so the schema side can be used
without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from beam_jobs.contract import Columns, ColumnSpec
from components.train.signatures import INPUT_NAME, OUTPUT_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE

if TYPE_CHECKING:
    import tensorflow as tf

SERVING_SCHEMA_FILE = "serving_schema.json"  # in every exported model, next to saved_model.pb
SCHEMA_VERSION = 1

TOKENIZED = "raw text; the model lowercases it and splits it into words on whitespace and punctuation"
# How many offending batch rows an error lists.
_ROWS_SHOWN = 10
_EXAMPLE_LISTS = {"float": "float_list", "int": "int64_list", "string": "bytes_list"}
# Column names are quoted with backticks: tf.debugging.Assert C-escapes quotes in its message (\' and \").
_NOT_FINITE = "column `{name}`: NaN or inf is not a finite number (training quarantines such rows as bad_number)"
_SEVERAL = "column `{name}`: more than one value in an example (training rows hold one value per column)"
_EMPTY_REQUIRED = (
    "column `{name}`: missing required value (empty string); its missing rule is quarantine, "
    "so training quarantines such rows"
)


def enforce_serving_contract(
    features: Mapping[str, tf.Tensor | tf.SparseTensor], columns: Columns
) -> dict[str, tf.Tensor | tf.SparseTensor]:
    """The parsed raw features with training's cleaning rules applied, ready for the transform layer.

    ``features`` is the output of ``tf.io.parse_example`` with the raw feature spec minus the label: required
    columns dense, optional ones sparse. An empty string in an optional string column is dropped, so the transform
    graph imputes it like an absent value. An empty string in a required column, a NaN/inf in a float column, or
    more than one value of a column in an example fails the whole batch with an InvalidArgument error naming the
    column, the rule and the offending batch rows.
    Raises ValueError at trace time when ``features`` does not match ``columns``.
    """
    import tensorflow as tf

    contract = columns.features
    checked: dict[str, tf.Tensor | tf.SparseTensor] = {}
    for name, value in features.items():
        spec = contract.get(name)
        if spec is None:
            raise ValueError(f"parsed feature '{name}' is not a feature column of the contract")
        sparse = isinstance(value, tf.SparseTensor)
        if sparse == spec.required:
            kind = "required" if spec.required else "optional"
            parsed = "var-length" if sparse else "fixed-length"
            raise ValueError(
                f"column '{name}' is {kind} in the contract but parsed as {parsed}: "
                "the transform graph was built from other columns"
            )
        checked[name] = _enforce_column(name, spec, value)
    return checked


def _enforce_column(name: str, spec: ColumnSpec, value: tf.Tensor | tf.SparseTensor) -> tf.Tensor | tf.SparseTensor:
    import tensorflow as tf

    if isinstance(value, tf.SparseTensor):  # optional: zero or one value per example
        value = _with_values(value, _guard(value, tf.equal(value.indices[:, 1], 0), _SEVERAL.format(name=name)))
        if spec.type == "float":
            value = _with_values(value, _guard(value, tf.math.is_finite(value.values), _NOT_FINITE.format(name=name)))
        elif spec.value_type == "string":
            value = tf.sparse.retain(value, tf.not_equal(value.values, ""))  # "" is missing: the transform imputes
        return value
    if spec.type == "float":
        return _guard(value, tf.math.is_finite(value), _NOT_FINITE.format(name=name))
    if spec.value_type == "string":
        return _guard(value, tf.not_equal(value, ""), _EMPTY_REQUIRED.format(name=name))
    return value  # int64: every value is a valid integer


def _with_values(sparse: tf.SparseTensor, values: tf.Tensor) -> tf.SparseTensor:
    import tensorflow as tf

    return tf.SparseTensor(sparse.indices, values, sparse.dense_shape)


def _guard(value: tf.Tensor | tf.SparseTensor, ok: tf.Tensor, message: str) -> tf.Tensor:
    """The values of ``value``, behind an assertion that every one is ``ok``; the error lists the bad batch rows."""
    import tensorflow as tf

    sparse = isinstance(value, tf.SparseTensor)
    values = value.values if sparse else value
    rows = value.indices[:, 0] if sparse else tf.range(tf.shape(values, out_type=tf.int64)[0])
    bad_rows = tf.unique(tf.boolean_mask(rows, tf.logical_not(ok))).y
    check = tf.debugging.Assert(tf.reduce_all(ok), [f"{message}; batch rows:", bad_rows], summarize=_ROWS_SHOWN)
    with tf.control_dependencies([check]):
        return tf.identity(values)


def serving_schema(columns: Columns, label: str | None = None) -> dict[str, Any]:
    """What a client must send to the exported model, and what happens to absent, empty and non-finite values.

    Lists every raw feature the serving signatures parse (the feature columns; the label is not needed) with its
    tf.Example list kind, whether it is required, its missing rule, and the serving-time outcome of each case.
    ``label``, when given, must be the contract's label.
    """
    if label is not None and label != columns.label:
        raise ValueError(f"label '{label}' is not the contract's label '{columns.label}'")
    return {
        "schema_version": SCHEMA_VERSION,
        "serving_signature": SERVING_SIGNATURE,
        "transform_signature": TRANSFORM_SIGNATURE,
        "input_name": INPUT_NAME,
        "input": "a 1-D batch of serialized tf.train.Example protos, one per row",
        "output_key": OUTPUT_KEY,
        "output": f"{SERVING_SIGNATURE}: [batch, 1] float32, the positive-class probability",
        "label": {"name": columns.label, "needed": False},
        "other_features": "ignored",
        "features": [_feature_schema(name, spec) for name, spec in columns.features.items()],
    }


def _feature_schema(name: str, spec: ColumnSpec) -> dict[str, Any]:
    missing = spec.missing
    entry: dict[str, Any] = {
        "name": name,
        "type": spec.type,
        "tf_example_list": _EXAMPLE_LISTS[spec.value_type],
        "required": spec.required,
        "values_per_example": "exactly 1" if spec.required else "0 or 1",
        "missing": missing.kind,
    }
    if missing.kind == "fill":
        entry["fill_value"] = missing.value
    outcome = "reject" if spec.required else "impute"
    entry["if_absent"] = outcome
    if spec.value_type == "string":
        entry["if_empty_string"] = outcome
    if spec.type == "text":
        entry["tokenized"] = TOKENIZED
    if spec.type == "float":
        entry["if_nan_or_inf"] = "reject"
    return entry
