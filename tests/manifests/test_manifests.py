"""Render manifests/base and every overlay with kustomize and assert the cluster-side contract.

Every overlay under manifests/overlays/ is discovered and rendered. The generic checks (namespace, no cluster-wide
RBAC, no Secret, hardened containers, no literal credentials, skip annotations with reasons) apply to all of them;
the known overlays also have their exact object list, Role rules and pipeline root pinned here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.manifests.kustomize import BASE, MANIFESTS, OVERLAYS, TARGETS, render

NAMESPACE = "bigtrain"
RUNNER = "bigtrain-pipeline-runner"
OBJECT_STORE_SECRET = "bigtrain-object-store"
OBJECT_STORE_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
GPU = "overlays/gpu-node-pool"
OBJECT_STORE = "overlays/object-store"

Obj = dict[str, Any]
Rule = tuple[str, str, str, str]  # (apiGroup, resource, verb, resourceName or "")

BASE_OBJECTS = {
    ("Namespace", NAMESPACE),
    ("ServiceAccount", RUNNER),
    ("Role", RUNNER),
    ("RoleBinding", RUNNER),
    ("PersistentVolumeClaim", "bigtrain-serving"),
    ("ConfigMap", "bigtrain-defaults"),
    ("ConfigMap", "kfp-launcher"),
    ("LimitRange", "bigtrain-container-defaults"),
    ("ResourceQuota", "bigtrain-compute"),
}
EXPECTED_OBJECTS = {
    BASE: BASE_OBJECTS,
    GPU: BASE_OBJECTS | {("ResourceQuota", "bigtrain-gpu")},
    OBJECT_STORE: BASE_OBJECTS
    | {
        ("ServiceAccount", "bigtrain-minio"),
        ("PersistentVolumeClaim", "bigtrain-minio-data"),
        ("Deployment", "bigtrain-minio"),
        ("Service", "bigtrain-minio"),
        ("NetworkPolicy", "bigtrain-minio"),
        ("NetworkPolicy", "bigtrain-minio-make-bucket"),
        ("Job", "bigtrain-minio-make-bucket"),
    },
}
EXPECTED_ROOT = {
    BASE: "gs://CHANGE-ME-bucket/bigtrain",
    GPU: "gs://CHANGE-ME-bucket/bigtrain",
    OBJECT_STORE: "minio://bigtrain/pipeline-root",
}

LIFECYCLE = ("create", "get", "list", "watch", "delete")
BASE_RULES: set[Rule] = {
    *(("kubeflow.org", "tfjobs", verb, "") for verb in LIFECYCLE),
    *(("trainer.kubeflow.org", "trainjobs", verb, "") for verb in LIFECYCLE),
    *(("", "pods", verb, "") for verb in ("get", "list", "watch")),
    ("", "pods/log", "get", ""),
    ("", "events", "list", ""),
    ("", "events", "watch", ""),
    ("", "configmaps", "get", "bigtrain-defaults"),
    ("", "configmaps", "get", "kfp-launcher"),
    ("argoproj.io", "workflowtaskresults", "create", ""),
    ("argoproj.io", "workflowtaskresults", "patch", ""),
}
EXPECTED_RULES = {
    BASE: BASE_RULES,
    GPU: BASE_RULES,
    OBJECT_STORE: BASE_RULES | {("", "secrets", "get", OBJECT_STORE_SECRET)},
}

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "CustomResourceDefinition",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
FORBIDDEN_KINDS = {"ClusterRole", "ClusterRoleBinding", "Secret"}
WORKLOADS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
CREDENTIAL_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[-_]?key|access[-_]?key|credential|root[-_]user)")
CREDENTIAL_CONFIG_KEY = re.compile(
    r"(?i)(pass(word|wd)?|secret[-_]access[-_]key|access[-_]key[-_]id|api[-_]?key|token|webhook[-_]url)$"
)
CREDENTIAL_VALUE = re.compile(
    r"AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\"private_key\"\s*:"  # GCP service account JSON
    r"|hooks\.slack\.com/services/"
    r"|minioadmin"  # MinIO's default root user/password
    r"|://[^/\s:@]+:[^/\s@]+@"  # user:password@host in a URL
)
SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=(.*)$")


# ---------------------------------------------------------------------------------------------- helpers


def ids(objs: list[Obj]) -> set[tuple[str, str]]:
    """(kind, name) of each object."""
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    """The one object of that kind and name."""
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(obj: Obj) -> Obj | None:
    """The pod spec inside a workload, or None for other kinds."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec", {})
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"].get("spec", {})
    if kind in WORKLOADS:
        return obj["spec"]["template"].get("spec", {})
    return None


def containers(spec: Obj) -> Iterator[Obj]:
    """Every container of a pod spec, init and ephemeral ones included."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def namespace_problems(obj: Obj) -> list[str]:
    """Problems with where an object lives: everything namespaced must be in `bigtrain`."""
    kind, meta = obj["kind"], obj["metadata"]
    where = f"{kind}/{meta.get('name')}"
    if kind == "Namespace":
        return [] if meta["name"] == NAMESPACE else [f"{where}: unexpected namespace"]
    if kind in CLUSTER_SCOPED:
        return [f"{where}: cluster-scoped object"]
    problems = [] if meta.get("namespace") == NAMESPACE else [f"{where}: namespace {meta.get('namespace')!r}"]
    for subject in obj.get("subjects") or []:
        if subject.get("kind") == "ServiceAccount" and subject.get("namespace") != NAMESPACE:
            problems.append(f"{where}: subject {subject.get('name')} in namespace {subject.get('namespace')!r}")
    return problems


def rule_problems(role: Obj) -> list[str]:
    """Wildcards or non-resource URLs in a Role's rules."""
    problems = []
    for rule in role.get("rules") or []:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            if any("*" in value for value in rule.get(field) or []):
                problems.append(f"Role/{role['metadata']['name']}: wildcard in {field}: {rule}")
        if rule.get("nonResourceURLs"):
            problems.append(f"Role/{role['metadata']['name']}: nonResourceURLs {rule['nonResourceURLs']}")
    return problems


def rules(role: Obj) -> set[Rule]:
    """A Role's rules, expanded to one (apiGroup, resource, verb, resourceName) tuple each."""
    expanded = set()
    for rule in role.get("rules") or []:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    for name in rule.get("resourceNames") or [""]:
                        expanded.add((group, resource, verb, name))
    return expanded


def container_problems(obj: Obj) -> list[str]:
    """Hardening problems of every container in a workload (resources, non-root, read-only root, no escalation)."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    pod_ctx = spec.get("securityContext") or {}
    problems = []
    for container in containers(spec):
        where = f"{obj['kind']}/{obj['metadata']['name']} container {container.get('name')}"
        ctx = container.get("securityContext") or {}
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(bound) or {}).get(resource):
                    problems.append(f"{where}: no {resource} {bound}")
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        if not isinstance(user, int) or isinstance(user, bool) or user <= 0:
            problems.append(f"{where}: runAsUser {user!r} is not a numeric non-root uid")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if ctx.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if ctx.get("privileged"):
            problems.append(f"{where}: privileged")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{where}: capabilities do not drop ALL")
        if (ctx.get("capabilities") or {}).get("add"):
            problems.append(f"{where}: adds capabilities {ctx['capabilities']['add']}")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile")) or {}
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is not RuntimeDefault")
        image = container.get("image", "")
        if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
            problems.append(f"{where}: image {image!r} is not pinned to a version or digest")
        if "@sha256:" not in image and container.get("imagePullPolicy") != "Always":
            problems.append(f"{where}: a tag-only image needs imagePullPolicy Always")
    return problems


def pod_problems(obj: Obj) -> list[str]:
    """Pod-level problems: host namespaces, and an API token mounted into a pod that has no use for it."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    problems = [f"{where}: {field}" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    if spec.get("serviceAccountName", "default") == "default":
        problems.append(f"{where}: runs as the default service account")
    if spec.get("serviceAccountName") != RUNNER and spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: mounts a service account token it does not need")
    return problems


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def credential_problems(obj: Obj) -> list[str]:
    """Literal credentials: a Secret, env values of credential-looking names, or known credential shapes anywhere."""
    where = f"{obj['kind']}/{obj['metadata'].get('name')}"
    problems = [f"{where}: Secrets are created by the operator, never committed"] if obj["kind"] == "Secret" else []
    spec = pod_spec(obj)
    for container in containers(spec) if spec is not None else []:
        for env in container.get("env") or []:
            if CREDENTIAL_NAME.search(env.get("name", "")) and "value" in env:
                problems.append(f"{where}: env {env['name']} has a literal value (use valueFrom.secretKeyRef)")
    if obj["kind"] == "ConfigMap":
        for key, value in (obj.get("data") or {}).items():
            if CREDENTIAL_CONFIG_KEY.search(key) and value:
                problems.append(f"{where}: data key {key!r} holds a credential-looking value")
    problems += [f"{where}: credential-shaped string {s[:40]!r}" for s in _strings(obj) if CREDENTIAL_VALUE.search(s)]
    return problems


def skip_problems(obj: Obj) -> list[str]:
    """checkov skip annotations must name a Kubernetes check and give a real reason."""
    where = f"{obj['kind']}/{obj['metadata'].get('name')}"
    problems = []
    for key, value in (obj["metadata"].get("annotations") or {}).items():
        if not key.startswith("checkov.io/"):
            continue
        match = SKIP_VALUE.match(str(value))
        if not SKIP_ANNOTATION.match(key) or match is None:
            problems.append(f"{where}: {key}={value!r} is not `checkov.io/skipN: CKV_K8S_NN=reason`")
        elif len(match.group(2).strip()) < 20:
            problems.append(f"{where}: {key} skips {match.group(1)} without a real reason")
    return problems


def defaults(objs: list[Obj]) -> dict[str, str]:
    """The data of the bigtrain-defaults ConfigMap."""
    return find(objs, "ConfigMap", "bigtrain-defaults")["data"]


def launcher(objs: list[Obj]) -> dict[str, str]:
    """The data of the kfp-launcher ConfigMap."""
    return find(objs, "ConfigMap", "kfp-launcher")["data"]


# ---------------------------------------------------------------------------------------- every target


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    """manifests/<target>: the base and every overlay found on disk."""
    return request.param


@pytest.fixture
def objs(target: str) -> list[Obj]:
    """The rendered objects of the target."""
    return render(target)


def test_overlays_are_discovered() -> None:
    """The two overlays this issue adds are found (a new directory is rendered without touching the tests)."""
    assert {GPU, OBJECT_STORE} <= set(OVERLAYS)


def test_expected_objects(target: str, objs: list[Obj]) -> None:
    """Known targets render exactly their objects; an unknown overlay keeps at least the base."""
    assert len(ids(objs)) == len(objs), "duplicate kind/name"
    if target in EXPECTED_OBJECTS:
        assert ids(objs) == EXPECTED_OBJECTS[target]
    else:
        assert ids(objs) >= BASE_OBJECTS


def test_everything_in_the_namespace(objs: list[Obj]) -> None:
    """Every namespaced object is in `bigtrain`; nothing else is cluster-scoped but the namespace itself."""
    assert [p for o in objs for p in namespace_problems(o)] == []


def test_no_cluster_rbac_and_no_secret(objs: list[Obj]) -> None:
    """No ClusterRole/ClusterRoleBinding (nothing cluster-wide) and no Secret (the operator creates those)."""
    assert sorted(o["kind"] for o in objs if o["kind"] in FORBIDDEN_KINDS) == []


def test_role_is_least_privilege(target: str, objs: list[Obj]) -> None:
    """The run service account's Role is exactly the least-privilege set, without wildcards."""
    roles = [o for o in objs if o["kind"] == "Role"]
    assert [p for role in roles for p in rule_problems(role)] == []
    assert [r["metadata"]["name"] for r in roles] == [RUNNER]
    assert rules(roles[0]) == EXPECTED_RULES.get(target, BASE_RULES)


def test_role_binding_binds_only_the_runner(objs: list[Obj]) -> None:
    """The RoleBinding gives the Role to the run service account in this namespace, and to nobody else."""
    binding = find(objs, "RoleBinding", RUNNER)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RUNNER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RUNNER, "namespace": NAMESPACE}]
    assert find(objs, "ServiceAccount", RUNNER).get("automountServiceAccountToken") is True


def test_containers_are_hardened(objs: list[Obj]) -> None:
    """Every container: cpu+memory requests and limits, non-root uid, no escalation, read-only root, caps dropped."""
    assert [p for o in objs for p in container_problems(o) + pod_problems(o)] == []


def test_no_literal_credentials(objs: list[Obj]) -> None:
    """No Secret object and no credential value anywhere in the rendered objects."""
    assert [p for o in objs for p in credential_problems(o)] == []


def test_checkov_skips_have_reasons(objs: list[Obj]) -> None:
    """Every checkov skip annotation names a check and says why."""
    assert [p for o in objs for p in skip_problems(o)] == []


def test_pipeline_root(target: str, objs: list[Obj]) -> None:
    """kfp-launcher's defaultPipelineRoot is the overlay's root, and bigtrain-defaults agrees with it."""
    root = launcher(objs)["defaultPipelineRoot"]
    if target in EXPECTED_ROOT:
        assert root == EXPECTED_ROOT[target]
    else:
        assert re.match(r"^(gs|s3|minio)://[a-z0-9][a-z0-9.-]+/\S+$", root), root
    assert defaults(objs)["pipeline_root"] == root


def test_defaults_name_rendered_objects(objs: list[Obj]) -> None:
    """bigtrain-defaults names the run service account and an RWX serving PVC that this target creates."""
    data = defaults(objs)
    assert data["namespace"] == NAMESPACE
    assert data["service_account"] == RUNNER
    assert ("ServiceAccount", data["service_account"]) in ids(objs)
    assert data["serving_mount_path"] == "/mnt/serving"
    pvc = find(objs, "PersistentVolumeClaim", data["serving_pvc"])
    assert pvc["metadata"]["name"] == "bigtrain-serving"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["resources"]["requests"]["storage"]
    assert data["object_store_secret"] == OBJECT_STORE_SECRET
    assert data["notify_secret"] == "bigtrain-notify"
    assert isinstance(json.loads(data["gpu_node_selector"]), dict)
    assert isinstance(json.loads(data["gpu_tolerations"]), list)


def test_namespace_pod_security(objs: list[Obj]) -> None:
    """Pod Security Admission: enforce baseline, warn and audit restricted."""
    labels = find(objs, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_limit_range_gives_container_defaults(objs: list[Obj]) -> None:
    """Containers that set nothing (KFP/Argo system containers) get cpu/memory requests and limits."""
    (limit,) = find(objs, "LimitRange", "bigtrain-container-defaults")["spec"]["limits"]
    assert limit["type"] == "Container"
    for bound in ("default", "defaultRequest"):
        assert set(limit[bound]) >= {"cpu", "memory"}


# ------------------------------------------------------------------------------------- specific overlays


def test_base_trains_on_cpu() -> None:
    """Without the GPU overlay the train step requests no GPU and needs no selector or toleration."""
    data = defaults(render(BASE))
    assert (data["gpu_resource"], data["gpu_count"]) == ("", "0")
    assert json.loads(data["gpu_node_selector"]) == {}
    assert json.loads(data["gpu_tolerations"]) == []


def test_gpu_overlay_schedules_training_on_the_gpu_pool() -> None:
    """Node-pool selector, the nvidia.com/gpu toleration, the GPU resource, and a namespace GPU quota."""
    objs = render(GPU)
    data = defaults(objs)
    assert data["gpu_resource"] == "nvidia.com/gpu"
    assert int(data["gpu_count"]) >= 1
    assert json.loads(data["gpu_node_selector"]) == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in json.loads(
        data["gpu_tolerations"]
    )
    quota = find(objs, "ResourceQuota", "bigtrain-gpu")["spec"]["hard"]
    assert int(quota["requests.nvidia.com/gpu"]) >= int(data["gpu_count"])


def test_object_store_launcher_points_at_the_in_namespace_minio() -> None:
    """kfp-launcher's providers: this namespace's MinIO Service and the operator's Secret, by reference."""
    objs = render(OBJECT_STORE)
    providers = yaml.safe_load(launcher(objs)["providers"])
    default = providers["minio"]["default"]
    host, port = default["endpoint"].rsplit(":", 1)
    service_name, namespace, *_ = host.split(".")
    assert (namespace, host.removeprefix(f"{service_name}.{namespace}.")) == (NAMESPACE, "svc.cluster.local")
    service = find(objs, "Service", service_name)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    assert default["disableSSL"] is True
    assert default["credentials"] == {
        "fromEnv": False,
        "secretRef": {
            "secretName": OBJECT_STORE_SECRET,
            "accessKeyKey": "AWS_ACCESS_KEY_ID",
            "secretKeyKey": "AWS_SECRET_ACCESS_KEY",
        },
    }
    assert defaults(objs)["object_store_endpoint"] == f"http://{default['endpoint']}"


def test_object_store_minio_wiring() -> None:
    """The Service and NetworkPolicy select the MinIO pods; credentials come from the Secret; the bucket is made."""
    objs = render(OBJECT_STORE)
    deployment = find(objs, "Deployment", "bigtrain-minio")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = find(objs, "Service", "bigtrain-minio")["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    policy = find(objs, "NetworkPolicy", "bigtrain-minio")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    spec = deployment["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    (minio,) = spec["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in minio["env"] if "valueFrom" in e}
    assert refs == {
        "MINIO_ROOT_USER": {"name": OBJECT_STORE_SECRET, "key": "AWS_ACCESS_KEY_ID"},
        "MINIO_ROOT_PASSWORD": {"name": OBJECT_STORE_SECRET, "key": "AWS_SECRET_ACCESS_KEY"},
    }
    assert re.fullmatch(r"[\w./-]+:RELEASE\.[\dT-]+Z@sha256:[0-9a-f]{64}", minio["image"]), minio["image"]
    assert minio["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
    assert minio["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    writable = {m["mountPath"] for m in minio["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "/tmp" in writable and "emptyDir" in volumes["tmp"]
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert find(objs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]

    bucket = launcher(objs)["defaultPipelineRoot"].removeprefix("minio://").split("/")[0]
    job = find(objs, "Job", "bigtrain-minio-make-bucket")["spec"]["template"]["spec"]
    assert f"mc mb --ignore-existing bigtrain/{bucket}" in job["containers"][0]["args"][0]
    (secret_volume,) = [v["secret"] for v in job["volumes"] if "secret" in v]
    assert secret_volume["secretName"] == OBJECT_STORE_SECRET
    assert {item["key"] for item in secret_volume["items"]} == OBJECT_STORE_KEYS


def test_manifest_sources_hold_no_credentials() -> None:
    """No credential-shaped text in any file under manifests/, comments included (they vanish on render)."""
    offending = [
        f"{path.relative_to(MANIFESTS)}:{number}"
        for path in sorted(MANIFESTS.rglob("*"))
        if path.is_file()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if CREDENTIAL_VALUE.search(line) or re.search(r"(?i)--from-literal=\w*(KEY|PASSWORD|TOKEN|URL)\w*=", line)
    ]
    assert offending == []


# ----------------------------------------------------------------------- the helpers catch bad objects


def _deployment(container: Obj, **pod: Any) -> Obj:
    return {
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"containers": [container], **pod}}},
    }


def test_container_problems_catch_a_default_container() -> None:
    """A container with no resources, no security context and an unpinned image fails every hardening check."""
    problems = container_problems(_deployment({"name": "c", "image": "minio/minio"}))
    assert len(problems) == 12
    assert any("no cpu limits" in p for p in problems)
    assert any("runAsNonRoot" in p for p in problems)
    assert any("readOnlyRootFilesystem" in p for p in problems)
    assert any("not pinned" in p for p in problems)


def test_container_problems_accept_pod_level_identity() -> None:
    """runAsNonRoot, runAsUser and seccomp may come from the pod; uid 0 is still root."""
    hardened = {
        "name": "c",
        "image": "example/app:1.2.3@sha256:" + "0" * 64,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_ctx = {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container_problems(_deployment(hardened, securityContext=pod_ctx)) == []
    root = container_problems(_deployment(hardened, securityContext={**pod_ctx, "runAsUser": 0}))
    assert root == ["Deployment/bad container c: runAsUser 0 is not a numeric non-root uid"]


def test_credential_problems_catch_literals() -> None:
    """A literal password env var, a Secret, and a key id in a ConfigMap are all reported."""
    leaky = _deployment({"name": "c", "env": [{"name": "MINIO_ROOT_PASSWORD", "value": "hunter2"}]})
    assert credential_problems(leaky) == [
        "Deployment/bad: env MINIO_ROOT_PASSWORD has a literal value (use valueFrom.secretKeyRef)"
    ]
    by_ref = _deployment({"name": "c", "env": [{"name": "MINIO_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {}}}]})
    assert credential_problems(by_ref) == []
    assert credential_problems({"kind": "Secret", "metadata": {"name": "s"}, "stringData": {}})
    config = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"aws_access_key_id": "AKIA" + "A" * 16}}
    assert len(credential_problems(config)) == 2


def test_rule_and_namespace_problems_catch_bad_rbac() -> None:
    """A wildcard verb, a missing namespace and a foreign subject are reported; rules() expands resourceNames."""
    role = {
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}],
    }
    assert rule_problems(role) == [
        "Role/r: wildcard in verbs: {'apiGroups': [''], 'resources': ['pods'], 'verbs': ['*']}"
    ]
    assert namespace_problems(role) == ["Role/r: namespace None"]
    binding = {
        "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": NAMESPACE},
        "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "kube-system"}],
    }
    assert namespace_problems(binding) == ["RoleBinding/b: subject x in namespace 'kube-system'"]
    assert namespace_problems({"kind": "ClusterRole", "metadata": {"name": "c"}}) == [
        "ClusterRole/c: cluster-scoped object"
    ]
    named = {
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a", "b"], "verbs": ["get"]}],
    }
    assert rules(named) == {("", "secrets", "get", "a"), ("", "secrets", "get", "b")}


def test_skip_problems_need_a_reason() -> None:
    """A skip without a reason, or not naming a Kubernetes check, is reported; a reasoned one is not."""

    def annotated(value: str) -> Obj:
        return {"kind": "Deployment", "metadata": {"name": "d", "annotations": {"checkov.io/skip1": value}}}

    assert skip_problems(annotated("CKV_K8S_43=")) == [
        "Deployment/d: checkov.io/skip1 skips CKV_K8S_43 without a real reason"
    ]
    assert skip_problems(annotated("CKV_K8S_43")) != []
    assert skip_problems(annotated("CKV_K8S_43=image is pinned by digest in the overlay that deploys it")) == []
