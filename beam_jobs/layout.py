"""The artifact layout: file names inside the artifacts the steps pass each other, defined once.

It lives in the bottom layer so that the Beam jobs, the components and the pipelines can all import it cheaply.
"""

import os
import posixpath

RECORDS_PREFIX = "part"  # shards are <prefix>-NNNNN-of-NNNNN<suffix>
RECORDS_SUFFIX = ".tfrecord.gz"  # gzip is inferred from the suffix by Beam, TF and TFMA
# Split roles: train fits, eval (validation) early-stops and tunes, test is read only by the evaluate step.
TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT = "train", "eval", "test"
SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT)
SERVING_CHECK_SPLIT = EVAL_SPLIT  # the raw rows the serving check sends (a smoke test; metrics use the test split)

SAVED_MODEL_FILE = "saved_model.pb"  # what makes a directory a SavedModel (a model, a transform graph's transform_fn)
STATS_FILE = "stats.json"  # in preprocess's `statistics`: row counts per split and quarantine reasons
COLUMN_STATS_FILE = "column_stats.json"  # beside STATS_FILE: per split, each column's statistics
ANOMALIES_FILE = "anomalies.json"  # in validate-data's `anomalies`: every anomaly, the baseline and skipped checks
EVALUATION_SUMMARY_FILE = "summary.json"  # in evaluate's `evaluation`: metrics, slices, blessing and failures
REPORT_FILE = "report.html"  # in evaluate's `evaluation`: the self-contained evaluation report for people
SERVING_CHECK_FILE = "serving_check.json"  # in evaluate's `blessing`: the serving check's verdict and model digest
PUSH_RECORD_FILE = "push.json"  # in push's `pushed`: whether, which version and where
RUN_SUMMARY_FILE = "run_summary.json"  # in summarize's `run_summary`: the headline facts of a succeeded run
RUN_STATUS_FILE = "run_status.json"  # in finalize's `run_status`: the final state of every run, failed or not
TRIALS_FILE = "trials.json"  # in select's `trials_table` and its `training_logs`: a search's trials and winner


def records_files(directory: str) -> str:
    """The file pattern of the TFRecord shards written into ``directory`` (``<dir>/part*.tfrecord.gz``)."""
    return os.path.join(directory, f"{RECORDS_PREFIX}*{RECORDS_SUFFIX}")


def split_files(directory: str, split: str) -> str:
    """The file pattern of one split's TFRecords under a splits directory (``<dir>/<split>/part*.tfrecord.gz``)."""
    return records_files(os.path.join(directory, split))


def every_split_files(directory: str) -> str:
    """The file pattern of every split's TFRecords under a splits directory (``<dir>/*/part*.tfrecord.gz``)."""
    return records_files(os.path.join(directory, "*"))


def split_of_file(path: str) -> str:
    """The split a TFRecord shard under a splits directory belongs to (its directory's name); ValueError if none."""
    split = posixpath.basename(posixpath.dirname(path.replace(os.sep, "/")))
    if split not in SPLITS:
        raise ValueError(f"{path}: not in a split directory (expected one of {', '.join(SPLITS)})")
    return split


def rows_key(split: str) -> str:
    """The artifact metadata key holding a split's row count (``train_rows``), set by preprocess, read by train."""
    return f"{split}_rows"
