"""Train once on the preprocessed demo data with feature crosses, then check the logs and the exported SavedModel.

The SavedModel must serve raw examples (label absent, optional features absent) in a process that imports
only TensorFlow, its ``transform_features`` signature must reproduce exactly what preprocess fed training (crosses,
clipped columns and the tokenized text column included), and it must carry the serving schema of its columns.
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict, replace

import numpy as np
import pytest
import tensorflow as tf

from beam_jobs.contract import Cross
from beam_jobs.layout import split_files
from beam_jobs.records import decode_typed
from components.train.export import SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from components.train.main import run
from components.train.request import TrainRequest
from components.train.result import HISTORY_FILE, TrainingResult
from components.train.serving_contract import SERVING_SCHEMA_FILE, serving_schema
from components.train.settings import TrainingSettings

EPOCHS = 2
# Imputed at serving (missing: mean / mode / fill); region and hour are required.
OPTIONAL = ("age", "income", "monthly_spend", "tenure_months", "support_calls", "plan", "device", "ticket_subject")
SERVE_ROWS = 64
# A string x string cross, and one of a string (imputed), an int and a bucketized float column.
CROSSES = [Cross(cross=["region", "plan"], hash=64), Cross(cross=["device", "hour", "income"], hash=512)]


def _read_records(pattern: str) -> list[bytes]:
    files = sorted(glob.glob(pattern))
    assert files, f"nothing matches {pattern}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _example(values: dict) -> bytes:
    feature = {}
    for name, value in values.items():
        if isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def crossed(tmp_path_factory: pytest.TempPathFactory, preprocessed, demo_config):
    """The shared demo ingest output, preprocessed again with CROSSES: (paths, ingest stats, transform stats)."""
    from beam_jobs.preprocess import PreprocessPaths, run_preprocess

    paths, stats, _ = preprocessed
    prep = PreprocessPaths.under(str(tmp_path_factory.mktemp("crossed")))
    transformed = run_preprocess(paths.raw, demo_config.contract, prep, crosses=CROSSES)
    return replace(paths, transformed=prep.transformed, transform_graph=prep.transform_graph), stats, transformed


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, crossed, demo_config):
    paths, stats, _ = crossed
    root = tmp_path_factory.mktemp("trained")
    request = TrainRequest(
        transformed_dir=paths.transformed,
        transform_graph_dir=paths.transform_graph,
        columns=demo_config.columns_dict(),
        crosses=CROSSES,
        model=demo_config.model,
        training=TrainingSettings(epochs=EPOCHS, batch_size=128, learning_rate=0.01, seed=7),
        model_dir=str(root / "model"),
        logs_dir=str(root / "logs"),
        backup_dir=str(root / "backup"),
        train_examples=stats.train,
        eval_examples=stats.eval,
    )
    result = run(request, tf_config={})
    return result, root / "model", root / "logs"


@pytest.fixture(scope="module")
def raw_eval(crossed) -> list[bytes]:
    paths, _, _ = crossed
    return _read_records(split_files(paths.raw, "eval"))


def test_training_result_is_sane(trained, crossed):
    result, _, _ = trained
    _, stats, _ = crossed
    assert isinstance(result, TrainingResult)
    assert 1 <= result.epochs_run <= EPOCHS
    assert 1 <= result.best_epoch <= result.epochs_run
    assert 0.6 < result.best_eval_auc <= 1.0  # the demo label is learnable; 0.5 would mean nothing was learned
    assert math.isfinite(result.final_eval_loss) and result.final_eval_loss > 0
    assert result.train_examples_per_epoch == stats.train
    assert (result.workers, result.chief) == (1, True)
    assert result.seconds > 0


def test_history_and_checkpoints_written(trained):
    result, _, logs = trained
    history = json.loads((logs / HISTORY_FILE).read_text())
    assert history["result"] == json.loads(json.dumps(asdict(result)))
    for key in ("loss", "auc", "val_loss", "val_auc"):
        assert len(history["history"][key]) == result.epochs_run
    assert max(history["history"]["val_auc"]) == pytest.approx(result.best_eval_auc)
    assert history["history"]["val_loss"][-1] == pytest.approx(result.final_eval_loss)
    checkpoints = sorted(p.name for p in (logs / "checkpoints").iterdir())
    assert checkpoints == [f"epoch-{e:03d}.weights.h5" for e in range(1, result.epochs_run + 1)]
    assert all((logs / "checkpoints" / name).stat().st_size > 0 for name in checkpoints)


_CHILD = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    model_dir, records, out = sys.argv[1:4]
    model = tf.saved_model.load(model_dir)
    serve = model.signatures["serving_default"]
    report = {"signatures": sorted(model.signatures.keys())}
    batches = {}
    for name in ("imputed", "no_region"):
        path = records + "." + name
        batches[name] = tf.constant([r.numpy() for r in tf.data.TFRecordDataset(path)])
    outputs = serve(examples=batches["imputed"])
    report["keys"] = sorted(outputs)
    report["shape"] = outputs["outputs"].shape.as_list()
    report["dtype"] = outputs["outputs"].dtype.name
    report["values"] = outputs["outputs"].numpy()[:, 0].tolist()
    try:
        serve(examples=batches["no_region"])
        report["no_region_error"] = None
    except Exception as error:  # report what a client would see
        report["no_region_error"] = type(error).__name__ + ": " + str(error)
    report["tft_imported"] = "tensorflow_transform" in sys.modules
    report["tft_bsl_imported"] = "tfx_bsl" in sys.modules
    with open(out, "w") as handle:
        json.dump(report, handle)
    """
)


@pytest.fixture(scope="module")
def served(trained, raw_eval, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Serve raw eval examples in a fresh interpreter that imports only tensorflow."""
    _, model_dir, _ = trained
    work = tmp_path_factory.mktemp("serve")
    imputed, no_region = [], []
    for index, serialized in enumerate(raw_eval[:SERVE_ROWS]):
        values = decode_typed(serialized)
        values.pop("churned")
        # Drop a different optional feature in each row, and all of them in every 8th row.
        for name in OPTIONAL if index % 8 == 0 else (OPTIONAL[index % len(OPTIONAL)],):
            values.pop(name, None)
        imputed.append(_example(values))
        values.pop("region")
        no_region.append(_example(values))
    records = work / "requests"
    for name, batch in (("imputed", imputed), ("no_region", no_region)):
        with tf.io.TFRecordWriter(f"{records}.{name}") as writer:
            for serialized in batch:
                writer.write(serialized)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_dir), str(records), str(work / "report.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,  # not the repo: the child cannot pick up project code by accident
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((work / "report.json").read_text())


def test_serves_raw_examples_without_label_and_with_optional_features_missing(served):
    assert not served["tft_imported"], "serving must not need tensorflow_transform"
    assert {SERVING_SIGNATURE, TRANSFORM_SIGNATURE} <= set(served["signatures"])
    assert served["keys"] == ["outputs"]
    assert served["shape"] == [SERVE_ROWS, 1]
    assert served["dtype"] == "float32"
    values = np.array(served["values"])
    assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))
    assert values.std() > 0  # predictions depend on the input


def test_missing_required_feature_fails_loudly_at_serving(served):
    error = served["no_region_error"]
    assert error is not None, "a request without the required 'region' must not be scored"
    assert error.startswith("InvalidArgumentError")
    assert "Feature: region (data type: string) is required" in error


def test_exported_model_carries_its_serving_schema(trained, demo_config):
    _, model_dir, _ = trained
    written = json.loads((model_dir / SERVING_SCHEMA_FILE).read_text())
    assert written == serving_schema(demo_config.contract)
    assert [f["name"] for f in written["features"]] == list(demo_config.contract.features)


@pytest.fixture(scope="module")
def transform_signature(trained):
    _, model_dir, _ = trained
    loaded = tf.saved_model.load(str(model_dir))
    return loaded, loaded.signatures[TRANSFORM_SIGNATURE]


def test_no_training_serving_skew(transform_signature, raw_eval, crossed):
    """transform_features on raw eval examples == the transformed eval examples preprocess wrote for training."""
    import tensorflow_transform as tft

    paths, stats, _ = crossed
    _, transform = transform_signature
    tft_output = tft.TFTransformOutput(paths.transform_graph)
    spec = tft_output.transformed_feature_spec()
    label = "churned"
    written = tf.io.parse_example(_read_records(split_files(paths.transformed, "eval")), spec)
    served = transform(examples=tf.constant(raw_eval))
    assert len(raw_eval) == stats.eval
    assert set(served) == set(spec) - {label}
    for name, value in served.items():
        # Rows compared in sorted order; a text column's row is its bag of token ids.
        ours, theirs = _sorted_rows(value.numpy(), stats.eval), _sorted_rows(written[name].numpy(), stats.eval)
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=name)


def _sorted_rows(values: np.ndarray, rows: int) -> np.ndarray:
    table = values.reshape(rows, -1)
    return table[np.lexsort(table.T[::-1])]


def test_serving_imputes_like_the_config_says(transform_signature, raw_eval):
    """An absent optional feature is transformed exactly like its fill value (or, for zscore + mean, to 0)."""
    _, transform = transform_signature
    base = decode_typed(raw_eval[0])
    base.pop("churned")
    fills = {"income": 0.0, "support_calls": 0, "device": "unknown", "plan": "", "ticket_subject": ""}
    present = [_example({**base, **fills})]
    absent = [_example({k: v for k, v in base.items() if k not in fills})]
    with_fill = transform(examples=tf.constant(present))
    imputed = transform(examples=tf.constant(absent))
    for name in fills:
        np.testing.assert_array_equal(imputed[name].numpy(), with_fill[name].numpy(), err_msg=name)
    # age: missing → train mean → z-score of the mean is 0.
    no_age = transform(examples=tf.constant([_example({k: v for k, v in base.items() if k != "age"})]))
    assert float(no_age["age"].numpy()[0]) == pytest.approx(0.0, abs=1e-4)
    # Removing a feature changes only that feature's transformed value.
    full = transform(examples=tf.constant([_example(base)]))
    for name in full:
        if name != "age":
            np.testing.assert_array_equal(no_age[name].numpy(), full[name].numpy(), err_msg=name)


def test_exported_model_scores_eval_like_training_reported(transform_signature, raw_eval, trained):
    """The SavedModel is the model whose eval AUC training reports (serving raw == training on transformed)."""
    import tf_keras as keras

    result, _, _ = trained
    loaded, _ = transform_signature
    scores = loaded.signatures[SERVING_SIGNATURE](examples=tf.constant(raw_eval))["outputs"].numpy()
    labels = np.array([[decode_typed(r)["churned"]] for r in raw_eval], dtype="float32")
    auc = keras.metrics.AUC()
    auc.update_state(labels, scores)
    assert float(auc.result()) == pytest.approx(result.best_eval_auc, abs=2e-3)


def test_serving_tokenizes_a_raw_ticket_subject(transform_signature, raw_eval, crossed):
    """Both signatures take the subject as a raw string: the transform tokenizes it (case and punctuation do not
    matter), and adding a churn word changes the served probability."""
    import tensorflow_transform as tft

    paths, _, _ = crossed
    loaded, transform = transform_signature
    serve = loaded.signatures[SERVING_SIGNATURE]
    vocabulary = tft.TFTransformOutput(paths.transform_graph).vocabulary_by_name("ticket_subject")
    base = decode_typed(raw_eval[0])
    base.pop("churned")
    subjects = ["question about billing", "QUESTION about billing?!", "cancel billing - question", ""]
    batch = tf.constant([_example({**base, "ticket_subject": subject}) for subject in subjects])
    ids = transform(examples=batch)["ticket_subject"].numpy()
    ranks = {token.decode(): rank for rank, token in enumerate(vocabulary)}
    expected = [ranks[t] for t in ("question", "about", "billing", "question about", "about billing")]
    assert ids[0].tolist() == expected + [-1] * (ids.shape[1] - len(expected))
    assert ids[1].tolist() == ids[0].tolist()  # lowercased, punctuation dropped
    assert ranks["cancel"] in ids[2] and set(ids[3]) == {-1}  # empty: zero tokens
    scores = serve(examples=batch)["outputs"].numpy()[:, 0]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)
    assert abs(scores[2] - scores[0]) > 1e-4  # the churn word moves the prediction


def _cross_id(parts: list[str], buckets: int) -> int:
    """A cross's id computed by hand: each part as <byte length>:<value>, joined by the separator, hashed."""
    from beam_jobs.transform import CROSS_SEPARATOR

    key = CROSS_SEPARATOR.join(f"{len(part.encode())}:{part}" for part in parts)
    return int(tf.strings.to_hash_bucket_fast(key, buckets))


def test_serving_computes_the_crosses_from_raw_features(transform_signature, raw_eval):
    """Both crosses come out of the served transform, from raw values with absent ones imputed (plan fill "",
    device fill "unknown"); income takes part with its bucket id."""
    _, transform = transform_signature
    rows = []
    for index, serialized in enumerate(raw_eval[:16]):
        values = decode_typed(serialized)
        values.pop("churned")
        if index % 2:
            values.pop("plan", None)
            values.pop("device", None)
        rows.append(values)
    served = transform(examples=tf.constant([_example(values) for values in rows]))
    for index, values in enumerate(rows):
        plan, device = values.get("plan", ""), values.get("device", "unknown")
        income_bucket = str(int(served["income"].numpy()[index]))
        region_plan = _cross_id([values["region"], plan], 64)
        device_hour_income = _cross_id([device, str(values["hour"]), income_bucket], 512)
        assert int(served["region_x_plan"].numpy()[index]) == region_plan, values
        assert int(served["device_x_hour_x_income"].numpy()[index]) == device_hour_income, values


def test_each_cross_is_an_embedded_model_input(trained):
    from components.train.warm_start import SIGNATURE_FILE, WARM_START_DIR

    _, model_dir, _ = trained
    signature = json.loads((model_dir / WARM_START_DIR / SIGNATURE_FILE).read_text())
    embeddings = {name.split("/")[0]: shape for name, shape in signature["weights"] if "_emb/" in name}
    for cross in CROSSES:
        assert embeddings[f"{cross.name}_emb"][0] == cross.hash
        assert signature["features"][cross.name][1] == "int64"


def test_train_refuses_a_graph_that_does_not_compute_its_crosses(crossed, demo_config):
    """Preprocess and train must get the same crosses; a mismatch fails before any training, naming the features."""
    import tensorflow_transform as tft

    from components.train.model import FeatureInput
    from components.train.trainer import TransformMismatchError, model_inputs

    paths, _, _ = crossed
    output = tft.TFTransformOutput(paths.transform_graph)
    inputs = model_inputs(demo_config.contract, output, CROSSES)
    assert inputs[-2:] == [FeatureInput("region_x_plan", 64), FeatureInput("device_x_hour_x_income", 512)]
    with pytest.raises(TransformMismatchError, match=r"unexpected: \['device_x_hour_x_income', 'region_x_plan'\]"):
        model_inputs(demo_config.contract, output)
    with pytest.raises(TransformMismatchError, match=r"missing: \['plan_x_region'\]"):
        model_inputs(demo_config.contract, output, [*CROSSES, Cross(cross=["plan", "region"], hash=8)])
