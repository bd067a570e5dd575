"""The cleaning rules, defined once: how a cell is typed, what a missing value means, and every rejection message.

:func:`clean_row` applies them to one row in plain Python; it is the reference the columnar cleaner
(:mod:`beam_jobs.batch_cleaning`, which ingest runs) is tested against, and it handles the rare cells the
columnar fast path leaves to Python. Imputation of ``mean``/``mode``/``fill`` for features happens later, inside
the tf.Transform graph, so serving imputes exactly like training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from beam_jobs.contract import LABEL_VALUES, Columns, ColumnSpec

REJECTION_KINDS = (
    "wrong_column_count",
    "bad_number",
    "bad_label",
    "missing_label",
    "missing_required",
    "bad_encoding",
    "bad_json",
    "multiple_values",
    "duplicate_key",
)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38  # a float column is kept as float32 (as a tf.Example holds it)

MissingAction = Literal["reject", "fill", "absent"]


@dataclass(frozen=True)
class Rejection:
    """Why a row was quarantined: a kind (for counting) and a message (for people)."""

    kind: str
    message: str


@dataclass(frozen=True)
class CleanResult:
    """Exactly one of ``values`` and ``rejections`` is set."""

    values: dict[str, Any] | None
    rejections: tuple[Rejection, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the row is clean."""
        return self.values is not None

    @property
    def reason(self) -> str:
        """All rejection messages, joined."""
        return join_reasons(self.rejections)

    @property
    def kind(self) -> str:
        """The first rejection's kind."""
        return self.rejections[0].kind


def join_reasons(rejections: tuple[Rejection, ...] | list[Rejection]) -> str:
    """The reason of a quarantined row: every rejection message, in column order."""
    return "; ".join(r.message for r in rejections)


def wrong_column_count(expected: int, got: int) -> Rejection:
    """A line that does not split into the header's number of fields."""
    return Rejection("wrong_column_count", f"wrong column count: expected {expected} fields, got {got}")


def bad_encoding(where: str) -> Rejection:
    """Bytes that are not valid UTF-8, in a column (``"column 'x'"``) or in a line that did not split."""
    return Rejection("bad_encoding", f"{where} is not valid UTF-8")


def bad_json(problem: str) -> Rejection:
    """A JSON Lines line that is not one JSON object of single values (``problem`` says what it is instead)."""
    return Rejection("bad_json", problem)


def multiple_values(name: str, count: int) -> Rejection:
    """A tf.Example feature holding more than one value where a column holds one."""
    return Rejection("multiple_values", f"feature '{name}' has {count} values; a column holds one")


def duplicate_key(name: str, key: str, source: str, line: int) -> Rejection:
    """A row whose key an earlier row (by span, file, line) already has; that row is kept."""
    return Rejection("duplicate_key", f"duplicate {name} {key!r}: the row kept is {source} line {line}")


def missing_rejection(name: str, spec: ColumnSpec) -> Rejection:
    """Why a row missing this column is rejected (only asked when :func:`missing_action` says reject)."""
    if spec.role == "label":
        return Rejection("missing_label", f"missing label '{name}'")
    return Rejection("missing_required", f"missing required value in '{name}'")


def bad_number(name: str, spec: ColumnSpec, text: str) -> Rejection:
    """A numeric cell that does not parse as the column's type."""
    return Rejection("bad_number", f"column '{name}': cannot parse {text!r} as {spec.type}")


def bad_label(name: str, text: str) -> Rejection:
    """A label that is not 0 or 1."""
    return Rejection("bad_label", f"label '{name}' must be 0 or 1, got {text!r}")


def missing_action(spec: ColumnSpec) -> MissingAction:
    """What an empty cell of this column means: reject the row, fill the column's value, or leave it absent.

    Features are imputed in the transform graph (absent here); other roles (key, slice) are filled here.
    """
    if spec.role == "label" or spec.missing.kind == "quarantine":
        return "reject"
    if spec.role != "feature" and spec.missing.kind == "fill":
        return "fill"
    return "absent"


def is_missing(text: str | None, column_type: str) -> bool:
    """An empty cell; numeric cells holding only whitespace are empty too."""
    return text is None or text == "" or (column_type != "string" and text.strip() == "")


def parse_value(text: str, column_type: str) -> float | int | str:
    """Parse a cell's text as the declared type; raises ValueError on a bad value.

    Floats must be finite and fit in float32; ints must fit in int64 (what a tf.Example holds).
    """
    if column_type == "string":
        return text
    stripped = text.strip()
    if column_type == "int":
        integer = int(stripped)
        if not INT64_MIN <= integer <= INT64_MAX:
            raise ValueError("out of the int64 range")
        return integer
    number = float(stripped)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    if abs(number) > FLOAT32_MAX:
        raise ValueError("out of the float32 range")
    return number


def clean_cell(name: str, spec: ColumnSpec, text: str | None) -> tuple[Any, Rejection | None]:
    """One cell typed (``None`` for a value left absent), or the rejection it causes."""
    if is_missing(text, spec.value_type):
        action = missing_action(spec)
        if action == "reject":
            return None, missing_rejection(name, spec)
        return (spec.missing.value if action == "fill" else None), None
    assert text is not None
    try:
        value = parse_value(text, spec.value_type)
    except ValueError:
        return None, bad_number(name, spec, text)
    if spec.role == "label" and value not in LABEL_VALUES:
        return None, bad_label(name, text)
    return value, None


def clean_row(cells: Mapping[str, str], columns: Columns) -> CleanResult:
    """Type every kept column of a row of cell texts (empty cells may be left out), or reject it with every reason."""
    values: dict[str, Any] = {}
    rejections: list[Rejection] = []
    for name, spec in columns.kept.items():
        value, rejection = clean_cell(name, spec, cells.get(name))
        if rejection is not None:
            rejections.append(rejection)
        values[name] = value
    if rejections:
        return CleanResult(None, tuple(rejections))
    return CleanResult(values)


def whole_row_key(cells: Mapping[str, str], columns: Columns) -> str:
    """The split key of a table without a key column: every column's text, by column name."""
    return "\x1f".join(f"{name}={cells.get(name, '')}" for name in sorted(columns.columns))


def split_key(cells: Mapping[str, str], values: Mapping[str, Any], columns: Columns) -> str:
    """What the split hashes: the key column's value, or the whole row when there is no key."""
    key = columns.key
    if key is not None and values.get(key) is not None:
        return str(values[key])
    return whole_row_key(cells, columns)
