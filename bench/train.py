"""Training throughput against the input-bound ceiling: how close ``model.fit`` gets to the speed at which the
transformed train split can merely be read and parsed.

Run from the repo root: ``.venv/bin/python bench/train.py --rows 50000 --epochs 3``. It

1. writes ``--rows`` demo rows and runs ingest + preprocess with the demo config (DirectRunner, as the tests do),
   into a temporary directory, or into ``--workdir`` (reused when it already holds preprocessed data);
2. measures the baseline in the same run: examples/s of ``components.train.dataset.transformed_dataset`` alone,
   iterating every batch of the train split for ``--epochs`` epochs at the per-worker batch size, no model;
3. trains each configuration in a fresh process (clean Keras state and strategy) through
   ``components.train.main`` (1 worker) or ``components.train.workers.run_local_workers`` (2 workers), with
   ``early_stopping_patience = epochs`` so every configuration runs the same number of epochs;
4. prints examples/s, the ratio to the ceiling, the 2-worker scaling efficiency, the bfloat16/float32 speed
   ratio and each run's best validation AUC.

Training examples/s counts only the training phase of ``fit``: per epoch, from ``on_epoch_begin`` to the start of
validation (``on_test_begin``), summed over epochs, measured by a Keras callback that this script adds to ``fit``
inside the training processes (it wraps ``tf_keras.Model.fit``; the trainer itself is unchanged). Model building,
validation, checkpoints and export are excluded; the whole ``run`` (TrainingResult.seconds) is shown as well. The
first epoch includes tracing the train function, so it is also shown separately.

Not a test: timings on a shared 2-core machine swing by ±20% between runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "pipelines" / "configs" / "demo.yaml"
TIMING_FILE = "bench_timing-{index}.json"  # written into logs_dir by each training process
ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Prepared:
    """Preprocessed demo data: where it is and how many rows each split has."""

    transformed: str
    transform_graph: str
    train_rows: int
    eval_rows: int
    seconds: float  # 0 when reused


@dataclass(frozen=True)
class Config:
    """One training configuration."""

    name: str
    workers: int
    precision: str


@dataclass(frozen=True)
class Outcome:
    """What one training configuration measured."""

    config: Config
    examples_per_second: float  # training phase of fit only
    fit_train_seconds: float
    first_epoch_seconds: float
    later_epoch_seconds: float  # mean over epochs 2.., NaN with one epoch
    steady_examples_per_second: float  # epochs 2.. only (no tracing, cache filled); NaN with one epoch
    run_seconds: float  # TrainingResult.seconds: the whole train() call
    epochs_run: int
    best_eval_auc: float
    global_batch: int


CONFIGS = (
    Config("1 worker float32", 1, "off"),
    Config("1 worker bfloat16", 1, "bfloat16"),
    Config("2 workers float32", 2, "off"),
)


# --------------------------------------------------------------------------------------------------------------
# Inside a training process (``python -m bench.train REQUEST.json``, also what run_local_workers starts)
# --------------------------------------------------------------------------------------------------------------


def _install_fit_timer(timing_path_for: Any) -> None:
    """Wrap ``tf_keras.Model.fit`` so that every fit gets a callback timing its epochs' training phases."""
    import tf_keras as keras

    class FitTimer(keras.callbacks.Callback):
        """Per epoch: seconds from on_epoch_begin to the start of validation (or epoch end without it)."""

        def __init__(self) -> None:
            super().__init__()
            self.train_seconds: list[float] = []
            self.epoch_seconds: list[float] = []
            self._epoch_start = 0.0
            self._in_epoch = False
            self._fit_start = 0.0
            self.fit_seconds = 0.0

        def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
            self._fit_start = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            self._epoch_start = time.perf_counter()
            self._in_epoch = True

        def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
            if self._in_epoch:
                self.train_seconds.append(time.perf_counter() - self._epoch_start)
                self._in_epoch = False

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            if self._in_epoch:  # no validation this epoch
                self.train_seconds.append(time.perf_counter() - self._epoch_start)
                self._in_epoch = False
            self.epoch_seconds.append(time.perf_counter() - self._epoch_start)

        def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
            self.fit_seconds = time.perf_counter() - self._fit_start

    original_fit = keras.Model.fit

    def timed_fit(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        timer = FitTimer()
        kwargs["callbacks"] = [*list(kwargs.get("callbacks") or []), timer]
        history = original_fit(self, *args, **kwargs)
        path = timing_path_for()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            json.dump(
                {
                    "train_seconds": timer.train_seconds,
                    "epoch_seconds": timer.epoch_seconds,
                    "fit_seconds": timer.fit_seconds,
                },
                handle,
                indent=2,
            )
        return history

    keras.Model.fit = timed_fit


def worker_main(request_path: str) -> int:
    """One training process: ``components.train.main`` with the fit timer installed."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    from components.train import main as train_main
    from components.train.request import TrainRequest

    request = TrainRequest.read(request_path)
    index = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {}).get("index", 0)
    _install_fit_timer(lambda: os.path.join(request.logs_dir, TIMING_FILE.format(index=index)))
    return train_main.main([request_path])


def local_workers_main(request_path: str) -> int:
    """The 2-worker launcher process: ``run_local_workers`` starting this module as each worker."""
    from components.train.request import TrainRequest
    from components.train.workers import run_local_workers

    run_local_workers(TrainRequest.read(request_path), worker_module="bench.train")
    return 0


# --------------------------------------------------------------------------------------------------------------
# The benchmark driver
# --------------------------------------------------------------------------------------------------------------


def prepare(workdir: Path, rows: int, demo: Any) -> Prepared:
    """Demo rows → ingest → preprocess under ``workdir``, or reuse what an earlier run with as many rows left."""
    from beam_jobs.ingest import IngestPaths, run_ingest
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess
    from pipelines.demo_data import write_demo_data

    ingest_paths = IngestPaths.under(str(workdir / "ingest"))
    paths = PreprocessPaths.under(str(workdir / "preprocessed"))
    marker = workdir / "prepared.json"
    if marker.is_file() and json.loads(marker.read_text()).get("rows") == rows and os.path.isfile(ingest_paths.stats):
        counts = json.loads(Path(ingest_paths.stats).read_text())
        return Prepared(paths.transformed, paths.transform_graph, counts["train"], counts["eval"], 0.0)
    for stale in ("csv", "ingest", "preprocessed", "prepared.json"):
        target = workdir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    start = time.perf_counter()
    write_demo_data(workdir / "csv", rows=rows)
    run_ingest([str(workdir / "csv" / "*.csv")], demo.contract, demo.split.model_dump(), ingest_paths)
    stats = run_preprocess(ingest_paths.examples, demo.contract, paths)
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps({"rows": rows}))
    return Prepared(paths.transformed, paths.transform_graph, stats.train, stats.eval, seconds)


def input_ceiling(prepared: Prepared, label: str, batch_size: int, epochs: int, seed: int) -> tuple[list[float], int]:
    """Seconds per epoch and examples in all to read + parse every batch of the train split ``epochs`` times, no
    model (the first epoch also builds the dataset and fills its in-memory cache)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from components.train.dataset import transformed_dataset

    spec = tft.TFTransformOutput(prepared.transform_graph).transformed_feature_spec()
    start = time.perf_counter()
    dataset = transformed_dataset(
        os.path.join(prepared.transformed, "train", "part*"), spec, label, batch_size, True, seed
    )
    examples = 0
    seconds: list[float] = []
    for _ in range(epochs):
        for _features, target in dataset:
            examples += int(tf.shape(target)[0])
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
    return seconds, examples


def _request(prepared: Prepared, demo: Any, config: Config, args: argparse.Namespace, run_dir: Path) -> Any:
    from components.train.request import TrainRequest
    from components.train.settings import TrainingSettings

    training = TrainingSettings.model_validate(
        {
            **demo.training.model_dump(),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "early_stopping_patience": args.epochs,  # never stops early: every configuration runs every epoch
            "mixed_precision": config.precision,
            "workers": config.workers,
            "warm_start": False,
        }
    )
    return TrainRequest(
        transformed_dir=prepared.transformed,
        transform_graph_dir=prepared.transform_graph,
        columns=demo.columns_dict(),
        model=demo.model,
        training=training,
        model_dir=str(run_dir / "model"),
        logs_dir=str(run_dir / "logs"),
        backup_dir=str(run_dir / "backup"),
        train_examples=prepared.train_rows,
        eval_examples=prepared.eval_rows,
    )


def run_config(prepared: Prepared, demo: Any, config: Config, args: argparse.Namespace, root: Path) -> Outcome:
    """Train one configuration in a fresh process; returns its timings and result."""
    run_dir = root / "runs" / config.name.replace(" ", "-")
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an old backup would make BackupAndRestore resume instead of train
    run_dir.mkdir(parents=True)
    request = _request(prepared, demo, config, args, run_dir)
    request_path = run_dir / "request.json"
    request.write(request_path)
    mode = ["--local-workers"] if config.workers > 1 else []
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(ENV)
    log_path = run_dir / "output.log"
    with log_path.open("w") as log:
        process = subprocess.run(
            [sys.executable, "-m", "bench.train", *mode, str(request_path)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if process.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{config.name}: training exited {process.returncode}; last lines of {log_path}:\n{tail}")
    result = json.loads((run_dir / "logs" / "result.json").read_text())
    timing = json.loads((run_dir / "logs" / TIMING_FILE.format(index=0)).read_text())
    train_seconds = [float(s) for s in timing["train_seconds"]]
    fit_train = sum(train_seconds)
    epochs_run = int(result["epochs_run"])
    later = train_seconds[1:]
    return Outcome(
        config=config,
        examples_per_second=int(result["train_examples_per_epoch"]) * epochs_run / fit_train,
        fit_train_seconds=fit_train,
        first_epoch_seconds=train_seconds[0],
        later_epoch_seconds=sum(later) / len(later) if later else math.nan,
        steady_examples_per_second=int(result["train_examples_per_epoch"]) * len(later) / sum(later)
        if later
        else math.nan,
        run_seconds=float(result["seconds"]),
        epochs_run=epochs_run,
        best_eval_auc=float(result["best_eval_auc"]),
        global_batch=args.batch_size * config.workers,
    )


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


@dataclass(frozen=True)
class Ceiling:
    """The input-bound baseline: read + parse only."""

    epoch_seconds: list[float]
    examples_per_epoch: int

    @property
    def examples_per_second(self) -> float:
        """Over every epoch, the first (dataset build, cache fill) included, like the training number."""
        return self.examples_per_epoch * len(self.epoch_seconds) / sum(self.epoch_seconds)

    @property
    def steady_examples_per_second(self) -> float:
        """Epochs 2.. only (cache filled); NaN with one epoch."""
        later = self.epoch_seconds[1:]
        return self.examples_per_epoch * len(later) / sum(later) if later else math.nan


def _seconds(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2f}"


def _rate(value: float) -> str:
    return "" if math.isnan(value) else f"{value:,.0f}"


def report(args: argparse.Namespace, prepared: Prepared, ceiling: Ceiling, outcomes: Sequence[Outcome]) -> None:
    """Print the table and the derived ratios."""
    print()
    print(f"machine: {_machine()}; no GPU; TF default thread pools")
    print(
        f"data: {args.rows:,} demo rows → train {prepared.train_rows:,} / eval {prepared.eval_rows:,} examples"
        + (f" (prepared in {prepared.seconds:.1f} s)" if prepared.seconds else " (reused)")
    )
    print(f"epochs: {args.epochs}; per-worker batch {args.batch_size} (global batch = per-worker × workers)")
    print("examples/s = train examples × epochs / training-phase seconds of fit (validation, export etc. excluded)")
    print()
    header = (
        f"{'configuration':<28}{'examples/s':>12}{'vs ceiling':>12}{'epochs 2+ ex/s':>16}{'vs ceiling':>12}"
        f"{'global batch':>14}{'train s':>9}{'epoch 1 s':>11}{'epoch 2+ s':>12}{'run s':>8}{'epochs':>8}"
        f"{'best val AUC':>14}"
    )
    print(header)
    print("-" * len(header))
    later = ceiling.epoch_seconds[1:]
    print(
        f"{'input ceiling (read+parse)':<28}{_rate(ceiling.examples_per_second):>12}{'100%':>12}"
        f"{_rate(ceiling.steady_examples_per_second):>16}{'100%':>12}{args.batch_size:>14}"
        f"{sum(ceiling.epoch_seconds):>9.2f}{ceiling.epoch_seconds[0]:>11.2f}"
        f"{_seconds(sum(later) / len(later) if later else math.nan):>12}{'':>8}{args.epochs:>8}{'':>14}"
    )
    for o in outcomes:
        steady_ratio = o.steady_examples_per_second / ceiling.steady_examples_per_second
        print(
            f"{o.config.name:<28}{_rate(o.examples_per_second):>12}"
            f"{o.examples_per_second / ceiling.examples_per_second:>12.0%}"
            f"{_rate(o.steady_examples_per_second):>16}{'' if math.isnan(steady_ratio) else f'{steady_ratio:.0%}':>12}"
            f"{o.global_batch:>14}{o.fit_train_seconds:>9.2f}{o.first_epoch_seconds:>11.2f}"
            f"{_seconds(o.later_epoch_seconds):>12}{o.run_seconds:>8.1f}{o.epochs_run:>8}{o.best_eval_auc:>14.4f}"
        )
    by_name = {o.config.name: o for o in outcomes}
    base = by_name.get("1 worker float32")
    print()
    if base is not None:
        ratio = base.examples_per_second / ceiling.examples_per_second
        print(f"1 worker float32 / input ceiling: {ratio:.0%} (goal ≥ 70%: {'met' if ratio >= 0.7 else 'NOT met'})")
        bf16 = by_name.get("1 worker bfloat16")
        if bf16 is not None:
            print(f"bfloat16 / float32 speed (1 worker): {bf16.examples_per_second / base.examples_per_second:.2f}x")
        two = by_name.get("2 workers float32")
        if two is not None:
            print(
                "2-worker scaling efficiency (2-worker ex/s / 1-worker ex/s): "
                f"{two.examples_per_second / base.examples_per_second:.2f} "
                f"(epochs 2+: {two.steady_examples_per_second / base.steady_examples_per_second:.2f}; "
                "both workers share the same 2 cores)"
            )
    aucs = [o.best_eval_auc for o in outcomes]
    if aucs:
        print(f"best val AUC: {min(aucs):.4f} to {max(aucs):.4f} (spread {max(aucs) - min(aucs):.4f})")


def bench(args: argparse.Namespace) -> None:
    """Prepare the data, measure the ceiling, train every configuration, print the table."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    from pipelines.config import load_config

    demo = load_config(DEMO_CONFIG, base_dir=REPO)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(args.workdir).resolve() if args.workdir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print(f"preparing {args.rows:,} demo rows under {root} ...", flush=True)
        prepared = prepare(root, args.rows, demo)
        label = demo.contract.label
        seconds, examples = input_ceiling(prepared, label, args.batch_size, args.epochs, demo.training.seed)
        if examples != prepared.train_rows * args.epochs:
            raise RuntimeError(f"read {examples} examples, expected {prepared.train_rows} × {args.epochs}")
        ceiling = Ceiling(seconds, prepared.train_rows)
        print(f"input ceiling: {ceiling.examples_per_second:,.0f} examples/s ({sum(seconds):.2f} s)", flush=True)
        outcomes: list[Outcome] = []
        for config in CONFIGS:
            if config.workers > 1 and args.skip_workers:
                continue
            print(f"training: {config.name} ...", flush=True)
            outcome = run_config(prepared, demo, config, args, root)
            print(f"  {outcome.examples_per_second:,.0f} examples/s", flush=True)
            outcomes.append(outcome)
        report(args, prepared, ceiling, outcomes)

def main(argv: Sequence[str] | None = None) -> int:
    """Benchmark driver; also the entry point of the training processes it starts (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if len(args_list) == 1 and args_list[0].endswith(".json"):
        return worker_main(args_list[0])
    if len(args_list) == 2 and args_list[0] == "--local-workers":
        return local_workers_main(args_list[1])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="demo rows to generate (before the split)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256, help="per worker")
    parser.add_argument("--workdir", default="", help="keep/reuse the prepared data here instead of a temp dir")
    parser.add_argument("--skip-workers", action="store_true", help="leave out the 2-worker configuration")
    bench(parser.parse_args(args_list))
    return 0


if __name__ == "__main__":
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    sys.exit(main())
