"""``bigtrain schedule`` against the fake KFP API: the recurring run's body, cron validation, and the safe
replace order (create the new one enabled → disable the old → delete the old only when no run is active)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.kubeflow import schedule as schedule_module
from pipelines.kubeflow.client import KfpApi
from pipelines.kubeflow.schedule import delete_schedule, format_schedules, replace_schedule, validate_cron
from pipelines.kubeflow.submit import publish
from tests.conftest import DEMO_CONFIG
from tests.kubeflow.conftest import TARGET
from tests.kubeflow.fake_kfp import FakeKfp, Recorded

NAME = "bigtrain-tiny-schedule"


@pytest.fixture(autouse=True)
def _no_settle_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_module, "SETTLE_S", 0.0)


def _replace(api: KfpApi, package: Path, out: io.StringIO | None = None, **options: object):
    published = publish(api, package, "bigtrain-tiny", datetime.now(UTC))
    settings = {"cron": "0 0 2 * * *", "max_concurrency": 1, "no_catchup": True, **options}
    return replace_schedule(api, published, TARGET, name=NAME, out=out or io.StringIO(), **settings), published


def _index(requests: list[Recorded], method: str, path: str) -> int:
    matches = [i for i, r in enumerate(requests) if r.method == method and r.path.endswith(path)]
    assert len(matches) == 1, (method, path, matches)
    return matches[0]


@pytest.mark.parametrize(
    "cron", ["0 0 2 * * *", "0 */15 * * * MON-FRI", "0 0 2 ? * SUN", "30 0 2 1,15 * *", "0 0 0-6/2 * jan-mar *"]
)
def test_kfp_six_field_crons_are_accepted(cron: str):
    assert validate_cron(f"  {cron} ") == cron


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("0 2 * * *", "got 5 field(s)"),  # Unix cron: KFP would read it as "minute 2 of every hour"
        ("0 0 2 * * * 2026", "got 7 field(s)"),
        ("0 0 25 * * *", "hour field '25'"),
        ("0 0 2 * * 7", "day-of-week field '7'"),
        ("0 0 2 0 * *", "day-of-month field '0'"),
        ("0 */0 * * * *", "minute field '*/0'"),
        ("0 0 5-2 * * *", "hour field '5-2'"),
        ("@daily", "got 1 field(s)"),
    ],
)
def test_other_cron_shapes_are_rejected_naming_the_flag(cron: str, why: str):
    with pytest.raises(ValueError, match=r"^--cron ") as error:
        validate_cron(cron)
    assert why in str(error.value)
    assert "\n" not in str(error.value)


def test_the_recurring_run_pins_the_new_version_with_cron_concurrency_catchup_and_service_account(
    fake: FakeKfp, api: KfpApi, package: Path
):
    (new, retired), published = _replace(api, package, max_concurrency=3, no_catchup=True)

    (create,) = fake.calls("POST", "/recurringruns")
    body = create.body
    assert body["display_name"] == NAME
    assert body["mode"] == "ENABLE"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert body["max_concurrency"] == 3
    assert body["no_catchup"] is True
    assert body["service_account"] == "tiny-runner"
    assert body["pipeline_version_reference"] == {
        "pipeline_id": published.pipeline_id,
        "pipeline_version_id": published.version_id,
    }
    experiment = fake.experiments[body["experiment_id"]]
    assert (experiment["display_name"], experiment["namespace"]) == ("tiny-experiment", "team-a")
    assert fake.recurring_runs[new.recurring_run_id]["status"] == "ENABLED"
    assert retired.deleted == retired.disabled == [] and not fake.calls("DELETE")


def test_catchup_is_sent_explicitly_when_not_disabled(fake: FakeKfp, api: KfpApi, package: Path):
    _replace(api, package, no_catchup=False)
    assert fake.calls("POST", "/recurringruns")[0].body["no_catchup"] is False


def test_replace_creates_the_new_one_before_disabling_and_deleting_the_idle_old_one(
    fake: FakeKfp, api: KfpApi, package: Path
):
    old_id, _ = fake.add_recurring_run(NAME, namespace="team-a", cron="0 0 1 * * *")
    out = io.StringIO()

    (new, retired), _ = _replace(api, package, out=out)

    requests = fake.requests
    created = _index(requests, "POST", "/recurringruns")
    disabled = _index(requests, "POST", f"/recurringruns/{old_id}:disable")
    deleted = _index(requests, "DELETE", f"/recurringruns/{old_id}")
    checks = [i for i, r in enumerate(requests) if r.method == "GET" and r.path.endswith("/runs")]
    assert created < disabled < checks[0] < deleted
    assert fake.recurring_runs[new.recurring_run_id]["status"] == "ENABLED"  # enabled when created, not after
    assert not fake.calls("POST", ":enable")
    assert set(fake.recurring_runs) == {new.recurring_run_id}
    (check,) = [requests[i] for i in checks]
    predicates = {p["key"]: p for p in check.filter["predicates"]}
    assert predicates["recurring_run_id"]["string_value"] == old_id
    assert predicates["state"]["operation"] == "IN"
    assert {"PENDING", "RUNNING"} <= set(predicates["state"]["string_values"]["values"])
    assert check.param("namespace") == "team-a"
    assert (retired.disabled, retired.deleted, retired.busy) == ([old_id], [old_id], {})
    assert f"deleted recurring run {NAME} ({old_id})" in out.getvalue()
    assert fake.killed_runs == []


def test_a_busy_old_one_is_disabled_but_not_deleted_and_the_next_schedule_cleans_it_up(
    fake: FakeKfp, api: KfpApi, package: Path
):
    old_id, run_id = fake.add_recurring_run(NAME, namespace="team-a", active_run="RUNNING")
    out = io.StringIO()

    (first, retired), _ = _replace(api, package, out=out)

    assert fake.recurring_runs[old_id]["status"] == "DISABLED"
    assert not fake.calls("DELETE")
    assert retired.busy == {old_id: [run_id]}
    assert f"kept recurring run {NAME} ({old_id}) disabled, not deleted: its run {run_id} (RUNNING)" in out.getvalue()
    assert fake.runs[run_id]["state"] == "RUNNING" and fake.killed_runs == []

    fake.finish_run(run_id)
    (second, retired), _ = _replace(api, package)

    assert set(fake.recurring_runs) == {second.recurring_run_id}
    assert set(retired.deleted) == {old_id, first.recurring_run_id}
    assert retired.disabled == [first.recurring_run_id]  # the leftover was disabled already
    assert fake.killed_runs == []


def test_recurring_runs_of_other_names_are_left_alone(fake: FakeKfp, api: KfpApi, package: Path):
    other_id, _ = fake.add_recurring_run("someone-elses-schedule", namespace="team-a")
    _replace(api, package)
    assert fake.recurring_runs[other_id]["status"] == "ENABLED"
    assert not any(other_id in r.path for r in fake.requests)


def test_delete_disables_then_deletes_and_keeps_a_busy_one(fake: FakeKfp, api: KfpApi):
    idle_id, _ = fake.add_recurring_run(NAME, namespace="team-a")
    busy_id, run_id = fake.add_recurring_run(NAME, namespace="team-a", active_run="PENDING")

    retired = delete_schedule(api, NAME, out=io.StringIO())

    assert retired.deleted == [idle_id] and retired.busy == {busy_id: [run_id]}
    assert _index(fake.requests, "POST", f"{idle_id}:disable") < _index(fake.requests, "DELETE", idle_id)
    assert fake.recurring_runs[busy_id]["status"] == "DISABLED" and fake.killed_runs == []

    fake.finish_run(run_id, "FAILED")
    assert delete_schedule(api, busy_id, out=io.StringIO()).deleted == [busy_id]  # by id this time
    assert fake.recurring_runs == {}


def test_format_schedules_lists_name_cron_enabled_concurrency_and_id(fake: FakeKfp, api: KfpApi):
    on_id, _ = fake.add_recurring_run(NAME, namespace="team-a", cron="0 0 2 * * *")
    off_id, _ = fake.add_recurring_run("paused", namespace="team-a", enabled=False)

    lines = format_schedules(api.recurring_runs()).splitlines()

    assert lines[0].split() == ["NAME", "CRON", "ENABLED", "MAX", "CONCURRENCY", "ID"]
    assert lines[1].split() == [NAME, "0", "0", "2", "*", "*", "*", "yes", "1", on_id]
    assert lines[2].split() == ["paused", "0", "0", "1", "*", "*", "*", "no", "1", off_id]


def test_cli_schedule_replaces_and_lists(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    old_id, _ = fake.add_recurring_run("bigtrain-demo-schedule", namespace="bigtrain")
    argv = ["schedule", "--config", str(DEMO_CONFIG), "--host", fake.url, "--cron", "0 30 3 * * *", "--no-catchup"]

    assert main([*argv, "--max-concurrency", "2"]) == 0

    (new_id,) = fake.recurring_runs
    body = fake.recurring_runs[new_id]
    assert (body["display_name"], body["trigger"]["cron_schedule"]["cron"]) == (
        "bigtrain-demo-schedule",
        "0 30 3 * * *",
    )
    assert (body["max_concurrency"], body["no_catchup"], body["service_account"]) == (
        "2",
        True,
        "bigtrain-pipeline-runner",
    )
    assert fake.experiments[body["experiment_id"]]["display_name"] == "bigtrain-demo"
    out = capsys.readouterr().out
    assert f"created recurring run bigtrain-demo-schedule ({new_id}), enabled" in out
    assert f"deleted recurring run bigtrain-demo-schedule ({old_id})" in out

    assert main(["schedule", "--list", "--host", fake.url]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].split() == ["bigtrain-demo-schedule", "0", "30", "3", "*", "*", "*", "yes", "2", new_id]
    assert fake.calls("GET", "/recurringruns")[-1].param("namespace") == "bigtrain"


def test_cli_schedule_rejects_a_unix_cron_before_any_request(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    argv = ["schedule", "--config", str(DEMO_CONFIG), "--host", fake.url, "--cron", "0 2 * * *"]

    assert main(argv) == 2

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("bigtrain: error: --cron '0 2 * * *': KFP needs 6 fields, seconds first")
    assert fake.requests == []


def test_cli_schedule_rejects_max_concurrency_out_of_range(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    argv = ["schedule", "--config", str(DEMO_CONFIG), "--host", fake.url, "--cron", "0 0 2 * * *"]
    assert main([*argv, "--max-concurrency", "0"]) == 2
    assert capsys.readouterr().err == "bigtrain: error: --max-concurrency 0: KFP accepts 1 to 10\n"
    assert fake.requests == []


def test_cli_schedule_delete(fake: FakeKfp, capsys: pytest.CaptureFixture[str]):
    busy_id, _ = fake.add_recurring_run("bigtrain-demo-schedule", namespace="ml", active_run="RUNNING")

    assert main(["schedule", "--delete", "bigtrain-demo-schedule", "--namespace", "ml", "--host", fake.url]) == 0
    out = capsys.readouterr().out
    assert f"disabled recurring run bigtrain-demo-schedule ({busy_id})" in out
    assert f"kept recurring run bigtrain-demo-schedule ({busy_id}) disabled, not deleted" in out
    assert fake.recurring_runs[busy_id]["status"] == "DISABLED" and fake.killed_runs == []

    assert main(["schedule", "--delete", "nothing-by-that-name", "--namespace", "ml", "--host", fake.url]) == 2
    assert capsys.readouterr().err.startswith("bigtrain: error: --delete 'nothing-by-that-name': no recurring run")


def test_cli_schedule_without_cron_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    assert main(["schedule", "--config", str(DEMO_CONFIG), "--host", "http://127.0.0.1:9"]) == 2
    assert "give --config and --cron" in capsys.readouterr().err
