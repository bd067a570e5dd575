"""The CLI: exit codes and one-line reasons for the mistakes users make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import DEMO_CONFIG


def _bigtrain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_bad_config_exits_2_naming_the_field(tmp_path: Path):
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["training"]["learning_rate"] = -1
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = _bigtrain("run", "--config", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("bigtrain: error: bad.yaml: training.learning_rate:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_data_exits_2_before_running_anything(tmp_path: Path):
    result = _bigtrain("run", "--config", str(DEMO_CONFIG), cwd=tmp_path)
    assert result.returncode == 2
    assert "data.source: no files match" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("bigtrain-*"))


def test_a_listed_span_without_files_exits_2_naming_it(tmp_path: Path):
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["data"]["source"] = str(tmp_path / "data" / "span-{SPAN}" / "*.csv")
    config["data"]["spans"] = ["2026-11-27", "2026-11-28"]
    (tmp_path / "data" / "span-2026-11-27").mkdir(parents=True)
    (tmp_path / "data" / "span-2026-11-27" / "part-0.csv").write_text("a\n1\n")
    (tmp_path / "spans.yaml").write_text(yaml.safe_dump(config))
    result = _bigtrain("run", "--config", "spans.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "data.spans: no files for span 2026-11-28 under data.source" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("bigtrain-*"))


def test_compile_writes_kfp_yaml_and_warns_on_a_tag(tmp_path: Path):
    result = _bigtrain("compile", "--config", str(DEMO_CONFIG), "--output", "p.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = next(yaml.safe_load_all((tmp_path / "p.yaml").read_text()))
    assert spec["pipelineInfo"]["name"] == "bigtrain-demo"
    assert spec["root"]["inputDefinitions"]["parameters"]["train_code"]["defaultValue"]
    assert "bigtrain: warning: image 'ghcr.io/example/bigtrain:0.1.0' is a tag, not a digest" in result.stderr
    digest = "r.example/bigtrain@sha256:" + "a" * 64
    pinned = _bigtrain("compile", "--config", str(DEMO_CONFIG), "--output", "p.yaml", "--image", digest, cwd=tmp_path)
    assert pinned.returncode == 0 and "warning" not in pinned.stderr


def test_compile_needs_a_cluster_section_and_an_image(tmp_path: Path):
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    del config["cluster"]["image"]
    (tmp_path / "noimage.yaml").write_text(yaml.safe_dump(config))
    result = _bigtrain("compile", "--config", "noimage.yaml", "--output", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "cluster.image: no component image" in result.stderr
    del config["cluster"]
    (tmp_path / "local.yaml").write_text(yaml.safe_dump(config))
    result = _bigtrain("compile", "--config", "local.yaml", "--output", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "cluster: required to compile for Kubeflow" in result.stderr
    assert not (tmp_path / "p.yaml").exists()


def test_demo_data_command(tmp_path: Path):
    result = _bigtrain("demo-data", "--rows", "500", "--output", "d", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "d" / "part-00000.csv").read_text().splitlines()
    assert len(lines) == 501
    assert _bigtrain("demo-data", "--rows", "0", "--output", "d", cwd=tmp_path).returncode == 2
