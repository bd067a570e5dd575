"""Time the standalone ingest + preprocess jobs against the floor (bench/floor.py) on taxi-shaped data.

``.venv/bin/python bench/preprocess.py --rows 100000 --rows 1000000 [--base /tmp/wt-base] [--skip-current]``

For each ``--rows``: writes the data once (``bench/taxi_data.py``, cached under ``--workdir``), then runs, one after
the other and each as its own process: the floor, the current checkout's jobs (``python -m beam_jobs.ingest`` then
``python -m beam_jobs.preprocess``, DirectRunner) and, with ``--base``, the same jobs of another checkout (cwd and
PYTHONPATH there). Each process is timed wall-clock from start to exit (imports included). Memory (bench/measure.py):
"peak RSS" is the sampled peak of the sum over the job's process tree (Beam workers included), "max proc" the
largest single process (``ru_maxrss`` from ``os.wait4``). The ratio column is seconds / the floor's seconds at the
same size.

The jobs' command lines are read from their ``--help``: the split ratios go to whichever job takes ``--split``, and
preprocess reads ``OUT/examples`` when ingest wrote that directory, else ``OUT/part*`` (the older layout).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from measure import Measurement, run_measured

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PYTHON = sys.executable
SPLIT = "0.8,0.1,0.1"
DEFAULT_WORKDIR = Path("/tmp/bigtrain-bench-preprocess")


@dataclass
class Measured:
    """One timed process (or the sum of two)."""

    rows: int
    job: str
    seconds: float
    peak_mb: float  # the process tree's sampled peak (sum over processes)
    max_proc_mb: float  # the largest single process (ru_maxrss)
    ok: bool = True
    note: str = ""
    counts: dict = field(default_factory=dict)


def run_timed(command: list[str], cwd: Path, log: Path, pythonpath: Path | None = None) -> Measurement:
    """Run ``command`` to completion with stdout and stderr to ``log``; time it and sample its memory."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return run_measured(command, cwd, env, log)


def last_json(log: Path, key: str) -> dict:
    """The last JSON object line of a log that has ``key`` (the jobs and the floor print their counts so)."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{") and f'"{key}"' in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}


def tail(log: Path, lines: int = 3) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])[-300:]


def ensure_data(workdir: Path, rows: int) -> Path:
    """The taxi data for ``rows`` under ``workdir``, written unless an identical generator already wrote it."""
    directory = workdir / f"data-{rows}"
    generator = (BENCH / "taxi_data.py").read_bytes()
    stamp = {"rows": rows, "generator": hashlib.sha256(generator).hexdigest()}
    stamp_file = directory / "stamp.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    subprocess.run([PYTHON, str(BENCH / "taxi_data.py"), "--rows", str(rows), "--output", str(directory)], check=True)
    stamp_file.write_text(json.dumps(stamp))
    return directory


def help_text(module: str, checkout: Path) -> str:
    """``python -m module --help`` in a checkout (empty when it cannot even start)."""
    env = dict(os.environ, PYTHONPATH=str(checkout), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [PYTHON, "-m", module, "--help"], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else ""


def run_floor(data: Path, out: Path, rows: int) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    log = out.parent / "floor.log"
    command = [PYTHON, str(BENCH / "floor.py"), "--data", str(data / "data" / "*.csv")]
    command += ["--columns-json", str(data / "columns.json"), "--output", str(out)]
    m = run_timed(command, REPO, log, REPO)
    result = last_json(log, "stats")
    note = tail(log)
    if result:
        phases = ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in result.get("phases", {}).items())
        note = f"work {result['seconds']:.1f} s ({phases}) + imports {result['import_seconds']:.1f} s"
    return Measured(rows, "floor", m.seconds, m.tree_peak_mb, m.max_rss_mb, m.ok, note, result.get("stats", {}))


def _run_job(job: str, args: list[str], label: str, checkout: Path, data: Path, out: Path, rows: int) -> Measured:
    """``python -m beam_jobs.<job>`` of ``checkout``, writing to ``out/<job>`` and logging to ``out/<job>.log``
    (``--split`` passed only where that checkout's job takes it)."""
    module, output, log = f"beam_jobs.{job}", out / job, out / f"{job}.log"
    command = [PYTHON, "-m", module, *args, "--columns-json", str(data / "columns.json"), "--output", str(output)]
    if "--split" in help_text(module, checkout):
        command += ["--split", SPLIT]
    m = run_timed(command, checkout, log, checkout)
    measured = Measured(
        rows, f"{label} {job}", m.seconds, m.tree_peak_mb, m.max_rss_mb, m.ok, "" if m.ok else tail(log)
    )
    measured.counts = last_json(log, "train") if m.ok else {}
    return measured


def run_jobs(label: str, checkout: Path, data: Path, out: Path, rows: int) -> list[Measured]:
    """Ingest then preprocess of one checkout; returns both and their sum."""
    shutil.rmtree(out, ignore_errors=True)
    ingest = _run_job("ingest", ["--source", str(data / "data" / "*.csv")], label, checkout, data, out, rows)
    examples = out / "ingest" / "examples"
    examples_arg = str(examples) if examples.is_dir() else str(out / "ingest" / "part*")
    preprocess = _run_job("preprocess", ["--examples", examples_arg], label, checkout, data, out, rows)
    total = Measured(
        rows,
        f"{label} ingest+preprocess",
        ingest.seconds + preprocess.seconds,
        max(ingest.peak_mb, preprocess.peak_mb),
        max(ingest.max_proc_mb, preprocess.max_proc_mb),
        ingest.ok and preprocess.ok,
        "peak = the larger of the two",
        {**preprocess.counts, **ingest.counts},
    )
    return [ingest, preprocess, total]


def print_table(results: list[Measured]) -> None:
    floors = {r.rows: r.seconds for r in results if r.job == "floor" and r.ok}
    columns = f"{'seconds':>8} {'rows/s':>10} {'peak RSS':>9} {'max proc':>9} {'× floor':>8}"
    print(f"\n{'rows':>10}  {'job':<28} {columns}  note")
    print("-" * 120)
    for r in results:
        if not r.ok:
            print(f"{r.rows:>10,}  {r.job:<28} {'failed':>8} {'':>10} {'':>9} {'':>9} {'':>8}  {r.note}")
            continue
        ratio = f"{r.seconds / floors[r.rows]:.1f}x" if r.rows in floors else "-"
        rate = f"{r.rows / r.seconds:,.0f}" if r.seconds else "-"
        memory = f"{r.peak_mb:7.0f}MB {r.max_proc_mb:7.0f}MB"
        print(f"{r.rows:>10,}  {r.job:<28} {r.seconds:8.1f} {rate:>10} {memory} {ratio:>8}  {r.note}")
    sizes = sorted({r.rows for r in results})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"\npeak RSS({large:,}) / peak RSS({small:,}):")
        for job in dict.fromkeys(r.job for r in results):
            by_size = {r.rows: r for r in results if r.job == job and r.ok}
            if small in by_size and large in by_size:
                print(
                    f"  {job:<28} {by_size[large].peak_mb / by_size[small].peak_mb:5.2f}x "
                    f"({by_size[small].peak_mb:.0f} MB -> {by_size[large].peak_mb:.0f} MB)"
                )
    print("\nrow counts (input / train / eval / test / quarantined):")
    for r in results:
        c = r.counts
        if c and "train" in c:
            print(
                f"  {r.rows:>10,}  {r.job:<28} {c.get('input', '?')} / {c['train']} / {c['eval']} / {c['test']} / "
                f"{c.get('quarantined', '?')}  {c.get('quarantine_reasons', '')}"
            )


def main() -> None:
    """Parse the flags, run every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="data rows (repeatable; default 100000)")
    parser.add_argument("--base", type=Path, help="another checkout whose jobs to time too, e.g. /tmp/wt-base")
    parser.add_argument("--skip-current", action="store_true", help="do not run this checkout's jobs")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"data and outputs ({DEFAULT_WORKDIR})")
    args = parser.parse_args()
    results: list[Measured] = []
    load_at_start = os.getloadavg()[0]
    for rows in args.rows or [100_000]:
        data = ensure_data(args.workdir, rows)
        runs = args.workdir / f"runs-{rows}"
        print(f"--- {rows:,} rows ({data})", flush=True)
        results.append(run_floor(data, runs / "floor" / "out", rows))
        print(f"  floor: {results[-1].seconds:.1f} s", flush=True)
        if not args.skip_current:
            results += run_jobs("current", REPO, data, runs / "current", rows)
            print(f"  current: {results[-1].seconds:.1f} s", flush=True)
        if args.base is not None:
            results += run_jobs("base", args.base.resolve(), data, runs / "base", rows)
            print(f"  base: {results[-1].seconds:.1f} s", flush=True)
    print_table(results)
    load_now = os.getloadavg()[0]
    print(f"\nlogs and outputs: {args.workdir}; load average at start {load_at_start:.2f}, now {load_now:.2f}")


if __name__ == "__main__":
    main()
