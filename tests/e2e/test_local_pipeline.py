"""The whole DAG on a small demo set, run twice through the real CLI: the second run comes from the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow
CACHED_ON_RERUN = ("ingest", "preprocess", "train")
ALWAYS_RUN = ("resolve-baseline", "evaluate", "push")


def _bigtrain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[str]]:
    work = tmp_path_factory.mktemp("e2e")
    made = _bigtrain("demo-data", "--rows", "3000", "--output", "data/demo", "--seed", "7", cwd=work)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["epochs"] = 4
    (work / "run.yaml").write_text(yaml.safe_dump(config))
    summaries, outputs = [], []
    for index in (1, 2):
        result = _bigtrain("run", "--config", "run.yaml", "--summary", f"summary{index}.json", cwd=work)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        summaries.append(json.loads((work / f"summary{index}.json").read_text()))
        outputs.append(result.stdout)
    return work, summaries, outputs


def test_first_run_runs_every_step_and_pushes(runs):
    work, (first, _), _ = runs
    assert first["ok"] and first["error"] is None
    assert all(not step["cached"] and step["seconds"] > 0 for step in first["steps"].values())
    assert set(first["steps"]) == set(CACHED_ON_RERUN + ALWAYS_RUN)
    rows = first["rows"]
    assert rows["input"] == 3000
    assert rows["input"] == rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"]
    assert rows["quarantined"] >= 8 and set(first["quarantine_reasons"]) >= {"wrong_column_count", "bad_number"}
    assert first["metrics"]["overall"]["auc"] > 0.65
    assert first["metrics"]["overall"]["example_count"] == rows["eval"]
    assert {"region=west", "plan=basic", "signup_channel=partner"} <= set(first["metrics"]["slices"])
    assert first["blessed"] is True
    assert first["pushed"] == {"version": 1, "path": str(work / "serving" / "demo" / "1"), "new_version": True}
    assert (work / "serving" / "demo" / "1" / "saved_model.pb").is_file()


def test_second_run_is_served_from_cache_and_pushes_nothing_new(runs):
    work, (first, second), _ = runs
    for step in CACHED_ON_RERUN:
        assert second["steps"][step] == {"cached": True, "seconds": 0.0}, step
    for step in ALWAYS_RUN:
        assert second["steps"][step]["cached"] is False, step
    assert second["rows"] == first["rows"]
    assert second["baseline"]["auc"] == pytest.approx(first["metrics"]["overall"]["auc"])
    assert second["blessed"] is True
    assert second["pushed"]["version"] == 1 and second["pushed"]["new_version"] is False
    versions = sorted(p.name for p in (work / "serving" / "demo").iterdir() if p.name.isdigit())
    assert versions == ["1"]
    assert second["seconds"] < first["seconds"]


def test_terminal_shows_steps_and_logs_go_to_the_run_file(runs):
    _, (first, _), (out1, out2) = runs
    assert len(out1.splitlines()) < 80
    assert "oneDNN" not in out1 and "Epoch 1/" not in out1
    assert "✓ train             ran" in out1 and "✓ train             cached" in out2
    log = Path(first["log"]).read_text()
    assert "Epoch 1/" in log and "Executing task" in log
    assert Path(first["run_dir"], "summary.json").is_file()
    assert first["log"] in out1


def test_summary_has_the_documented_shape(runs):
    _, (first, _), _ = runs
    assert {"run_id", "rows", "steps", "metrics", "blessed", "pushed"} <= set(first)
    assert set(first["rows"]) == {"input", "train", "eval", "test", "quarantined"}
    assert {"auc", "example_count", "accuracy", "precision", "recall"} <= set(first["metrics"]["overall"])
    json.dumps(first, allow_nan=False)
