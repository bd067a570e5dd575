"""The split is a pure function of the key: deterministic, stable across processes, ratios honoured."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from beam_jobs.split import SPLITS, assign_split, split_fraction, split_indices

RATIOS = {"train": 0.8, "eval": 0.1, "test": 0.1}


def test_same_key_same_split_in_another_process():
    keys = [f"C{i:07d}" for i in range(50)]
    here = [assign_split(k, RATIOS) for k in keys]
    code = f"from beam_jobs.split import assign_split;print(','.join(assign_split(k, {RATIOS!r}) for k in {keys!r}))"
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


@pytest.mark.parametrize(
    "ratios",
    [
        RATIOS,
        {"train": 0.7, "eval": 0.3},
        {"train": 0.0, "eval": 0.5, "test": 0.5},
        {"train": 0.7, "eval": 0.2, "test": 0.0999},
    ],
)
def test_batch_assignment_equals_the_one_key_rule(ratios):
    keys = [f"key-{i}" for i in range(20_000)] + ["", "ü", "\x1f", "C0000001"]
    batch = split_indices([k.encode("utf-8") for k in keys], ratios)
    assert [SPLITS[i] for i in batch] == [assign_split(k, ratios) for k in keys]


def test_batch_assignment_of_no_keys_is_empty():
    assert split_indices([], RATIOS).tolist() == []
