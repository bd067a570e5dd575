"""``bigtrain schedule``: scheduled retraining as a KFP recurring run, replaced safely when the config changes.

KFP cannot update a recurring run, and deleting one deletes (kills) the run it has in flight. So a replacement
goes: publish the new pipeline version → create the new recurring run, enabled → disable every older recurring
run of the same name → delete each old one that has no active run (PENDING, RUNNING, CANCELING, PAUSED). An old
one that is still busy stays disabled, and the next ``schedule`` (or ``schedule --delete``) deletes it.

Between disabling and checking for active runs we wait ``SETTLE_S`` seconds: a run the old schedule started just
before it was disabled reaches the API only when KFP's persistence agent reports its workflow.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import kfp_server_api

from pipelines.cluster_config import ClusterConfig
from pipelines.config import RunConfig
from pipelines.kubeflow.client import KfpApi, KfpError, connect, equals_filter
from pipelines.kubeflow.submit import Published, Target, compile_package, describe_published, publish, target_for

SETTLE_S = 5.0
MAX_CONCURRENCY = (1, 10)  # the range the KFP API server accepts
_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {4: {m: i + 1 for i, m in enumerate(_MONTHS)}, 5: {d: i for i, d in enumerate(_DAYS)}}


def namespace_for(config: RunConfig | None, namespace: str | None) -> str:
    """``--namespace``, else the config's ``cluster.namespace``, else the ``cluster:`` default."""
    if namespace:
        return namespace
    if config is not None and config.cluster is not None:
        return config.cluster.namespace
    return str(ClusterConfig.model_fields["namespace"].default)


def schedule_name(config_name: str) -> str:
    """The recurring run's name: fixed per config, so a new ``schedule`` finds and replaces the old one."""
    return f"bigtrain-{config_name}-schedule"


def _value(text: str, index: int) -> int | None:
    if text.isdigit():
        value = int(text)
        return value if _FIELDS[index][1] <= value <= _FIELDS[index][2] else None
    return _NAMES.get(index, {}).get(text.upper())


def _valid_field(text: str, index: int) -> bool:
    for part in text.split(","):
        base, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            return False
        if base in ("*", "?"):
            continue
        low, dash, high = base.partition("-")
        first, last = _value(low, index), _value(high, index) if dash else _value(low, index)
        if first is None or last is None or first > last:
            return False
    return True


def validate_cron(expression: str) -> str:
    """The expression, normalised, if it is KFP's 6-field cron (seconds first); else ValueError naming --cron.

    A 5-field Unix cron is rejected on purpose: KFP would read ``0 2 * * *`` as "second 0 of minute 2 of every
    hour", not "02:00 daily".
    """
    fields = expression.split()
    if len(fields) != 6:
        raise ValueError(
            f"--cron {expression!r}: KFP needs 6 fields, seconds first (second minute hour day-of-month month "
            f"day-of-week), e.g. '0 0 2 * * *' for 02:00 every day; got {len(fields)} field(s)"
        )
    for index, text in enumerate(fields):
        if not _valid_field(text, index):
            name, low, high = _FIELDS[index]
            raise ValueError(f"--cron {expression!r}: {name} field {text!r} is not valid ({low}-{high}, *, ?, a-b, /n)")
    return " ".join(fields)


def validate_max_concurrency(value: int) -> int:
    """``value`` if KFP accepts it as max concurrency, else ValueError naming --max-concurrency."""
    low, high = MAX_CONCURRENCY
    if not low <= value <= high:
        raise ValueError(f"--max-concurrency {value}: KFP accepts {low} to {high}")
    return value


def is_enabled(recurring_run: kfp_server_api.V2beta1RecurringRun) -> bool:
    """Whether the recurring run still starts runs."""
    status = str(recurring_run.status or "")
    return status == "ENABLED" if status in ("ENABLED", "DISABLED") else str(recurring_run.mode) == "ENABLE"


@dataclass
class Retirement:
    """What happened to the old recurring runs: ids disabled now, deleted, and kept (busy) with their active runs."""

    disabled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    busy: dict[str, list[str]] = field(default_factory=dict)


def retire(
    api: KfpApi,
    olds: Sequence[kfp_server_api.V2beta1RecurringRun],
    *,
    out: TextIO,
    settle_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Retirement:
    """Disable every recurring run in ``olds``, then delete each one that has no active run."""
    done = Retirement()
    for old in olds:
        if is_enabled(old):
            api.disable_recurring_run(old.recurring_run_id)
            done.disabled.append(old.recurring_run_id)
            out.write(f"bigtrain: disabled recurring run {old.display_name} ({old.recurring_run_id})\n")
    settle_s = SETTLE_S if settle_s is None else settle_s
    if olds and settle_s > 0:
        sleep(settle_s)
    for old in olds:
        active = api.active_runs(old.recurring_run_id)
        if active:
            done.busy[old.recurring_run_id] = [run.run_id for run in active]
            runs = ", ".join(f"{run.run_id} ({run.state})" for run in active)
            out.write(
                f"bigtrain: kept recurring run {old.display_name} ({old.recurring_run_id}) disabled, not deleted: "
                f"its run {runs} is still active and deleting would kill it; the next `bigtrain schedule` or "
                f"`bigtrain schedule --delete {old.recurring_run_id}` deletes it after the run ends\n"
            )
        else:
            api.delete_recurring_run(old.recurring_run_id)
            done.deleted.append(old.recurring_run_id)
            out.write(f"bigtrain: deleted recurring run {old.display_name} ({old.recurring_run_id})\n")
    out.flush()
    return done


def replace_schedule(
    api: KfpApi,
    published: Published,
    target: Target,
    *,
    name: str,
    cron: str,
    max_concurrency: int,
    no_catchup: bool,
    out: TextIO,
    settle_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[kfp_server_api.V2beta1RecurringRun, Retirement]:
    """Create the recurring run ``name`` for ``published`` (enabled), then retire the older ones of that name."""
    cron = validate_cron(cron)
    validate_max_concurrency(max_concurrency)
    olds = api.recurring_runs(equals_filter("display_name", name))
    experiment_id = api.ensure_experiment(target.experiment)
    new = api.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        description=f"bigtrain scheduled retraining: {target.pipeline_name} version {published.version_name}",
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=no_catchup,
        pipeline_id=published.pipeline_id,
        version_id=published.version_id,
        enabled=True,
        service_account=target.service_account,
    )
    out.write(
        f"bigtrain: created recurring run {name} ({new.recurring_run_id}), enabled: cron '{cron}', max concurrency "
        f"{max_concurrency}, catchup {'off' if no_catchup else 'on'}, experiment {target.experiment}, "
        f"service account {target.service_account}\n"
    )
    olds = [old for old in olds if old.recurring_run_id != new.recurring_run_id]
    try:
        return new, retire(api, olds, out=out, settle_s=settle_s, sleep=sleep)
    except KfpError as error:
        ids = ", ".join(old.recurring_run_id for old in olds)
        raise KfpError(
            f"{error} (the new recurring run {new.recurring_run_id} is enabled; old one(s) {ids} may be enabled too: "
            "check `bigtrain schedule --list`, then `bigtrain schedule --delete ID`)"
        ) from None


def delete_schedule(
    api: KfpApi,
    name_or_id: str,
    *,
    out: TextIO,
    settle_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Retirement:
    """Disable, then delete when idle, every recurring run named ``name_or_id`` (or with that id)."""
    found = api.recurring_runs(equals_filter("display_name", name_or_id)) or api.recurring_runs(
        equals_filter("recurring_run_id", name_or_id)
    )
    if not found:
        raise ValueError(f"--delete {name_or_id!r}: no recurring run has that name or id in namespace {api.namespace}")
    return retire(api, found, out=out, settle_s=settle_s, sleep=sleep)


def describe_trigger(recurring_run: kfp_server_api.V2beta1RecurringRun) -> str:
    """``0 0 2 * * *`` for a cron trigger, ``every 3600 s`` for a periodic one."""
    trigger = recurring_run.trigger
    if trigger and trigger.cron_schedule and trigger.cron_schedule.cron:
        return trigger.cron_schedule.cron
    if trigger and trigger.periodic_schedule and trigger.periodic_schedule.interval_second:
        return f"every {trigger.periodic_schedule.interval_second} s"
    return "-"


def format_schedules(recurring_runs: Sequence[kfp_server_api.V2beta1RecurringRun]) -> str:
    """A table: name, cron, enabled, max concurrency, id."""
    rows = [("NAME", "CRON", "ENABLED", "MAX CONCURRENCY", "ID")]
    rows += [
        (
            rr.display_name or "",
            describe_trigger(rr),
            "yes" if is_enabled(rr) else "no",
            str(rr.max_concurrency or "-"),
            rr.recurring_run_id or "",
        )
        for rr in recurring_runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows
    )


def schedule(
    config: RunConfig,
    host: str | None,
    *,
    cron: str,
    image: str | None = None,
    max_concurrency: int = 1,
    no_catchup: bool = False,
    experiment: str | None = None,
    namespace: str | None = None,
    settle_s: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``bigtrain schedule``: compile, publish a new version, replace the config's recurring run. Exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    cron = validate_cron(cron)
    validate_max_concurrency(max_concurrency)
    target = target_for(config, namespace, experiment)
    with tempfile.TemporaryDirectory(prefix="bigtrain-schedule-") as directory:
        package = compile_package(config, Path(directory), image, err)
        api = connect(host, target.namespace)
        published = publish(api, package, target.pipeline_name, datetime.now(UTC))
    out.write(describe_published(published, target.pipeline_name) + "\n")
    replace_schedule(
        api,
        published,
        target,
        name=schedule_name(config.name),
        cron=cron,
        max_concurrency=max_concurrency,
        no_catchup=no_catchup,
        out=out,
        settle_s=settle_s,
    )
    return 0


def list_command(host: str | None, namespace: str, out: TextIO | None = None) -> int:
    """``bigtrain schedule --list``."""
    out = out or sys.stdout
    found = connect(host, namespace).recurring_runs()
    out.write((format_schedules(found) if found else f"bigtrain: no recurring runs in namespace {namespace}") + "\n")
    return 0


def delete_command(
    host: str | None, namespace: str, name_or_id: str, *, settle_s: float | None = None, out: TextIO | None = None
) -> int:
    """``bigtrain schedule --delete NAME_OR_ID``. Exit 0 also when a busy one was only disabled (it says so)."""
    out = out or sys.stdout
    delete_schedule(connect(host, namespace), name_or_id, out=out, settle_s=settle_s)
    return 0
