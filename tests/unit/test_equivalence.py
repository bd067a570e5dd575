"""The data path reproduces the outputs recorded from the code before the columnar rewrite.

``tests/data/equivalence/`` holds a small CSV corpus (``a.csv``, ``b.csv``, written by ``make_corpus.py``), its
``columns.json`` and ``expected.json``: what ingest + preprocess produced on it before the rewrite (recorded by
``make_expected.py`` running that older commit). The test runs today's ``run_ingest`` + ``run_preprocess`` on the
same corpus and compares, allowing only this:

* integers and strings: exact; floats: ``math.isclose(rel_tol=1e-6, abs_tol=1e-6)``, i.e. within 1e-6 absolute
  for values up to 1 in magnitude and 1e-6 relative above; NaN only equals NaN. A value's type (float, int,
  string) and every list's length must match.
* raw examples are matched by the key column; transformed examples carry no key, so each split's transformed
  rows are compared as a multiset (a one-to-one matching under the rule above).
* quarantine records are compared on ``kind``, ``reason`` and ``row`` only (other keys, e.g. line numbers, are
  ignored), as a multiset. Counts in ``stats.json`` and the vocabulary files of the transform graph: exact, but for
  a float column's mode (``<column>_mode``), now counted by the float32's bits (the file holds the bits as an int32)
  instead of rounded text: it is decoded and compared under the float rule.

Regenerate ``expected.json`` only on purpose, from the old code (see ``make_expected.py``), never from the code
under test.
"""

from __future__ import annotations

import collections
import glob
import json
import math
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "equivalence"
EXPECTED = DATA / "expected.json"
FLOAT_COLUMNS = {
    name: spec for name, spec in json.loads((DATA / "columns.json").read_text()).items() if spec["type"] == "float"
}
SPLITS = ("train", "eval", "test")
RATIOS = {"train": 0.8, "eval": 0.1, "test": 0.1}
KEY = "id"  # the key column of columns.json; every row of the corpus has one
STATS_KEYS = ("input", "train", "eval", "test", "quarantined", "quarantine_reasons")
QUARANTINE_KEYS = ("kind", "reason", "row")
REL_TOL = ABS_TOL = 1e-6
MAX_PROBLEMS = 40

Row = dict[str, list[Any]]


# --- reading outputs into plain JSON-able values -------------------------------------------------------------


def _records(pattern: str) -> list[bytes]:
    import tensorflow as tf

    files = sorted(glob.glob(pattern))
    assert files, f"no files match {pattern}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def decode_example(serialized: bytes) -> Row:
    """A tf.Example as ``{feature: [values]}``: floats as Python floats, ints as ints, bytes as UTF-8 text."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    row: Row = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            row[name] = [float(v) for v in feature.float_list.value]
        elif kind == "int64_list":
            row[name] = [int(v) for v in feature.int64_list.value]
        elif kind == "bytes_list":
            row[name] = [v.decode("utf-8") for v in feature.bytes_list.value]
        else:
            row[name] = []
    return row


def canonical(value: Any) -> str:
    """A stable text form, used to sort rows and records."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def snapshot(
    examples_dir: str, transformed_dir: str, transform_graph_dir: str, quarantine_dir: str, stats_path: str
) -> dict[str, Any]:
    """Everything the comparison looks at, from one run's output directories."""
    from beam_jobs.layout import split_files

    raw: dict[str, dict[str, Row]] = {}
    transformed: dict[str, list[Row]] = {}
    for split in SPLITS:
        rows = [decode_example(r) for r in _records(split_files(examples_dir, split))]
        keyed = {row[KEY][0]: row for row in rows}
        assert len(keyed) == len(rows), f"{split}: repeated keys in the raw examples"
        raw[split] = dict(sorted(keyed.items()))
        transformed[split] = sorted(
            (decode_example(r) for r in _records(split_files(transformed_dir, split))), key=canonical
        )
    files = sorted(glob.glob(os.path.join(quarantine_dir, "part*.jsonl")))
    assert files, f"no quarantine files in {quarantine_dir}"
    quarantine = [
        {k: record[k] for k in QUARANTINE_KEYS}
        for path in files
        for record in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines())
    ]
    assets = Path(transform_graph_dir) / "transform_fn" / "assets"
    vocabularies = {p.name: p.read_text(encoding="utf-8").splitlines() for p in sorted(assets.iterdir())}
    stats = json.loads(Path(stats_path).read_text())
    return {
        "stats": {k: stats[k] for k in STATS_KEYS},
        "raw": raw,
        "transformed": transformed,
        "quarantine": sorted(quarantine, key=canonical),
        "vocabularies": vocabularies,
    }


# --- comparing -----------------------------------------------------------------------------------------------


def same_value(expected: Any, actual: Any) -> bool:
    """Same type; ints and strings exact; floats within 1e-6 (absolute up to 1, relative above); NaN == NaN."""
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return expected == actual


def same_row(expected: Row, actual: Row) -> bool:
    """Same features, same list lengths, every value the same under :func:`same_value`."""
    return expected.keys() == actual.keys() and all(
        len(expected[name]) == len(actual[name]) and all(map(same_value, expected[name], actual[name]))
        for name in expected
    )


def _exact_part(row: Row) -> str:
    """What two matching rows must share exactly: feature names, lengths, every int and string."""
    return canonical(
        {name: [v if not isinstance(v, float) else "<float>" for v in values] for name, values in row.items()}
    )


def match_multiset(expected: list[Row], actual: list[Row]) -> tuple[list[Row], list[Row]]:
    """A largest one-to-one matching under :func:`same_row`; returns (unmatched expected, unmatched actual).

    Rows are first grouped by their exact part, then matched within each group (augmenting paths), so float
    tolerance can never pair a row with a different one when another pairing would match everything.
    """
    groups: dict[str, tuple[list[int], list[int]]] = collections.defaultdict(lambda: ([], []))
    for i, row in enumerate(expected):
        groups[_exact_part(row)][0].append(i)
    for j, row in enumerate(actual):
        groups[_exact_part(row)][1].append(j)
    owner: dict[int, int] = {}  # actual index -> expected index
    for exp_ids, act_ids in groups.values():
        edges = {i: [j for j in act_ids if same_row(expected[i], actual[j])] for i in exp_ids}

        def augment(i: int, seen: set[int], edges: dict[int, list[int]] = edges) -> bool:
            for j in edges[i]:
                if j not in seen:
                    seen.add(j)
                    if j not in owner or augment(owner[j], seen):
                        owner[j] = i
                        return True
            return False

        for i in exp_ids:
            augment(i, set())
    matched_expected = set(owner.values())
    return (
        [row for i, row in enumerate(expected) if i not in matched_expected],
        [row for j, row in enumerate(actual) if j not in owner],
    )


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Every difference between two snapshots that the tolerance rules do not allow, as messages."""
    problems: list[str] = []
    for key in STATS_KEYS:
        if expected["stats"][key] != actual["stats"][key] or type(actual["stats"][key]) is not type(
            expected["stats"][key]
        ):
            problems.append(f"stats.{key}: expected {expected['stats'][key]!r}, got {actual['stats'][key]!r}")
    for split in SPLITS:
        exp_raw, act_raw = expected["raw"][split], actual["raw"][split]
        for key in sorted(exp_raw.keys() - act_raw.keys()):
            problems.append(f"raw {split}: missing row {key}: {canonical(exp_raw[key])}")
        for key in sorted(act_raw.keys() - exp_raw.keys()):
            problems.append(f"raw {split}: unexpected row {key}: {canonical(act_raw[key])}")
        for key in sorted(exp_raw.keys() & act_raw.keys()):
            if not same_row(exp_raw[key], act_raw[key]):
                problems.append(
                    f"raw {split} row {key}: expected {canonical(exp_raw[key])}, got {canonical(act_raw[key])}"
                )
        exp_xf, act_xf = expected["transformed"][split], actual["transformed"][split]
        if len(exp_xf) != len(act_xf):
            problems.append(f"transformed {split}: expected {len(exp_xf)} rows, got {len(act_xf)}")
        missing, extra = match_multiset(exp_xf, act_xf)
        problems += [f"transformed {split}: no row matches expected {canonical(r)}" for r in missing]
        problems += [f"transformed {split}: unexpected row {canonical(r)}" for r in extra]
    problems += _multiset_diff(
        "quarantine", *([{k: r[k] for k in QUARANTINE_KEYS} for r in side["quarantine"]] for side in (expected, actual))
    )
    if expected["vocabularies"].keys() != actual["vocabularies"].keys():
        problems.append(
            f"vocabulary files: expected {sorted(expected['vocabularies'])}, got {sorted(actual['vocabularies'])}"
        )
    for name in sorted(expected["vocabularies"].keys() & actual["vocabularies"].keys()):
        if expected["vocabularies"][name] != _float_mode(name, actual["vocabularies"][name]):
            problems.append(
                f"vocabulary {name}: expected {expected['vocabularies'][name]}, got {actual['vocabularies'][name]}"
            )
    return problems


def _float_mode(name: str, entries: list[str]) -> list[str] | Any:
    """A float column's mode vocabulary (float32 bits as an int32) as the recorded text (``%f``) when it decodes to
    a value the float rule accepts; any other vocabulary unchanged."""
    column = FLOAT_COLUMNS.get(name.removesuffix("_mode")) if name.endswith("_mode") else None
    if column is None or not all(entry.lstrip("-").isdigit() for entry in entries):
        return entries
    return [f"{struct.unpack('<f', struct.pack('<i', int(entry)))[0]:f}" for entry in entries]


def _multiset_diff(what: str, expected: Iterable[Any], actual: Iterable[Any]) -> list[str]:
    exp = collections.Counter(map(canonical, expected))
    act = collections.Counter(map(canonical, actual))
    return [f"{what}: missing {text}" for text in sorted((exp - act).elements())] + [
        f"{what}: unexpected {text}" for text in sorted((act - exp).elements())
    ]


def _report(problems: list[str]) -> str:
    shown = problems[:MAX_PROBLEMS]
    more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return f"{len(problems)} difference(s) from {EXPECTED.name}:\n" + "\n".join(p[:600] for p in shown) + more


# --- the tests -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text(encoding="utf-8"))


def test_fixture_covers_every_quarantine_reason_and_split(expected):
    """Guards the corpus itself: a regenerated fixture must still exercise every rejection kind and split."""
    reasons = expected["stats"]["quarantine_reasons"]
    assert set(reasons) == {
        "wrong_column_count",
        "bad_number",
        "bad_label",
        "missing_label",
        "missing_required",
    }
    assert all(expected["raw"][split] and expected["transformed"][split] for split in SPLITS)
    kept = sum(len(expected["raw"][split]) for split in SPLITS)
    assert kept + expected["stats"]["quarantined"] == expected["stats"]["input"]


@pytest.mark.slow
def test_data_path_reproduces_recorded_outputs(tmp_path: Path, expected):
    from beam_jobs.contract import parse_columns
    from beam_jobs.ingest import IngestPaths, run_ingest
    from beam_jobs.options import DEFAULT_RUNNER
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    columns = parse_columns(json.loads((DATA / "columns.json").read_text()))
    ingest = IngestPaths.under(str(tmp_path / "ingest"))
    stats = run_ingest(str(DATA / "*.csv"), columns, RATIOS, ingest, DEFAULT_RUNNER, ())
    prep = PreprocessPaths.under(str(tmp_path / "prep"))
    run_preprocess(ingest.examples, columns, prep, DEFAULT_RUNNER, ())

    actual = snapshot(ingest.examples, prep.transformed, prep.transform_graph, ingest.quarantine, ingest.stats)
    problems = compare(expected, actual)
    problems += [
        f"run_ingest returned {key}={getattr(stats, key)!r}, expected {expected['stats'][key]!r}"
        for key in STATS_KEYS
        if getattr(stats, key) != expected["stats"][key]
    ]
    assert not problems, _report(problems)
