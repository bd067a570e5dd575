"""Typed input values (Parquet columns, tf.Example features) checked against the config's types and turned into cell
text without loss, so that cleaning treats them exactly like CSV cells.

A config ``float`` takes integers and floating-point values, ``int`` integers only, ``string`` text, bytes and
integers (as decimal text); anything else (a bool, a timestamp, a list, a float declared int) is refused.
Integers become decimal text, floats their shortest round-trip text (float32 at float32 precision, which the
cleaner's float64 parse and float32 store give back exactly; NaN and infinities become ``nan``/``inf``, which
cleaning rejects as ``bad_number``), text and bytes stay as they are, and a null becomes empty text (missing).
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from beam_jobs.chunks import IngestError

ValueKind = Literal["int", "float", "string", "null"]
ACCEPTED: dict[str, frozenset[str]] = {
    "float": frozenset({"int", "float"}),
    "int": frozenset({"int"}),
    "string": frozenset({"string", "int"}),
    "text": frozenset({"string", "int"}),
}
_TAKES = {"float": "integers and floats", "int": "integers only", "string": "text, bytes and integers"}
_TAKES["text"] = _TAKES["string"]


def value_kind(arrow_type: pa.DataType) -> ValueKind | None:
    """What an Arrow type holds as the type rules see it; None for anything they refuse."""
    if pa.types.is_dictionary(arrow_type):
        return value_kind(arrow_type.value_type)
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "string"
    if pa.types.is_null(arrow_type):
        return "null"
    return None


def accepts(declared: str, kind: str | None) -> bool:
    """True when a column declared ``declared`` takes values of ``kind`` (nulls go anywhere)."""
    return kind == "null" or (kind is not None and kind in ACCEPTED[declared])


def type_mismatch(where: str, name: str, found: str, declared: str) -> IngestError:
    """The error for a column (``where`` names file and place) whose values the declared type does not take."""
    return IngestError(
        f"{where}: column {name!r} holds {found} values, but the config declares it {declared} "
        f"({declared} takes {_TAKES[declared]})"
    )


def check_type(where: str, name: str, declared: str, arrow_type: pa.DataType, found: str | None = None) -> None:
    """Raise IngestError when a column of ``arrow_type`` cannot be read as ``declared``; ``found`` names the type
    for people (the Arrow type by default)."""
    if not accepts(declared, value_kind(arrow_type)):
        raise type_mismatch(where, name, found or str(arrow_type), declared)


def to_text(values: pa.Array) -> pa.Array:
    """A column of accepted type as binary cell text: decimal integers, shortest round-trip floats, text and bytes
    as they are; null → empty."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = value_kind(values.type)
    if kind == "null":
        return pa.array([b""] * len(values), pa.binary())
    if pa.types.is_float16(values.type):
        values = values.cast(pa.float32())  # exact; Arrow has no float16 → text cast
    if kind in ("int", "float"):
        values = pc.cast(values, pa.string())
    return pc.fill_null(values.cast(pa.binary()), b"")
