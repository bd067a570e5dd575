"""The demo pipeline's cold wall time and per-step time, this checkout against a base checkout, back to back.

``.venv/bin/python bench/pipeline.py [--base /tmp/wt-base] [--skip-current]``

Each run is ``python -m pipelines.cli run`` (what ``bigtrain run`` calls) on ``pipelines/configs/demo.yaml`` copied
into a fresh temp dir, with a fresh ``--pipeline-root`` and ``push.serving_root`` there and ``data.source`` set to the
absolute ``data/demo/*.csv`` of this checkout (``make demo`` writes it), so both checkouts read the same data and
every step runs (cold). The base runs with cwd and PYTHONPATH set to its checkout. Before the first timed run,
``import tensorflow`` runs once so neither run pays a cold page cache for the libraries.

Measured per run: wall seconds from process start to exit, memory (bench/measure.py: the sampled peak of the run's
process tree, and the largest single process), and per step from the run's ``--summary`` JSON
(``steps.{name}.seconds``).
Each step's seconds are split three ways:

* **launch**: from the runner's ``Executing task`` line to the step process's first ``[KFP Executor ...]`` line in
  the run's ``bigtrain.log`` (both timestamped): starting Python and the KFP executor.
* **imports**: ``python -c "import kfp.dsl, <the modules the step's function imports>"`` minus ``python -c "import
  kfp.dsl"``, best of 2, in the same checkout and environment (TF_USE_LEGACY_KERAS=1, and _KFP_RUNTIME=true as the
  step's command line sets it, which keeps kfp.dsl light). The modules are read from the component function's own
  import statements (``pipelines.dag.COMPONENTS``); a library that imports more lazily (inside a function), or a
  step that starts another Python process (train, push's serving check), pays more than this, and that shows up as
  work.
* **work**: the rest (seconds − launch − imports).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from measure import run_measured

from pipelines.cluster_config import CLUSTER_STEPS

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEMO_DATA = REPO / "data" / "demo" / "*.csv"
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RUNNER_LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d+) - INFO - (?:Executing task '([\w-]+)'|Task '([\w-]+)' finished)"
)
_EXECUTOR_LINE = re.compile(r"\[KFP Executor \d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d),(\d+) ")
_STEP_IMPORTS = """
import ast, inspect, json, textwrap
from pipelines.dag import COMPONENTS
out = {}
for step, func in COMPONENTS.items():
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    out[step] = sorted(names)
print(json.dumps(out))
"""


@dataclass
class PipelineRun:
    """One cold run of one checkout."""

    label: str
    seconds: float
    peak_mb: float  # the process tree's sampled peak (the runner and the step running)
    max_proc_mb: float  # the largest single process (ru_maxrss)
    ok: bool
    steps: dict[str, dict] = field(default_factory=dict)  # name -> seconds, cached, launch, imports, work
    note: str = ""


def _env(checkout: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(checkout), **TASK_ENV)


def _seconds_of_day(hours: str, minutes: str, seconds: str, fraction: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + float(f"0.{fraction}")


def launch_seconds(log: Path) -> dict[str, float]:
    """Per step: seconds from the runner's ``Executing task`` line to the step's first executor log line."""
    started: dict[str, float] = {}
    current: str | None = None
    launch: dict[str, float] = {}
    for raw in log.read_text(errors="replace").splitlines():
        line = _ANSI.sub("", raw)
        if match := _RUNNER_LINE.match(line):
            if match.group(5):
                current = match.group(5)
                started[current] = _seconds_of_day(*match.groups()[:4])
            else:
                current = None
        elif current is not None and current not in launch and (match := _EXECUTOR_LINE.search(line)):
            launch[current] = (_seconds_of_day(*match.groups()) - started[current]) % 86400
    return launch


def step_imports(checkout: Path) -> dict[str, list[str]]:
    """The modules each step's component function imports (read from its source in that checkout)."""
    result = subprocess.run(
        [PYTHON, "-c", _STEP_IMPORTS], cwd=checkout, env=_env(checkout), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def import_seconds(checkout: Path, modules: list[str], repeats: int = 2) -> float:
    """Best-of-``repeats`` wall seconds of importing ``modules`` after ``kfp.dsl`` (which the launch already pays)."""

    def best(statement: str) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            env = dict(_env(checkout), _KFP_RUNTIME="true")  # as the step's command line sets it
            subprocess.run([PYTHON, "-c", statement], cwd=checkout, env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        return min(times)

    if not modules:
        return 0.0
    return max(0.0, best("import kfp.dsl; " + "; ".join(f"import {m}" for m in modules)) - best("import kfp.dsl"))


def cold_run(label: str, checkout: Path, work: Path) -> PipelineRun:
    """One ``bigtrain run`` of the demo config with fresh roots; wall time, peak RSS and per-step seconds."""
    work.mkdir(parents=True)
    config = yaml.safe_load((REPO / "pipelines" / "configs" / "demo.yaml").read_text())
    config["push"]["serving_root"] = str(work / "serving")
    config["data"]["source"] = str(DEMO_DATA)
    config_path = work / "demo.yaml"
    config_path.write_text(yaml.safe_dump(config))
    summary_path = work / "summary.json"
    command = [PYTHON, "-m", "pipelines.cli", "run", "--config", str(config_path)]
    command += ["--pipeline-root", str(work / "runs"), "--summary", str(summary_path)]
    m = run_measured(command, checkout, _env(checkout), work / "stdout.log")
    if not summary_path.is_file():
        return PipelineRun(label, m.seconds, m.tree_peak_mb, m.max_rss_mb, False, note=f"exit {m.returncode}: {work}")
    summary = json.loads(summary_path.read_text())
    launch = launch_seconds(Path(summary["log"]))
    imports = step_imports(checkout)
    steps = {}
    for name, step in summary["steps"].items():
        entry = {"seconds": step["seconds"], "cached": step["cached"]}
        if not step["cached"]:
            entry["launch"] = launch.get(name, 0.0)
            entry["imports"] = import_seconds(checkout, imports.get(name, []))
            entry["work"] = max(0.0, step["seconds"] - entry["launch"] - entry["imports"])
        steps[name] = entry
    note = "" if summary.get("ok") else f"failed: {summary.get('error')}"
    return PipelineRun(label, m.seconds, m.tree_peak_mb, m.max_rss_mb, bool(summary.get("ok")), steps, note)


def print_runs(runs: list[PipelineRun]) -> None:
    names = list(dict.fromkeys(name for run in runs for name in run.steps))
    order = list(CLUSTER_STEPS)
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    columns = "".join(f"{run.label + ' s':>12} {'launch':>7} {'imports':>8} {'work':>7}" for run in runs)
    header = f"{'step':<18}{columns}"
    print("\n" + header)
    print("-" * len(header))
    for name in names:
        cells = []
        for run in runs:
            step = run.steps.get(name)
            if step is None:
                cells.append(f"{'-':>12} {'':>7} {'':>8} {'':>7}")
            elif step["cached"]:
                cells.append(f"{'cached':>12} {'':>7} {'':>8} {'':>7}")
            else:
                seconds, launch, imports, work = (step[k] for k in ("seconds", "launch", "imports", "work"))
                cells.append(f"{seconds:12.1f} {launch:7.2f} {imports:8.1f} {work:7.1f}")
        print(f"{name:<18}" + "".join(cells))
    print("-" * len(header))
    for run in runs:
        total = sum(step["seconds"] for step in run.steps.values())
        state = "ok" if run.ok else run.note
        peak = f"peak RSS {run.peak_mb:.0f} MB (largest process {run.max_proc_mb:.0f} MB)"
        print(f"{run.label}: wall {run.seconds:.1f} s (steps sum {total:.1f} s), {peak}, {state}")
    if len(runs) == 2 and all(run.ok for run in runs):
        print(f"ratio {runs[0].label}/{runs[1].label} of the wall time: {runs[0].seconds / runs[1].seconds:.2f}x")


def main() -> None:
    """Warm the page cache, then cold-run this checkout and the base one after the other; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="another checkout to run the same way, e.g. /tmp/wt-base")
    parser.add_argument("--skip-current", action="store_true", help="run only the base checkout")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (runs, logs) and print where")
    args = parser.parse_args()
    checkouts = [] if args.skip_current else [("current", REPO)]
    if args.base is not None:
        checkouts.append(("base", args.base.resolve()))
    if not checkouts:
        parser.error("nothing to run: give --base or drop --skip-current")
    subprocess.run([PYTHON, "-c", "import tensorflow"], env=_env(REPO), capture_output=True, check=True)
    tmp = tempfile.mkdtemp(prefix="bigtrain-bench-pipeline-")
    runs = []
    for label, checkout in checkouts:
        print(f"running {label} ({checkout}) ...", flush=True)
        runs.append(cold_run(label, checkout, Path(tmp) / label))
        print(f"  {runs[-1].seconds:.1f} s", flush=True)
    print_runs(runs)
    print(f"load average now: {os.getloadavg()[0]:.2f}")
    if args.keep:
        print(f"runs and logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
