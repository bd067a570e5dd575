"""Write ``docs/reliability.md`` from the fault suites' own tables: ``python -m tests.fault.reliability_table >
docs/reliability.md``. ``tests/fault/test_hostile_input.py`` checks the file is what this prints."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from tests.fault.test_corrupt_artifacts import OUTCOMES
from tests.fault.test_hostile_input import CASES, EXIT_FAILED, EXIT_USAGE, INGEST_CLI, RUN_CLI

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

`tests/fault/test_interrupt_run.py` (real `bigtrain run` processes, real signals),
`tests/fault/test_process_guard.py` and `tests/fault/test_worker_kill.py` (two real local training workers):
"""
STOPPING = (
    ("SIGINT (Ctrl-C) during ingest", "one line naming the step, exit 130, summary `interrupted`, no process left"),
    (
        "SIGKILL of the CLI alone during train",
        "every step process of the run stops (die-with-parent, a watchdog in its own session, the run's lease polled "
        "by each step); no version published",
    ),
    (
        "SIGINT, and SIGKILL of the whole process group, while push is about to publish",
        "push re-checks the run's lease right before the atomic rename and refuses: no version, no temp dir",
    ),
    (
        "rerun after each of these",
        "completes, reusing the steps that had finished (cached), with the same row counts; nothing stale blocks it",
    ),
    ("SIGTERM", "as SIGINT, exit 143"),
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

`tests/fault/test_disk_faults.py`. Running as root, permissions deny nothing, so the registry's faults are injected at
the write call (`ENOSPC`, `EACCES`), plus one real full tmpfs where the test may mount one:
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
