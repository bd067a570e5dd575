"""Record ``expected.json`` by running the data path of an OLDER commit (the reference) on this corpus.

    git worktree add /tmp/wt-base <reference-commit>
    .venv/bin/python tests/data/equivalence/make_expected.py --base /tmp/wt-base

Runs that commit's ``beam_jobs.ingest`` and ``beam_jobs.preprocess`` command lines (with ``PYTHONPATH`` set to the
worktree) ``--runs`` times, checks the runs agree with each other under the test's own comparison, and writes the
first one's snapshot. Never point ``--base`` at the code the test is meant to check.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_MODULE = HERE.parents[1] / "unit" / "test_equivalence.py"


def _load_test_module():
    spec = importlib.util.spec_from_file_location("test_equivalence", TEST_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_reference(base: Path, python: str, out: Path, ratios: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(base)}
    columns = str(HERE / "columns.json")
    ingest = [
        python,
        "-m",
        "beam_jobs.ingest",
        "--source",
        str(HERE / "*.csv"),
        "--columns-json",
        columns,
        "--output",
        str(out / "ingest"),
    ]
    preprocess = [
        python,
        "-m",
        "beam_jobs.preprocess",
        "--examples",
        str(out / "ingest" / "part*"),
        "--columns-json",
        columns,
        "--split",
        ratios,
        "--output",
        str(out / "prep"),
    ]
    for command in (ingest, preprocess):
        subprocess.run(command, cwd=base, env=env, check=True, stdout=subprocess.DEVNULL)


def dump(value, indent: str = "") -> str:
    """JSON with one row (or record, or vocabulary) per line, so a regenerated fixture diffs readably."""
    compact = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(compact) <= 1000 or not isinstance(value, dict | list):
        return compact
    inner = indent + " "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dump(v, inner)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + dump(v, inner) for v in value) + "\n" + indent + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, type=Path, help="worktree of the reference commit")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=2, help="how many runs must agree")
    args = parser.parse_args()
    test = _load_test_module()
    ratios = ",".join(str(test.RATIOS[s]) for s in test.SPLITS)
    snapshots = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            run_reference(args.base.resolve(), args.python, out, ratios)
            prep = out / "prep"
            snapshots.append(
                test.snapshot(
                    str(prep / "raw"),
                    str(prep / "transformed"),
                    str(prep / "transform_graph"),
                    str(prep / "quarantine"),
                    str(prep / "stats.json"),
                )
            )
    for other in snapshots[1:]:
        problems = test.compare(snapshots[0], other)
        if problems:
            sys.exit("the reference runs disagree:\n" + "\n".join(problems[:20]))
    (HERE / "expected.json").write_text(dump(snapshots[0]) + "\n", encoding="utf-8")
    print(json.dumps(snapshots[0]["stats"]))


if __name__ == "__main__":
    main()
