"""Write ``docs/reliability.md`` from the fault suites' own tables: ``python -m tests.fault.reliability_table >
docs/reliability.md``. ``tests/fault/test_hostile_input.py`` checks the file is what this prints."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable, Sequence

from tests.fault.test_corrupt_artifacts import OUTCOMES
from tests.fault.test_disk_full_run import FULL_AFTER_PREPROCESS, FULL_IN_INGEST
from tests.fault.test_hostile_input import CASES, EXIT_FAILED, EXIT_USAGE, INGEST_CLI, RUN_CLI
from tests.fault.test_interrupt_run import STOPS, Stop

DOC = "docs/reliability.md"
COMMAND = "python -m tests.fault.reliability_table > docs/reliability.md"

INTRO = f"""# Reliability

What bigtrain does with broken input and corrupted artifacts, as its fault suite tries them. Generated from the tests'
own tables by `{COMMAND}` (a test fails when this file differs); run the suites with
`pytest -m slow tests/fault`.

## Hostile and broken input

Each file of `tests/data/bad/` (written by `tests/data/bad/make_bad.py`, for the columns of
`tests/data/bad/columns.json`) goes through the standalone ingest command line, `{INGEST_CLI}`: the cheapest
end-to-end path that runs the same ingest job as `{RUN_CLI}`. An input either is read (every record ends in the
train, eval or test split, or in the quarantine with the kind of its rejection and its file and record number), or
stops the run before any row is read: exit {EXIT_USAGE} and one line, `<file>: <problem>`. The cases ingest cannot
judge alone (no data rows, one class only) and one header error also run the whole `{RUN_CLI}`: it stops at the
ingest step with exit {EXIT_USAGE} (stopped by its data, like a bad config; a pipeline failure exits {EXIT_FAILED})
and one `bigtrain:` line ending in the same message; nothing is published. No case prints a traceback.

**Nothing is lost where rows are read**: for every case that reads rows, the file's record count equals
train + eval + test + quarantined (ingest itself fails the job when they differ), the quarantine holds exactly the
quarantined rows, each with its reason, and a quote left open keeps the lines it swallowed in the raw text of its
one quarantined record.
"""

ARTIFACTS = """
## Corrupted artifacts

Each is detected by the code that reads it, with one line naming the file rather than a trace from inside
TensorFlow (`tests/fault/test_corrupt_artifacts.py`).
"""


STOPPING_INTRO = """
## Stopping a run

`tests/fault/test_interrupt_run.py` stops one real `bigtrain run` after another in the middle of a step (once the
step's own work is under way, told by a line its libraries log), in this order, with real signals;
`tests/fault/test_process_guard.py` covers the guard's parts, and `tests/fault/test_worker_kill.py` two real local
training workers:
"""


def _stop_outcome(stop: Stop) -> str:
    if stop.signum == signal.SIGKILL and stop.step == "push":
        return (
            "push, held right before publishing, re-checks the run's lease before the atomic rename and refuses: "
            "no version, no temp dir, no process left"
        )
    if stop.signum == signal.SIGKILL:
        return (
            "every step process of the run stops (die-with-parent, a watchdog in its own session, the run's lease "
            "polled by each step): no process left, nothing published"
        )
    return (
        f"one line `interrupted by {stop.signum.name} during {stop.step}`, exit {128 + stop.signum}, summary marked "
        "`interrupted`, no process left, nothing published"
    )


STOPPING = (
    *((str(stop), _stop_outcome(stop)) for stop in STOPS),
    (
        "rerun after all of these",
        "completes, every step that had finished coming from the cache, with the same row counts; no lock, temp "
        "dir or half-written cache entry in its way; one version published",
    ),
    (
        "SIGKILL of one of two training workers (`training.workers: 2`) right after a backup: the non-chief, then "
        "the chief in the rerun",
        "the launcher stops the other worker and fails naming the killed one (`WorkerFailed: worker 1 of 2 failed "
        "(signal SIGKILL)`); nothing exported, no process left; each rerun resumes from the chief's latest backup, "
        "both workers at the same epoch, and the last one exports one model and leaves no backup",
    ),
)
CONCURRENT_INTRO = """
## Two runs at once

`tests/fault/test_concurrent_runs.py` (two real `bigtrain run`s on one pipeline root, and racing publishers):
"""
CONCURRENT = (
    (
        "two `bigtrain run`s of one config at once, same pipeline root and model name",
        "both finish (exit 0): kfp.local gives each run its own directory and writes cache entries atomically, and "
        "each run reports its own summary; the registry lock serializes the pushes: one or two complete versions, "
        "index = version directories, no temp dir",
    ),
    (
        "several processes publishing different models to one model name at once",
        "consecutive versions 1..n, each a whole copy of one model (its digest checked), index = version directories",
    ),
)
DISK_INTRO = """
## Disk full and permission denied

`tests/fault/test_disk_faults.py` and `tests/fault/test_disk_full_run.py`. Running as root, permissions deny nothing,
so the registry's faults are injected at the write call (`ENOSPC`, `EACCES`); disks fill for real on a small tmpfs
where the test may mount one:
"""
DISK = (
    (
        "serving root: disk full or permission denied while copying the model, making the temp dir, writing "
        "`bigtrain_version.json` or renaming into place (publish and rollback); a real full tmpfs",
        "`RegistryError: cannot publish to <serving_root>/<model>: No space left on device (<file>)`, one line "
        "(`bigtrain models rollback` exits 2 with it, a push step fails the run with it); no new version directory, "
        "no temp dir, index still valid; the next publish takes the next version",
    ),
    ("serving root cannot be created", "the same one line naming `<serving_root>/<model>`; nothing is created"),
    (
        "the index cannot be rewritten after the version is renamed into place",
        "the version is published (a warning is logged); the next read or publish rewrites the index",
    ),
    (
        "`bigtrain run --pipeline-root <file>/runs` (unwritable, even for root), or a full pipeline root",
        "exit 2, one line: `bigtrain: error: cannot write to pipeline root <path>: Not a directory (<the directory "
        "it tried to make>)`; no traceback, nothing run",
    ),
    (
        f"pipeline root on a real {FULL_IN_INGEST} tmpfs: full before ingest's outputs fit "
        "(`tests/fault/test_disk_full_run.py`)",
        "exit 1, one line naming the step and the disk: `... 'ingest' ... Cause: No space left on device (pipeline "
        "root <root>: 0.0 MiB free)`; the run's own log and summary, which live there too, are cut short with a line "
        "saying so, not a traceback; nothing published, no process left",
    ),
    (
        f"pipeline root on a real {FULL_AFTER_PREPROCESS} tmpfs: full when train writes its checkpoint; then space "
        "freed",
        "exit 1, one line: `... 'train' ... Cause: No space left on device writing <root>/_checkpoints/...`; "
        "nothing published; the rerun after freeing space takes ingest and preprocess from the cache and completes "
        "with the same row counts and one version",
    ),
)
OTHERS = """
## Security

`tests/security/`: no unsafe loader, pickle, `eval` or `shell=True` in project code; model names and versions
cannot escape the serving root (`../`, absolute paths, symlinked model or version directories); fake secrets planted
in the environment (KFP token, object-store keys, webhook URL) appear in no file a `compile` and a whole `run` write;
manifests and the Dockerfile pass checkov, each skipped check justified where it is skipped.

## Load

`bench/load.py` runs the whole local pipeline at 100k and 1M rows (results in `bench/README.md`): both complete on
2 cores; preprocess peak memory grows 1.13x for 10x the rows.
"""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole of docs/reliability.md."""
    inputs = _table(
        ("Input (`tests/data/bad/`)", "What is wrong", "Run through", "Outcome"),
        ((f"`{case.file}`", case.what, case.paths, case.outcome) for case in CASES),
    )
    artifacts = _table(("Artifact", "Corruption", "Read by", "Outcome"), OUTCOMES)
    stopping = _table(("Fault", "Outcome"), STOPPING)
    concurrent = _table(("Fault", "Outcome"), CONCURRENT)
    disk = _table(("Fault", "Outcome"), DISK)
    return (
        f"{INTRO}\n{inputs}{ARTIFACTS}\n{artifacts}{STOPPING_INTRO}\n{stopping}"
        f"{CONCURRENT_INTRO}\n{concurrent}{DISK_INTRO}\n{disk}{OTHERS}"
    )


if __name__ == "__main__":
    sys.stdout.write(render())
