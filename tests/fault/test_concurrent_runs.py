"""Two `bigtrain run`s at once on the same pipeline root and model name, and publishers racing on one model.

Both runs finish: kfp.local names each run's directory by a microsecond timestamp and writes its cache entries
atomically (temp file + rename), so concurrent runs only ever read a complete entry; the registry serializes
publishers with its lock. No version is lost or half written, and the index matches the version directories.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from beam_jobs.layout import RUN_SUMMARY_FILE
from components.push import registry
from components.push.registry import INDEX_FILE, TEMP_PREFIX
from pipelines import local_runner
from tests.cli_runs import BIGTRAIN
from tests.fault.demo_work import CONFIG_FILE, make_demo_work

ROWS = 600
PUBLISHERS = 4
RUN = (*BIGTRAIN, "run")


def _assert_index_matches_dirs(serving: Path, model: str) -> list[int]:
    """The versions list_versions reads, after checking the index and the version dirs agree and no temp is left."""
    model_root = serving / model
    listed = [entry.version for entry in registry.list_versions(serving, model)]
    dirs = sorted(int(p.name) for p in model_root.iterdir() if p.name.isdigit())
    indexed = [entry["version"] for entry in json.loads((model_root / INDEX_FILE).read_text())]
    assert listed == dirs == indexed
    assert list(model_root.glob(f"{TEMP_PREFIX}*")) == []
    return listed


def _publish_in_child(model_dir: str, serving: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait(timeout=60)
    facts = {"metrics": {"auc": 0.5}, "config_hash": "c", "data_fingerprint": "d", "code_version": "v"}
    registry.publish(model_dir, serving, "ctr", **facts)


def test_a_run_reads_its_own_summary_when_another_run_shares_the_root(tmp_path: Path) -> None:
    from kfp.local import executor_input_utils

    names: list[str] = []
    with local_runner._recording_run_names(names):
        ours = executor_input_utils.get_local_pipeline_resource_name("bigtrain-demo")
    assert names == [ours]
    theirs = "bigtrain-demo-9999-12-31-23-59-59-999999"  # the other run's directory: newer than ours
    for name in (ours, theirs):
        out = tmp_path / name / "summarize" / "run_summary"
        out.mkdir(parents=True)
        (out / RUN_SUMMARY_FILE).write_text(json.dumps({"run": name}))
    assert local_runner._run_facts(tmp_path, set(), "bigtrain-demo", names) == {"run": ours}


def test_publishers_racing_on_one_model_get_consecutive_complete_versions(tmp_path: Path) -> None:
    models = []
    for i in range(PUBLISHERS):
        model = tmp_path / f"m{i}"
        (model / "variables").mkdir(parents=True)
        (model / "saved_model.pb").write_bytes(bytes([i]) * 128)
        (model / "variables" / "variables.data-00000-of-00001").write_bytes(bytes([i]) * 4096)
        models.append(model)
    serving = tmp_path / "serving"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PUBLISHERS)
    procs = [ctx.Process(target=_publish_in_child, args=(str(m), str(serving), barrier)) for m in models]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * PUBLISHERS
    assert _assert_index_matches_dirs(serving, "ctr") == list(range(1, PUBLISHERS + 1))
    # Each model is in exactly one version, whole: its digest is the one recorded.
    entries = registry.list_versions(serving, "ctr")
    assert sorted(e.model_digest for e in entries) == sorted(registry.model_digest(m) for m in models)
    assert all(registry.model_digest(e.path) == e.model_digest for e in entries)


@pytest.mark.slow
def test_two_runs_at_once_on_one_pipeline_root_both_finish(tmp_path: Path) -> None:
    # so that both runs push
    make_demo_work(tmp_path, ROWS, epochs=1, evaluation={"thresholds": {"auc": {"min": 0.0, "max_drop": 1.0}}})
    runs = [
        subprocess.Popen(
            [*RUN, "--config", CONFIG_FILE, "--pipeline-root", "runs", "--summary", f"summary{i}.json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:] + err[-3000:]
    summaries = [json.loads((tmp_path / f"summary{i}.json").read_text()) for i in range(2)]
    assert all(summary["ok"] for summary in summaries)
    assert summaries[0]["run_dir"] != summaries[1]["run_dir"]
    for summary in summaries:
        rows = summary["rows"]
        assert rows["input"] == ROWS
        assert rows["train"] + rows["eval"] + rows["test"] + rows["quarantined"] == ROWS
    serving = tmp_path / "serving"
    (model,) = [p.name for p in serving.iterdir()]
    versions = _assert_index_matches_dirs(serving, model)
    # Two identical trainings may publish one version (the second finds the same digest) or two: none is half written.
    assert versions in ([1], [1, 2])
    assert all(registry.model_digest(e.path) == e.model_digest for e in registry.list_versions(serving, model))
    # Each run's summary names the version it pushed, and that version exists.
    pushed = {summary["pushed"]["version"] for summary in summaries if summary["pushed"]}
    assert pushed and pushed <= set(versions), (pushed, versions)
    assert list((tmp_path / "runs").glob("**/.kfp_cache_*.tmp")) == []
