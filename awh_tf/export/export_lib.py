"""``export_run(workdir, out_dir, ...)``: a trained run's RGB path → SavedModel, TFLite, ONNX; self-checked.

Output folder (written to ``OUT.partial`` first and renamed to ``OUT`` only when every check passed)::

    saved_model/               serving_default: image [1,S,S,3] -> uv [1,21,2], z_rel [1,21]
    pose_fp32.tflite           float32
    pose_fp16.tflite           float16 weights
    pose_dynamic_int8.tflite   int8 weights, float activations
    pose_int8.tflite           int8 backbone, soft-argmax in float (awh_tf.export.tflite)
    pose.onnx                  float32, opset 15, only with --formats ...,onnx (awh_tf.export.onnx)
    metadata.json              input/outputs/keypoints, source run + config, sizes, sha256, parity

Only the RGB path is exported (no critic, no depth regulariser): ``PoseNetwork.export_model()``.
Every artefact is run — the SavedModel reloaded, each ``.tflite`` through ``ai_edge_litert``, ``pose.onnx``
through onnxruntime — on ``parity_samples`` real-domain test crops and compared with the Keras model
(``awh_tf.export.parity``); an artefact above its tolerance fails the export with a one-line
:class:`ExportError`.
"""

import dataclasses
import os
import shutil

import numpy as np
from tensorflow import errors as tf_errors

from awh_tf.export import crops, metadata, onnx, parity, saved_model, tflite
from awh_tf import run_dir
from awh_tf.errors import TrainingError, first_line
from awh_tf.export.errors import ExportError

EXPORT_FORMATS = tflite.TFLITE_FORMATS + (onnx.FORMAT,)


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export and how to check it.

    Attributes:
      formats: some of :data:`EXPORT_FORMATS`: TFLite formats (``tflite.TFLITE_FORMATS``) and ``onnx``
        (needs the optional packages: ``onnx.require``). The SavedModel is always written (the other files
        are converted from it). Empty = the SavedModel only.
      overwrite: replace an existing output folder (only once the new export has passed).
      allow_flex: allow TensorFlow (Flex) ops in the ``.tflite`` files.
      parity_source, parity_samples: ``real`` (STB test crops) or ``random`` crops, and how many.
      calibration_source, calibration_samples: the int8 representative dataset (``real``: training data,
        half synthetic, half real), and how many crops.
      int8_float_scope: what the int8 model keeps in float (``tflite.INT8_FLOAT_SCOPES``).
      num_threads: LiteRT threads for the parity runs.
    """

    formats: tuple = tflite.TFLITE_FORMATS
    overwrite: bool = False
    allow_flex: bool = False
    parity_source: str = "real"
    parity_samples: int = 64
    calibration_source: str = "real"
    calibration_samples: int = 200
    int8_float_scope: str = "ends"
    num_threads: int = 2

    def __post_init__(self):
        unknown = [f for f in self.formats if f not in EXPORT_FORMATS]
        if unknown:
            raise ExportError(f"--formats: unknown {unknown}; expected some of {EXPORT_FORMATS} "
                              f"(the SavedModel is always written)")
        if onnx.FORMAT in self.formats:
            onnx.require()
        if self.int8_float_scope not in tflite.INT8_FLOAT_SCOPES:
            raise ExportError(f"--int8_float_scope: expected one of {tflite.INT8_FLOAT_SCOPES}, "
                              f"got {self.int8_float_scope!r}")


def load_run(workdir, data_overrides=None):
    """The run's config and pose network: ``(config, pose_network, checkpoint_path)``
    (``awh_tf.run_dir.load_run``); ExportError for a missing workdir, config or checkpoint."""
    try:
        return run_dir.load_run(workdir, data_overrides=data_overrides)
    except TrainingError as e:
        raise ExportError(str(e)) from None


def _prepare_out_dir(out_dir, overwrite):
    """Refuses an existing ``out_dir`` unless ``overwrite``; returns a fresh ``OUT.partial`` folder."""
    if os.path.exists(out_dir) and not overwrite:
        raise ExportError(f"--out_dir {out_dir}: already exists; pass --overwrite to replace it")
    partial = os.path.normpath(out_dir) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    return partial


def _representative(images):
    """The converter's representative dataset: a callable yielding ``{"image": [1, S, S, 3]}``."""
    def generate():
        for image in images:
            yield {"image": image[None].astype(np.float32)}
    return generate


def _export_tflite(sm_dir, partial, options, calibration, log):
    """Converts every requested format; returns ``({format: path}, {format: op_summary})``."""
    paths, info = {}, {}
    representative = None if calibration is None else _representative(calibration)
    for fmt in (f for f in options.formats if f in tflite.TFLITE_FORMATS):
        log(f"converting {tflite.tflite_filename(fmt)} ...")
        model = tflite.convert(sm_dir, fmt, representative=representative,
                               allow_flex=options.allow_flex, int8_float_scope=options.int8_float_scope)
        paths[fmt] = os.path.join(partial, tflite.tflite_filename(fmt))
        with open(paths[fmt], "wb") as f:
            f.write(model)
        info[fmt] = dict(tflite.op_summary(model), flex_ops=tflite.flex_ops(model))
    return paths, info


def _export_onnx(sm_dir, partial, log):
    """Converts the SavedModel to ``pose.onnx``; returns ``(path, onnx.summary)``."""
    log(f"converting {onnx.FILENAME} ...")
    model = onnx.convert(sm_dir)
    path = os.path.join(partial, onnx.FILENAME)
    with open(path, "wb") as f:
        f.write(model)
    return path, onnx.summary(model)


def _check_parity(keras_model, sm_dir, paths, images, num_threads, log):
    """Runs every artefact on ``images``; returns the :class:`parity.Parity` rows (raises if any fails)."""
    reference = parity.keras_reference(keras_model, images)
    results = [parity.compare("saved_model", saved_model.run_saved_model(sm_dir, images), reference)]
    for fmt, path in paths.items():
        run = parity.run_onnx if fmt == onnx.FORMAT else parity.run_tflite
        predicted = run(path, images, num_threads=num_threads)
        results.append(parity.compare(os.path.basename(path), predicted, reference, kind=fmt))
    log(parity.format_table(results))
    parity.check(results)
    return results


def export_run(workdir, out_dir, options=ExportOptions(), data_overrides=None, log=print):
    """Exports a run's RGB path and checks every artefact against the Keras model.

    Args:
      workdir: a training run's folder (``config.json`` + ``checkpoints/``).
      out_dir: the export folder to create.
      options: :class:`ExportOptions`.  data_overrides: fields replacing the run's ``config.data``.
      log: where progress and the parity table go.
    Returns:
      the metadata dict (also written to ``out_dir/metadata.json``).
    Raises:
      ExportError: missing workdir/checkpoint, existing ``out_dir`` without overwrite, unreadable
        representative or parity data, a conversion needing Flex ops (TFLite) or non-ONNX ops, the ONNX
        packages missing, or a failed parity check.
    """
    config, network, checkpoint = load_run(workdir, data_overrides)
    partial = _prepare_out_dir(out_dir, options.overwrite)
    try:
        size = config.model.input_size
        images = crops.parity_crops(config, options.parity_samples, options.parity_source)
        calibration = None
        if "int8" in options.formats:
            calibration = crops.representative_crops(config, options.calibration_samples,
                                                     options.calibration_source)
        keras_model = network.export_model()
        sm_dir = os.path.join(partial, "saved_model")
        log(f"writing the SavedModel ({checkpoint}) ...")
        saved_model.write_saved_model(keras_model, sm_dir, size)
        paths, ops = _export_tflite(sm_dir, partial, options, calibration, log)
        onnx_info = None
        if onnx.FORMAT in options.formats:
            paths[onnx.FORMAT], onnx_info = _export_onnx(sm_dir, partial, log)
        results = _check_parity(keras_model, sm_dir, paths, images, options.num_threads, log)
        files = {"saved_model": metadata.file_record(sm_dir, partial)}
        files.update({fmt: metadata.file_record(p, partial) for fmt, p in paths.items()})
        settings = dict(dataclasses.asdict(options), formats=list(options.formats),
                        parity_samples_used=int(len(images)),
                        calibration_samples_used=0 if calibration is None else int(len(calibration)))
        meta = metadata.build_metadata(config, workdir, checkpoint, size, files,
                                       {r.name: r.to_dict() for r in results}, ops, settings, onnx_info)
        metadata.write_metadata(meta, os.path.join(partial, "metadata.json"))
    except (OSError, tf_errors.OpError) as e:  # a full disk (ENOSPC), a quota, a vanished mount
        shutil.rmtree(partial, ignore_errors=True)
        raise ExportError(f"{partial}: could not write the export ({first_line(e)}); nothing was written to "
                          f"{out_dir}, an existing export there is unchanged") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _swap_in(partial, out_dir)
    log(f"wrote {out_dir}")
    return meta


def _swap_in(partial, out_dir):
    """Replaces ``out_dir`` by ``partial`` with renames only (no disk space needed), so at every moment one
    complete export exists under ``out_dir``, ``out_dir.old`` or ``partial``."""
    old = os.path.normpath(out_dir) + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(out_dir):
        os.replace(out_dir, old)
    os.replace(partial, out_dir)
    shutil.rmtree(old, ignore_errors=True)
