"""The DAG factory, run config, local and Kubeflow runners, and the bigtrain CLI."""
