"""The whole local pipeline under load: ``bigtrain run`` on the demo config at 100k and 1M generated demo rows.

``.venv/bin/python bench/load.py [--rows 100000 1000000] [--keep]``

For each size: ``bigtrain demo-data --rows N`` into a fresh temp dir, then ``python -m pipelines.cli run`` (what
``bigtrain run`` calls) on ``pipelines/configs/demo.yaml`` with ``data.source`` pointed at those rows and fresh
pipeline and serving roots, so every step runs (cold). Measured per size:

* wall seconds of the run (process start to exit) and per step (``steps.{name}.seconds`` of the run's ``--summary``);
* the sampled peak resident memory of the whole process tree (bench/measure.py: the CLI, the step process and
  anything it starts, e.g. Beam workers or training workers), and the largest single process;
* per step, the sampled peak of that step's own process subtree: a step process is recognised by the KFP executor's
  ``--function_to_execute NAME`` argument. Preprocess's peak at both sizes shows whether it stays flat as rows grow.

Not a test: absolute numbers depend on the machine (see the top of bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import yaml
from measure import Measurement, run_measured

from pipelines.cluster_config import CLUSTER_STEPS

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"
TASK_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
STEP_ARG = "--function_to_execute"
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def _processes() -> dict[int, tuple[int, float, list[str]]]:
    """pid -> (parent pid, resident MB, argv) of every process readable in /proc."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
            rss = int(Path(f"/proc/{entry.name}/statm").read_bytes().split()[1]) * _PAGE_MB
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        out[int(entry.name)] = (ppid, rss, argv)
    return out


def step_rss_mb(root: int) -> dict[str, float]:
    """Resident MB of each running step's process subtree under ``root``, keyed by the step's function name."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)

    def subtree(pid: int) -> float:
        total, stack = 0.0, [pid]
        while stack:
            current = stack.pop()
            stack += children.get(current, [])
            total += procs[current][1] if current in procs else 0.0
        return total

    out: dict[str, float] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        argv = procs[pid][2]
        if STEP_ARG in argv[:-1]:
            name = argv[argv.index(STEP_ARG) + 1].replace("_", "-")  # the function name; the summary's step name
            out[name] = max(out.get(name, 0.0), subtree(pid))
        else:
            stack += children.get(pid, [])
    return out


class StepSampler:
    """Samples ``step_rss_mb`` under this process every ``interval`` s while in use, keeping each step's peak."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = os.getpid()
        while not self._done.wait(self.interval):
            for name, mb in step_rss_mb(me).items():
                self.peaks[name] = max(self.peaks.get(name, 0.0), mb)

    def __enter__(self) -> StepSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def load_run(rows: int, work: Path) -> dict:
    """Generate ``rows`` demo rows, run the demo pipeline cold on them, and return what it cost."""
    work.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), **TASK_ENV)
    data = work / "data"
    subprocess.run(
        [PYTHON, "-m", "pipelines.cli", "demo-data", "--rows", str(rows), "--output", str(data)],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["push"]["serving_root"] = str(work / "serving")
    config["data"]["source"] = str(data / "*.csv")
    config_path = work / "demo.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    summary_path = work / "summary.json"
    command = [PYTHON, "-m", "pipelines.cli", "run", "--config", str(config_path)]
    command += ["--pipeline-root", str(work / "runs"), "--summary", str(summary_path)]
    with StepSampler() as sampler:
        m: Measurement = run_measured(command, REPO, env, work / "stdout.log")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    steps = {
        name: {"seconds": step["seconds"], "cached": step["cached"], "peak_mb": sampler.peaks.get(name)}
        for name, step in summary.get("steps", {}).items()
    }
    for name, peak in sampler.peaks.items():  # a step the summary does not name (e.g. the run failed in it)
        steps.setdefault(name, {"seconds": None, "cached": False, "peak_mb": peak})
    return {
        "rows": rows,
        "ok": m.ok and bool(summary.get("ok")),
        "returncode": m.returncode,
        "seconds": m.seconds,
        "tree_peak_mb": m.tree_peak_mb,
        "max_proc_mb": m.max_rss_mb,
        "steps": steps,
        "error": summary.get("error"),
    }


def print_results(results: list[dict]) -> None:
    """One table: per step, seconds and peak MB at each size; then the totals."""
    names = list(dict.fromkeys(name for r in results for name in r["steps"]))
    names.sort(key=lambda n: CLUSTER_STEPS.index(n) if n in CLUSTER_STEPS else len(CLUSTER_STEPS))
    labels = [f"{r['rows']:,} rows s" for r in results]
    header = f"{'step':<18}" + "".join(f"{label:>18} {'peak MB':>8}" for label in labels)
    print("\n" + header)
    print("-" * len(header))
    for name in names:
        cells = []
        for r in results:
            step = r["steps"].get(name)
            if step is None:
                cells.append(f"{'-':>18} {'':>8}")
                continue
            seconds = "cached" if step["cached"] else ("?" if step["seconds"] is None else f"{step['seconds']:.1f}")
            peak = "-" if step["peak_mb"] is None else f"{step['peak_mb']:.0f}"
            cells.append(f"{seconds:>18} {peak:>8}")
        print(f"{name:<18}" + "".join(cells))
    print("-" * len(header))
    for r in results:
        state = "ok" if r["ok"] else f"FAILED (exit {r['returncode']}): {r['error']}"
        print(
            f"{r['rows']:>9,} rows: wall {r['seconds']:.1f} s, tree peak {r['tree_peak_mb']:.0f} MB "
            f"(largest process {r['max_proc_mb']:.0f} MB), {state}"
        )


def main() -> None:
    """Run each size in turn (smallest first) and print the table; ``--json`` also writes the raw results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (data, runs, logs) and print where")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bigtrain-bench-load-"))
    results = []
    try:
        for rows in sorted(args.rows):
            print(f"running {rows:,} rows ...", flush=True)
            results.append(load_run(rows, tmp / str(rows)))
            print(f"  {results[-1]['seconds']:.1f} s, ok={results[-1]['ok']}", flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
    finally:
        if results:
            print_results(results)
        if args.keep:
            print(f"data, runs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
