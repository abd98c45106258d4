"""The shared layer test (STYLE.md §10), after keras-hub's ``run_layer_test``.

``run_layer_test`` checks, for one layer class and one set of constructor arguments:
  1. config: ``get_config()`` holds every constructor argument, with the values passed; ``from_config``
     gives a layer with the same config;
  2. symbolic call on ``keras.KerasTensor`` inputs (batch None) gives the expected shapes;
  3. eager call on ``input_data`` gives the expected shapes;
  4. one ``fit`` step on a functional wrapper changes the trainable weights and gives a finite loss
     (skipped, with an assertion, for a layer without trainable weights);
  5. optionally, a ``.keras`` save/load of the wrapper gives identical outputs.
"""

import inspect
import os

import keras
import numpy as np
from keras import ops


def _call(layer, inputs):
    """``inputs``: one array, a tuple of positional arrays, or a dict passed as one argument."""
    return layer(*inputs) if isinstance(inputs, tuple) else layer(inputs)


def _shapes(outputs):
    if isinstance(outputs, dict):
        return {k: tuple(v.shape) for k, v in outputs.items()}
    return tuple(outputs.shape)


def _expected(expected, with_batch, batched):
    def shape(s):
        return tuple(s) if with_batch or not batched else (None,) + tuple(s)[1:]
    return {k: shape(v) for k, v in expected.items()} if isinstance(expected, dict) else shape(expected)


def _symbolic_inputs(input_data):
    def spec(a, name=None):
        return keras.Input(shape=np.asarray(a).shape[1:], name=name)
    if isinstance(input_data, tuple):
        return tuple(spec(a) for a in input_data)
    if isinstance(input_data, dict):
        return {k: spec(v, name=k) for k, v in input_data.items()}
    return spec(input_data)


def _first_array(input_data):
    if isinstance(input_data, dict):
        return next(iter(input_data.values()))
    return input_data[0] if isinstance(input_data, tuple) else input_data


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


def check_config(layer_cls, init_kwargs):
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    params = [name for name, p in inspect.signature(layer_cls.__init__).parameters.items()
              if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    missing = [name for name in params if name not in config]
    assert not missing, f"{layer_cls.__name__}.get_config() lacks constructor arguments {missing}"
    for name, value in init_kwargs.items():
        assert _normalise(config[name]) == _normalise(value), f"{name}: {config[name]!r} != {value!r}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    return layer


def run_layer_test(layer_cls, init_kwargs, input_data, expected_output_shape, batched_output=True,
                   run_fit=True, run_saving=False, tmp_path=None):
    """Runs the checks above.

    Args:
      layer_cls: the layer (or model) class.
      init_kwargs: constructor arguments.
      input_data: numpy array, tuple of arrays (positional inputs) or dict of arrays (one dict input).
      expected_output_shape: shape tuple, or dict name -> shape, including the batch dimension of
        ``input_data``.
      batched_output: False when the output has no batch dimension (e.g. α ``[C]``).
      run_fit: run one ``fit`` step (requires trainable weights and batched outputs).
      run_saving: save/load the functional wrapper through ``.keras`` (needs ``tmp_path``).
    Returns: the eagerly called layer.
    """
    layer = check_config(layer_cls, init_kwargs)

    symbolic = _symbolic_inputs(input_data)
    sym_out = _call(layer_cls(**init_kwargs), symbolic)
    assert _shapes(sym_out) == _expected(expected_output_shape, False, batched_output)

    eager_out = _call(layer, input_data)
    assert _shapes(eager_out) == _expected(expected_output_shape, True, batched_output)

    if run_fit:
        _fit_one_step(layer_cls, init_kwargs, input_data)
    if run_saving:
        _save_and_reload(layer_cls, init_kwargs, input_data, tmp_path)
    return layer


def _wrapper(layer_cls, init_kwargs, input_data):
    """Functional model ``inputs -> [B]``: the sum over outputs of each output's per-sample mean."""
    inputs = _symbolic_inputs(input_data)
    outputs = _call(layer_cls(**init_kwargs), inputs)
    flat = list(outputs.values()) if isinstance(outputs, dict) else [outputs]
    score = sum(ops.mean(ops.reshape(o, (-1, int(np.prod(o.shape[1:])))), axis=1) for o in flat)
    model_inputs = list(inputs) if isinstance(inputs, tuple) else inputs
    return keras.Model(model_inputs, score)


def _fit_one_step(layer_cls, init_kwargs, input_data):
    model = _wrapper(layer_cls, init_kwargs, input_data)
    if not model.trainable_weights:
        return
    x = list(input_data) if isinstance(input_data, tuple) else input_data
    batch = len(_first_array(input_data))
    before = [np.array(w) for w in model.trainable_weights]
    # Eager: one step does not pay for tracing a train function.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", run_eagerly=True)
    history = model.fit(x, np.ones((batch,), np.float32), batch_size=batch, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights)]
    assert any(changed), f"{layer_cls.__name__}: one fit step changed no trainable weight"


def _save_and_reload(layer_cls, init_kwargs, input_data, tmp_path):
    model = _wrapper(layer_cls, init_kwargs, input_data)
    x = list(input_data) if isinstance(input_data, tuple) else input_data
    path = os.path.join(str(tmp_path), f"{layer_cls.__name__}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(loaded(x, training=False)))
