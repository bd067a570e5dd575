"""KFP adapter for train: ``components.train.trainer`` does the work."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    transformed: Input[Dataset],
    transform_graph: Input[Artifact],
    columns: dict,
    model_settings: dict,
    training_settings: dict,
    code_version: str,
    data_fingerprint: str,
    model: Output[Model],
    training_logs: Output[Artifact],
) -> float:
    """Train the Keras model and export it with the transform attached; returns the best eval AUC."""
    from dataclasses import asdict

    from beam_jobs.contract import parse_columns
    from components.train.trainer import train as run_training

    result = run_training(
        transformed.path,
        transform_graph.path,
        parse_columns(columns),
        model_settings,
        training_settings,
        model.path,
        training_logs.path,
    )
    model.metadata.update({"framework": "tensorflow", "best_eval_auc": result.best_eval_auc})
    training_logs.metadata.update(asdict(result))
    return result.best_eval_auc
