"""Fixtures for the Kubeflow client tests: a fresh fake KFP API per test, a tiny compiled pipeline, no ambient
credentials or endpoint from the machine running the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.kubeflow.client import KfpApi
from pipelines.kubeflow.submit import Target
from tests.kubeflow.fake_kfp import FakeKfp, compile_tiny_pipeline

TARGET = Target("bigtrain-tiny", "team-a", "tiny-experiment", "tiny-runner")


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KF_PIPELINES_TOKEN", "KF_PIPELINES_TOKEN_FILE", "KF_PIPELINES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pipelines.kubeflow.auth.POD_TOKEN_PATHS", ())


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pipeline compiled once per module (the client does not care what the pipeline does)."""
    return compile_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "pipeline.yaml")


@pytest.fixture
def fake() -> Iterator[FakeKfp]:
    with FakeKfp() as server:
        yield server


@pytest.fixture
def api(fake: FakeKfp) -> KfpApi:
    return KfpApi(fake.url, "team-a")
