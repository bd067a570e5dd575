"""The trials of a search: Optuna samplers asked for every trial at once (a DAG cannot feed results back).

Each trial is asked in turn from one in-memory study with fixed distributions, so with the same seed the first N
trials of a search with N+1 trials are exactly the N trials of the smaller search: adding a trial re-runs only the
new one (the others come from the KFP cache).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

from components.tune.space import Dimension, TuningSettings, apply_overrides

# Told for every asked trial so that samplers which infer the space from finished trials (QMC) sample it; the
# in-memory study is discarded, nothing learns from this value.
PLACEHOLDER_VALUE = 0.0


@dataclass(frozen=True)
class Trial:
    """One trial: its index, the tuned settings' values and the full, validated settings it trains with."""

    index: int
    overrides: dict[str, Any]
    model_settings: dict[str, Any]
    training_settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _distribution(dimension: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dimension.distribution == "choice":  # by index: Optuna's choices must be scalars, hidden_units are lists
        return CategoricalDistribution(list(range(len(dimension.choices))))
    if dimension.distribution == "int_uniform":
        return IntDistribution(int(dimension.low), int(dimension.high))
    return FloatDistribution(dimension.low, dimension.high, log=dimension.distribution == "log_uniform")


def _sampler(tuning: TuningSettings, dimensions: list[Dimension]) -> Any:
    from optuna.exceptions import ExperimentalWarning
    from optuna.samplers import GridSampler, QMCSampler, RandomSampler

    if tuning.sampler == "grid":
        return GridSampler({d.key: list(range(len(d.choices))) for d in dimensions}, seed=tuning.seed)
    if tuning.sampler == "qmc":
        warnings.filterwarnings("ignore", category=ExperimentalWarning)  # QMCSampler is "experimental" since 3.0
        return QMCSampler(
            qmc_type="sobol",
            scramble=True,
            seed=tuning.seed,
            independent_sampler=RandomSampler(seed=tuning.seed),
            warn_independent_sampling=False,
        )
    return RandomSampler(seed=tuning.seed)


def _value(dimension: Dimension, sampled: Any) -> Any:
    if dimension.distribution == "choice":
        return dimension.choices[int(sampled)]
    if dimension.distribution == "int_uniform":
        return int(sampled)
    return float(sampled)


def suggest(tuning: TuningSettings, model: dict[str, Any], training: dict[str, Any]) -> list[Trial]:
    """The search's trials, in order: each the base ``model``/``training`` settings with its sampled values applied
    (validated; SpaceError naming the key if a combination is refused)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dimensions = tuning.dimensions()
    distributions = {d.key: _distribution(d) for d in dimensions}
    study = optuna.create_study(sampler=_sampler(tuning, dimensions), direction="maximize")
    trials = []
    for index in range(tuning.trials):
        asked = study.ask(distributions)
        overrides = {d.key: _value(d, asked.params[d.key]) for d in dimensions}
        if index < tuning.trials - 1:  # nothing is asked after the last (and telling it stops an exhausted grid)
            study.tell(asked, PLACEHOLDER_VALUE)
        model_settings, training_settings = apply_overrides(model, training, overrides)
        trials.append(Trial(index, overrides, model_settings, training_settings))
    return trials
