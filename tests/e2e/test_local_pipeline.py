"""The whole DAG on a small demo set, run twice through the real CLI: the second run comes from the cache."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from components.notify.webhook import WEBHOOK_ENV
from tests.cli_runs import bigtrain
from tests.conftest import DEMO_CONFIG

pytestmark = pytest.mark.slow
# evaluate too: the candidate is the served model, so its first evaluation (no baseline) is the one that counts.
CACHED_ON_RERUN = ("ingest", "preprocess", "train", "evaluate")
ALWAYS_RUN = ("resolve-data", "validate-data", "resolve-baseline", "push", "summarize", "finalize")


class _Webhook(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        type(self).posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def webhook() -> Iterator[list[dict]]:
    """A local webhook receiver; the runs below get its URL through BIGTRAIN_WEBHOOK_URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ[WEBHOOK_ENV] = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield _Webhook.posts
    finally:
        del os.environ[WEBHOOK_ENV]
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, webhook: list[dict]) -> tuple[Path, list[dict], list[str]]:
    work = tmp_path_factory.mktemp("e2e")
    made = bigtrain("demo-data", "--rows", "3000", "--output", "data/demo", "--seed", "7", cwd=work)
    assert made.returncode == 0, made.stderr
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["epochs"] = 4
    (work / "run.yaml").write_text(yaml.safe_dump(config))
    summaries, outputs = [], []
    for index in (1, 2):
        result = bigtrain("run", "--config", "run.yaml", "--summary", f"summary{index}.json", cwd=work)
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
    # Blessing rests on the held-out test split; the split that chose the model is reported beside it.
    assert first["evaluated_split"] == "test"
    assert first["metrics"]["overall"]["example_count"] == rows["test"]
    assert 0.5 < first["validation_auc"] <= 1.0
    assert {"region=west", "plan=basic", "signup_channel=partner"} <= set(first["metrics"]["slices"])
    assert first["blessed"] is True
    assert first["pushed"] == {"version": 1, "path": str(work / "serving" / "demo" / "1"), "new_version": True}
    assert (work / "serving" / "demo" / "1" / "saved_model.pb").is_file()
    # Traceable: the run, the split the metrics come from, and the code that trained the model.
    entry = json.loads((work / "serving" / "demo" / "1" / "bigtrain_version.json").read_text())
    assert entry["code_version"] == first["inputs"]["train_code"]
    assert entry["lineage"]["evaluated_split"] == "test" and entry["lineage"]["run"].startswith("bigtrain-demo")
    assert entry["lineage"]["baseline_version"] is None and entry["lineage"]["data_spans"] == []
    # The data statistics the model was trained on are published with it (the demo source has no spans).
    assert (work / "serving" / "demo" / "1" / "column_stats.json").is_file() and first["data_spans"] == []


def test_second_run_is_served_from_cache_and_pushes_nothing_new(runs):
    work, (first, second), (_, out2) = runs
    for step in CACHED_ON_RERUN:
        assert second["steps"][step] == {"cached": True, "seconds": 0.0}, step
    for step in ALWAYS_RUN:
        assert second["steps"][step]["cached"] is False, step
    assert second["rows"] == first["rows"]
    # The candidate is byte-identical to version 1: not compared with itself, its first evaluation stands.
    assert second["candidate_is_served_version"] == 1 and first["candidate_is_served_version"] is None
    assert second["baseline"] is None and second["metrics"] == first["metrics"]
    assert second["blessed"] is True and second["report"] == first["report"]
    assert second["pushed"]["version"] == 1 and second["pushed"]["new_version"] is False
    assert "serving check skipped" in second["push_reason"]
    assert "reused    the model is served version 1" in out2
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
    assert f"report    {first['report']}" in out1 and first["report"].endswith("report.html")


def test_no_beam_job_tries_prism(runs):
    """Ingest, preprocess and evaluate run on the pinned in-process runner: Beam's DirectRunner would first try to
    download and start Prism (and, online, silently run there)."""
    _, (first, _), _ = runs
    log = Path(first["log"]).read_text()
    assert all(f"Executing task '{step}'" in log for step in ("ingest", "preprocess", "evaluate"))
    assert "\x1b" not in log  # plain text: no colour codes from kfp.local
    assert "prism" not in log.lower()


def test_report_command_reprints_the_summary_and_the_report_path(runs):
    work, (first, _), (out1, _) = runs
    result = bigtrain("report", "--run", first["run_dir"], cwd=work)
    assert result.returncode == 0, result.stderr
    assert out1.rstrip().endswith(result.stdout.rstrip())  # the same summary `bigtrain run` printed at its end
    assert f"report    {first['report']}" in result.stdout and "blessed   yes" in result.stdout
    missing = bigtrain("report", "--run", str(work / "nowhere"), cwd=work)
    assert missing.returncode == 2 and "no run summary here" in missing.stderr


def test_summary_has_the_documented_shape(runs):
    _, (first, _), _ = runs
    assert {"run_id", "rows", "steps", "metrics", "blessed", "pushed"} <= set(first)
    assert set(first["rows"]) == {"input", "train", "eval", "test", "quarantined"}
    assert {"auc", "example_count", "accuracy", "precision", "recall"} <= set(first["metrics"]["overall"])
    json.dumps(first, allow_nan=False)


def test_each_succeeded_run_posted_its_headline_to_the_webhook(runs, webhook):
    _, (first, _), _ = runs
    succeeded = [post for post in webhook if post["state"] == "SUCCEEDED"]
    assert len(succeeded) == 2
    assert succeeded[0]["metrics"]["auc"] == pytest.approx(first["metrics"]["overall"]["auc"])
    assert succeeded[0]["pushed_version"] == 1 and succeeded[0]["rows"] == first["rows"]
    assert succeeded[1]["blessed"] is True


def test_new_data_reruns_ingest_even_with_everything_cached(runs):
    work, _, _ = runs
    with open(work / "data" / "demo" / "part-00000.csv", "a") as handle:
        handle.write("extra-customer-1,41,52000,80.5,12,1,basic,west,ios,9,web,,Cancel my plan,0\n")
    result = bigtrain("run", "--config", "run.yaml", "--summary", "summary3.json", cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    third = json.loads((work / "summary3.json").read_text())
    assert third["rows"]["input"] == 3001
    assert not third["steps"]["ingest"]["cached"] and not third["steps"]["preprocess"]["cached"]
    # A retrained model is a new candidate: evaluated again, against the served version 1.
    assert not third["steps"]["evaluate"]["cached"] and third["baseline"]["auc"] > 0.5
    assert third["candidate_is_served_version"] is None
    # Unchanged after that: if version 2 was pushed against version 1, the rerun gets version 1 as its baseline
    # again (not itself), so that evaluation comes from the cache, baseline and blessing included.
    result = bigtrain("run", "--config", "run.yaml", "--summary", "summary4.json", cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    fourth = json.loads((work / "summary4.json").read_text())
    assert fourth["steps"]["evaluate"]["cached"] and fourth["metrics"] == third["metrics"]
    assert fourth["baseline"] == third["baseline"] and fourth["blessed"] == third["blessed"]
    pushed = (third["pushed"] or {}).get("new_version")
    assert fourth["candidate_is_served_version"] == (third["pushed"]["version"] if pushed else None)


def test_a_failed_run_is_reported_by_the_exit_handler(runs, webhook):
    work, _, _ = runs
    config = yaml.safe_load((work / "run.yaml").read_text())
    del config["columns"]["notes"]  # the data has a column the config does not know: ingest fails
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    result = bigtrain("run", "--config", "bad.yaml", cwd=work)
    assert result.returncode == 2  # stopped by its data (IngestError), like a bad config
    assert "Inner task failed: 'ingest'" in result.stderr and "['notes']" in result.stderr
    assert (result.stdout + result.stderr).count("['notes']") == 1  # the failure's message is printed once
    failed = [post for post in webhook if post["state"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["pipeline"] == "bigtrain-demo"
