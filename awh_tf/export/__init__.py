"""Export of the RGB path (image → 2.5D pose) to a SavedModel, TFLite (LiteRT) and ONNX, with self-checks.

``export_lib.export_run`` is the whole export (``tools/export_model.py`` is its CLI); the steps live in
``saved_model`` (write and describe the SavedModel), ``tflite`` (conversions, built-in ops only, int8 with
the soft-argmax kept in float), ``onnx`` (tf2onnx conversion, ONNX ops only; optional packages),
``crops`` (representative crops and the gate's test split), ``task_gate`` (every artefact judged by its task
error on the test split), ``parity`` (raw differences to the Keras model: the gate's sanity bound),
``metadata`` (``metadata.json``) and ``benchmark`` (LiteRT and onnxruntime latency, no TensorFlow).
Nothing is imported here, so ``awh_tf.export.benchmark`` stays TensorFlow-free.
"""
