"""Cluster-side manifests: rendered with kustomize, asserted, and scanned with checkov."""
