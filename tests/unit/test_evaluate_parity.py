"""TFMA's overall metrics against scikit-learn on the predictions of the same SavedModel's serving signature."""

import os

import numpy as np
import pytest

from components.evaluate.analysis import run_evaluation
from tests.unit.test_evaluate import GOOD_SLOPE, _export_model, _make_rows, _write_shards

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning"),
]

DECISION_THRESHOLD = 0.4  # not the default, so the parity also proves the threshold reaches TFMA
TOLERANCE = 1e-4


def _served(model_dir: str, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every example in the shards, scored by the model's serving_default signature."""
    import tensorflow as tf

    files = tf.io.gfile.glob(pattern)
    serialized = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    labels = tf.io.parse_example(serialized, {"label": tf.io.FixedLenFeature([1], tf.int64)})["label"]
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    scores = serve(examples=tf.constant(serialized))["outputs"]
    return labels.numpy().reshape(-1), scores.numpy().reshape(-1).astype(np.float64)


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    pattern = _write_shards(_make_rows(seed=11), root / "data")
    model = _export_model(root / "model", GOOD_SLOPE)
    outcome = run_evaluation(
        model, pattern, str(root / "tfma"), "label", [], {"auc": {"min": 0.5}}, decision_threshold=DECISION_THRESHOLD
    )
    return outcome, *_served(model, pattern)


def test_metrics_match_scikit_learn(parity):
    from sklearn import metrics

    outcome, labels, scores = parity
    predicted = (scores > DECISION_THRESHOLD).astype(int)  # TFMA: above the threshold is positive
    expected = {
        "auc": metrics.roc_auc_score(labels, scores),
        "precision": metrics.precision_score(labels, predicted),
        "recall": metrics.recall_score(labels, predicted),
        "f1": metrics.f1_score(labels, predicted),
        "accuracy": metrics.accuracy_score(labels, predicted),
        "log_loss": metrics.log_loss(labels, scores),
    }
    differences = {name: abs(outcome.overall[name] - value) for name, value in expected.items()}
    print("max abs difference vs scikit-learn:", differences)
    assert max(differences.values()) < TOLERANCE, differences
    tn, fp, fn, tp = metrics.confusion_matrix(labels, predicted).ravel()
    assert outcome.confusion_matrix == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert outcome.overall["example_count"] == len(labels)
