"""``export_run(workdir, out_dir, ...)``: a trained run's RGB path → SavedModel, TFLite, ONNX; self-checked.

Output folder (written to ``OUT.partial`` first and renamed to ``OUT`` only when every check passed)::

    saved_model/               serving_default: image [1,S,S,3] -> uv [1,21,2], z_rel [1,21]
    pose_fp32.tflite           float32
    pose_fp16.tflite           float16 weights
    pose_dynamic_int8.tflite   int8 weights, float activations
    pose_int8.tflite           int8 backbone, soft-argmax in float (awh_tf.export.tflite)
    pose.onnx                  float32, opset 15, only with --formats ...,onnx (awh_tf.export.onnx)
    pose_network.keras         the Keras pose network (keras.saving.load_model after import awh_tf.models)
    keras_preset/              the same as a KerasHub-style preset (awh_tf.models.preset)
    metadata.json              input/outputs/keypoints, source run + config, sizes, sha256, the gate's figures

Only the RGB path is exported (no critic, no depth regulariser): ``PoseNetwork.export_model()`` for the
SavedModel and the files converted from it, the ``PoseNetwork`` itself for the Keras files.
Every artefact is run — the SavedModel and the Keras files reloaded, each ``.tflite`` through
``ai_edge_litert``, ``pose.onnx`` through onnxruntime — on the run's real test split (all of it by default)
and judged by the task against the float Keras model (``awh_tf.export.task_gate``: the change of 2D and 3D
EPE with a paired 95 % interval, plus a loose raw-parity sanity bound); without test data the gate falls back
to the parity bound on random crops, saying so. An artefact that fails fails the export with a one-line
:class:`ExportError` and nothing is written.
"""

import dataclasses
import os
import shutil

import numpy as np
from tensorflow import errors as tf_errors

from awh_tf.export import crops, metadata, onnx, parity, saved_model, task_gate, tflite
from awh_tf import run_dir
from awh_tf.data import data_setup
from awh_tf.data.errors import DataError
from awh_tf.errors import TrainingError, first_line
from awh_tf.export.errors import ExportError
from awh_tf.models import preset

EXPORT_FORMATS = tflite.TFLITE_FORMATS + (onnx.FORMAT,)
GATE_SOURCES = ("auto", "real", "random")
FALLBACK_SAMPLES = 64  # random crops of the parity fallback when gate_samples is 0


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export and how to check it.

    Attributes:
      formats: some of :data:`EXPORT_FORMATS`: TFLite formats (``tflite.TFLITE_FORMATS``) and ``onnx``
        (needs the optional packages: ``onnx.require``). The SavedModel is always written (the other files
        are converted from it). Empty = the SavedModel only.
      overwrite: replace an existing output folder (only once the new export has passed).
      allow_flex: allow TensorFlow (Flex) ops in the ``.tflite`` files.
      gate_source: what every artefact is judged on: ``auto`` (the run's real test split when it is there,
        else the parity fallback on random crops with a notice), ``real`` (the test split, an error without
        it) or ``random`` (the parity fallback).
      gate_samples: test crops to judge on, spread over the split; 0 = all of it (:data:`FALLBACK_SAMPLES`
        random crops in the fallback).
      calibration_source, calibration_samples: the int8 representative dataset (``real``: training data,
        half synthetic, half real), and how many crops.
      int8_float_scope: what the int8 model keeps in float (``tflite.INT8_FLOAT_SCOPES``).
      num_threads: LiteRT threads for the gate's runs.
    """

    formats: tuple = tflite.TFLITE_FORMATS
    overwrite: bool = False
    allow_flex: bool = False
    gate_source: str = "auto"
    gate_samples: int = 0
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
        if self.gate_source not in GATE_SOURCES:
            raise ExportError(f"--gate_source: expected one of {GATE_SOURCES}, got {self.gate_source!r}")
        if self.gate_samples < 0:
            raise ExportError(f"--gate_samples: expected >= 0 (0 = the whole test split), got {self.gate_samples}")
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


def _gate_set(config, options, log):
    """``(images, labels, info)``: the crops every artefact is judged on, their labels (None for the parity
    fallback) and what ``metadata.json`` says about them."""
    reason = "--gate_source random"
    if options.gate_source != "random":
        try:
            dataset = crops.open_test_split(config)
        except (DataError, OSError) as e:
            if options.gate_source == "real":
                raise ExportError(f"real test split cannot be read: {first_line(e)}") from None
            reason = f"no real test split ({first_line(e)})"
        else:
            labels = crops.test_split(config, options.gate_samples, dataset)
            split = data_setup.TEST_SPLIT_NAMES[config.data.real_domain]
            return labels["image"], labels, {"mode": "task", "split": split, "samples": int(len(dataset))}
    n = options.gate_samples or FALLBACK_SAMPLES
    notice = (f"{reason}: the gate falls back to raw parity with the Keras model on {n} random crops (sanity "
              f"bounds only; task accuracy not checked)")
    log(f"notice: {notice}")
    return crops.parity_crops(config, n), None, {"mode": "parity", "notice": notice}


def _predictions(sm_dir, paths, keras_files, images, num_threads):
    """``[(name, kind, {"uv", "z_rel"})]`` of every artefact on ``images``."""
    rows = [("saved_model", "saved_model", saved_model.run_saved_model(sm_dir, images))]
    for kind, path in keras_files.items():
        rows.append((os.path.basename(path), kind, parity.keras_reference(preset.load_pose_network(path), images)))
    for fmt, path in paths.items():
        run = parity.run_onnx if fmt == onnx.FORMAT else parity.run_tflite
        rows.append((os.path.basename(path), fmt, run(path, images, num_threads=num_threads)))
    return rows


def _write_keras_files(network, partial):
    """``pose_network.keras`` and ``keras_preset/`` of the pose network: ``{kind: path}``."""
    files = {"keras": os.path.join(partial, preset.KERAS_FILE), "preset": os.path.join(partial, preset.PRESET_DIR)}
    preset.save_keras(network, files["keras"])
    preset.save_preset(network, files["preset"])
    return files


def _gate_record(results, info, n):
    """``metadata.json``'s ``gate``: how the artefacts were judged and each one's figures."""
    record = dict(info, crops=int(n), artefacts={r.name: r.to_dict() for r in results})
    if info["mode"] == "task":
        record["reference"] = {t.metric: t.reference for t in results[0].task}  # the float Keras model
        record["tolerance"] = {"float": task_gate.FLOAT_TOLERANCE, "quantised": task_gate.QUANTISED_TOLERANCE,
                               "rule": "upper end of the paired 95% interval of the EPE change, as a "
                                       "fraction of the Keras model's EPE, <= tolerance (2D and 3D)"}
        record["bootstrap"] = {"resamples": task_gate.BOOTSTRAP_RESAMPLES, "seed": task_gate.BOOTSTRAP_SEED}
    record["sanity_bounds"] = {"float": list(parity.FLOAT_BOUNDS), "quantised": list(parity.QUANTISED_BOUNDS),
                               "units": "(uv mean px, z_rel mean units) against the Keras model"}
    return record


def export_run(workdir, out_dir, options=ExportOptions(), data_overrides=None, log=print):
    """Exports a run's RGB path and judges every artefact against the float Keras model.

    Args:
      workdir: a training run's folder (``config.json`` + ``checkpoints/``).
      out_dir: the export folder to create.
      options: :class:`ExportOptions`.  data_overrides: fields replacing the run's ``config.data``.
      log: where progress, the fallback notice and the gate's table go.
    Returns:
      the metadata dict (also written to ``out_dir/metadata.json``).
    Raises:
      ExportError: missing workdir/checkpoint, existing ``out_dir`` without overwrite, unreadable
        representative or test data, a conversion needing Flex ops (TFLite) or non-ONNX ops, the ONNX
        packages missing, or an artefact failing the gate.
    """
    config, network, checkpoint = load_run(workdir, data_overrides)
    partial = _prepare_out_dir(out_dir, options.overwrite)
    try:
        size = config.model.input_size
        images, labels, info = _gate_set(config, options, log)
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
        keras_files = _write_keras_files(network, partial)
        log(f"judging every artefact on {len(images)} {'test' if labels is not None else 'random'} crops ...")
        reference = parity.keras_reference(keras_model, images)
        rows = _predictions(sm_dir, paths, keras_files, images, options.num_threads)
        results = task_gate.gate(rows, reference, labels)
        log(task_gate.format_table(results))
        task_gate.check(results)
        files = {"saved_model": metadata.file_record(sm_dir, partial)}
        files.update({kind: metadata.file_record(p, partial) for kind, p in keras_files.items()})
        files.update({fmt: metadata.file_record(p, partial) for fmt, p in paths.items()})
        settings = dict(dataclasses.asdict(options), formats=list(options.formats),
                        gate_samples_used=int(len(images)),
                        calibration_samples_used=0 if calibration is None else int(len(calibration)))
        meta = metadata.build_metadata(config, workdir, checkpoint, size, files,
                                       {r.name: r.parity.to_dict() for r in results}, ops, settings, onnx_info,
                                       gate=_gate_record(results, info, len(images)))
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
