"""The Kubeflow side: compile the DAG for a cluster, talk to the KFP API (submit, schedule)."""
