"""Deterministic train/eval/test assignment by hashing a key.

The same key always lands in the same split, on any runner, machine or Python version
(sha256, not Python's salted ``hash``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

SPLITS = ("train", "eval", "test")
_RESOLUTION = 2**64


def split_fraction(key: str) -> float:
    """A uniform number in [0, 1) derived from the key."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _RESOLUTION


def assign_split(key: str, ratios: Mapping[str, float]) -> str:
    """The split (train, eval or test) a key belongs to, given ratios that sum to 1."""
    fraction = split_fraction(key)
    upper = 0.0
    for name in SPLITS:
        upper += ratios.get(name, 0.0)
        if fraction < upper:
            return name
    # Float rounding can leave the top sliver uncovered; it belongs to the last non-empty split.
    return next(name for name in reversed(SPLITS) if ratios.get(name, 0.0) > 0)
