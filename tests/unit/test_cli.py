"""The CLI: exit codes and one-line reasons for the mistakes users make."""

from __future__ import annotations

import json
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


def _validate_config(tmp_path: Path, spans: list[str] | None = None, **evaluation) -> Path:
    """The demo config reading tmp_path/data (span-{SPAN} directories when ``spans`` is given), as run.yaml."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["data"]["source"] = str(tmp_path / "data" / ("span-{SPAN}/*.csv" if spans is not None else "*.csv"))
    if spans:
        config["data"]["spans"] = spans
    config["evaluation"].update(evaluation)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _demo_files(directory: Path, files: int = 1, header_typo: bool = False) -> list[Path]:
    """``files`` small demo CSV files in ``directory``; with ``header_typo`` the first one's `age` column is `agx`."""
    from pipelines.demo_data import write_demo_data

    write_demo_data(str(directory), rows=20, seed=1)
    text = (directory / "part-00000.csv").read_text()
    paths = [directory / f"part-{index:05d}.csv" for index in range(files)]
    for index, path in enumerate(paths):
        header, body = text.split("\n", 1)
        path.write_text((header.replace(",age,", ",agx,") if header_typo and index == 0 else header) + "\n" + body)
    return paths


def test_validate_checks_config_and_data_without_running(tmp_path: Path):
    _demo_files(tmp_path / "data", files=3)
    _validate_config(tmp_path)
    result = _bigtrain("validate", "--config", "run.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bigtrain: ok: 1 span, 3 files, format csv\n" and not result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.yaml"]  # no runs/, nothing written


def test_validate_names_each_span_whose_first_file_has_a_bad_header(tmp_path: Path, capsys):
    from pipelines.cli import main

    bad = _demo_files(tmp_path / "data" / "span-1", header_typo=True)[0]
    _demo_files(tmp_path / "data" / "span-2", files=2)
    worse = _demo_files(tmp_path / "data" / "span-3", header_typo=True)[0]
    config = _validate_config(tmp_path, spans=["1", "2", "3"])
    assert main(["validate", "--config", str(config)]) == 2
    lines = capsys.readouterr().err.splitlines()
    expected = "column(s) ['agx'] are in the data but not in the config's columns"
    assert lines == [f"bigtrain: error: {bad}: {expected}", f"{worse}: {expected}"]
    assert main(["validate", "--config", str(_validate_config(tmp_path, spans=2))]) == 2
    assert capsys.readouterr().err == f"bigtrain: error: {worse}: {expected}\n"
    assert main(["validate", "--config", str(_validate_config(tmp_path, spans=["2"]))]) == 0
    assert capsys.readouterr().out == "bigtrain: ok: 1 span, 2 files, format csv\n"


def test_validate_names_a_missing_span_and_missing_data(tmp_path: Path, capsys):
    from pipelines.cli import main

    _demo_files(tmp_path / "data" / "span-2026-11-27")
    config = _validate_config(tmp_path, spans=["2026-11-27", "2026-11-28"])
    assert main(["validate", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("bigtrain: error: data.spans: no files for span 2026-11-28 under data.source")
    assert len(error.splitlines()) == 1
    (tmp_path / "empty").mkdir()
    config = _validate_config(tmp_path / "empty")
    assert main(["validate", "--config", str(config)]) == 2
    assert "data.source: no files match" in capsys.readouterr().err


def test_validate_reports_a_bad_config_like_run(tmp_path: Path, capsys):
    from pipelines.cli import main

    _demo_files(tmp_path / "data")
    config = _validate_config(tmp_path, thresholds={"auc": {"min": 1.5}}, decision_threshold=2)
    assert main(["validate", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"bigtrain: error: {config}: evaluation.thresholds.auc.min: 1.5 is out of range: auc lies in [0, 1]",
        f"{config}: evaluation.decision_threshold: Input should be less than 1",
    ]
    config.write_text(config.read_text() + "name: again\n")
    assert main(["validate", "--config", str(config)]) == 2
    assert "duplicated key 'name'" in capsys.readouterr().err


def test_an_interrupted_run_is_one_line_and_128_plus_the_signal(tmp_path: Path, monkeypatch, capsys):
    import signal

    from pipelines import cli, local_runner

    summary = {"ok": False, "error": "interrupted by SIGTERM during train", "interrupted": "train", "run_dir": "r"}
    monkeypatch.setattr(local_runner, "run_local", lambda *a, **k: local_runner.LocalRun(summary, signal.SIGTERM))
    monkeypatch.setattr(cli, "load_config", lambda path: None)
    assert cli.main(["run", "--config", "x.yaml", "--summary", str(tmp_path / "s.json")]) == 143
    err = capsys.readouterr().err
    assert err.splitlines() == ["bigtrain: interrupted by SIGTERM during train; stopped its processes (summary: r)"]
    assert json.loads((tmp_path / "s.json").read_text())["interrupted"] == "train"


def test_ctrl_c_outside_a_run_is_one_line_and_130(monkeypatch, capsys):
    from pipelines import cli

    def interrupted(path: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_config", interrupted)
    assert cli.main(["compile", "--config", "x.yaml", "--output", "x"]) == 130
    assert capsys.readouterr().err == "bigtrain: interrupted (compile)\n"


def test_output_files_get_their_parent_directories(tmp_path: Path, monkeypatch):
    from pipelines import cli, local_runner

    result = _bigtrain("compile", "--config", str(DEMO_CONFIG), "--output", "new/dir/p.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bigtrain: wrote new/dir/p.yaml" in result.stdout
    assert next(yaml.safe_load_all((tmp_path / "new" / "dir" / "p.yaml").read_text()))["pipelineInfo"]

    summary = {"ok": True, "run_dir": "r"}
    monkeypatch.setattr(local_runner, "run_local", lambda *a, **k: local_runner.LocalRun(summary))
    monkeypatch.setattr(cli, "load_config", lambda path: None)
    assert cli.main(["run", "--config", "x.yaml", "--summary", str(tmp_path / "out" / "s.json")]) == 0
    assert json.loads((tmp_path / "out" / "s.json").read_text()) == summary


def test_an_output_path_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path, monkeypatch, capsys):
    from pipelines import cli, local_runner

    (tmp_path / "afile").write_text("")
    result = _bigtrain("compile", "--config", str(DEMO_CONFIG), "--output", "afile/p.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("bigtrain: error: --output afile/p.yaml: cannot create directory afile: ")
    assert len(result.stderr.splitlines()) == 1

    ran = []
    monkeypatch.setattr(local_runner, "run_local", lambda *a, **k: ran.append(1))
    monkeypatch.setattr(cli, "load_config", lambda path: None)
    assert cli.main(["run", "--config", "x.yaml", "--summary", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"bigtrain: error: --summary {tmp_path}: is a directory; give a file path\n"
    assert not ran  # refused before running anything

    assert cli.main(["demo-data", "--rows", "5", "--output", str(tmp_path / "afile" / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bigtrain: error: --output {tmp_path / 'afile' / 'd'}: cannot create directory ")
    assert len(err.splitlines()) == 1
