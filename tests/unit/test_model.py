"""The Keras model: embeddings sized from the transform's cardinalities, a float32 probability, and it learns."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras

from components.train.model import FeatureInput, MeanBagEmbedding, build_model, embedding_dim

FEATURES = [FeatureInput("x"), FeatureInput("z"), FeatureInput("plan", cardinality=6), FeatureInput("dev", 10_000)]


def _build(features=FEATURES, **overrides) -> keras.Model:
    settings = {"hidden_units": [8, 4], "dropout": 0.0, "max_embedding_dim": 16, "learning_rate": 0.05}
    settings["clipnorm"] = 1.0
    settings.update(overrides)
    return build_model(features, **settings)


def _batch(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "x": rng.normal(size=(n, 1)).astype("float32"),
        "z": rng.normal(size=(n, 1)).astype("float32"),
        "plan": rng.integers(0, 6, size=(n, 1)),
        "dev": rng.integers(0, 10_000, size=(n, 1)),
    }


@pytest.fixture(autouse=True)
def _clean_session():
    yield
    keras.backend.clear_session()


def test_embedding_dim_rule_and_cap():
    assert embedding_dim(6, 16) == round(6 * 6**0.25)  # 9
    assert embedding_dim(10_000, 16) == 16  # 60 before the cap
    assert embedding_dim(10_000, 4) == 4
    assert embedding_dim(1, 16) == 6
    assert embedding_dim(16, 1) == 2  # never below 2


def test_embeddings_sized_from_cardinality():
    model = _build()
    plan = model.get_layer("plan_emb")
    dev = model.get_layer("dev_emb")
    assert (plan.input_dim, plan.output_dim) == (6, embedding_dim(6, 16))
    assert (dev.input_dim, dev.output_dim) == (10_000, 16)  # capped at max_embedding_dim
    embeddings = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Embedding)}
    assert embeddings == {"plan_emb", "dev_emb"}
    # Numeric features go in as float32, categorical ids as int64, one input per feature, keyed by name.
    dtypes = {t.name.split(":")[0]: t.dtype.name for t in model.inputs}
    assert dtypes == {"dev": "int64", "plan": "int64", "x": "float32", "z": "float32"}
    assert sorted(model.input_names) == ["dev", "plan", "x", "z"]


def test_output_is_a_probability_per_example():
    model = _build()
    out = model(_batch(5, np.random.default_rng(0)), training=False)
    assert out.shape == (5, 1)
    assert out.dtype.name == "float32"
    values = out.numpy()
    assert np.all((values >= 0.0) & (values <= 1.0))


def test_output_stays_float32_under_mixed_bfloat16():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _build()
        assert model.get_layer("dense_0").compute_dtype == "bfloat16"  # the policy is really in effect
        out = model(_batch(4, np.random.default_rng(1)), training=False)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.mixed_precision.global_policy().name == previous.name
    assert out.shape == (4, 1)
    assert out.dtype.name == "float32"
    assert np.all((out.numpy() >= 0.0) & (out.numpy() <= 1.0))


def test_single_numeric_feature_builds():
    model = _build([FeatureInput("only")], hidden_units=[3])
    assert model.predict({"only": np.zeros((2, 1), "float32")}, verbose=0).shape == (2, 1)


def test_optimizer_clips_gradients():
    assert _build().optimizer.clipnorm == 1.0
    assert _build(clipnorm=0.25).optimizer.clipnorm == 0.25
    assert _build(clipnorm=None).optimizer.clipnorm is None
    assert float(_build(learning_rate=0.003).optimizer.learning_rate.numpy()) == pytest.approx(0.003)


def test_a_few_steps_learn_a_learnable_problem():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    features = _batch(512, rng)
    # The label depends on one numeric feature and on the category: both paths (dense and embedding) matter.
    labels = ((features["x"][:, 0] > 0) ^ (features["plan"][:, 0] % 2 == 1)).astype("float32").reshape(-1, 1)
    model = _build(dropout=0.1)
    first = model.evaluate(features, labels, verbose=0, return_dict=True)
    history = model.fit(features, labels, epochs=15, batch_size=64, verbose=0)
    last = model.evaluate(features, labels, verbose=0, return_dict=True)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert last["loss"] < 0.7 * first["loss"]
    assert last["auc"] > 0.85


def test_a_bag_of_ids_is_the_mean_of_its_embeddings_and_an_empty_bag_is_zeros():
    layer = MeanBagEmbedding(5, 3)
    ids = np.array([[1, 3, -1, -1], [2, -1, -1, -1], [-1, -1, -1, -1], [4, 4, 0, -1]])
    pooled = layer(ids).numpy()
    table = layer.embeddings.numpy()
    np.testing.assert_allclose(pooled[0], (table[1] + table[3]) / 2, rtol=1e-6)
    np.testing.assert_allclose(pooled[1], table[2], rtol=1e-6)  # one id: its embedding, as a plain Embedding gives
    np.testing.assert_array_equal(pooled[2], np.zeros(3))  # empty text: no tokens
    np.testing.assert_allclose(pooled[3], (2 * table[4] + table[0]) / 3, rtol=1e-6)
    assert layer.get_prunable_weights() == [layer.embeddings]


def test_a_text_bag_is_an_input_beside_single_ids_and_its_words_are_learned():
    """A [batch, slots] bag of token ids (padded with -1) trains with the other inputs; the label hangs on one
    token, wherever it sits in the bag."""
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    n, slots, vocabulary = 512, 6, 20
    lengths = rng.integers(0, slots + 1, n)
    ids = np.where(np.arange(slots)[None, :] < lengths[:, None], rng.integers(1, vocabulary, (n, slots)), -1)
    signal = rng.random(n) < 0.5
    ids[signal & (lengths > 0), 0] = 0  # token 0 ("cancel") → churn
    labels = (signal & (lengths > 0)).astype("float32").reshape(-1, 1)
    features = [*FEATURES, FeatureInput("subject", vocabulary)]
    batch = {**_batch(n, rng), "subject": ids}
    model = _build(features)
    assert model.get_layer("subject_emb").input_dim == vocabulary
    model.fit(batch, labels, epochs=20, batch_size=64, verbose=0)
    assert model.evaluate(batch, labels, verbose=0, return_dict=True)["auc"] > 0.95
