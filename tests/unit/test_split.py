"""The split is a pure function of the key: deterministic, stable across processes, ratios honoured."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from beam_jobs.split import assign_split, split_fraction

RATIOS = {"train": 0.8, "eval": 0.1, "test": 0.1}


def test_same_key_same_split_in_another_process():
    keys = [f"C{i:07d}" for i in range(50)]
    here = [assign_split(k, RATIOS) for k in keys]
    code = (
        "from beam_jobs.split import assign_split;"
        f"print(','.join(assign_split(k, {RATIOS!r}) for k in {keys!r}))"
    )
    there = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert there.split(",") == here


@pytest.mark.parametrize("ratios", [RATIOS, {"train": 0.6, "eval": 0.2, "test": 0.2}, {"train": 0.7, "eval": 0.3}])
def test_ratios_within_tolerance(ratios):
    counts = Counter(assign_split(f"key-{i}", ratios) for i in range(20_000))
    for name, share in ratios.items():
        assert abs(counts[name] / 20_000 - share) < 0.015, (name, counts)
    assert counts["test"] == 0 or ratios.get("test", 0) > 0


def test_fraction_is_uniform_and_bounded():
    values = [split_fraction(str(i)) for i in range(5_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert abs(sum(values) / len(values) - 0.5) < 0.02
