"""Choosing the tf.distribute strategy from the environment, and the chief-only save rule.

One process: the default strategy (or MirroredStrategy over several local GPUs). Several workers
(``TF_CONFIG`` names a cluster, as TFJob sets it): MultiWorkerMirroredStrategy.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import tensorflow as tf


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` (empty when unset)."""
    raw = (environ if environ is not None else os.environ).get("TF_CONFIG", "")
    return json.loads(raw) if raw else {}


def worker_count(tf_config: Mapping[str, Any]) -> int:
    """How many training processes the cluster has (chief + workers), 1 without a cluster."""
    cluster = tf_config.get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief(tf_config: Mapping[str, Any]) -> bool:
    """The chief saves the model: the ``chief`` task, else worker 0, else the only process."""
    task = tf_config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index") == 0 and "chief" not in tf_config.get("cluster", {})


def make_strategy(tf_config: Mapping[str, Any]) -> tf.distribute.Strategy:
    """The strategy for this process."""
    if worker_count(tf_config) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def write_dir(target: str, tf_config: Mapping[str, Any]) -> str:
    """Where this process writes a model: the target on the chief, a throwaway dir on other workers.

    Every worker must take part in saving (it is a collective op), but only the chief's copy is kept.
    """
    if is_chief(tf_config):
        return target
    return tempfile.mkdtemp(prefix="bigtrain-worker-save-")
