"""Shared fixtures: the demo config and small preprocessed demo data, built once per test session."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PreparedPaths:
    """Where the shared ingest + preprocess run of the small demo set wrote its outputs."""

    raw: str  # ingest's typed raw examples, <raw>/<split>/part*
    quarantine: str
    stats: str
    transformed: str  # preprocess's transformed examples, <transformed>/<split>/part*
    transform_graph: str


@pytest.fixture(scope="session")
def preprocessed(tmp_path_factory: pytest.TempPathFactory, demo_config, demo_csv_dir: Path):
    """Ingest + preprocess of the small demo set: (paths, ingest stats, transform stats)."""
    from beam_jobs.ingest import IngestPaths, run_ingest
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    root = tmp_path_factory.mktemp("preprocessed")
    ingest_paths = IngestPaths.under(str(root / "ingest"))
    stats = run_ingest(str(demo_csv_dir / "*.csv"), demo_config.contract, demo_config.split.model_dump(), ingest_paths)
    prep_paths = PreprocessPaths.under(str(root / "prep"))
    transformed = run_preprocess(ingest_paths.examples, demo_config.contract, prep_paths)
    paths = PreparedPaths(
        raw=ingest_paths.examples,
        quarantine=ingest_paths.quarantine,
        stats=ingest_paths.stats,
        transformed=prep_paths.transformed,
        transform_graph=prep_paths.transform_graph,
    )
    return paths, stats, transformed


def default_sigint() -> None:
    """A ``preexec_fn`` for a child that must see Ctrl-C as a terminal delivers it. A test run started in the
    background (``cmd &``, nohup) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process for the test, however the test run was started."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)
