"""KFP adapter for ingest: parameters and artifact paths in, ``beam_jobs.ingest`` does the work."""

from kfp.dsl import Dataset, Output


def ingest(
    source: str,
    data_format: str,
    columns: dict,
    beam_runner: str,
    beam_args: list,
    code_version: str,
    data_fingerprint: str,
    examples: Output[Dataset],
) -> int:
    """Read the raw files into gzipped tf.Example TFRecords; returns the row count.

    Args:
        source: The concrete file glob resolve-data chose (the newest span).
        data_format: The input format (``csv``).
        columns: The data contract: every column with its type and role.
        beam_runner: The Beam runner (DirectRunner locally; Dataflow/Flink/Spark at scale).
        beam_args: Extra Beam pipeline flags.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
    """
    from beam_jobs.contract import parse_columns
    from beam_jobs.ingest import run_ingest

    if data_format != "csv":
        raise ValueError(f"data.format {data_format!r} is not supported yet")
    result = run_ingest(source, parse_columns(columns), examples.path, beam_runner, beam_args)
    examples.metadata.update({"rows": result.rows, "files": len(result.files), "data_fingerprint": data_fingerprint})
    return result.rows
