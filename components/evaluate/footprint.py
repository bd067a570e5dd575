"""What a SavedModel costs to ship and serve: zero weights, size on disk and gzipped, and serving latency.

Measured in the process that already has TensorFlow loaded (evaluate), for the candidate and the model it is
compared with, one after the other and the same way, so the two sets of numbers are comparable.
"""

from __future__ import annotations

import os
import statistics
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from components.train.signatures import INPUT_NAME, SERVING_SIGNATURE

LATENCY_BATCHES = (1, 256)  # raw tf.Examples per serving_default call
LATENCY_RUNS = 5  # timed calls per batch size, after one warm-up call; the median is kept
KERNEL_SUFFIX = "kernel:0"  # dense kernels, the weights pruning zeroes (embeddings are "embeddings:0")
UNPRUNED_MAX_SPARSITY = 0.01  # a trained dense kernel with fewer zeros than this was not pruned


@dataclass(frozen=True)
class Footprint:
    """One model's footprint. Sparsities are zero shares; latencies are median milliseconds per call by batch."""

    kernel_sparsity: float  # over the dense kernels
    weight_sparsity: float  # over every weight of the model (embeddings and biases included)
    size_bytes: int  # the SavedModel directory's files
    gzip_bytes: int  # the same directory as a .tar.gz (how it ships)
    latency_ms: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class _Counter:
    """A write-only file object that only counts bytes."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to flush."""


def directory_sizes(model_dir: str) -> tuple[int, int]:
    """(bytes of every file under ``model_dir``, bytes of the directory as a gzip-compressed tar archive)."""
    size = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(model_dir) for name in names)
    counter = _Counter()
    with tarfile.open(fileobj=counter, mode="w:gz") as archive:  # type: ignore[call-overload]
        archive.add(model_dir, arcname=".")
    return size, counter.size


def weight_sparsity(variables: Sequence[Any]) -> tuple[float, float]:
    """(zero share of the dense kernels, zero share of all float weights) among a loaded model's variables."""
    import numpy as np

    kernel_zeros = kernel_total = zeros = total = 0
    for variable in variables:
        if not variable.dtype.is_floating:
            continue
        values = variable.numpy()
        count = int(np.count_nonzero(values == 0))
        zeros, total = zeros + count, total + values.size
        if variable.name.endswith(KERNEL_SUFFIX):
            kernel_zeros, kernel_total = kernel_zeros + count, kernel_total + values.size
    return (kernel_zeros / kernel_total if kernel_total else 0.0), (zeros / total if total else 0.0)


def serving_latency(
    signature: Any, examples: Sequence[bytes], batches: Sequence[int] = LATENCY_BATCHES, runs: int = LATENCY_RUNS
) -> dict[str, float]:
    """Median milliseconds of a ``serving_default`` call per batch size, after one warm-up call; a batch larger than
    ``examples`` repeats them."""
    import tensorflow as tf

    if not examples:
        raise ValueError("serving latency needs at least one serialized example")
    latency = {}
    for size in batches:
        batch = tf.constant([examples[i % len(examples)] for i in range(size)], dtype=tf.string)
        signature(**{INPUT_NAME: batch})  # warm-up: the first call traces and allocates
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            signature(**{INPUT_NAME: batch})
            times.append((time.perf_counter() - started) * 1000)
        latency[str(size)] = round(statistics.median(times), 3)
    return latency


def measure(model_dir: str, examples: Sequence[bytes]) -> Footprint:
    """Load ``model_dir`` and measure its footprint, serving ``examples`` (serialized raw tf.Examples)."""
    import tensorflow as tf

    size, gzip_size = directory_sizes(model_dir)
    loaded = tf.saved_model.load(model_dir)
    kernel, overall = weight_sparsity(loaded.variables)
    latency = serving_latency(loaded.signatures[SERVING_SIGNATURE], examples)
    return Footprint(round(kernel, 4), round(overall, 4), size, gzip_size, latency)


def pruning_comparison(
    candidate_dir: str,
    baseline_dir: str | None,
    examples: Sequence[bytes],
    final_sparsity: float,
    candidate_auc: float | None,
    baseline_auc: float | None,
    baseline_version: int | None = None,
) -> dict[str, Any]:
    """The evaluation summary's ``pruning`` entry: the candidate's footprint and AUC, and the same for the baseline
    as the unpruned reference when it is unpruned (almost no zeros in its dense kernels); ``reference`` is None
    otherwise."""
    candidate = {**measure(candidate_dir, examples).to_json(), "auc": candidate_auc}
    reference = None
    if baseline_dir:
        baseline = measure(baseline_dir, examples)
        if baseline.kernel_sparsity < UNPRUNED_MAX_SPARSITY:
            reference = {**baseline.to_json(), "auc": baseline_auc, "version": baseline_version}
    return {"final_sparsity": final_sparsity, "candidate": candidate, "reference": reference}
