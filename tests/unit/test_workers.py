"""Local worker processes: stand-in workers (tests/unit/fake_worker.py) for the process management, then one real
2-worker MultiWorkerMirroredStrategy run on the demo data."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from components.train import workers as workers_module
from components.train.request import TrainRequest
from components.train.settings import ModelSettings, TrainingSettings
from components.train.workers import WorkerFailed, WorkerTimeout, run_local_workers
from tests.conftest import default_sigint
from tests.train_requests import demo_request

REPO = Path(__file__).resolve().parents[2]
FAKE = "tests.unit.fake_worker"


def _request(root: Path, workers: int = 2, timeout: int = 60) -> TrainRequest:
    """A request for stand-in workers; ``timeout`` may be below the settings' minimum (model_copy skips checks)."""
    training = TrainingSettings(workers=workers).model_copy(update={"worker_timeout_seconds": timeout})
    return TrainRequest(
        transformed_dir=str(root / "transformed"),
        transform_graph_dir=str(root / "transform_graph"),
        columns={},
        model=ModelSettings(),
        training=training,
        model_dir=str(root / "model"),
        logs_dir=str(root / "logs"),
        backup_dir=str(root / "backup"),
    )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Configure the stand-in workers: ``fake({"0": "ok", "1": "fail"})``; returns a reader of their records."""
    records = tmp_path / "records"
    records.mkdir()
    monkeypatch.setenv("BIGTRAIN_FAKE_DIR", str(records))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))

    def configure(modes: dict[str, str]) -> Path:
        monkeypatch.setenv("BIGTRAIN_FAKE_WORKERS", json.dumps(modes))
        return records

    return configure


def _records(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("worker-*.json"))]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _assert_gone(pids: list[int], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)], "worker processes left running"


def test_success_starts_every_worker_with_its_own_tf_config(tmp_path: Path, fake) -> None:
    records = fake({"0": "ok", "1": "ok"})
    log = io.StringIO()
    result = run_local_workers(_request(tmp_path), worker_module=FAKE, log=log)
    assert (result.workers, result.chief, result.best_eval_auc) == (2, True, 0.75)
    found = _records(records)
    assert [r["tf_config"]["task"] for r in found] == [{"type": "worker", "index": i} for i in (0, 1)]
    cluster = found[0]["tf_config"]["cluster"]
    assert all(r["tf_config"]["cluster"] == cluster for r in found)
    hosts, ports = zip(*(address.split(":") for address in cluster["worker"]), strict=True)
    assert set(hosts) == {"127.0.0.1"} and len(set(ports)) == 2
    assert all(r["env"] == {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"} for r in found)
    assert all(r["pgid"] == r["pid"] for r in found), "each worker leads its own process group"
    lines = log.getvalue().splitlines()
    for index in (0, 1):
        assert f"[worker-{index}] fake worker {index} of 2: ok" in lines
        assert f"[worker-{index}] done" in lines
    request_file = found[0]["argv"][1]
    assert not os.path.exists(request_file) and not os.path.exists(os.path.dirname(request_file))
    _assert_gone([r["pid"] for r in found])


def test_a_failing_worker_stops_the_others_and_is_named(tmp_path: Path, fake) -> None:
    records = fake({"0": "hang", "1": "fail"})
    log = io.StringIO()
    started = time.monotonic()
    with pytest.raises(WorkerFailed) as failure:
        run_local_workers(_request(tmp_path), worker_module=FAKE, log=log)
    assert time.monotonic() - started < 10
    assert not isinstance(failure.value, WorkerTimeout)
    assert str(failure.value) == "worker 1 of 2 failed (exit 1): ValueError: boom"
    assert "[worker-1] Traceback (most recent call last):" in log.getvalue()
    _assert_gone([r["pid"] for r in _records(records)])


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers_module, "GRACE_SECONDS", 1.0)
    records = fake({"0": "stubborn", "1": "fail"})
    started = time.monotonic()
    with pytest.raises(WorkerFailed, match=r"^worker 1 of 2 failed \(exit 1\): ValueError: boom$"):
        run_local_workers(_request(tmp_path), worker_module=FAKE, log=io.StringIO())
    assert time.monotonic() - started < 8
    _assert_gone([r["pid"] for r in _records(records)])


def test_a_stopped_worker_is_ended_without_waiting_for_the_grace_period(tmp_path: Path, fake) -> None:
    records = fake({"0": "stopped", "1": "fail"})
    started = time.monotonic()
    with pytest.raises(WorkerFailed, match=r"^worker 1 of 2 failed"):
        run_local_workers(_request(tmp_path), worker_module=FAKE, log=io.StringIO())
    assert time.monotonic() - started < workers_module.GRACE_SECONDS
    _assert_gone([r["pid"] for r in _records(records)])


def test_a_silent_worker_is_stopped_by_the_timeout(tmp_path: Path, fake) -> None:
    # The run's own limit is the same, so the silent worker must be silent from its start to be the one named.
    records = fake({"0": "chatty", "1": "mute"})
    started = time.monotonic()
    with pytest.raises(WorkerTimeout) as timeout:
        run_local_workers(_request(tmp_path, timeout=2), worker_module=FAKE, log=io.StringIO(), poll_seconds=0.05)
    assert 2 <= time.monotonic() - started < 8
    message = str(timeout.value)
    assert message.startswith("worker 1 of 2 printed nothing for 2 s (training.worker_timeout_seconds)")
    assert message.endswith("Last lines: worker 1: (no output)")
    _assert_gone([r["pid"] for r in _records(records)])


def test_a_run_longer_than_the_timeout_is_stopped(tmp_path: Path, fake) -> None:
    records = fake({"0": "chatty", "1": "chatty"})
    with pytest.raises(WorkerTimeout, match=r"^workers 0, 1 of 2 still running after 2 s"):
        run_local_workers(_request(tmp_path, timeout=2), worker_module=FAKE, log=io.StringIO(), poll_seconds=0.05)
    _assert_gone([r["pid"] for r in _records(records)])


def test_a_chief_without_result_fails(tmp_path: Path, fake) -> None:
    fake({"0": "no-result", "1": "ok"})
    with pytest.raises(WorkerFailed, match=r"the chief \(worker 0\) exited 0 but wrote no .*result\.json"):
        run_local_workers(_request(tmp_path), worker_module=FAKE, log=io.StringIO())


def test_a_worker_module_that_does_not_exist_is_reported(tmp_path: Path, fake) -> None:
    fake({"0": "hang", "1": "hang"})
    with pytest.raises(
        WorkerFailed, match=r"^worker [01] of 2 failed \(exit 1\): .*No module named tests\.unit\.no_such"
    ):
        run_local_workers(_request(tmp_path), worker_module="tests.unit.no_such_worker", log=io.StringIO())


_LAUNCHER = textwrap.dedent(
    """
    import sys
    from components.train.request import TrainRequest
    from components.train.workers import run_local_workers

    run_local_workers(TrainRequest.read(sys.argv[1]), worker_module=sys.argv[2])
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_launcher_stops_its_workers(tmp_path: Path, fake, signum: signal.Signals) -> None:
    records = fake({"0": "hang", "1": "hang"})
    request_file = tmp_path / "request.json"
    _request(tmp_path).write(request_file)
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(request_file), FAKE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_records(records)) < 2 and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        found = _records(records)
        assert len(found) == 2, "the workers did not start"
        assert all(_alive(r["pid"]) for r in found)
        launcher.send_signal(signum)
        output, _ = launcher.communicate(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGINT), output
    assert "[worker-0] fake worker 0 of 2: hang" in output
    _assert_gone([r["pid"] for r in found])
    assert not os.path.exists(found[0]["argv"][1]), "the temp request file was left behind"


def _worker_save_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("bigtrain-worker-save-*")}


@pytest.mark.slow
def test_two_real_workers_train_and_only_the_chief_exports(tmp_path: Path, preprocessed, demo_config) -> None:
    _, stats, _ = preprocessed
    training = TrainingSettings.model_validate(
        {**demo_config.training.model_dump(), "epochs": 2, "batch_size": 64, "workers": 2, "warm_start": False}
    )
    request = demo_request(preprocessed, demo_config, tmp_path, training)
    save_dirs_before = _worker_save_dirs()
    log = io.StringIO()
    started = time.monotonic()
    try:
        result = run_local_workers(request, log=log)
    except WorkerFailed:
        print(log.getvalue()[-20_000:])
        raise
    seconds = time.monotonic() - started
    print(f"2 real workers: {seconds:.1f} s, best eval AUC {result.best_eval_auc:.3f}")
    assert (result.workers, result.chief) == (2, True)
    assert result.best_eval_auc > 0.55
    assert result.train_examples_per_epoch == stats.train
    text = log.getvalue()
    assert "[worker-0] " in text and "[worker-1] " in text
    saved = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("saved_model.pb"))
    assert saved == ["model/saved_model.pb"]
    assert _worker_save_dirs() - save_dirs_before == set(), "a non-chief worker's export was left behind"
    assert json.loads((tmp_path / "logs" / "result.json").read_text())["workers"] == 2
