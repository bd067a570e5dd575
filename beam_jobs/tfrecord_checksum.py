"""The TFRecord checksum, defined once: a masked CRC32C of the length and of the data of every record.

Import-light (google-crc32c only), so the push step can read records without Beam or TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable

MASK_DELTA = 0xA282EAD8


def crc32c_function() -> Callable[[bytes], int]:
    """google-crc32c's C function (a Beam dependency); Beam's own choice if it is missing."""
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - google-crc32c is installed with Beam
        from apache_beam.io.tfrecordio import _default_crc32c_fn

        return _default_crc32c_fn
    return google_crc32c.value


def mask(crc: int) -> int:
    """TFRecord's masking of a CRC32C value."""
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF
