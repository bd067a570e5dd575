"""The cluster-side rules the checkov scans enforce, stated directly on the rendered manifests and the Dockerfiles.

checkov (tests/manifests/test_scan_manifests.py, tests/images/test_scan_dockerfiles.py) fails on any unskipped
finding; these tests pin the four facts issue 11 names so that a skip annotation cannot quietly drop one of them:
namespaced RBAC only, non-root, no privilege escalation, and a read-only root filesystem unless a skip next to the
object says why the step needs a writable one. They also check that ``make test`` runs the scans.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.images import DOCKERFILES
from tests.manifests.kustomize import TARGETS, render
from tests.manifests.test_scan_manifests import SKIP_VALUE

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCOPED_RBAC = ("ClusterRole", "ClusterRoleBinding")
READ_ONLY_ROOT_CHECK = "CKV_K8S_22"
SCAN_MODULES = ("tests/manifests/test_scan_manifests.py", "tests/images/test_scan_dockerfiles.py")


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pod spec of a Pod, of a workload's template, or of a CronJob's job template."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "Pod":
        yield spec
    elif doc["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def skipped_checks(doc: dict[str, Any]) -> set[str]:
    """Check ids skipped on this object with a ``checkov.io/skipN: CKV_K8S_NN=reason`` annotation."""
    annotations = doc["metadata"].get("annotations") or {}
    return {m.group(1) for v in annotations.values() if (m := SKIP_VALUE.match(str(v)))}


@pytest.mark.parametrize("target", TARGETS)
def test_rbac_is_namespaced_only(target: str) -> None:
    """No ClusterRole or ClusterRoleBinding; every Role and RoleBinding sits in a namespace and binds a Role."""
    docs = render(target)
    assert [d["metadata"]["name"] for d in docs if d["kind"] in CLUSTER_SCOPED_RBAC] == []
    for doc in docs:
        if doc["kind"] in ("Role", "RoleBinding"):
            assert doc["metadata"].get("namespace"), f"{doc['kind']}/{doc['metadata']['name']} has no namespace"
        if doc["kind"] == "RoleBinding":
            assert doc["roleRef"]["kind"] == "Role", f"RoleBinding/{doc['metadata']['name']} binds a cluster role"


@pytest.mark.parametrize("target", TARGETS)
def test_pods_run_non_root_without_privilege_escalation(target: str) -> None:
    """Every container: non-root (its own or the pod's runAsNonRoot), not privileged, no privilege escalation, and a
    read-only root filesystem unless the object skips CKV_K8S_22 with a reason."""
    for doc in render(target):
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        for pod in pod_specs(doc):
            pod_non_root = (pod.get("securityContext") or {}).get("runAsNonRoot") is True
            for container in pod.get("initContainers", []) + pod["containers"]:
                context = container.get("securityContext") or {}
                name = f"{where} container {container['name']}"
                assert context.get("runAsNonRoot", pod_non_root) is True, f"{name} may run as root"
                assert context.get("runAsUser", 1) != 0, f"{name} runs as uid 0"
                assert context.get("privileged") is not True, f"{name} is privileged"
                assert context.get("allowPrivilegeEscalation") is False, f"{name} allows privilege escalation"
                if READ_ONLY_ROOT_CHECK not in skipped_checks(doc):
                    assert context.get("readOnlyRootFilesystem") is True, f"{name} has a writable root filesystem"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_images_run_as_a_non_root_user(dockerfile: Path) -> None:
    """The last USER of the final stage is a numeric, non-zero uid (Kubernetes can verify runAsNonRoot only then)."""
    final_stage = re.split(r"(?im)^FROM\s", dockerfile.read_text())[-1]
    users = re.findall(r"(?im)^USER\s+(\S+)", final_stage)
    assert users, f"{dockerfile.name}: the final stage sets no USER, so it runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{dockerfile.name}: USER {users[-1]} is not a numeric non-root uid"


def test_make_test_runs_the_scans() -> None:
    """``make test`` runs pytest over testpaths with no marker or path filter, and the scans are neither skipped nor
    marked slow, so both checkov scans run in it."""
    recipe = re.search(r"(?m)^test:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text())
    assert recipe and re.search(r"-m pytest \$\(PYTEST_ARGS\)\s*$", recipe.group(1)), "make test does not run pytest"
    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert pytest_options["testpaths"] == ["tests"]
    assert not re.search(r"(^|\s)(-m|-k|--ignore|--deselect)\b", pytest_options.get("addopts", ""))
    for module in SCAN_MODULES:
        source = (REPO / module).read_text()
        assert not re.search(r"pytest\.mark\.(skip|skipif|slow)|pytest\.skip\(|importorskip", source), module
