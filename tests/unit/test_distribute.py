"""Strategy selection from TF_CONFIG, and which process is the chief (the one whose export is kept)."""

from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf

from components.train import distribute

TWO_WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize(
    ("tf_config", "workers", "chief"),
    [
        ({}, 1, True),
        ({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 0}}, 2, True),
        ({"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}}, 2, False),
        ({"cluster": {"chief": ["c:1"], **TWO_WORKERS}, "task": {"type": "chief", "index": 0}}, 3, True),
        ({"cluster": {"chief": ["c:1"], **TWO_WORKERS}, "task": {"type": "worker", "index": 0}}, 3, False),
    ],
)
def test_worker_count_and_chief(tf_config: dict, workers: int, chief: bool):
    assert distribute.worker_count(tf_config) == workers
    assert distribute.is_chief(tf_config) is chief


def test_tf_config_is_read_from_the_environment():
    config = {"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}}
    assert distribute.read_tf_config({"TF_CONFIG": json.dumps(config)}) == config
    assert distribute.read_tf_config({}) == {}


def test_one_process_gets_the_default_strategy():
    strategy = distribute.make_strategy({})
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_only_the_chief_writes_to_the_target(tmp_path):
    target = str(tmp_path / "model")
    assert distribute.write_dir(target, {}) == target
    other = distribute.write_dir(target, {"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 1}})
    assert other != target and os.path.basename(other).startswith("bigtrain-worker-save-")
    os.rmdir(other)
