"""Model and training settings: one typed model each, used by the run config and validated again on arrival in
the train step (KFP carries them as plain dicts), so no default is written twice.

No TensorFlow import here: the config loader and the CLI use these without paying for it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Precision = Literal["off", "float16", "bfloat16"]
# Caps that catch a typo (epochs: 1e9) at config time rather than as a run that never ends or never fits in memory.
MAX_EPOCHS = 10_000
MAX_BATCH_SIZE = 1_000_000
MAX_LAYERS = 32
MAX_UNITS = 65_536  # per hidden layer
MAX_EMBEDDING_DIM = 1_024


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Settings):
    """The network: hidden layers, dropout, embedding size cap and L2 weight decay on the dense kernels."""

    hidden_units: list[int] = Field(default=[64, 32], min_length=1, max_length=MAX_LAYERS)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    max_embedding_dim: int = Field(default=16, ge=1, le=MAX_EMBEDDING_DIM)
    l2: float = Field(default=0.0, ge=0, description="L2 regularization factor on dense kernels")

    @field_validator("hidden_units")
    @classmethod
    def _positive(cls, units: list[int]) -> list[int]:
        if any(u < 1 for u in units):
            raise ValueError("every layer needs at least one unit")
        if any(u > MAX_UNITS for u in units):
            raise ValueError(f"a layer takes at most {MAX_UNITS} units, got {max(units)}")
        return units


class PruningSettings(_Settings):
    """Magnitude pruning of the dense kernels while training, ramping sparsity from 0 at the start of epoch
    ``begin_epoch`` to ``final_sparsity`` at the end of epoch ``end_epoch`` (epochs counted from 1; 0 = from the
    first step; None = the last epoch). The exported model is the stripped, sparse one.

    Early stopping never ends a pruned run before ``end_epoch`` and never picks an epoch before it: the exported
    model always has ``final_sparsity``.
    """

    final_sparsity: float = Field(default=0.5, gt=0, lt=1, description="share of each dense kernel set to zero")
    begin_epoch: int = Field(default=0, ge=0, description="epochs trained before pruning begins")
    end_epoch: int | None = Field(default=None, ge=1, description="final sparsity reached at the end of this epoch")

    @model_validator(mode="after")
    def _ordered(self) -> PruningSettings:
        if self.end_epoch is not None and self.end_epoch <= self.begin_epoch:
            raise ValueError(f"end_epoch ({self.end_epoch}) must be greater than begin_epoch ({self.begin_epoch})")
        return self


class TrainingSettings(_Settings):
    """How to train: schedule, precision, stopping, workers, warm start."""

    epochs: int = Field(default=5, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(
        default=256, ge=1, le=MAX_BATCH_SIZE, description="per worker; the global batch is batch_size × workers"
    )
    learning_rate: float = Field(default=1e-3, gt=0, description="peak learning rate, reached after warmup")
    warmup_epochs: float = Field(default=0.0, ge=0, description="linear warmup, then cosine decay to 0")
    early_stopping_patience: int = Field(default=2, ge=1)
    clipnorm: float | None = Field(default=1.0, gt=0)
    mixed_precision: Precision = "off"
    seed: int = 42
    workers: int = Field(default=1, ge=1, le=64, description="training processes; >1 is multi-worker")
    worker_timeout_seconds: int = Field(default=6 * 3600, ge=10, description="a worker silent longer is stopped")
    warm_start: bool = Field(default=False, description="start from the latest pushed model when compatible")
    pruning: PruningSettings | None = Field(default=None, description="magnitude pruning for serving; off when absent")

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _legacy_bool(cls, value: Any) -> Any:
        # Configs written before float16 existed said `mixed_precision: true` for bfloat16.
        if isinstance(value, bool):
            return "bfloat16" if value else "off"
        return value

    @model_validator(mode="after")
    def _pruning_fits(self) -> TrainingSettings:
        pruning = self.pruning
        if pruning is None:
            return self
        if self.workers > 1:
            # tfmot 0.8.1's mask update fails under MultiWorkerMirroredStrategy on TF 2.21 (checked here:
            # "TypeError: tuple indices must be integers or slices, not MirroredVariable" in pruning_impl).
            raise ValueError(f"pruning needs workers: 1 (got {self.workers}); tfmot cannot prune multi-worker training")
        end = self.epochs if pruning.end_epoch is None else pruning.end_epoch
        if end > self.epochs:
            raise ValueError(f"pruning.end_epoch ({end}) must be at most epochs ({self.epochs})")
        if pruning.begin_epoch >= end:
            raise ValueError(f"pruning.begin_epoch ({pruning.begin_epoch}) must be less than epochs ({self.epochs})")
        return self

    def pruning_end_epoch(self) -> int:
        """The epoch at whose end pruning reaches its final sparsity (``epochs`` when not set); 0 without pruning."""
        if self.pruning is None:
            return 0
        return self.epochs if self.pruning.end_epoch is None else self.pruning.end_epoch
