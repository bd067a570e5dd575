"""Beam counters bigtrain reports row counts with, read back after a job finishes."""

from __future__ import annotations

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

NAMESPACE = "bigtrain"


def counter(name: str) -> Metrics.DelegatingCounter:
    """A bigtrain counter, to create in a DoFn's constructor."""
    return Metrics.counter(NAMESPACE, name)


def committed(result: PipelineResult, name: str) -> int:
    """The committed total of a bigtrain counter in a finished job (0 when it never fired)."""
    query = MetricsFilter().with_namespace(NAMESPACE).with_name(name)
    return int(sum(c.committed or 0 for c in result.metrics().query(query)["counters"]))
