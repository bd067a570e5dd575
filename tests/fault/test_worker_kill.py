"""Multi-worker training loses a worker: two real local workers (MultiWorkerMirroredStrategy) on one request. The
non-chief is SIGKILLed right after the first backup, then, in the rerun, the chief right after the rerun's own backup.
Each time the launcher names the killed worker and stops the other, and nothing is exported; each rerun of the same
request resumes from the latest backup (Keras BackupAndRestore in ``backup_dir``), and the last one exports one model.

The launcher is a real process too: a tiny driver calling ``components.train.launch.train_locally``, as the train step
does. Its workers run in sessions of their own, so they are found in /proc by a tag in their inherited environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from components.train.request import TrainRequest
from components.train.settings import TrainingSettings
from tests.fault.procs import MARK_ENV, processes_naming, survivors
from tests.train_requests import demo_request

pytestmark = pytest.mark.slow
EPOCHS = 4  # backups after epochs 1 and 2 are where the kills land; two epochs and the export are still to come
WORKER_MODULE = "components.train.main"
_DRIVER = textwrap.dedent(
    """
    import sys
    from components.train.launch import train_locally
    from components.train.request import TrainRequest

    train_locally(TrainRequest.read(sys.argv[1]))
    """
)
_EPOCH_LINE = re.compile(r"^\[worker-(\d)\] Epoch (\d+)/\d+$")
_STATE_LINE = re.compile(r'^model_checkpoint_path: "([^"]+)"$', re.MULTILINE)


def _request(preprocessed, demo_config, root: Path) -> TrainRequest:
    training = TrainingSettings.model_validate(
        {
            **demo_config.training.model_dump(),
            "epochs": EPOCHS,
            "batch_size": 16,
            "early_stopping_patience": 100,  # every epoch runs: the rerun's epoch count is known
            "workers": 2,
            "warm_start": False,
        }
    )
    return demo_request(preprocessed, demo_config, root, training)


class _Launch:
    """One run of the driver, its output in files (a full pipe would stall the workers)."""

    def __init__(self, root: Path, name: str) -> None:
        self.stdout = root / f"{name}.out"
        self.stderr = root / f"{name}.err"
        env = {**os.environ, MARK_ENV: str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.pop("TF_CONFIG", None)
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _DRIVER, str(root / "request.json")], env=env, stdout=out, stderr=err
            )

    def finish(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # the launcher stops its workers on SIGTERM
            self.process.wait(timeout=30)
            pytest.fail(f"the launcher did not finish in {timeout:g} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def _worker_pid(root: Path, index: int) -> int:
    """The pid of worker ``index`` of the run tagged ``root`` (its TF_CONFIG's task index)."""
    for pid, command in processes_naming(str(root)).items():
        if WORKER_MODULE not in command:
            continue
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        tf_config = next((v.split(b"=", 1)[1] for v in environ if v.startswith(b"TF_CONFIG=")), None)
        if tf_config and json.loads(tf_config)["task"]["index"] == index:
            return pid
    raise AssertionError(f"no worker {index} running")


def _backup(backup: Path) -> str | None:
    """The checkpoint the chief's backup state names, once complete. TF writes a checkpoint's data and index first
    and the ``checkpoint`` state file naming it last: killing before that would be a different fault (mid-backup)."""
    chief = backup / "chief"  # BackupAndRestore under MultiWorkerMirroredStrategy: every worker restores from here
    with contextlib.suppress(FileNotFoundError):
        if match := _STATE_LINE.search((chief / "checkpoint").read_text()):
            name = match.group(1)
            return name if (chief / f"{name}.index").is_file() else None
    return None


def _wait_for_new_backup(launch: _Launch, backup: Path, previous: str | None) -> None:
    """Wait until the chief has completed a backup other than ``previous``."""
    deadline = time.monotonic() + 180
    while _backup(backup) in (None, previous):
        assert launch.process.poll() is None, "training ended before a new backup:\n" + launch.output()[-3000:]
        assert time.monotonic() < deadline, "no new backup after 180 s"
        time.sleep(0.05)


def _first_epochs(output: str) -> dict[int, int]:
    """The first epoch each worker started (Keras prints ``Epoch k/N``, k counted from 1)."""
    first: dict[int, int] = {}
    for line in output.splitlines():
        if match := _EPOCH_LINE.match(line.strip()):
            first.setdefault(int(match.group(1)), int(match.group(2)))
    return first


def _saved_models(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("saved_model.pb"))


@pytest.fixture
def reaper(tmp_path: Path):
    """After the test, SIGKILL what is left of its own run (only when an assertion failed: a passing test leaves
    nothing), so a failure does not leave training processes behind."""
    yield
    for pid in survivors(str(tmp_path), settle_s=0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _kill_after_a_new_backup(root: Path, name: str, victim: int) -> _Launch:
    """Launch the request, SIGKILL worker ``victim`` once the chief completed a new backup, and check the failure:
    the launcher names the killed worker, stops the other one, and nothing is exported."""
    previous = _backup(root / "backup")
    launch = _Launch(root, name)
    _wait_for_new_backup(launch, root / "backup", previous)
    os.kill(_worker_pid(root, victim), signal.SIGKILL)
    assert launch.finish(timeout=120) == 1, launch.output()[-3000:]
    last = launch.stderr.read_text().strip().splitlines()[-1:]
    expected = rf"components\.train\.workers\.WorkerFailed: worker {victim} of 2 failed \(signal SIGKILL\): "
    assert last and re.match(expected, last[0]), launch.output()[-3000:]
    assert survivors(str(root)) == {}, "a worker outlived the failed run"
    assert _saved_models(root) == []
    assert _backup(root / "backup") is not None, "the failed run left no backup to resume from"
    return launch


def test_a_killed_worker_stops_the_run_and_the_rerun_resumes(tmp_path: Path, preprocessed, demo_config, reaper):
    _request(preprocessed, demo_config, tmp_path).write(tmp_path / "request.json")
    backup = tmp_path / "backup"

    # 1. The non-chief (worker 1) is killed after the first backup.
    _kill_after_a_new_backup(tmp_path, "first", victim=1)
    # 2. The rerun resumes (both workers start past epoch 1); the chief is killed after the rerun's own backup.
    second = _kill_after_a_new_backup(tmp_path, "second", victim=0)
    started = _first_epochs(second.stdout.read_text())
    assert set(started) == {0, 1} and started[0] == started[1] >= 2, started

    # 3. The next rerun resumes from the second run's backup and finishes.
    last = _Launch(tmp_path, "last")
    assert last.finish(timeout=300) == 0, last.output()[-3000:]
    result = json.loads((tmp_path / "logs" / "result.json").read_text())
    resumed = result["resumed_from_epoch"]
    assert resumed >= started[0], f"resumed from epoch {resumed}, not from the second run's backup"
    assert (result["epochs_run"], result["workers"], result["chief"]) == (EPOCHS, 2, True)
    # Both workers restored the chief's backup: each started at the epoch after it (their steps must match).
    assert _first_epochs(last.stdout.read_text()) == {0: resumed + 1, 1: resumed + 1}
    assert _saved_models(tmp_path) == ["model/saved_model.pb"]
    assert not backup.exists() or not any(backup.iterdir()), "a finished run leaves no backup behind"
    assert survivors(str(tmp_path)) == {}
