"""The learning-rate schedule: linear warmup to the peak, cosine decay to zero."""

from __future__ import annotations

import itertools

import pytest

from components.train.lr_schedule import warmup_cosine


def test_warmup_then_cosine_decay():
    schedule = warmup_cosine(0.1, warmup_steps=10, total_steps=110)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(9)) == pytest.approx(0.1)
    assert float(schedule(10)) == pytest.approx(0.1)
    assert float(schedule(60)) == pytest.approx(0.05, abs=1e-6)
    assert float(schedule(110)) == pytest.approx(0.0, abs=1e-7)
    values = [float(schedule(step)) for step in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_no_warmup_starts_at_the_peak():
    schedule = warmup_cosine(0.02, warmup_steps=0, total_steps=50)
    assert float(schedule(0)) == pytest.approx(0.02)
    assert schedule.get_config() == {"peak": 0.02, "warmup_steps": 0, "total_steps": 50}
