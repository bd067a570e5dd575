"""Record batches → serialized, TFRecord-framed tf.Examples, column by column (numpy + pyarrow, no TensorFlow).

Both jobs write examples with one value per feature: ingest's raw examples (float → float_list, int → int64_list,
string → bytes_list; a missing value, null, is an absent feature) and preprocess's transformed examples (dense
scalars). For that shape the protobuf wire format is a handful of length prefixes around each value, so it is
built here for a whole batch at once: per feature a prefix per row (numpy), then one C++ concatenation per row
(``pyarrow.compute.binary_join_element_wise``). Features are written in name order, so a record equals
``tf.train.Example.SerializeToString(deterministic=True)`` byte for byte (the tests check it). Batches of any
other shape (lists longer than one value) go through tfx_bsl's C++ ``RecordBatchToExamplesEncoder``.

The result of :func:`encode_framed` is ready-to-write TFRecord bytes: per record its length, the masked
crc32c of the length, the example, the masked crc32c of the example.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_jobs.tfrecord_checksum import MASK_DELTA, crc32c_function, mask

_FLOAT_LIST, _INT64_LIST, _BYTES_LIST = 0x12, 0x1A, 0x0A  # tags of Feature's oneof
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def frame_records(records: Sequence[bytes], crc32c: Callable[[bytes], int] | None = None) -> bytes:
    """The TFRecord framing of ``records`` one by one (the fallback path; :func:`encode_framed` is vectorized)."""
    crc = crc32c or crc32c_function()
    parts: list[bytes] = []
    for record in records:
        length = _LENGTH.pack(len(record))
        parts += (length, _CRC.pack(mask(crc(length))), record, _CRC.pack(mask(crc(record))))
    return b"".join(parts)


@dataclass(frozen=True)
class Framed:
    """TFRecord bytes of a batch and how many records they hold."""

    data: bytes
    records: int


# --- varints and ragged byte rows -------------------------------------------------------------------------------


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of uint64 values: an (n, width) uint8 matrix and the byte count of each row."""
    x = values.astype(np.uint64, copy=False)
    count = _varint_length(x)
    width = int(count.max()) if len(x) else 1
    shifts = (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]
    matrix = ((x[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    matrix[np.arange(width)[None, :] < (count[:, None] - 1)] |= 0x80
    return matrix, count


def _varint_length(values: np.ndarray) -> np.ndarray:
    """How many bytes the varint of each (non-negative) value takes."""
    x = values.astype(np.uint64, copy=False)
    count = np.ones(len(x), dtype=np.int64)
    if not len(x) or x.max() < 128:
        return count
    for k in range(1, 10):
        count += x >= np.uint64(1 << (7 * k))
    return count


class _Rows:
    """Per-row byte strings built left to right from fixed and variable-width parts."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._parts: list[np.ndarray] = []
        self._used: list[np.ndarray | None] = []  # None: every byte of the part is used in every row

    def const(self, data: bytes) -> None:
        """The same bytes in every row."""
        self._parts.append(np.broadcast_to(np.frombuffer(data, dtype=np.uint8), (self._n, len(data))))
        self._used.append(None)

    def fixed(self, matrix: np.ndarray) -> None:
        """An (n, width) uint8 matrix, all of it used."""
        self._parts.append(matrix)
        self._used.append(None)

    def varint(self, values: np.ndarray) -> None:
        """A varint per row."""
        matrix, count = _varints(values)
        if count.min(initial=1) == matrix.shape[1]:  # the same width in every row
            self.fixed(matrix)
            return
        self._parts.append(matrix)
        self._used.append(np.arange(matrix.shape[1])[None, :] < count[:, None])

    def binary(self, present: np.ndarray | None) -> pa.Array:
        """The rows as a binary array; rows not ``present`` are null (and empty)."""
        n = self._n
        matrix = np.concatenate(self._parts, axis=1) if len(self._parts) > 1 else np.asarray(self._parts[0])
        offsets = np.zeros(n + 1, dtype=np.int32)
        if all(u is None for u in self._used):
            width = matrix.shape[1]
            rows = matrix if present is None else matrix[present]
            data = np.ascontiguousarray(rows).reshape(-1)
            np.cumsum(np.full(n, width, dtype=np.int32) if present is None else present * width, out=offsets[1:])
        else:
            used = np.concatenate(
                [
                    np.ones((n, p.shape[1]), dtype=bool) if u is None else u
                    for p, u in zip(self._parts, self._used, strict=True)
                ],
                axis=1,
            )
            if present is not None:
                used &= present[:, None]
            np.cumsum(used.sum(axis=1), out=offsets[1:])
            data = matrix[used]
        validity = None if present is None else pa.array(present).buffers()[1]
        nulls = 0 if present is None else int(n - np.count_nonzero(present))
        return pa.Array.from_buffers(
            pa.binary(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
        )


# --- one feature ------------------------------------------------------------------------------------------------


def _varint_bytes(value: int) -> bytes:
    """The protobuf varint of one non-negative int."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _aligned(column: pa.Array) -> tuple[pa.Array, np.ndarray | None] | None:
    """(one value per row, present mask or None when all are present); None when a row holds several values.

    Rows that are not present hold an arbitrary value.
    """
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
        if np.any(lengths > 1):
            return None
        flat = column.flatten()
        if np.all(lengths == 1):
            return flat, None
        present = lengths == 1
        if not len(flat):
            return pa.nulls(len(column), flat.type), present
        index = np.maximum(np.cumsum(present) - 1, 0)
        return flat.take(pa.array(index)), present
    if column.null_count == 0:
        return column, None
    return column, column.is_valid().to_numpy(zero_copy_only=False)


def _entry_prefix(rows: _Rows, key: bytes, tag: int, payload_length: np.ndarray) -> None:
    """The bytes of a features-map entry up to its payload: entry, key, Feature and list headers."""
    list_length = 1 + _varint_length(payload_length) + payload_length  # 0x0A varint(len) payload
    feature_length = 1 + _varint_length(list_length) + list_length  # tag varint(len) list
    key_part = b"\x0a" + _varint_bytes(len(key)) + key  # MapEntry.key
    entry_length = len(key_part) + 1 + _varint_length(feature_length) + feature_length
    rows.const(b"\x0a")  # Features.feature (a map entry)
    rows.varint(entry_length)
    rows.const(key_part + b"\x12")  # MapEntry.value
    rows.varint(feature_length)
    rows.const(bytes([tag]))
    rows.varint(list_length)
    rows.const(b"\x0a")  # XList.value
    rows.varint(payload_length)


def _feature_pieces(name: str, column: pa.Array) -> list[pa.Array] | None:
    """The serialized map entries of one feature, per row (null where absent); None if not one value per row."""
    found = _aligned(column)
    if found is None:
        return None
    values, present = found
    n = len(column)
    key = name.encode("utf-8")
    rows = _Rows(n)
    kind = values.type
    if pa.types.is_floating(kind):
        floats = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype("<f4")
        _entry_prefix(rows, key, _FLOAT_LIST, np.full(n, 4, dtype=np.int64))
        rows.fixed(floats.view(np.uint8).reshape(n, 4))
        return [rows.binary(present)]
    if pa.types.is_integer(kind):
        ints = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)
        _entry_prefix(rows, key, _INT64_LIST, _varint_length(ints))
        rows.varint(ints)
        return [rows.binary(present)]
    if pa.types.is_binary(kind) or pa.types.is_string(kind) or pa.types.is_large_binary(kind):
        payload = values if pa.types.is_binary(kind) else values.cast(pa.binary())
        if present is not None:
            payload = pc.if_else(pa.array(present), payload, pa.scalar(None, pa.binary()))
        sizes = pc.fill_null(pc.binary_length(payload), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        _entry_prefix(rows, key, _BYTES_LIST, sizes)
        return [rows.binary(present), payload]
    return None


# --- whole batches ----------------------------------------------------------------------------------------------


class ExampleEncoder:
    """Encodes record batches as TFRecord-framed tf.Examples (see the module docstring for the format)."""

    def __init__(self) -> None:
        self._crc: Callable[[bytes], int] | None = None
        self._fallback = None

    def __reduce__(self) -> tuple[type[ExampleEncoder], tuple[()]]:
        return (ExampleEncoder, ())

    def encode_framed(self, batch: pa.RecordBatch) -> Framed:
        """Serialize and frame every row of ``batch`` (a null is an absent feature)."""
        if self._crc is None:
            self._crc = crc32c_function()
        n = batch.num_rows
        if n == 0:
            return Framed(b"", 0)
        pieces: list[pa.Array] = []
        for name in sorted(batch.schema.names):
            feature = _feature_pieces(name, batch.column(name))
            if feature is None:
                return Framed(frame_records(self.encode(batch), self._crc), n)
            pieces.extend(feature)
        body = pc.binary_join_element_wise(*pieces, b"", null_handling="skip") if pieces else pa.array([b""] * n)
        body_length = pc.binary_length(body).to_numpy(zero_copy_only=False).astype(np.int64)
        header = _Rows(n)
        header.const(b"\x0a")  # Example.features
        header.varint(body_length)
        data = pc.binary_join_element_wise(header.binary(None), body, b"")
        return Framed(self._frame(data, body_length + 1 + _varint_length(body_length)), n)

    def encode(self, batch: pa.RecordBatch) -> list[bytes]:
        """Serialize every row of ``batch`` as a list of examples (the general tfx_bsl path)."""
        if self._fallback is None:
            from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

            self._fallback = RecordBatchToExamplesEncoder()
        return self._fallback.encode(_as_lists(batch))

    def _frame(self, data: pa.Array, lengths: np.ndarray) -> bytes:
        """TFRecord framing of every row of a binary array (no nulls), rows of the given lengths."""
        assert self._crc is not None
        n = len(lengths)
        offsets = np.frombuffer(data.buffers()[1], dtype=np.int32, count=n + 1, offset=data.offset * 4)
        view = data.buffers()[2].to_pybytes()  # the C crc32c takes bytes, not memoryviews
        crc = self._crc
        data_crcs = np.fromiter(
            (crc(view[start:end]) for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)),
            dtype=np.uint64,
            count=n,
        )
        length_bytes = lengths.astype("<u8")
        unique, inverse = np.unique(length_bytes, return_inverse=True)
        unique_crcs = np.array([crc(_LENGTH.pack(int(v))) for v in unique.tolist()], dtype=np.uint64)
        frame = _Rows(n)
        frame.fixed(length_bytes.view(np.uint8).reshape(n, 8))
        frame.fixed(_masked(unique_crcs[inverse.reshape(-1)]).view(np.uint8).reshape(n, 4))
        trailer = _Rows(n)
        trailer.fixed(_masked(data_crcs).view(np.uint8).reshape(n, 4))
        framed = pc.binary_join_element_wise(frame.binary(None), data, trailer.binary(None), b"")
        bounds = np.frombuffer(framed.buffers()[1], dtype=np.int32, count=n + 1, offset=framed.offset * 4)
        start, end = int(bounds[0]), int(bounds[-1])
        return framed.buffers()[2].slice(start, end - start).to_pybytes()


def _masked(crcs: np.ndarray) -> np.ndarray:
    """Masked crc32c values as little-endian uint32."""
    masked = (((crcs >> np.uint64(15)) | (crcs << np.uint64(17))) + np.uint64(MASK_DELTA)) & np.uint64(0xFFFFFFFF)
    return masked.astype("<u4")


def _as_lists(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Scalar columns as one-value list columns (list columns as they are), as tfx_bsl's coder wants."""
    columns = []
    for column in batch.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            columns.append(column)
            continue
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(column) + 1, dtype=np.int32)
        np.cumsum(valid, out=offsets[1:])
        columns.append(pa.ListArray.from_arrays(pa.array(offsets), column.drop_null()))
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
