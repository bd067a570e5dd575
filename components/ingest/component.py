"""KFP adapter for ingest: parameters and artifact paths in, ``beam_jobs.ingest`` does the work."""

from kfp.dsl import Artifact, Dataset, Output


def ingest(
    sources: list,
    data_format: str,
    dedupe_by_key: bool,
    columns: dict,
    split_ratios: dict,
    beam_runner: str,
    beam_args: list,
    code_version: str,
    data_fingerprint: str,
    examples: Output[Dataset],
    quarantine: Output[Dataset],
    statistics: Output[Artifact],
) -> int:
    """Read the raw files, type and clean every row, split the clean ones and quarantine the rest, in one pass.

    Args:
        sources: The concrete file globs resolve-data chose, one per data span, oldest first.
        data_format: The files' format: ``csv``, ``parquet``, ``jsonl`` or ``tfrecord`` (of tf.Example).
        dedupe_by_key: Keep only the first row of each key column value (oldest span, then file, then line) and
            quarantine the others as ``duplicate_key``.
        columns: The data contract: types, roles and missing-value rules of every column.
        split_ratios: train/eval/test ratios; the split hashes the key column.
        beam_runner: The Beam runner (DirectRunner locally; Dataflow/Flink/Spark at scale).
        beam_args: Extra Beam pipeline flags.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).

    Returns the number of input rows. ``examples`` holds typed raw tf.Examples per split (what tf.Transform, TFMA and
    the serving check read), ``quarantine`` every rejected row with its reason, ``statistics`` the counts.
    """
    from components.step_exit import exit_promptly_on_success

    exit_promptly_on_success()  # skip interpreter teardown once the step has succeeded

    import os

    from beam_jobs.contract import DATA_FORMATS, parse_columns
    from beam_jobs.ingest import IngestPaths, check_trainable, run_ingest
    from beam_jobs.layout import SPLITS, STATS_FILE, rows_key

    if data_format not in DATA_FORMATS:
        raise ValueError(f"data.format {data_format!r} is not one of {', '.join(DATA_FORMATS)}")
    paths = IngestPaths(
        examples=examples.path, quarantine=quarantine.path, stats=os.path.join(statistics.path, STATS_FILE)
    )
    contract = parse_columns(columns)
    stats = run_ingest(
        list(sources),
        contract,
        split_ratios,
        paths,
        beam_runner,
        beam_args,
        data_format=data_format,
        dedupe_by_key=dedupe_by_key,
    )
    check_trainable(stats, contract.label)  # no rows, or one class: stop here, before training
    counts = {split: getattr(stats, split) for split in SPLITS}
    examples.metadata.update({rows_key(split): n for split, n in counts.items()})
    examples.metadata.update({"files": len(stats.files), "data_fingerprint": data_fingerprint})
    quarantine.metadata["rows"] = stats.quarantined
    statistics.metadata.update(
        {"input": stats.input, **counts, "quarantined": stats.quarantined, **stats.quarantine_reasons}
    )
    return stats.input
