"""A misspelt option assigned to a ``wxent.keras`` metric (``metric.treshold = 1.5``).

The losses refused a new public attribute close to one of their options; the metrics
stored it and went on scoring with the old option. They now raise the same
``AttributeError`` suggesting the option, while Keras' own attribute handling is
unchanged: variables, ``get_config``/``from_config``, serialisation, ``reset_state``, and
``fit``/``evaluate`` with the metrics. :data:`ATTRIBUTES` and :data:`TRAINED` run here on
the TensorFlow backend; :data:`ATTRIBUTES` is also appended to the training script of
tests/test_keras_training.py (one subprocess per backend, started there anyway), whose
``fit`` and ``evaluate`` with these metrics run on the JAX and PyTorch backends with the
check in place.
"""

from __future__ import annotations

ATTRIBUTES = """
# Misspelt attributes of the metrics (tests/test_adversarial_36_keras_metric_attributes.py)
import keras, numpy as np, wxent.keras as wk
rng = np.random.default_rng(36)
xs = rng.normal(size=(16, 3)).astype("float32")
tg = (xs + rng.normal(size=(16, 3)) > 0.0).astype("float32")
cl = np.argmax(xs + rng.normal(size=(16, 3)), axis=1)
costs = 1.0 - np.eye(3)
cases = [  # metric, misspelt name, the option meant, an option assigned for real
    (wk.Recall(num_classes=3, average="macro"), "treshold", "threshold", ("threshold", 0.5)),
    (wk.Precision(), "from_logit", "from_logits", ("from_logits", True)),
    (wk.FBetaScore(beta=2.0), "betta", "beta", ("beta", 0.5)),
    (wk.ExpectedCost(costs), "cost", "costs", ("costs", 2.0 * costs)),
]
for metric, misspelt, meant, (option, value) in cases:
    names = [v.path for v in metric.variables]
    try:
        setattr(metric, misspelt, 1.0)
    except AttributeError as e:
        text = str(e)
        assert f"`{misspelt}`" in text and f"did you mean `{meant}`" in text, text
        assert f"Received: {misspelt}=1.0" in text, text
    else:
        raise AssertionError(f"{type(metric).__name__}.{misspelt} was stored")
    assert misspelt not in metric.__dict__
    metric.my_tag = "run-36"  # any other new attribute is the user's own
    setattr(metric, option, value)  # an option: checked and used
    config = metric.get_config()
    assert np.allclose(config[option], value), (config, option)
    assert "my_tag" not in config and misspelt not in config, config
    clone = type(metric).from_config(config)
    assert clone.get_config() == config, (clone.get_config(), config)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert again.get_config() == config
    assert [v.path for v in metric.variables] == names, (names, metric.variables)
"""

TRAINED = """
def trained(loss, metrics, y):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    m.compile(optimizer="sgd", loss=loss, metrics=metrics)
    m.fit(xs, y, batch_size=8, epochs=1, verbose=0)
    got = m.evaluate(xs, y, batch_size=8, verbose=0, return_dict=True)
    logits = m(xs)
    for metric in metrics:
        metric.reset_state()
        assert float(keras.ops.convert_to_numpy(metric.result())) == 0.0, metric.name
        metric.update_state(y, logits)
        want = float(keras.ops.convert_to_numpy(metric.result()))
        assert abs(got[metric.name] - want) <= 1e-5, (metric.name, got, want)
        assert metric.my_tag == "run-36"

trained(wk.SigmoidCrossEntropy(), [c[0] for c in cases[:3]], tg)
trained(wk.SoftmaxCrossEntropy(), [cases[3][0]], cl)
"""


def test_misspelt_metric_options_on_the_tensorflow_backend() -> None:
    import keras

    assert keras.backend.backend() == "tensorflow"  # (the others: test_keras_training.py)
    exec(compile(ATTRIBUTES + TRAINED, "<metric attributes>", "exec"), {})
