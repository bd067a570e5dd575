"""KFP adapter for validate-data: ``beam_jobs.data_validation`` checks ingest's statistics. Never cached: it reads the
registry (the served model's data statistics)."""

from kfp.dsl import Artifact, Input, Output


def validate_data(
    statistics: Input[Artifact],
    columns: dict,
    validation: dict,
    serving_root: str,
    model_name: str,
    anomalies: Output[Artifact],
) -> int:
    """Check the data before training; stop the run (DataValidationError) on a severe anomaly.

    Args:
        statistics: Ingest's statistics: row counts and quarantine reasons, and every column's statistics per split.
        columns: The data contract: types and configured value ranges of every column.
        validation: The config's validation limits (warn and stop per statistic).
        serving_root: The registry root; the served version's data statistics are the drift baseline.
        model_name: The model whose served version's data is the baseline.

    Returns the number of mild anomalies. ``anomalies`` holds every anomaly, the measured statistics, the checks
    skipped and why, and the served version compared with. The mild ones are printed one per line.
    """
    import json
    import os

    from beam_jobs.contract import parse_columns
    from beam_jobs.data_validation import Limits, find_anomalies, raise_if_severe, write_report
    from beam_jobs.layout import ANOMALIES_FILE, COLUMN_STATS_FILE, STATS_FILE
    from components.push.registry import served_data_statistics

    def read(name: str) -> dict:
        path = os.path.join(statistics.path, name)
        try:
            with open(path) as handle:
                return json.load(handle)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: missing; ingest always writes it") from None

    entry, baseline = served_data_statistics(serving_root, model_name)
    report = find_anomalies(
        read(STATS_FILE),
        read(COLUMN_STATS_FILE),
        parse_columns(columns),
        Limits.from_dict(validation),
        baseline,
        None if entry is None else entry.version,
    )
    os.makedirs(anomalies.path, exist_ok=True)
    write_report(report, os.path.join(anomalies.path, ANOMALIES_FILE))
    anomalies.metadata.update({"mild": len(report.mild), "severe": len(report.severe)})
    if report.baseline_version is not None:
        anomalies.metadata["baseline_version"] = report.baseline_version
    if entry is None:
        compared = "no published model to compare with"
    elif baseline is None:
        compared = f"served version {entry.version} has no data statistics to compare with"
    else:
        compared = f"compared with served version {entry.version}'s data"
    counts = f"{len(report.mild)} mild, {len(report.severe)} severe"
    print(f"validate-data: {len(report.measured)} statistics checked, {compared}; anomalies: {counts}")
    for anomaly in report.mild:
        print(f"validate-data: warn: {anomaly.message}")
    raise_if_severe(report)
    return len(report.mild)
