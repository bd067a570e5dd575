"""KFP adapters for the end of a run: summarize (last step of a run that got that far) and finalize (exit handler)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Output


def summarize(
    statistics: Input[Artifact],
    evaluation: Input[Artifact],
    pushed: Input[Artifact],
    training_logs: Input[Artifact],
    anomalies: Input[Artifact],
    pipeline_name: str,
    run_name: str,
    data_spans: list,
    run_summary: Output[Artifact],
    served_version: int = 0,
    candidate_is_served: bool = False,
) -> None:
    """Write the run's headline facts and post them to the webhook (when one is configured).

    Args:
        statistics: Ingest's row counts and quarantine reasons.
        evaluation: Evaluate's metrics and blessing.
        pushed: Push's record of what was published.
        training_logs: Train's result, for the validation AUC next to the test metrics.
        anomalies: validate-data's report: the mild data anomalies of the run and the served version compared with.
        pipeline_name: The KFP pipeline name, for the notification.
        run_name: The KFP run (job) name, for the notification.
        data_spans: The data spans the run read, oldest first ([]: the source has no spans).
        served_version: The registry's latest version when the run evaluated (0: none).
        candidate_is_served: True when the trained model is byte-identical to that version.
    """
    import json
    import os

    from beam_jobs.layout import RUN_SUMMARY_FILE
    from components.notify.run_summary import collect, headline
    from components.notify.webhook import post_status
    from components.tune.select import run_dir_of

    facts = collect(
        statistics.path,
        evaluation.path,
        pushed.path,
        training_logs.path,
        served_version,
        candidate_is_served,
        data_spans=data_spans,
        anomalies_dir=anomalies.path,
        run_dir=run_dir_of(run_summary.uri),  # this run's: a search's trials outside it came from the cache
    )
    os.makedirs(run_summary.path, exist_ok=True)
    with open(os.path.join(run_summary.path, RUN_SUMMARY_FILE), "w") as handle:
        json.dump({"pipeline": pipeline_name, "run": run_name, **facts}, handle, indent=2, sort_keys=True)
    announced = headline(facts)
    run_summary.metadata.update(announced["metrics"])
    print(post_status({"pipeline": pipeline_name, "run": run_name, "state": "SUCCEEDED", **announced}))


def finalize(
    status: dsl.PipelineTaskFinalStatus,
    pipeline_name: str,
    steps: list,
    run_status: Output[Artifact],
) -> str:
    """Exit handler: always record the run's final state; post it to the webhook when the run did not succeed.

    Args:
        status: The final status KFP hands an exit handler.
        pipeline_name: The KFP pipeline name, for the notification.
        steps: The pipeline's step names, to name the failed one.
    """
    import json
    import os

    from beam_jobs.layout import RUN_STATUS_FILE
    from components.notify.status import final_status
    from components.notify.webhook import post_status

    record = final_status(pipeline_name, status.state, status.pipeline_job_resource_name, status.error_message, steps)
    os.makedirs(run_status.path, exist_ok=True)
    with open(os.path.join(run_status.path, RUN_STATUS_FILE), "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    run_status.metadata.update({k: v for k, v in record.items() if v is not None})
    # A run that succeeded was announced, with its metrics, by summarize.
    if record["state"] != "SUCCEEDED":
        print(post_status(record))
    return record["state"]
