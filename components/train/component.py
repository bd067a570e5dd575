"""KFP adapter for train: ``components.train.launch`` runs one process or N local workers of the trainer."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    transformed: Input[Dataset],
    transform_graph: Input[Artifact],
    columns: dict,
    crosses: list,
    model_settings: dict,
    training_settings: dict,
    warm_start_from: str,
    checkpoint_root: str,
    code_version: str,
    data_fingerprint: str,
    model: Output[Model],
    training_logs: Output[Artifact],
) -> float:
    """Train the Keras model and export it with the transform attached; returns the best validation AUC.

    Args:
        transformed: Preprocess's transformed train/eval splits.
        transform_graph: The tf.Transform graph, attached to the exported model.
        columns: The data contract.
        crosses: The feature crosses preprocess computed (each a categorical model input).
        model_settings: The config's ``model`` section.
        training_settings: The config's ``training`` section (``workers`` > 1 starts that many local workers).
        warm_start_from: The latest pushed model to initialize from (``training.warm_start``), or empty.
        checkpoint_root: Where this step's backup lives, keyed so that a retry of the same step resumes.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
    """
    from components.step_exit import exit_promptly_on_success

    exit_promptly_on_success()  # skip interpreter teardown once the step has succeeded

    import os
    import shutil
    from dataclasses import asdict

    from components.train.launch import train_locally
    from components.train.request import step_request

    key, request = step_request(
        transformed,
        transform_graph,
        columns=columns,
        crosses=crosses,
        model_settings=model_settings,
        training_settings=training_settings,
        warm_start_from=warm_start_from,
        code_version=code_version,
        data_fingerprint=data_fingerprint,
        checkpoint_root=checkpoint_root,
        model_dir=model.path,
        logs_dir=training_logs.path,
    )
    result = train_locally(request)
    # Finished: nothing to resume any more (BackupAndRestore already emptied its directory).
    shutil.rmtree(os.path.join(checkpoint_root, key), ignore_errors=True)
    model.metadata.update({"framework": "tensorflow", "best_eval_auc": result.best_eval_auc})
    training_logs.metadata.update(asdict(result))
    return result.best_eval_auc
