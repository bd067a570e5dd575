"""Deterministic train/eval/test assignment by hashing a key.

The same key always lands in the same split, on any runner, machine or Python version
(sha256, not Python's salted ``hash``). :func:`assign_split` is the definition for one key;
:func:`split_indices` does the same for a batch of keys and agrees with it key by key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np

SPLITS = ("train", "eval", "test")
_RESOLUTION = 2**64


def split_fraction(key: str) -> float:
    """A uniform number in [0, 1) derived from the key."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _RESOLUTION


def _upper_bounds(ratios: Mapping[str, float]) -> list[float]:
    """The cumulative upper bound of each split, summed in SPLITS order (as assign_split sums them)."""
    bounds, upper = [], 0.0
    for name in SPLITS:
        upper += ratios.get(name, 0.0)
        bounds.append(upper)
    return bounds


def _fallback_index(ratios: Mapping[str, float]) -> int:
    """The split that takes the top sliver float rounding can leave uncovered: the last non-empty one."""
    return next(i for i in reversed(range(len(SPLITS))) if ratios.get(SPLITS[i], 0.0) > 0)


def assign_split(key: str, ratios: Mapping[str, float]) -> str:
    """The split (train, eval or test) a key belongs to, given ratios that sum to 1."""
    fraction = split_fraction(key)
    for name, upper in zip(SPLITS, _upper_bounds(ratios), strict=True):
        if fraction < upper:
            return name
    return SPLITS[_fallback_index(ratios)]


def split_indices(keys: Iterable[bytes], ratios: Mapping[str, float]) -> np.ndarray:
    """The index into SPLITS of each UTF-8 encoded key; element by element equal to :func:`assign_split`."""
    sha256 = hashlib.sha256
    prefixes = b"".join([sha256(key).digest()[:8] for key in keys])
    # uint64 -> float64 rounds to nearest and dividing by 2**64 is exact: the same float as int / 2**64.
    fractions = np.frombuffer(prefixes, dtype=">u8").astype(np.float64) / float(_RESOLUTION)
    indices = np.searchsorted(np.array(_upper_bounds(ratios)), fractions, side="right")
    indices[indices >= len(SPLITS)] = _fallback_index(ratios)
    return indices.astype(np.int8)
