"""The process guard, with real processes and signals: a step dies with its run; a dead run publishes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.process_guard import LEASE_ENV, RunGoneError, held_lease, run_alive
from components.push.registry import TEMP_PREFIX, list_versions, publish
from tests.fault.procs import processes_naming, survivors
from tests.unit.test_registry import make_model

REPO = Path(__file__).resolve().parents[2]

# A stand-in for `bigtrain run`: holds the lease, exports it, starts a "step" that arms the guard (as every step
# does first thing) and starts a grandchild in a session of its own (as train workers do); prints the pids.
_CLI = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from components.process_guard import LEASE_ENV, held_lease, start_watchdog
    lease = sys.argv[1]
    with held_lease(Path(lease)):
        os.environ[LEASE_ENV] = lease
        watchdog = start_watchdog(lease) if sys.argv[2] == "watchdog" else None
        step = subprocess.Popen([sys.executable, "-c", sys.argv[3], lease])
        time.sleep(3600)
    """
)
_STEP = textwrap.dedent(
    """
    import subprocess, sys, time
    from components.process_guard import guard_step
    assert guard_step()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", sys.argv[1]], start_new_session=True)
    print("armed", flush=True)
    time.sleep(3600)
    """
)


def _start_cli(tmp_path: Path, watchdog: bool) -> tuple[subprocess.Popen[str], str]:
    lease = str(tmp_path / ".lease")
    cli = subprocess.Popen(
        [sys.executable, "-c", _CLI, lease, "watchdog" if watchdog else "none", _STEP],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert cli.stdout is not None
    assert cli.stdout.readline().strip() == "armed"
    return cli, lease


def test_sigkill_of_the_cli_alone_stops_the_step_and_its_grandchildren(tmp_path):
    cli, lease = _start_cli(tmp_path, watchdog=True)
    assert run_alive(lease)
    running = " | ".join(command for pid, command in processes_naming(lease).items() if pid != cli.pid)
    assert "guard_step" in running and "time.sleep(3600)" in running and "process_guard" in running, running
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait()
    assert not run_alive(lease)
    assert survivors(lease) == {}


def test_without_the_watchdog_the_step_still_dies_with_the_cli(tmp_path):
    cli, lease = _start_cli(tmp_path, watchdog=False)
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait()
    left = survivors(lease, settle_s=2)
    try:
        # PR_SET_PDEATHSIG kills the step itself at once, before its lease watcher could stop the grandchild:
        # stopping what a step started is the watchdog's job (test above).
        assert [command for command in left.values() if "guard_step" in command] == []
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)


def test_sigkill_of_the_cli_process_group_leaves_nothing(tmp_path):
    cli, lease = _start_cli(tmp_path, watchdog=True)
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait()
    assert survivors(lease) == {}


def test_a_step_of_a_dead_run_exits_at_once(tmp_path):
    lease = tmp_path / ".lease"
    lease.touch()  # nobody holds it
    code = "from components.process_guard import guard_step; guard_step(); print('ran on')"
    env = {**os.environ, LEASE_ENV: str(lease)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 137 and "ran on" not in done.stdout


def test_run_alive_follows_the_lease_holder(tmp_path):
    lease = tmp_path / ".lease"
    assert not run_alive(str(lease))  # no lease file: no run
    with held_lease(lease):
        assert run_alive(str(lease))
    assert not run_alive(str(lease))


def test_outside_a_local_run_the_guard_does_nothing(monkeypatch):
    from components.process_guard import guard_step, require_run_alive

    monkeypatch.delenv(LEASE_ENV, raising=False)
    assert run_alive() and not guard_step()
    require_run_alive("publishing")  # no error: on Kubeflow there is no CLI to outlive


def test_push_of_a_dead_run_publishes_nothing_and_leaves_no_temp_dir(tmp_path, monkeypatch):
    code = "import sys, time\nfrom pathlib import Path\nfrom components.process_guard import held_lease\n"
    code += "with held_lease(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(3600)"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / ".lease")], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    monkeypatch.setenv(LEASE_ENV, str(tmp_path / ".lease"))
    serving = tmp_path / "serving"
    facts = {"metrics": {"auc": 0.8}, "config_hash": "c", "data_fingerprint": "d", "code_version": "v"}
    assert publish(make_model(tmp_path / "m1", 1), serving, "demo", **facts).entry.version == 1  # run alive

    holder.kill()  # the CLI dies while its push is still copying
    holder.wait()
    with pytest.raises(RunGoneError, match="bigtrain run"):
        publish(make_model(tmp_path / "m2", 2), serving, "demo", **facts)
    assert [entry.version for entry in list_versions(serving, "demo")] == [1]
    assert sorted(p.name for p in (serving / "demo").iterdir() if p.name.startswith(TEMP_PREFIX)) == []
    assert not (serving / "demo" / "2").exists()
