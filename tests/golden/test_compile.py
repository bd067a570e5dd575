"""Golden compile test: the demo pipeline compiles to exactly the checked-in KFP IR YAML.

Regenerate on purpose, never silently: ``BIGTRAIN_UPDATE_GOLDEN=1 make test PYTEST_ARGS=tests/golden``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from pipelines.config import load_config
from pipelines.dag import STEPS, VERSIONED_STEPS, code_parameter
from pipelines.kubeflow import compile_pipeline
from tests.conftest import DEMO_CONFIG

GOLDEN = Path(__file__).with_name("demo_pipeline.yaml")
FIXED_CODE = {code_parameter(step): f"{step}-code" for step in VERSIONED_STEPS}


def normalize(text: str) -> str:
    """Drop what legitimately varies between machines and SDK patch releases."""
    return re.sub(r"sdkVersion: kfp-[\w.]+", "sdkVersion: kfp-X", text)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> str:
    config = load_config(DEMO_CONFIG, base_dir=Path("/bigtrain"))
    output = tmp_path_factory.mktemp("compiled") / "pipeline.yaml"
    compile_pipeline(config, output, image="bigtrain@sha256:" + "0" * 64, code=FIXED_CODE, data="demo-data")
    return normalize(output.read_text())


def test_compiled_pipeline_matches_golden(compiled: str):
    if os.environ.get("BIGTRAIN_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(compiled)
    assert GOLDEN.is_file(), "no golden file: run with BIGTRAIN_UPDATE_GOLDEN=1 once and review it"
    assert compiled == GOLDEN.read_text(), "compiled pipeline changed; review the diff and regenerate on purpose"


def test_caching_per_task_and_task_settings(compiled: str):
    spec = yaml.safe_load(compiled)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(STEPS)
    cached = {name: task.get("cachingOptions", {}).get("enableCache", False) for name, task in tasks.items()}
    assert cached == {
        "ingest": True, "preprocess": True, "train": True, "resolve-baseline": False, "evaluate": True, "push": False,
    }
    for name in VERSIONED_STEPS:
        params = tasks[name]["inputs"]["parameters"]
        assert params["code_version"]["componentInputParameter"] == code_parameter(name)
        assert params["data_fingerprint"]["componentInputParameter"] == "data_fingerprint"
    executors = spec["deploymentSpec"]["executors"]
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == "bigtrain@sha256:" + "0" * 64
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env["TF_USE_LEGACY_KERAS"] == "1"
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    assert defaults["train_code"]["defaultValue"] == "train-code"
    assert defaults["source"]["defaultValue"] == "/bigtrain/data/demo/*.csv"
    assert tasks["evaluate"]["dependentTasks"] == ["preprocess", "resolve-baseline", "train"]
