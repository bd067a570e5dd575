"""Text columns through tf.Transform: tokens computed by hand, a vocabulary of the train split, a dense bag of ids."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from beam_jobs.contract import parse_columns
from beam_jobs.transform import TOKEN_PADDING, categorical_cardinality, tokenize
from tests.unit.tiny_transform import analyze

TOKENS = {"vocab_size": 3, "max_tokens": 3, "ngrams": 2}
COLUMNS = parse_columns(
    {
        "t": {"type": "text", "transform": {"tokens": TOKENS}, "missing": {"fill": ""}},
        "y": {"type": "int", "role": "label"},
    }
)
SLOTS = 3 + 2  # 3 words and their 2 bigrams
# Train token counts after truncation to 3 words: cancel 5, refund 4, slow 3, then "cancel cancel" and
# "refund refund" 2 each (no tie at the vocab_size boundary), the rest once. "now" is beyond max_tokens in row 1.
TRAIN = [
    {"t": ["Cancel, cancel, CANCEL now!"], "y": 1},
    {"t": ["Slow refund"], "y": 1},
    {"t": ["refund: REFUND refund"], "y": 0},
    {"t": [], "y": 0},  # no text: filled with "", zero tokens
    {"t": ["cancel-slow slow"], "y": 1},
    {"t": ["cancel"], "y": 1},
]
CANCEL, REFUND, SLOW, OOV = 0, 1, 2, 3  # ids by train frequency; one OOV bucket after the vocabulary


def test_tokenize_lowercases_splits_on_punctuation_truncates_then_adds_bigrams():
    text = tf.constant(["Cancel my ORDER, please!", "", "  ...  ", "Straße—ÜBER alles"])
    tokens = tokenize(text, max_tokens=3, ngrams=2).to_list()
    assert tokens == [
        [b"cancel", b"my", b"order", b"cancel my", b"my order"],  # "please" is the 4th word: dropped
        [],
        [],
        ["straße".encode(), "über".encode(), b"alles", "straße über".encode(), "über alles".encode()],
    ]
    assert tokenize(tf.constant(["a b c"]), max_tokens=8, ngrams=1).to_list() == [[b"a", b"b", b"c"]]


def _example(text: str | None) -> bytes:
    feature = {"y": tf.train.Feature(int64_list=tf.train.Int64List(value=[0]))}
    if text is not None:
        feature["t"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> tft.TFTransformOutput:
    """The transform graph analyzed on TRAIN by a Beam job."""
    return analyze(TRAIN, COLUMNS, tmp_path_factory.mktemp("text"))


def _ids(graph: tft.TFTransformOutput, texts: list[str | None]) -> np.ndarray:
    raw = tf.io.parse_example(tf.constant([_example(t) for t in texts]), graph.raw_feature_spec())
    return graph.transform_features_layer()(raw)["t"].numpy()


def test_vocabulary_is_the_top_train_tokens_by_frequency(graph):
    with open(graph.vocabulary_file_by_name("t"), "rb") as handle:
        assert handle.read().split() == [b"cancel", b"refund", b"slow"]
    spec = COLUMNS.features["t"]
    assert categorical_cardinality("t", spec, graph.vocabulary_size_by_name) == 3 + 1  # + the OOV bucket
    assert spec.transform is not None and spec.transform.token_slots == SLOTS


def test_text_becomes_a_fixed_width_bag_of_ids(graph):
    feature = graph.transformed_feature_spec()["t"]
    assert isinstance(feature, tf.io.FixedLenFeature)
    assert (feature.shape, feature.dtype) == ([SLOTS], tf.int64)
    ids = _ids(graph, ["Cancel, cancel, CANCEL now!", "slow zebra", "Refund refund?", "", None, "?!", "ZEBRA"])
    pad = TOKEN_PADDING
    expected = [
        [CANCEL, CANCEL, CANCEL, OOV, OOV],  # the bigram "cancel cancel" is not in the top 3
        [SLOW, OOV, OOV, pad, pad],  # "zebra" and "slow zebra" were never seen
        [REFUND, REFUND, OOV, pad, pad],
        [pad] * SLOTS,  # empty text: zero tokens
        [pad] * SLOTS,  # absent: filled with "" like the config says
        [pad] * SLOTS,  # punctuation only
        [OOV, pad, pad, pad, pad],
    ]
    np.testing.assert_array_equal(ids, expected)


def test_text_cells_are_cleaned_like_strings_by_both_cleaners():
    """Row and batch cleaners agree: text is kept as is (whitespace included), "" is missing under the column's rule."""
    import pyarrow as pa

    from beam_jobs.batch_cleaning import clean_batch
    from beam_jobs.cleaning import clean_row

    columns = parse_columns(
        {
            "subject": {"type": "text", "transform": {"tokens": TOKENS}},  # required: "" quarantines the row
            "body": {"type": "text", "transform": {"tokens": TOKENS}, "missing": {"fill": ""}},
            "y": {"type": "int", "role": "label"},
        }
    )
    rows = [
        {"subject": "Cancel, now!", "body": "  ", "y": "1"},
        {"subject": "42", "body": "", "y": "0"},
        {"subject": "", "body": "slow", "y": "1"},
    ]
    by_row = [clean_row(r, columns) for r in rows]
    assert by_row[0].values == {"subject": "Cancel, now!", "body": "  ", "y": 1}
    assert by_row[1].values == {"subject": "42", "body": None, "y": 0}  # absent: the transform fills ""
    assert not by_row[2].ok and by_row[2].reason == "missing required value in 'subject'"
    cells = pa.RecordBatch.from_pylist(
        [{k: v.encode() for k, v in r.items()} for r in rows],
        schema=pa.schema([(name, pa.binary()) for name in rows[0]]),
    )
    batch = clean_batch(cells, columns)
    assert batch.values.to_pylist() == [
        {"subject": b"Cancel, now!", "body": b"  ", "y": 1},
        {"subject": b"42", "body": None, "y": 0},
    ]
    assert [q.reason for q in batch.quarantined] == ["missing required value in 'subject'"]
