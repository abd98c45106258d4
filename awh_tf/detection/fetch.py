"""Installs MediaPipe's palm-detection models and finds them: ``python -m awh_tf.detection.fetch``.

    python -m awh_tf.detection.fetch                    # pip download the wheel, extract, check
    python -m awh_tf.detection.fetch --wheel mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
    python -m awh_tf.detection.fetch --dir /opt/models  # elsewhere (then set AWH_DETECTOR_DIR)

Origin: ``palm_detection_full.tflite`` and ``palm_detection_lite.tflite`` ship inside the
``mediapipe==0.10.21`` wheel on the Python package index (Google, Apache License 2.0; the wheel's
LICENSE is copied next to them). It is the last wheel that bundles them, and it cannot be *installed* beside
TensorFlow 2.21 (it pins protobuf < 5), so this runs ``pip download --no-deps`` for one fixed wheel
(CPython 3.11, manylinux_2_28 x86_64 — the model files are the same in every platform's wheel; naming one
makes the download the same from any machine), reads the two files and the licence out of it, checks
each against its SHA-256 below and deletes the wheel (35.6 MB). Needs the package index, nothing else.

Where: ``$AWH_DETECTOR_DIR`` if set, else ``~/.cache/awh_tf/palm_detection``. Idempotent: files already
there with the right hash are kept. Exit status 1 with one line on failure.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

MEDIAPIPE_VERSION = "0.10.21"
WHEEL_PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
                  "--abi", "cp311", "--only-binary=:all:")
_MODULE = "mediapipe/modules/palm_detection/"
# file name -> (path inside the wheel, sha256)
FILES = {
    "palm_detection_full.tflite": (
        _MODULE + "palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    "palm_detection_lite.tflite": (
        _MODULE + "palm_detection_lite.tflite",
        "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"),
    "LICENSE": (f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE", None),
}
VARIANTS = ("full", "lite")
INSTALL_STEP = "python -m awh_tf.detection.fetch"


class DetectorNotInstalled(RuntimeError):
    """The palm model is missing or corrupt; the message is one line naming the install step."""


def default_dir():
    return os.environ.get("AWH_DETECTOR_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "awh_tf",
                                                              "palm_detection")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_path(variant="full", directory=None):
    """The checked path of ``palm_detection_<variant>.tflite``; DetectorNotInstalled if absent or corrupt."""
    if variant not in VARIANTS:
        raise ValueError(f"palm model: expected one of {VARIANTS}, got {variant!r}")
    name = f"palm_detection_{variant}.tflite"
    path = os.path.join(directory or default_dir(), name)
    if not os.path.isfile(path):
        raise DetectorNotInstalled(f"the hand detector is not installed ({path} is missing): run `{INSTALL_STEP}`"
                                   " (or pass --bbox)")
    if sha256(path) != FILES[name][1]:
        raise DetectorNotInstalled(f"{path} does not have the expected SHA-256: run `{INSTALL_STEP}` again")
    return path


def installed(directory=None):
    """True when both models are present with the expected hashes."""
    try:
        for variant in VARIANTS:
            model_path(variant, directory)
    except DetectorNotInstalled:
        return False
    return True


def extract(wheel, directory):
    """Copies the models and the licence out of ``wheel`` into ``directory``; every hash is checked before
    anything is written."""
    contents = {}
    with zipfile.ZipFile(wheel) as z:
        for name, (member, expected) in FILES.items():
            try:
                contents[name] = z.read(member)
            except KeyError:
                raise DetectorNotInstalled(f"{wheel}: has no {member}; is it mediapipe {MEDIAPIPE_VERSION}?") from None
            if expected is not None and hashlib.sha256(contents[name]).hexdigest() != expected:
                raise DetectorNotInstalled(f"{wheel}: {member} does not have the expected SHA-256")
    os.makedirs(directory, exist_ok=True)
    for name, data in contents.items():
        tmp = os.path.join(directory, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(directory, name))


def download_wheel(into, pip=(sys.executable, "-m", "pip")):
    """``pip download --no-deps mediapipe==<version>`` (the fixed wheel) into ``into``; the wheel's path."""
    cmd = [*pip, "download", "--no-deps", "--quiet", f"mediapipe=={MEDIAPIPE_VERSION}", *WHEEL_PLATFORM, "-d", into]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = [f for f in os.listdir(into) if f.startswith("mediapipe-") and f.endswith(".whl")]
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise DetectorNotInstalled(f"pip download mediapipe=={MEDIAPIPE_VERSION} failed: {last}")
    return os.path.join(into, wheels[0])


def fetch(directory=None, wheel=None, log=print):
    """Installs the models into ``directory`` (default :func:`default_dir`) unless already there."""
    directory = directory or default_dir()
    if installed(directory):
        log(f"palm detector already installed in {directory}")
        return directory
    if wheel is not None:
        extract(wheel, directory)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            extract(download_wheel(tmp), directory)
    for variant in VARIANTS:
        model_path(variant, directory)
    log(f"palm detector installed in {directory} (mediapipe {MEDIAPIPE_VERSION}, Apache License 2.0)")
    return directory


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", help="install folder (default: $AWH_DETECTOR_DIR or ~/.cache/awh_tf/palm_detection)")
    p.add_argument("--wheel", help="a mediapipe 0.10.21 wheel already downloaded (no network needed)")
    args = p.parse_args(argv)
    try:
        fetch(args.dir, args.wheel)
    except (DetectorNotInstalled, OSError, zipfile.BadZipFile) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
