"""KFP adapter for train on a cluster: a launcher that runs the training as a Kubeflow training-operator TFJob.

The DAG uses it instead of ``components.train.component.train`` on Kubeflow when ``training.workers`` > 1 or
``cluster.gpu`` is set. This pod only stages files and waits (on CPU); the job's pods get the GPUs.
``components.train.cluster_launcher`` does the work.
"""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train_on_cluster(
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
    image: str,
    namespace: str,
    service_account: str,
    resources: dict,
    gpu: dict,
    shared_pvc: str,
    shared_mount_path: str,
    timeout_seconds: int,
    model: Output[Model],
    training_logs: Output[Artifact],
) -> float:
    """Train the Keras model as a TFJob of ``training.workers`` pods; returns the best validation AUC.

    Args:
        transformed: Preprocess's transformed train/eval splits (copied to the shared volume for the job).
        transform_graph: The tf.Transform graph, attached to the exported model.
        columns: The data contract.
        crosses: The feature crosses preprocess computed (each a categorical model input).
        model_settings: The config's ``model`` section.
        training_settings: The config's ``training`` section; ``workers`` is the number of TFJob worker pods.
        warm_start_from: The latest pushed model to initialize from (``training.warm_start``), or empty.
        checkpoint_root: Where this step stages its job (``<checkpoint_root>/<key>/``, the backup in ``backup/``),
            keyed so that a retry of the same step resumes. Must lie on the shared volume.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
        image: The image of the job's pods (``cluster.gpu_image``), ideally by digest.
        namespace: The namespace the TFJob is created in (``cluster.namespace``).
        service_account: The service account of the job's pods (``cluster.service_account``).
        resources: CPU and memory of each worker pod (``cluster.resources.train``).
        gpu: The GPU pool of the worker pods (``cluster.gpu``: accelerator, count per worker, node selector,
            tolerations), or empty for CPU workers.
        shared_pvc: The ReadWriteMany claim mounted in this pod and in every worker (``cluster.shared_volume``).
        shared_mount_path: Where that claim is mounted, the same path in every pod.
        timeout_seconds: How long the job may run (``training.worker_timeout_seconds``); then it is stopped.
    """
    import os

    from kubernetes import client
    from kubernetes import config as kube_config

    from components.train.cluster_launcher import staging_dir, train_with_tfjob
    from components.train.request import step_request
    from components.train.tfjob import train_step_manifest

    root = os.path.normpath(checkpoint_root)
    if not root.startswith(os.path.normpath(shared_mount_path) + os.sep):
        raise ValueError(
            f"checkpoint_root {checkpoint_root!r} is not on the shared volume mounted at {shared_mount_path!r}: "
            "the job's pods could not read what this step stages there"
        )
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
        checkpoint_root=root,
        model_dir=model.path,
        logs_dir=training_logs.path,
    )
    staging = staging_dir(root, key)  # the backup is in its backup/ subdirectory

    def manifest_for(request_path: str) -> dict:
        return train_step_manifest(
            key,
            request_path,
            workers=request.training.workers,
            image=image,
            namespace=namespace,
            service_account=service_account,
            resources=resources,
            gpu=gpu,
            shared_pvc=shared_pvc,
            shared_mount_path=shared_mount_path,
            timeout_seconds=timeout_seconds,
        )

    kube_config.load_incluster_config()
    with client.ApiClient() as api_client:
        result = train_with_tfjob(
            request,
            staging,
            manifest_for,
            namespace,
            api=client.CustomObjectsApi(api_client),
            core=client.CoreV1Api(api_client),
            # The operator stops the job at its deadline (activeDeadlineSeconds); this waits a little longer.
            timeout_seconds=timeout_seconds + 300,
        )
    # The chief's TrainingResult, as the local step records it (no TensorFlow import in this pod).
    model.metadata.update({"framework": "tensorflow", "best_eval_auc": result["best_eval_auc"]})
    training_logs.metadata.update(result)
    return float(result["best_eval_auc"])
