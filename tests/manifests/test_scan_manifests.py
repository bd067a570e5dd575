"""Static scan of the rendered manifests with checkov: zero failed checks for the base and every overlay.

A check that cannot be met is skipped only in the manifest source, on the object, with a reason:
``metadata.annotations: {checkov.io/skip1: CKV_K8S_NN=why}``. No check is skipped on the command line.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.kustomize import MANIFESTS, TARGETS, render_text, tool

SKIP = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=(.+)$")


def checkov(rendered: Path) -> dict[str, Any]:
    """checkov's JSON report for one rendered file (Kubernetes checks only, nothing fetched from the network)."""
    result = subprocess.run(
        [
            tool("checkov"),
            "--framework",
            "kubernetes",
            "-o",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
            "-f",
            str(rendered),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = [r for r in (report if isinstance(report, list) else [report]) if r.get("check_type") == "kubernetes"]
    assert len(reports) == 1, f"expected one kubernetes report, got {result.stdout[:2000]}"
    return reports[0]


def skip_annotations(text: str) -> list[tuple[str, str, str]]:
    """(object, annotation, value) of every checkov annotation in a rendered YAML stream."""
    found = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/"):
                found.append((f"{doc['kind']}/{doc['metadata']['name']}", key, str(value)))
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_checkov_finds_nothing(target: str, tmp_path: Path) -> None:
    """checkov --framework kubernetes reports zero failed checks on the rendered target."""
    rendered = tmp_path / f"{target.replace('/', '-')}.yaml"
    rendered.write_text(render_text(target))
    report = checkov(rendered)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"].get("failed_checks", [])]
    assert failed == []
    assert summary["failed"] == 0
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 0, "checkov scanned nothing"


@pytest.mark.parametrize("target", TARGETS)
def test_skips_are_annotated_with_a_reason(target: str) -> None:
    """Every checkov skip is `checkov.io/skipN: CKV_K8S_NN=reason` on the object, with a non-empty reason."""
    for where, key, value in skip_annotations(render_text(target)):
        match = SKIP_VALUE.match(value)
        assert SKIP.match(key) and match, f"{where}: {key}: {value!r} is not CKV_K8S_NN=reason"
        assert len(match.group(2).strip()) >= 20, f"{where}: {key} skips {match.group(1)} without a real reason"


def test_skips_live_in_the_manifest_sources() -> None:
    """The rendered skips are exactly those written in manifests/ (nothing is added by the tests or the CLI)."""
    sources = "\n".join(p.read_text() for p in sorted(MANIFESTS.rglob("*.yaml")))
    in_sources = set(re.findall(r"checkov\.io/skip\d+:\s*(CKV2?_K8S_\d+)=", sources))
    rendered = {value.split("=", 1)[0] for t in TARGETS for _, _, value in skip_annotations(render_text(t))}
    assert rendered == in_sources
