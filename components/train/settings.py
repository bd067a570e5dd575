"""Model and training settings: one typed model each, used by the run config and validated again on arrival in
the train step (KFP carries them as plain dicts), so no default is written twice.

No TensorFlow import here: the config loader and the CLI use these without paying for it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Precision = Literal["off", "float16", "bfloat16"]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Settings):
    """The network: hidden layers, dropout, embedding size cap and L2 weight decay on the dense kernels."""

    hidden_units: list[int] = Field(default=[64, 32], min_length=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    max_embedding_dim: int = Field(default=16, ge=1)
    l2: float = Field(default=0.0, ge=0, description="L2 regularization factor on dense kernels")

    @field_validator("hidden_units")
    @classmethod
    def _positive(cls, units: list[int]) -> list[int]:
        if any(u < 1 for u in units):
            raise ValueError("every layer needs at least one unit")
        return units


class TrainingSettings(_Settings):
    """How to train: schedule, precision, stopping, workers, warm start."""

    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=256, ge=1, description="per worker; the global batch is batch_size × workers")
    learning_rate: float = Field(default=1e-3, gt=0, description="peak learning rate, reached after warmup")
    warmup_epochs: float = Field(default=0.0, ge=0, description="linear warmup, then cosine decay to 0")
    early_stopping_patience: int = Field(default=2, ge=1)
    clipnorm: float | None = Field(default=1.0, gt=0)
    mixed_precision: Precision = "off"
    seed: int = 42
    workers: int = Field(default=1, ge=1, le=64, description="training processes; >1 is multi-worker")
    worker_timeout_seconds: int = Field(default=6 * 3600, ge=10, description="a worker silent longer is stopped")
    warm_start: bool = Field(default=False, description="start from the latest pushed model when compatible")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _legacy_bool(cls, value: Any) -> Any:
        # Configs written before float16 existed said `mixed_precision: true` for bfloat16.
        if isinstance(value, bool):
            return "bfloat16" if value else "off"
        return value
