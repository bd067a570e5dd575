"""KFP adapter for preprocess: ``beam_jobs.preprocess`` does the work."""

from kfp.dsl import Artifact, Dataset, Input, Output


def preprocess(
    examples: Input[Dataset],
    columns: dict,
    crosses: list,
    beam_runner: str,
    beam_args: list,
    code_version: str,
    data_fingerprint: str,
    transformed: Output[Dataset],
    transform_graph: Output[Artifact],
) -> None:
    """Analyze the train split with tf.Transform and transform every split with the same graph.

    Args:
        examples: Ingest's typed raw examples, one directory per split.
        columns: The data contract: types, roles, transforms, clipping and missing-value rules.
        crosses: The feature crosses (``[{cross: [a, b], hash: N}]``), each one more transformed feature.
        beam_runner: The Beam runner (DirectRunner locally; Dataflow/Flink/Spark at scale).
        beam_args: Extra Beam pipeline flags.
        code_version: This step's code hash (a cache key).
        data_fingerprint: The input data's fingerprint (a cache key).
    """
    from components.step_exit import exit_promptly_on_success

    exit_promptly_on_success()  # skip interpreter teardown once the step has succeeded

    from beam_jobs.contract import parse_columns, parse_crosses
    from beam_jobs.layout import SPLITS, rows_key
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    contract = parse_columns(columns)
    cross_config = parse_crosses(crosses, contract)
    paths = PreprocessPaths(transformed=transformed.path, transform_graph=transform_graph.path)
    stats = run_preprocess(examples.path, contract, paths, beam_runner, beam_args, crosses=cross_config)
    for split in SPLITS:
        transformed.metadata[rows_key(split)] = getattr(stats, split)
