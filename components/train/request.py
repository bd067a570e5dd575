"""What one training process needs, as a JSON document: the same for the in-process run, the local worker
processes and the pods of a distributed job on the cluster (``python -m components.train.main REQUEST``)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from beam_jobs.contract import Columns, Cross, columns_to_dict, parse_columns, parse_crosses
from beam_jobs.layout import EVAL_SPLIT, TRAIN_SPLIT, rows_key
from components.train.settings import ModelSettings, TrainingSettings


class TrainRequest(BaseModel):
    """Inputs, settings and output locations of one training run (every process of it reads the same request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transformed_dir: str = Field(description="preprocess's transformed splits: <dir>/{train,eval}/part*")
    transform_graph_dir: str
    columns: dict[str, Any] = Field(description="the data contract, as beam_jobs.contract.columns_to_dict gives it")
    crosses: list[Cross] = Field(default_factory=list, description="the feature crosses preprocess computed")
    model: ModelSettings
    training: TrainingSettings
    model_dir: str = Field(description="where the chief exports the SavedModel")
    logs_dir: str = Field(description="history, curves, checkpoints and TensorBoard logs")
    backup_dir: str = Field(description="BackupAndRestore state; the same for every retry of the same step")
    warm_start_from: str = Field(default="", description="a SavedModel directory to initialize from, or empty")
    train_examples: int | None = Field(default=None, ge=0, description="rows in the train split, from preprocess")
    eval_examples: int | None = Field(default=None, ge=0, description="rows in the eval split, from preprocess")

    def write(self, path: str | Path) -> None:
        """Write the request as JSON."""
        Path(path).write_text(self.model_dump_json(indent=2))

    @classmethod
    def read(cls, path: str | Path) -> TrainRequest:
        """Read and validate a request written by :meth:`write`."""
        return cls.model_validate_json(Path(path).read_text())


def resume_key(
    code_version: str,
    data_fingerprint: str,
    model: ModelSettings,
    training: TrainingSettings,
    crosses: Sequence[Cross] = (),
    *,
    columns: Columns,
    inputs: Sequence[str],
    warm_start_from: str,
) -> str:
    """A key that is the same for every retry of one train step and different for any other: the step's code, its
    data, its columns and crosses, its input artifacts (``inputs``: the transformed data's and the transform graph's
    URIs), its warm start and its settings (what KFP's cache key holds too). Names the step's backup directory.

    The input URIs stand for what only preprocess and ingest see (the split, dedupe, their code): KFP hands a cached
    step's outputs on under their first URIs, so a retry or a rerun over cached preprocessing resumes, and new
    preprocessing does not restore a model trained on other rows or other vocabulary ids.
    """
    payload = json.dumps(
        [
            code_version,
            data_fingerprint,
            columns_to_dict(columns),
            [cross.model_dump(mode="json") for cross in crosses],
            list(inputs),
            warm_start_from,
            model.model_dump(mode="json"),
            training.model_dump(mode="json"),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StepArtifact(Protocol):
    """An input artifact as a KFP component receives it."""

    uri: str
    path: str
    metadata: Mapping[str, Any]


def step_request(
    transformed: StepArtifact,
    transform_graph: StepArtifact,
    *,
    columns: dict[str, Any],
    crosses: list[Any],
    model_settings: dict[str, Any],
    training_settings: dict[str, Any],
    warm_start_from: str,
    code_version: str,
    data_fingerprint: str,
    checkpoint_root: str,
    model_dir: str,
    logs_dir: str,
) -> tuple[str, TrainRequest]:
    """A train step's resume key and its request, from the step's parameters (both train components use it).

    The backup lives in ``<checkpoint_root>/<key>/backup``: every retry of the step finds it there.
    """
    model = ModelSettings.model_validate(model_settings)
    training = TrainingSettings.model_validate(training_settings)
    column_specs = parse_columns(columns)
    cross_specs = parse_crosses(crosses, column_specs)
    key = resume_key(
        code_version,
        data_fingerprint,
        model,
        training,
        cross_specs,
        columns=column_specs,
        inputs=[transformed.uri, transform_graph.uri],
        warm_start_from=warm_start_from,
    )
    request = TrainRequest(
        transformed_dir=transformed.path,
        transform_graph_dir=transform_graph.path,
        columns=columns,
        crosses=cross_specs,
        model=model,
        training=training,
        model_dir=model_dir,
        logs_dir=logs_dir,
        backup_dir=os.path.join(checkpoint_root, key, "backup"),
        warm_start_from=warm_start_from,
        train_examples=transformed.metadata.get(rows_key(TRAIN_SPLIT)),
        eval_examples=transformed.metadata.get(rows_key(EVAL_SPLIT)),
    )
    return key, request
