"""Time an unchanged rerun of the demo pipeline against a cold run, one right after the other.

Both runs go through the real CLI (``python -m pipelines.cli run``) on the demo config with a fresh pipeline root
and serving root, so the cold run trains, evaluates and pushes version 1, and the rerun finds everything unchanged.
Run from the repo root after ``make demo`` has written the demo data:
``.venv/bin/python bench/rerun.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"


def timed_run(config: Path, pipeline_root: Path, summary: Path) -> tuple[float, dict]:
    """Wall seconds of one ``bigtrain run`` (process start to exit) and its summary."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--config",
            str(config),
            "--pipeline-root",
            str(pipeline_root),
            "--summary",
            str(summary),
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, json.loads(summary.read_text())


def main() -> None:
    """Cold run, then ``--reruns`` unchanged reruns; print each time and its ratio to the cold run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = yaml.safe_load(DEMO_CONFIG.read_text())
        config["push"]["serving_root"] = str(work / "serving")
        config["data"]["source"] = str(REPO / config["data"]["source"])
        config_path = work / "demo.yaml"
        config_path.write_text(yaml.safe_dump(config))
        cold, first = timed_run(config_path, work / "runs", work / "cold.json")
        print(f"cold run:      {cold:6.1f} s  (pushed version {first['pushed']['version']})")
        for index in range(1, args.reruns + 1):
            seconds, summary = timed_run(config_path, work / "runs", work / f"rerun{index}.json")
            ran = sorted(name for name, step in summary["steps"].items() if not step["cached"])
            print(f"rerun {index}:       {seconds:6.1f} s  ratio {seconds / cold:.3f}x cold  (ran: {', '.join(ran)})")


if __name__ == "__main__":
    main()
