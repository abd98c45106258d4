"""Forward FLOPs of a Keras callable, counted by TensorFlow's graph profiler.

The callable is traced to a concrete function for the given input signature (use batch 1 for "per
image"), its variables are frozen to constants, and ``tf.compat.v1`` profiler's ``float_operation``
view sums the registered per-op FLOP statistics: convolutions, transposed convolutions and matmuls at
2 FLOPs per multiply-accumulate, plus element-wise arithmetic (bias and residual adds, batch norm's
inference multiply-add, the soft-argmax sums and products) and pooling (one per window element).
Ops without registered statistics count 0 (measured: ReLU, exp).
"""

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tensorflow.python.profiler import model_analyzer, option_builder


def count_flops(fn, input_signature):
    """Total float ops of one call of ``fn`` on inputs of ``input_signature``.

    Args:
      fn: python callable of tensors (e.g. ``lambda x: model(x, training=False)``).
      input_signature: list of ``tf.TensorSpec`` (or nested structures of them) with static shapes.
    Returns: int.
    """
    concrete = tf.function(fn).get_concrete_function(*input_signature)
    frozen = convert_variables_to_constants_v2(concrete)
    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return int(model_analyzer.profile(frozen.graph, options=options).total_float_ops)
