"""Typing and validating one ingested row: either a cleaned row or a rejection with a reason.

Pure Python, no Beam: unit-testable row by row. Imputation of ``mean``/``mode``/``fill`` for features
happens later, inside the tf.Transform graph, so serving imputes exactly like training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from beam_jobs.contract import Columns, ColumnSpec
from beam_jobs.records import ERROR

REJECTION_KINDS = (
    "wrong_column_count",
    "bad_number",
    "bad_label",
    "missing_label",
    "missing_required",
    "unreadable",
)


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
        return "; ".join(r.message for r in self.rejections)

    @property
    def kind(self) -> str:
        """The first rejection's kind."""
        return self.rejections[0].kind


def parse_value(text: str, column_type: str) -> float | int | str:
    """Parse a cell's text as the declared type; raises ValueError on a bad value."""
    if column_type == "string":
        return text
    stripped = text.strip()
    if column_type == "int":
        return int(stripped)
    number = float(stripped)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _clean_cell(name: str, spec: ColumnSpec, text: str | None) -> tuple[Any, Rejection | None]:
    if text is None or (spec.type != "string" and text.strip() == ""):
        if spec.role == "label":
            return None, Rejection("missing_label", f"missing label '{name}'")
        if spec.missing.kind == "quarantine":
            return None, Rejection("missing_required", f"missing required value in '{name}'")
        # Features are imputed in the transform graph; other roles (key, slice) are filled here.
        if spec.role != "feature" and spec.missing.kind == "fill":
            return spec.missing.value, None
        return None, None
    try:
        value = parse_value(text, spec.type)
    except ValueError:
        return None, Rejection("bad_number", f"column '{name}': cannot parse {text!r} as {spec.type}")
    if spec.role == "label" and value not in (0, 1):
        return None, Rejection("bad_label", f"label '{name}' must be 0 or 1, got {text!r}")
    return value, None


def clean_row(cells: dict[str, str], columns: Columns) -> CleanResult:
    """Type every kept column of an ingested row, or reject the row with every reason found."""
    if ERROR in cells:
        kind = "wrong_column_count" if "column count" in cells[ERROR] else "unreadable"
        return CleanResult(None, (Rejection(kind, cells[ERROR]),))
    values: dict[str, Any] = {}
    rejections: list[Rejection] = []
    for name, spec in columns.kept.items():
        value, rejection = _clean_cell(name, spec, cells.get(name))
        if rejection is not None:
            rejections.append(rejection)
        values[name] = value
    if rejections:
        return CleanResult(None, tuple(rejections))
    return CleanResult(values)


def split_key(cells: dict[str, str], values: dict[str, Any], columns: Columns) -> str:
    """What the split hashes: the key column's value, or the whole row when there is no key."""
    key = columns.key
    if key is not None and values.get(key) is not None:
        return str(values[key])
    return "\x1f".join(f"{name}={cells.get(name, '')}" for name in sorted(columns.columns))
