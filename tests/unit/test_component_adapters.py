"""Every KFP adapter with its library replaced by a recording fake: what the adapter hands the library (paths from
its artifacts, the parsed contract, typed settings, Beam runner and flags), what it writes back (artifact metadata,
files, return values and NamedTuple outputs) and the errors it owns. No Beam, TensorFlow or Kubernetes work runs.

``beam_jobs.ingest`` and ``beam_jobs.preprocess`` cost 7-10 s to import (Beam, tf.Transform), so they are replaced
by stub modules for the duration of a test. The stubs are not hand-written: their call signatures and record types
are read from the real modules' source, so a renamed, reordered or dropped parameter fails here as it would against
the real library. Light libraries are patched in place, their fakes bound to the real signature too. Artifacts are
the real kfp classes; inputs get remote URIs so that using ``.uri`` where the local mount ``.path`` is meant fails.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
from kfp import dsl
from kfp.dsl import Artifact, Dataset, Model

from beam_jobs import sources
from beam_jobs.contract import Columns, Cross, CrossError, parse_columns
from beam_jobs.layout import (
    EVAL_SPLIT,
    RUN_STATUS_FILE,
    RUN_SUMMARY_FILE,
    STATS_FILE,
    TEST_SPLIT,
    TRAIN_SPLIT,
)
from components.ingest.component import ingest
from components.notify import run_summary, status, webhook
from components.notify.component import finalize, summarize
from components.preprocess.component import preprocess
from components.push import baseline, registry
from components.push.component import resolve_baseline, resolve_warm_start
from components.resolve_data.component import resolve_data
from components.train import launch
from components.train.component import train
from components.train.request import TrainRequest, resume_key
from components.train.result import TrainingResult
from components.train.settings import ModelSettings, TrainingSettings

REPO = Path(__file__).resolve().parents[2]
COLUMNS = {
    "customer_id": {"type": "string", "role": "key"},
    "age": {"type": "float"},
    "plan": {"type": "string", "transform": "vocabulary"},
    "churned": {"type": "int", "role": "label"},
}
NO_LABEL = {"age": {"type": "float"}, "churned": {"type": "int"}}
SPLIT = {"train": 0.7, "eval": 0.2, "test": 0.1}
BEAM = {"beam_runner": "DataflowRunner", "beam_args": ["--project=p", "--region=europe-west4"]}
VERSIONS = {"code_version": "code-1", "data_fingerprint": "data-1"}


# ---------------------------------------------------------------------------------------------------------------
# Recording fakes that keep the real library's signature


class Recorder:
    """A fake library function: binds every call to the real ``signature`` (a call the real function would reject
    raises TypeError), records the bound arguments by parameter name, then returns ``returns`` or ``effect(args)``."""

    def __init__(self, signature: inspect.Signature, returns: Any = None, effect: Callable[[dict], Any] | None = None):
        self.signature, self.returns, self.effect = signature, returns, effect
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def of(cls, real: Callable[..., Any], **kwargs: Any) -> Recorder:
        return cls(inspect.signature(real), **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        self.calls.append(dict(bound.arguments))
        return self.effect(self.calls[-1]) if self.effect else self.returns

    @property
    def only(self) -> dict[str, Any]:
        (call,) = self.calls
        return call


def _source(module: str) -> ast.Module:
    return ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)  # a name such as DEFAULT_RUNNER: its source text stands for it


def source_signature(module: str, function: str) -> inspect.Signature:
    """The signature of a module-level function, read from the module's source without importing it."""
    node = next(n for n in _source(module).body if isinstance(n, ast.FunctionDef) and n.name == function)
    spec, kind = node.args, inspect.Parameter
    positional = [*spec.posonlyargs, *spec.args]
    defaults = [kind.empty] * (len(positional) - len(spec.defaults)) + [_literal(d) for d in spec.defaults]
    params = [
        kind(a.arg, kind.POSITIONAL_ONLY if i < len(spec.posonlyargs) else kind.POSITIONAL_OR_KEYWORD, default=d)
        for i, (a, d) in enumerate(zip(positional, defaults, strict=True))
    ]
    if spec.vararg:
        params.append(kind(spec.vararg.arg, kind.VAR_POSITIONAL))
    for a, d in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        params.append(kind(a.arg, kind.KEYWORD_ONLY, default=kind.empty if d is None else _literal(d)))
    if spec.kwarg:
        params.append(kind(spec.kwarg.arg, kind.VAR_KEYWORD))
    return inspect.Signature(params)


def source_dataclass(module: str, name: str) -> type:
    """A frozen dataclass with the fields (names, in order) of the real one, read from the module's source."""
    node = next(n for n in _source(module).body if isinstance(n, ast.ClassDef) and n.name == name)
    fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    return dataclasses.make_dataclass(name, fields, frozen=True)


def source_constant(module: str, name: str) -> Any:
    """A module-level constant's literal value, read from the module's source."""
    for node in _source(module).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{module}.{name}")


def stub_module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.SimpleNamespace:
    """Make ``import name`` (and ``from name import x``) give a stub with ``attributes`` for this test."""
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(**attributes)


def remote(cls: type, name: str, **metadata: Any) -> Any:
    """An input artifact on an object store: its local ``.path`` (the mount) differs from its ``.uri``."""
    artifact = cls(uri=f"gs://bucket/pipeline-root/run-7/{name}", metadata=dict(metadata))
    assert artifact.path != artifact.uri
    return artifact


def local(cls: type, tmp_path: Path, name: str) -> Any:
    """An output artifact the adapter writes files into, as the local runner gives it."""
    return cls(uri=str(tmp_path / "artifacts" / name))


# ---------------------------------------------------------------------------------------------------------------
# ingest


COUNTS = {"input": 100, "train": 61, "eval": 17, "test": 13, "quarantined": 9}
REASONS = {"missing_label": 6, "bad_number": 3}


@pytest.fixture
def ingest_lib(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    stats_type = source_dataclass("beam_jobs.ingest", "IngestStats")
    labels = {"train": {"0": 40, "1": 21}, "eval": {"0": 10, "1": 7}, "test": {"0": 8, "1": 5}}
    files = ["/data/span-2/a.parquet", "/data/span-3/a.parquet"]
    stats = stats_type(**COUNTS, quarantine_reasons=REASONS, files=files, labels=labels, format="parquet")
    run_ingest = Recorder(source_signature("beam_jobs.ingest", "run_ingest"), returns=stats)
    return stub_module(
        monkeypatch,
        "beam_jobs.ingest",
        run_ingest=run_ingest,
        check_trainable=Recorder(source_signature("beam_jobs.ingest", "check_trainable")),
        IngestStats=stats_type,
        IngestPaths=source_dataclass("beam_jobs.ingest", "IngestPaths"),
    )


def _ingest(**changes: Any) -> dict[str, Any]:
    """Run the adapter; returns its output artifacts by parameter name and its return value under "returned"."""
    artifacts = {
        "examples": remote(Dataset, "ingest/examples"),
        "quarantine": remote(Dataset, "ingest/quarantine"),
        "statistics": remote(Artifact, "ingest/statistics"),
    }
    arguments = {
        "sources": ["data/span-2/*.parquet", "data/span-3/*.parquet"],
        "data_format": "parquet",
        "dedupe_by_key": True,
        "columns": COLUMNS,
        "split_ratios": SPLIT,
        **BEAM,
        **VERSIONS,
    }
    returned = ingest(**{**arguments, **changes}, **artifacts)
    return {**artifacts, "returned": returned}


def test_ingest_hands_the_library_the_sources_the_format_the_contract_the_ratios_and_each_output(ingest_lib):
    artifacts = _ingest()
    call = dict(ingest_lib.run_ingest.only)
    assert isinstance(call["columns"], Columns)
    call.pop("block_bytes", None)  # a tuning knob the adapter leaves at the library's default
    assert call == {
        "sources": ["data/span-2/*.parquet", "data/span-3/*.parquet"],
        "data_format": "parquet",
        "dedupe_by_key": True,
        "columns": parse_columns(COLUMNS),
        "ratios": SPLIT,
        "paths": ingest_lib.IngestPaths(
            examples=artifacts["examples"].path,
            quarantine=artifacts["quarantine"].path,
            stats=os.path.join(artifacts["statistics"].path, STATS_FILE),
        ),
        "runner": "DataflowRunner",
        "beam_args": ["--project=p", "--region=europe-west4"],
    }


def test_ingest_checks_the_rows_can_train_a_classifier_of_the_label(ingest_lib):
    _ingest()
    assert ingest_lib.check_trainable.only == {"stats": ingest_lib.run_ingest.returns, "label": "churned"}


def test_ingest_returns_the_input_rows_and_records_the_counts_on_its_artifacts(ingest_lib):
    artifacts = _ingest(data_fingerprint="fp-42")
    assert artifacts["returned"] == 100
    per_split = {f"{TRAIN_SPLIT}_rows": 61, f"{EVAL_SPLIT}_rows": 17, f"{TEST_SPLIT}_rows": 13}
    assert artifacts["examples"].metadata == {**per_split, "files": 2, "data_fingerprint": "fp-42"}
    assert artifacts["quarantine"].metadata == {"rows": 9}
    assert artifacts["statistics"].metadata == {**COUNTS, **REASONS}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"data_format": "xml"}, ValueError, r"data\.format 'xml' is not one of csv, parquet, jsonl, tfrecord"),
        ({"columns": NO_LABEL}, pydantic.ValidationError, "exactly one column needs role: label"),
    ],
)
def test_ingest_refuses_bad_parameters_before_reading_anything(ingest_lib, changes, error, message):
    with pytest.raises(error, match=message):
        _ingest(**changes)
    assert ingest_lib.run_ingest.calls == []


# ---------------------------------------------------------------------------------------------------------------
# preprocess


@pytest.fixture
def preprocess_lib(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    stats_type = source_dataclass("beam_jobs.preprocess", "TransformStats")
    run_preprocess = Recorder(
        source_signature("beam_jobs.preprocess", "run_preprocess"), returns=stats_type(train=61, eval=17, test=13)
    )
    return stub_module(
        monkeypatch,
        "beam_jobs.preprocess",
        run_preprocess=run_preprocess,
        PreprocessPaths=source_dataclass("beam_jobs.preprocess", "PreprocessPaths"),
        TransformStats=stats_type,
    )


def _preprocess(examples: Dataset | None = None, **changes: Any) -> dict[str, Any]:
    """Run the adapter; returns its artifacts by parameter name."""
    artifacts = {
        "examples": examples or remote(Dataset, "ingest/examples"),
        "transformed": remote(Dataset, "preprocess/transformed"),
        "transform_graph": remote(Artifact, "preprocess/transform_graph"),
    }
    arguments = {"columns": COLUMNS, "crosses": [], **BEAM, **VERSIONS}
    preprocess(**artifacts, **{**arguments, **changes})
    return artifacts


def test_preprocess_transforms_what_ingest_wrote_into_its_own_artifacts(preprocess_lib):
    artifacts = _preprocess()
    call = preprocess_lib.run_preprocess.only
    assert call["examples_dir"] == artifacts["examples"].path != artifacts["examples"].uri
    assert call["paths"] == preprocess_lib.PreprocessPaths(
        transformed=artifacts["transformed"].path, transform_graph=artifacts["transform_graph"].path
    )
    assert isinstance(call["columns"], Columns) and call["columns"] == parse_columns(COLUMNS)
    assert (call["runner"], call["beam_args"]) == (BEAM["beam_runner"], BEAM["beam_args"])


def test_preprocess_records_the_rows_per_split_for_train(preprocess_lib):
    artifacts = _preprocess()
    per_split = {f"{TRAIN_SPLIT}_rows": 61, f"{EVAL_SPLIT}_rows": 17, f"{TEST_SPLIT}_rows": 13}
    assert artifacts["transformed"].metadata == per_split


def test_preprocess_refuses_an_invalid_contract_before_running(preprocess_lib):
    with pytest.raises(pydantic.ValidationError, match="exactly one column needs role: label"):
        _preprocess(columns=NO_LABEL)
    assert preprocess_lib.run_preprocess.calls == []


CROSS_COLUMNS = {**COLUMNS, "region": {"type": "string", "transform": {"hash": 8}}}
CROSSES = [{"cross": ["plan", "region"], "hash": 16}]


def test_preprocess_hands_the_library_the_validated_crosses(preprocess_lib):
    _preprocess(columns=CROSS_COLUMNS, crosses=CROSSES)
    assert preprocess_lib.run_preprocess.only["crosses"] == [Cross(cross=["plan", "region"], hash=16)]


@pytest.mark.parametrize(
    ("crosses", "error", "message"),
    [
        ([{"cross": ["plan", "age"], "hash": 4}], CrossError, r"crosses\[0\]: 'age' is a float column"),
        ([{"cross": ["plan", "churned"], "hash": 4}], CrossError, r"crosses\[0\]: 'churned' is a label column"),
        ([{"cross": ["plan", "region"], "hash": 1}], pydantic.ValidationError, "hash"),
    ],
)
def test_preprocess_refuses_a_bad_cross_before_running(preprocess_lib, crosses, error, message):
    with pytest.raises(error, match=message):
        _preprocess(columns=CROSS_COLUMNS, crosses=crosses)
    assert preprocess_lib.run_preprocess.calls == []


# ---------------------------------------------------------------------------------------------------------------
# resolve-data


SPANS = ("2026-11-27", "2026-11-28")


@pytest.mark.parametrize(
    ("spans", "selection", "resolved", "said"),
    [
        ('["2026-11-28", "2026-11-27"]', ["2026-11-28", "2026-11-27"], SPANS, "span 2026-11-27, 2026-11-28: 2 file"),
        ("3", 3, SPANS, "span 2026-11-27, 2026-11-28 (only 2 of the 3 requested have files): 2 file"),
        ('"latest"', "latest", SPANS[1:], "span 2026-11-28: 2 file(s) under data/span-{SPAN}/*.csv (fingerprint f1)"),
    ],
)
def test_resolve_data_parses_the_selection_and_outputs_patterns_spans_and_fingerprint(
    monkeypatch, capsys, spans, selection, resolved, said
):
    patterns = tuple(f"data/span-{span}/*.csv" for span in resolved)
    resolve_source = Recorder.of(
        sources.resolve_source, returns=sources.ResolvedSource(patterns, resolved, ("a.csv", "b.csv"), "f1")
    )
    monkeypatch.setattr(sources, "resolve_source", resolve_source)
    outputs = resolve_data("data/span-{SPAN}/*.csv", spans)
    assert resolve_source.only == {"source": "data/span-{SPAN}/*.csv", "spans": selection}
    # The names KFP publishes the outputs under are the declared ones, and the DAG wires them by name.
    assert outputs._fields == inspect.signature(resolve_data).return_annotation._fields
    assert (outputs.patterns, outputs.spans, outputs.fingerprint) == (list(patterns), list(resolved), "f1")
    assert said in capsys.readouterr().out


def test_resolve_data_without_spans_outputs_the_source_and_no_spans(monkeypatch, capsys):
    resolved = sources.ResolvedSource(("data/*.csv",), (), ("a.csv",), "f2")
    monkeypatch.setattr(sources, "resolve_source", Recorder.of(sources.resolve_source, returns=resolved))
    outputs = resolve_data("data/*.csv", '"latest"')
    assert (outputs.patterns, outputs.spans, outputs.fingerprint) == (["data/*.csv"], [], "f2")
    assert "resolve-data: 1 file(s) match data/*.csv (fingerprint f2)" in capsys.readouterr().out


@pytest.mark.parametrize("spans", ["0", '"newest"', "latest", '{"n": 2}'])
def test_resolve_data_refuses_a_malformed_selection_naming_it(monkeypatch, spans):
    resolve_source = Recorder.of(sources.resolve_source)
    monkeypatch.setattr(sources, "resolve_source", resolve_source)
    with pytest.raises(ValueError, match=r"^spans: expected latest, a positive number or a list of span names"):
        resolve_data("data/span-{SPAN}/*.csv", spans)
    assert resolve_source.calls == []


# ---------------------------------------------------------------------------------------------------------------
# train (the local step)

RESULT = TrainingResult(
    epochs_run=2,
    best_epoch=2,
    best_eval_auc=0.83,
    final_eval_loss=0.41,
    train_examples_per_epoch=61,
    seconds=1.5,
    workers=1,
    chief=True,
    resumed_from_epoch=0,
    warm_started=True,
    warm_start_note="",
)
MODEL = {"hidden_units": [8, 4], "dropout": 0.2}
TRAINING = {"epochs": 2, "batch_size": 32, "mixed_precision": True}


@pytest.fixture
def train_lib(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    fake = Recorder.of(launch.train_locally, returns=RESULT)
    monkeypatch.setattr(launch, "train_locally", fake)
    return fake


def _train(tmp_path: Path, transformed: Dataset | None = None, **changes: Any) -> tuple[float, dict[str, Any]]:
    arguments = {
        "transformed": transformed or remote(Dataset, "preprocess/transformed", train_rows=61, eval_rows=17),
        "transform_graph": remote(Artifact, "preprocess/transform_graph"),
        "columns": COLUMNS,
        "crosses": [],
        "model_settings": MODEL,
        "training_settings": TRAINING,
        "warm_start_from": "/serving/churn/3",
        "checkpoint_root": str(tmp_path / "checkpoints"),
        **VERSIONS,
        "model": local(Model, tmp_path, "model"),
        "training_logs": local(Artifact, tmp_path, "training_logs"),
        **changes,
    }
    return train(**arguments), arguments


def test_train_builds_one_request_from_its_artifacts_and_typed_settings(tmp_path: Path, train_lib: Recorder):
    _, arguments = _train(tmp_path)
    request = train_lib.only["request"]
    model, training = ModelSettings(hidden_units=[8, 4], dropout=0.2), TrainingSettings(**TRAINING)
    assert training.mixed_precision == "bfloat16"  # parsed, legacy spelling included, before it reaches the trainer
    key = resume_key(
        "code-1",
        "data-1",
        model,
        training,
        columns=parse_columns(COLUMNS),
        inputs=[arguments["transformed"].uri, arguments["transform_graph"].uri],
        warm_start_from="/serving/churn/3",
    )
    assert request == TrainRequest(
        transformed_dir=arguments["transformed"].path,
        transform_graph_dir=arguments["transform_graph"].path,
        columns=COLUMNS,
        model=model,
        training=training,
        model_dir=arguments["model"].path,
        logs_dir=arguments["training_logs"].path,
        backup_dir=str(tmp_path / "checkpoints" / key / "backup"),
        warm_start_from="/serving/churn/3",
        train_examples=61,
        eval_examples=17,
    )


def test_train_returns_the_best_auc_and_records_the_result(tmp_path: Path, train_lib: Recorder):
    auc, arguments = _train(tmp_path)
    assert auc == 0.83
    assert arguments["model"].metadata == {"framework": "tensorflow", "best_eval_auc": 0.83}
    assert arguments["training_logs"].metadata == dataclasses.asdict(RESULT)


def test_train_keys_its_backup_on_the_validated_settings(tmp_path: Path, train_lib: Recorder):
    """Defaults spelled out or left out are the same settings, so a retry finds the same backup; new code is not."""
    _train(tmp_path, training_settings={})
    _train(tmp_path, training_settings={"epochs": 5, "batch_size": 256, "mixed_precision": "off"})
    _train(tmp_path, training_settings={}, code_version="code-2")
    first, same, other = (call["request"].backup_dir for call in train_lib.calls)
    assert first == same != other


def test_train_keys_its_backup_on_its_columns_inputs_and_warm_start(tmp_path: Path, train_lib: Recorder):
    """A rerun whose columns, transformed data or starting model differ trains another model: it must not restore
    this one's backup (another vocabulary or bucket count does not even fit its variables)."""
    _train(tmp_path)
    _train(tmp_path, columns={**COLUMNS, "age": {"type": "float", "role": "feature", "transform": "identity"}})
    _train(tmp_path, columns={**COLUMNS, "age": {"type": "float", "transform": {"bucketize": 4}}})
    _train(tmp_path, transformed=remote(Dataset, "preprocess-again/transformed", train_rows=61, eval_rows=17))
    _train(tmp_path, transform_graph=remote(Artifact, "preprocess-again/transform_graph"))
    _train(tmp_path, warm_start_from="/serving/churn/4")
    first, spelled_out, *others = (call["request"].backup_dir for call in train_lib.calls)
    assert first == spelled_out  # the same columns with their defaults written out
    assert first not in others and len(set(others)) == len(others)


def test_train_hands_every_worker_the_validated_crosses_and_keys_its_backup_on_them(
    tmp_path: Path, train_lib: Recorder
):
    _train(tmp_path, columns=CROSS_COLUMNS)
    _train(tmp_path, columns=CROSS_COLUMNS, crosses=CROSSES)
    plain, crossed = (call["request"] for call in train_lib.calls)
    assert plain.crosses == [] and crossed.crosses == [Cross(cross=["plan", "region"], hash=16)]
    assert plain.backup_dir != crossed.backup_dir  # another model: it must not resume the other's backup
    with pytest.raises(CrossError, match=r"crosses\[0\]: no column named 'regio'"):
        _train(tmp_path, columns=CROSS_COLUMNS, crosses=[{"cross": ["plan", "regio"], "hash": 16}])
    assert len(train_lib.calls) == 2


def test_train_removes_its_backup_after_success_and_keeps_it_for_a_retry(tmp_path: Path, train_lib: Recorder):
    def backs_up(arguments: dict[str, Any], fail: bool) -> TrainingResult:
        backup = Path(arguments["request"].backup_dir)
        backup.mkdir(parents=True, exist_ok=True)
        (backup / "chief").write_text("epoch 1")
        if fail:
            raise RuntimeError("worker lost")
        return RESULT

    another_step = tmp_path / "checkpoints" / "another-key" / "backup"
    another_step.mkdir(parents=True)
    train_lib.effect = lambda arguments: backs_up(arguments, fail=True)
    with pytest.raises(RuntimeError, match="worker lost"):
        _train(tmp_path)
    backup = Path(train_lib.calls[0]["request"].backup_dir)
    assert (backup / "chief").read_text() == "epoch 1"

    train_lib.effect = lambda arguments: backs_up(arguments, fail=False)
    _train(tmp_path)  # the retry: the same step, so the same backup
    assert Path(train_lib.calls[1]["request"].backup_dir) == backup
    assert not backup.parent.exists()
    assert another_step.is_dir()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_settings": {"hidden_units": [0]}}, "hidden_units"),
        ({"training_settings": {"epochs": 0}}, "epochs"),
        ({"training_settings": {"epochz": 3}}, "epochz"),
        ({"training_settings": {"mixed_precision": "fp8"}}, "mixed_precision"),
    ],
)
def test_train_refuses_invalid_settings_before_training(tmp_path: Path, train_lib: Recorder, changes, field):
    with pytest.raises(pydantic.ValidationError, match=field):
        _train(tmp_path, **changes)
    assert train_lib.calls == []
    assert not (tmp_path / "checkpoints").exists()


def test_train_reads_the_row_counts_preprocess_records(tmp_path: Path, preprocess_lib, train_lib: Recorder):
    """The metadata keys are written by one adapter and read by the other: they must agree."""
    artifacts = _preprocess()
    _train(tmp_path, transformed=artifacts["transformed"])
    request = train_lib.only["request"]
    assert (request.train_examples, request.eval_examples) == (COUNTS["train"], COUNTS["eval"])


# ---------------------------------------------------------------------------------------------------------------
# train on the cluster (the TFJob launcher). tests/train_cluster/test_cluster_component.py runs it against a fake
# Kubernetes API; these pin what it hands the launcher library: the manifest parameters and the wait.

CLUSTER = {
    "image": "registry.example.com/bigtrain-gpu@sha256:" + "1" * 64,
    "namespace": "ml-team",
    "service_account": "bigtrain-runner",
    "resources": {"cpu_request": "4", "cpu_limit": "8", "memory_request": "16G", "memory_limit": "32G"},
    "gpu": {"accelerator": "nvidia.com/gpu", "count": 2, "node_selector": {"pool": "a100"}},
    "shared_pvc": "bigtrain-shared",
    "shared_mount_path": "/mnt/shared",
    "timeout_seconds": 600,
}
CLUSTER_RESULT = {"best_eval_auc": 0.8, "epochs_run": 2, "workers": 3, "chief": True}


@pytest.fixture
def cluster_lib(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    import kubernetes

    from components.train import cluster_launcher, tfjob

    manifest = Recorder.of(tfjob.train_step_manifest, returns={"kind": "TFJob"})
    launched = Recorder.of(
        cluster_launcher.train_with_tfjob,
        effect=lambda arguments: (arguments["manifest_for"]("/mnt/shared/ckpt/staged/request.json"), CLUSTER_RESULT)[1],
    )
    configured: list[bool] = []
    monkeypatch.setattr(tfjob, "train_step_manifest", manifest)
    monkeypatch.setattr(cluster_launcher, "train_with_tfjob", launched)
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda: configured.append(True))
    return types.SimpleNamespace(manifest=manifest, launched=launched, configured=configured)


def _train_on_cluster(tmp_path: Path, **changes: Any) -> tuple[float, dict[str, Any]]:
    from components.train.cluster_component import train_on_cluster

    arguments = {
        "transformed": remote(Dataset, "preprocess/transformed", train_rows=61, eval_rows=17),
        "transform_graph": remote(Artifact, "preprocess/transform_graph"),
        "columns": COLUMNS,
        "crosses": [],
        "model_settings": MODEL,
        "training_settings": {"epochs": 2, "workers": 3},
        "warm_start_from": "",
        "checkpoint_root": "/mnt/shared/.bigtrain/checkpoints",
        **VERSIONS,
        **CLUSTER,
        "model": local(Model, tmp_path, "model"),
        "training_logs": local(Artifact, tmp_path, "training_logs"),
        **changes,
    }
    return train_on_cluster(**arguments), arguments


def _cluster_key(arguments: dict[str, Any], crosses: list[Cross] | None = None) -> str:
    """The resume key of ``train_on_cluster`` called with ``arguments`` (its settings are epochs 2 on 3 workers)."""
    return resume_key(
        "code-1",
        "data-1",
        ModelSettings(**MODEL),
        TrainingSettings(epochs=2, workers=3),
        crosses or [],
        columns=parse_columns(arguments["columns"]),
        inputs=[arguments["transformed"].uri, arguments["transform_graph"].uri],
        warm_start_from=arguments["warm_start_from"],
    )


def test_cluster_train_hands_its_cluster_parameters_to_the_tfjob(tmp_path: Path, cluster_lib):
    auc, arguments = _train_on_cluster(tmp_path)
    key = _cluster_key(arguments)
    launched = cluster_lib.launched.only
    assert cluster_lib.configured == [True]
    assert launched["staging"] == f"/mnt/shared/.bigtrain/checkpoints/{key}"
    assert launched["request"].backup_dir == f"/mnt/shared/.bigtrain/checkpoints/{key}/backup"
    assert launched["request"].model_dir == arguments["model"].path
    assert launched["request"].transformed_dir == arguments["transformed"].path
    assert launched["namespace"] == "ml-team"
    assert launched["timeout_seconds"] > CLUSTER["timeout_seconds"]  # the operator's deadline strikes first
    assert type(launched["api"]).__name__ == "CustomObjectsApi" and type(launched["core"]).__name__ == "CoreV1Api"
    assert cluster_lib.manifest.only == {
        "key": key,
        "request_path": "/mnt/shared/ckpt/staged/request.json",
        "workers": 3,
        **CLUSTER,
    }
    assert auc == 0.8 and isinstance(auc, float)
    assert arguments["model"].metadata == {"framework": "tensorflow", "best_eval_auc": 0.8}
    assert arguments["training_logs"].metadata == CLUSTER_RESULT


def test_cluster_train_passes_both_row_counts_like_the_local_step(tmp_path: Path, cluster_lib):
    _train_on_cluster(tmp_path)
    request = cluster_lib.launched.only["request"]
    assert (request.train_examples, request.eval_examples) == (61, 17)


def test_cluster_train_carries_the_crosses_like_the_local_step(tmp_path: Path, cluster_lib):
    _, arguments = _train_on_cluster(tmp_path, columns=CROSS_COLUMNS, crosses=CROSSES)
    launched = cluster_lib.launched.only
    crosses = [Cross(cross=["plan", "region"], hash=16)]
    assert launched["request"].crosses == crosses
    key = _cluster_key(arguments, crosses)
    assert launched["staging"] == f"/mnt/shared/.bigtrain/checkpoints/{key}"
    with pytest.raises(CrossError, match=r"crosses\[0\]: 'age' is a float column"):
        _train_on_cluster(tmp_path, columns=CROSS_COLUMNS, crosses=[{"cross": ["age", "plan"], "hash": 4}])
    assert len(cluster_lib.launched.calls) == 1


@pytest.mark.parametrize(
    ("checkpoint_root", "accepted"),
    [
        ("/mnt/shared/ckpt", True),
        ("/mnt/shared/a/../ckpt", True),
        ("/mnt/shared-other/ckpt", False),  # a sibling that merely starts with the mount path
        ("/mnt/shared/../elsewhere/ckpt", False),
    ],
)
def test_cluster_train_stages_only_on_the_shared_volume(tmp_path: Path, cluster_lib, checkpoint_root, accepted):
    if accepted:
        _train_on_cluster(tmp_path, checkpoint_root=checkpoint_root, shared_mount_path="/mnt/shared/")
        assert cluster_lib.launched.only["staging"].startswith("/mnt/shared/ckpt/")
        return
    with pytest.raises(ValueError, match="is not on the shared volume mounted at '/mnt/shared'"):
        _train_on_cluster(tmp_path, checkpoint_root=checkpoint_root)
    assert cluster_lib.configured == [] and cluster_lib.launched.calls == []


# ---------------------------------------------------------------------------------------------------------------
# resolve-warm-start and resolve-baseline (push itself is not covered here)


def _entry(version: int, path: str) -> registry.RegistryEntry:
    return registry.RegistryEntry(
        version=version,
        path=path,
        model_digest="d",
        pushed_at="2026-01-01T00:00:00Z",
        metrics={"auc": 0.8},
        config_hash="c",
        data_fingerprint="f",
        code_version="v",
    )


@pytest.mark.parametrize(
    ("entry", "expected"), [(None, ("", 0)), (_entry(7, "/serving/churn/7"), ("/serving/churn/7", 7))]
)
def test_resolve_warm_start_outputs_the_latest_version_or_none(monkeypatch, entry, expected):
    latest = Recorder.of(registry.latest, returns=entry)
    monkeypatch.setattr(registry, "latest", latest)
    outputs = resolve_warm_start("/serving", "churn")
    assert latest.only == {"serving_root": "/serving", "model_name": "churn"}
    assert outputs._fields == inspect.signature(resolve_warm_start).return_annotation._fields
    assert tuple(outputs) == expected


@pytest.mark.parametrize(
    ("chosen", "expected", "said"),
    [
        (baseline.Baseline("", 0, 0, False), ("", 0, 0, False), False),
        (baseline.Baseline("/serving/churn/7", 7, 7, False), ("/serving/churn/7", 7, 7, False), False),
        (baseline.Baseline("", 0, 7, True), ("", 0, 7, True), True),
        # Served and pushed against version 6: that run's baseline again, so its evaluation comes from the cache.
        (baseline.Baseline("/serving/churn/6", 6, 7, True), ("/serving/churn/6", 6, 7, True), True),
    ],
)
def test_resolve_baseline_outputs_the_chosen_baseline(monkeypatch, capsys, chosen, expected, said):
    choose = Recorder.of(baseline.choose_baseline, returns=chosen)
    monkeypatch.setattr(baseline, "choose_baseline", choose)
    model = remote(Model, "train/model")
    outputs = resolve_baseline(model, "/serving", "churn")
    assert choose.only == {"serving_root": "/serving", "model_name": "churn", "candidate_dir": model.path}
    assert outputs._fields == inspect.signature(resolve_baseline).return_annotation._fields
    assert tuple(outputs) == expected
    assert ("the candidate is served version 7" in capsys.readouterr().out) is said


# ---------------------------------------------------------------------------------------------------------------
# summarize and finalize (tests/unit/test_notify.py runs them with the real library and a local webhook)

FACTS = {"rows": {"input": 100}, "blessed": True, "metrics": {"overall": {"auc": 0.8}}, "pushed": {"version": 4}}
HEADLINE = {"metrics": {"auc": 0.8, "accuracy": 0.7}, "blessed": True, "pushed_version": 4}


def test_summarize_writes_the_facts_and_posts_the_headline(tmp_path: Path, monkeypatch, capsys):
    collect = Recorder.of(run_summary.collect, returns=FACTS)
    headline = Recorder.of(run_summary.headline, returns=HEADLINE)
    post = Recorder.of(webhook.post_status, returns="notified: webhook answered 204")
    for name, fake in (("collect", collect), ("headline", headline)):
        monkeypatch.setattr(run_summary, name, fake)
    monkeypatch.setattr(webhook, "post_status", post)
    names = ("statistics", "evaluation", "pushed", "training_logs", "anomalies")
    inputs = {name: remote(Artifact, name) for name in names}
    out = local(Artifact, tmp_path, "run_summary")
    summarize(
        **inputs,
        pipeline_name="bigtrain-churn",
        run_name="run-7",
        data_spans=["41", "42"],
        run_summary=out,
        served_version=4,
        candidate_is_served=True,
    )

    assert collect.only == {
        "statistics_dir": inputs["statistics"].path,
        "evaluation_dir": inputs["evaluation"].path,
        "pushed_dir": inputs["pushed"].path,
        "training_dir": inputs["training_logs"].path,
        "served_version": 4,
        "candidate_is_served": True,
        "data_spans": ["41", "42"],
        "anomalies_dir": inputs["anomalies"].path,
        "run_dir": str(tmp_path),  # <run dir>/<task>/<output>: this run's, for a search's cached trials
    }
    assert headline.calls[0] == {"facts": FACTS}
    written = json.loads((Path(out.path) / RUN_SUMMARY_FILE).read_text())
    assert written == {"pipeline": "bigtrain-churn", "run": "run-7", **FACTS}
    assert out.metadata == HEADLINE["metrics"]
    payload = {"pipeline": "bigtrain-churn", "run": "run-7", "state": "SUCCEEDED", **HEADLINE}
    assert post.only == {"payload": payload, "url": None}  # the URL comes from the environment, never a parameter
    assert "notified: webhook answered 204" in capsys.readouterr().out


@pytest.mark.parametrize(("state", "posted"), [("FAILED", True), ("CANCELLED", True), ("SUCCEEDED", False)])
def test_finalize_records_every_final_state_and_posts_all_but_success(tmp_path: Path, monkeypatch, state, posted):
    record = {"pipeline": "bigtrain-churn", "run": "runs/42", "state": state, "failed_step": None, "error": "boom"}
    final_status = Recorder.of(status.final_status, returns=record)
    post = Recorder.of(webhook.post_status, returns="not notified: BIGTRAIN_WEBHOOK_URL is not set")
    monkeypatch.setattr(status, "final_status", final_status)
    monkeypatch.setattr(webhook, "post_status", post)
    final = dsl.PipelineTaskFinalStatus(
        state=state,
        pipeline_job_resource_name="runs/42",
        pipeline_task_name="exit-handler-1",
        error_code=9,
        error_message="boom",
    )
    out = local(Artifact, tmp_path, "run_status")
    steps = ["resolve-data", "ingest", "train"]

    assert finalize(final, "bigtrain-churn", steps, out) == state
    assert final_status.only == {
        "pipeline_name": "bigtrain-churn",
        "state": state,
        "run": "runs/42",
        "error_message": "boom",
        "steps": steps,
    }
    assert json.loads((Path(out.path) / RUN_STATUS_FILE).read_text()) == record
    assert out.metadata == {k: v for k, v in record.items() if k != "failed_step"}  # None is not metadata
    assert post.calls == ([{"payload": record, "url": None}] if posted else [])
