"""Outlier clipping at train quantiles and feature crosses, in the transform graph, on a few rows worked by hand.

The graph is analyzed on the train rows by a real Beam job, then applied in-process (as serving applies it) to the
train rows and to eval rows beyond the train range, in row order.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from beam_jobs.contract import Clip, Cross, CrossError, parse_columns
from beam_jobs.transform import CROSS_SEPARATOR, clip_plan, make_preprocessing_fn
from tests.unit.tiny_transform import analyze

COLUMNS = parse_columns(
    {
        "f": {"type": "float", "transform": "identity", "clip": {"lower": 0.1, "upper": 0.9}},
        "lo": {"type": "float", "transform": "identity", "clip": {"lower": 0.2}},
        "hi": {"type": "int", "transform": "identity", "clip": {"upper": 0.75}, "missing": {"fill": 1000}},
        "zs": {"type": "float", "transform": "zscore", "clip": {"lower": 0.05, "upper": 0.95}},
        "s": {"type": "string", "transform": "vocabulary", "missing": {"fill": "zz"}},
        "n": {"type": "int", "transform": "identity", "missing": "mode"},
        "b": {"type": "float", "transform": {"bucketize": 3}},
        "y": {"type": "int", "role": "label"},
    }
)
CROSSES = [Cross(cross=["s", "n"], hash=50), Cross(cross=["b", "s", "n"], hash=1000)]
N_TRAIN = 60
STRINGS = ["a", "b", "é", "c:1"]  # a 2-byte value and one holding the length prefix's ':'


def _train_rows() -> list[dict]:
    rng = np.random.default_rng(5)
    rows = []
    for i in range(N_TRAIN):
        rows.append(
            {
                "f": float(rng.normal() * (30 if i % 17 == 0 else 1)),  # a few outliers
                "lo": float(rng.normal()),
                "hi": [] if i % 6 == 0 else [int(rng.integers(0, 100))],  # missing → fill 1000, beyond the range
                "zs": float(rng.lognormal()),
                "s": [] if i % 7 == 0 else [STRINGS[i % len(STRINGS)]],
                "n": [] if i % 5 == 0 else [min(i % 4, 2)],
                "b": float(i),
                "y": i % 2,
            }
        )
    return rows


TRAIN = _train_rows()
EVAL = [  # beyond the train range both ways, and with every optional column missing
    {"f": 1e6, "lo": 1e6, "hi": [10**6], "zs": 1e6, "s": ["b"], "n": [7], "b": 1e6, "y": 0},
    {"f": -1e6, "lo": -1e6, "hi": [-(10**6)], "zs": -1e6, "s": [], "n": [], "b": -1e6, "y": 1},
]


def _example(row: dict) -> bytes:
    feature = {}
    for name, value in row.items():
        values = value if isinstance(value, list) else [value]
        if name in ("s",):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))
        elif name in ("hi", "n", "y"):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tft.TFTransformOutput:
    """The transform graph analyzed on TRAIN by a Beam job."""
    return analyze(TRAIN, COLUMNS, tmp_path_factory.mktemp("clip-cross"), CROSSES)


def _apply(graph: tft.TFTransformOutput, rows: list[dict]) -> dict[str, np.ndarray]:
    raw = tf.io.parse_example(tf.constant([_example(r) for r in rows]), graph.raw_feature_spec())
    return {name: value.numpy() for name, value in graph.transform_features_layer()(raw).items()}


@pytest.fixture(scope="module")
def train_out(graph) -> dict[str, np.ndarray]:
    return _apply(graph, TRAIN)


@pytest.fixture(scope="module")
def eval_out(graph) -> dict[str, np.ndarray]:
    return _apply(graph, EVAL)


def _within_accuracy(bound: float, observed: list[float], q: float, epsilon: float) -> None:
    """``bound`` is a train value whose rank is within the sketch's error (epsilon × rows, at least one row) of q."""
    xs = np.sort(np.asarray(observed, dtype=np.float32))
    n = len(xs)
    first, last = max(0, math.floor((q - epsilon) * n) - 1), min(n - 1, math.ceil((q + epsilon) * n))
    assert bound in xs[first : last + 1], (bound, q, xs[first : last + 1])


def _bounds(name: str, out: np.ndarray, observed: list[float]) -> tuple[float | None, float | None]:
    """The clip bounds the graph used, read off the clipped train values and checked against numpy's quantiles."""
    clip = COLUMNS.columns[name].clip
    plan = clip_plan(clip)
    lower = upper = None
    if clip.lower > 0:
        lower = float(out.min())
        _within_accuracy(lower, observed, clip.lower, plan.epsilon)
    if clip.upper < 1:
        upper = float(out.max())
        _within_accuracy(upper, observed, clip.upper, plan.epsilon)
    return lower, upper


@pytest.mark.parametrize("name", ["f", "lo"])
def test_train_values_are_clipped_at_their_train_quantiles(train_out, eval_out, name):
    observed = [row[name] for row in TRAIN]
    lower, upper = _bounds(name, train_out[name], observed)
    expected = np.clip(np.asarray(observed, np.float32), lower, upper)
    np.testing.assert_array_equal(train_out[name], expected)
    assert np.sum(np.asarray(observed) < lower) >= 0.1 * N_TRAIN  # the clip binds: it is not the train minimum
    # An eval (or serving) value beyond the train range is clipped to the train quantile; no upper clip on "lo".
    assert eval_out[name].tolist() == [upper if upper is not None else 1e6, lower]


def test_upper_only_clip_of_an_int_column_uses_the_observed_values_and_clips_the_fill(train_out, eval_out):
    observed = [row["hi"][0] for row in TRAIN if row["hi"]]
    lower, upper = _bounds("hi", train_out["hi"], observed)
    assert lower is None and upper == int(upper) and upper < 100
    imputed = [row["hi"][0] if row["hi"] else 1000 for row in TRAIN]  # the fill 1000 is clipped like any value
    np.testing.assert_array_equal(train_out["hi"], np.minimum(imputed, upper).astype(np.float32))
    assert eval_out["hi"].tolist() == [upper, -(10**6)]


def test_a_clipped_column_is_transformed_after_clipping(train_out, eval_out):
    """z-score statistics come from the clipped train values, so both tails end up at the clip bounds' z-scores."""
    z = train_out["zs"]
    assert z.mean() == pytest.approx(0.0, abs=1e-5) and z.std() == pytest.approx(1.0, abs=1e-4)
    assert np.sum(z == z.max()) >= 0.05 * N_TRAIN and np.sum(z == z.min()) >= 0.05 * N_TRAIN
    assert eval_out["zs"].tolist() == [z.max(), z.min()]


def test_clip_plan_hits_each_configured_quantile():
    plan = clip_plan(Clip(lower=0.01, upper=0.99))
    assert (plan.num_buckets, plan.lower_index, plan.upper_index, plan.epsilon) == (100, 0, 98, 0.001)
    plan = clip_plan(Clip(lower=0.025, upper=0.99))  # 1/40 and 99/100 → 200 buckets: boundaries 5 and 198
    assert (plan.num_buckets, plan.lower_index, plan.upper_index) == (200, 4, 197)
    plan = clip_plan(Clip(upper=0.9995))
    assert (plan.num_buckets, plan.lower_index, plan.upper_index) == (2000, None, 1998)
    assert plan.epsilon == pytest.approx(0.00005)


def _mode(values: list[int]) -> int:
    (top, first), (_, second) = collections.Counter(values).most_common(2)
    assert first > second  # a tie would test tf.Transform's tie-break, not the cross
    return top


def _key(parts: list[str]) -> str:
    return CROSS_SEPARATOR.join(f"{len(part.encode())}:{part}" for part in parts)


@pytest.mark.parametrize(("rows", "out"), [(TRAIN, "train_out"), (EVAL, "eval_out")])
def test_cross_ids_hash_the_imputed_values_and_bucket_ids(request, rows, out):
    transformed = request.getfixturevalue(out)
    n_mode = _mode([row["n"][0] for row in TRAIN if row["n"]])
    for index, row in enumerate(rows):
        s = row["s"][0] if row["s"] else "zz"  # fill
        n = str(row["n"][0] if row["n"] else n_mode)  # mode of the train values, in decimal
        b = str(int(transformed["b"][index]))  # a bucketized column takes part with its bucket id
        for cross, parts in ((CROSSES[0], [s, n]), (CROSSES[1], [b, s, n])):
            expected = int(tf.strings.to_hash_bucket_fast(_key(parts), cross.hash))
            assert transformed[cross.name][index] == expected, (cross.name, index, parts)
    assert transformed[CROSSES[0].name].dtype == np.int64


def test_cross_ids_vary_and_stay_in_range(train_out):
    for cross in CROSSES:
        ids = train_out[cross.name]
        assert ids.min() >= 0 and ids.max() < cross.hash
        assert len(set(ids.tolist())) > 5


def test_a_raw_float_cross_is_refused_naming_the_column():
    with pytest.raises(CrossError, match=r"crosses\[0\]: 'f' is a float column with transform identity"):
        make_preprocessing_fn(COLUMNS, [Cross(cross=["f", "s"], hash=10)])
    with pytest.raises(CrossError, match=r"crosses\[1\]: 'y' is a label column"):
        make_preprocessing_fn(COLUMNS, [CROSSES[0], Cross(cross=["s", "y"], hash=10)])
