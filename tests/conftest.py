"""Shared fixtures: the demo config and small preprocessed demo data, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# bigtrain uses tf_keras deliberately; tests import TF in-process, so set it before any TF import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"


@pytest.fixture(scope="session")
def demo_config():
    """The bundled demo run config, validated."""
    from pipelines.config import load_config

    return load_config(DEMO_CONFIG, base_dir=REPO)


@pytest.fixture(scope="session")
def demo_csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 demo rows (with every malformed kind) as CSV."""
    from pipelines.demo_data import write_demo_data

    directory = tmp_path_factory.mktemp("demo-csv")
    write_demo_data(directory, rows=1_500, seed=11)
    return directory


@pytest.fixture(scope="session")
def preprocessed(tmp_path_factory: pytest.TempPathFactory, demo_config, demo_csv_dir: Path):
    """Ingest + preprocess of the small demo set: (paths, stats, ingest result)."""
    from beam_jobs.ingest import run_ingest
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    root = tmp_path_factory.mktemp("preprocessed")
    ingested = run_ingest(str(demo_csv_dir / "*.csv"), demo_config.contract, str(root / "ingest"))
    paths = PreprocessPaths.under(str(root / "out"))
    stats = run_preprocess(ingested.output_pattern, demo_config.contract, demo_config.split.model_dump(), paths)
    return paths, stats, ingested
