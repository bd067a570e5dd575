"""KFP adapter for preprocess: ``beam_jobs.preprocess`` does the work."""

from kfp.dsl import Artifact, Dataset, Input, Output


def preprocess(
    examples: Input[Dataset],
    columns: dict,
    split_ratios: dict,
    beam_runner: str,
    beam_args: list,
    code_version: str,
    data_fingerprint: str,
    transformed: Output[Dataset],
    raw_examples: Output[Dataset],
    transform_graph: Output[Artifact],
    quarantine: Output[Dataset],
    statistics: Output[Artifact],
) -> None:
    """Clean, quarantine, split and tf.Transform the ingested examples.

    Args:
        examples: Ingest's tf.Example records.
        columns: The data contract: types, roles, transforms and missing-value rules.
        split_ratios: train/eval/test ratios; the split hashes the key column.
        beam_runner: The Beam runner (DirectRunner locally; Dataflow/Flink/Spark at scale).
        beam_args: Extra Beam pipeline flags.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
    """
    import os
    from dataclasses import asdict

    from beam_jobs.contract import parse_columns
    from beam_jobs.layout import SPLITS, STATS_FILE, records_files, rows_key
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    paths = PreprocessPaths(
        transformed=transformed.path,
        raw=raw_examples.path,
        transform_graph=transform_graph.path,
        quarantine=quarantine.path,
        stats=os.path.join(statistics.path, STATS_FILE),
    )
    pattern = records_files(examples.path)
    stats = run_preprocess(pattern, parse_columns(columns), split_ratios, paths, beam_runner, beam_args)
    counts = asdict(stats)
    statistics.metadata.update(counts)
    quarantine.metadata["rows"] = stats.quarantined
    for split in SPLITS:
        transformed.metadata[rows_key(split)] = counts[split]
        raw_examples.metadata[rows_key(split)] = counts[split]
