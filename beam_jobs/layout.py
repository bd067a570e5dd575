"""The artifact layout: file names inside the artifacts the steps pass each other, defined once.

It lives in the bottom layer so that the Beam jobs, the components and the pipelines can all import it cheaply.
"""

STATS_FILE = "stats.json"  # in preprocess's `statistics`: row counts per split and quarantine reasons
EVALUATION_SUMMARY_FILE = "summary.json"  # in evaluate's `evaluation`: metrics, slices, blessing and failures
PUSH_RECORD_FILE = "push.json"  # in push's `pushed`: whether, which version and where
RUN_SUMMARY_FILE = "run_summary.json"  # in summarize's `run_summary`: the headline facts of a succeeded run
RUN_STATUS_FILE = "run_status.json"  # in finalize's `run_status`: the final state of every run, failed or not
