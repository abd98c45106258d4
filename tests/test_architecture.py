"""The import rules of docs/architecture.md: which part of awh_tf may import which.

Two checks: a static one over every import statement of every module, function-local (lazy) imports
included, so a rule cannot be dodged by hiding an import in a function; and the issue's dynamic one,
importing the modules in a fresh interpreter and inspecting ``sys.modules``.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "awh_tf"

# part -> the awh_tf parts it may import (besides itself). A part is a top-level module or subpackage of awh_tf.
BASE = {"keypoints", "geometry", "metrics", "config", "flags", "errors", "files"}
ALLOWED = {
    "keypoints": set(), "geometry": {"keypoints"}, "metrics": {"keypoints"},
    "config": set(), "errors": set(), "files": set(), "flags": {"config"},
    "data": BASE,
    "models": BASE, "losses": BASE,
    "run_dir": BASE | {"models"},
    "detection": set(),  # numpy + OpenCV + LiteRT only: the standalone LiteRT client imports it
    "evaluation": BASE | {"data", "models", "losses", "run_dir", "detection"},
    "export": BASE | {"data", "models", "run_dir"},
    "training": BASE | {"data", "models", "losses", "run_dir", "evaluation"},
    "experiments": BASE | {"data", "models", "losses", "run_dir", "evaluation", "training"},
}
ENTRY_POINTS = {"train", "evaluate", "predict", "inspect", "awh_tf"}  # CLIs and the package itself: anything
NEVER_TENSORFLOW = ("awh_tf.config", "awh_tf.flags", "awh_tf.errors", "awh_tf.files",
                    "awh_tf.detection")  # not even in a function
NO_TENSORFLOW = NEVER_TENSORFLOW + ("awh_tf.experiments",)  # not at import time (the suites train lazily)


def _part(module):
    parts = module.split(".")
    return "awh_tf" if len(parts) == 1 else parts[1]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def _imports(path):
    """Every ``awh_tf`` module an import statement of the file names (anywhere in it), with its line."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "awh_tf":  # from awh_tf import config, run_dir
                names = [f"awh_tf.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("awh_tf", "tensorflow", "keras"):
                yield name, node.lineno


def test_every_part_has_a_rule():
    parts = {_part(name) for name, _ in _modules()}
    assert parts - ENTRY_POINTS <= set(ALLOWED), f"parts without an import rule: {parts - ENTRY_POINTS - set(ALLOWED)}"


def test_each_part_imports_only_what_its_rule_allows():
    broken = []
    for module, path in _modules():
        src = _part(module)
        if src in ENTRY_POINTS:
            continue
        for name, line in _imports(path):
            if not name.startswith("awh_tf."):
                continue
            dst = _part(name)
            if dst != src and dst not in ALLOWED[src]:
                broken.append(f"{path.relative_to(ROOT)}:{line}: {src} imports {name}")
    assert not broken, "\n".join(broken)


def test_the_cheap_parts_never_import_tensorflow_even_lazily():
    broken = [f"{path.relative_to(ROOT)}:{line}: imports {name}" for module, path in _modules()
              if module.startswith(NEVER_TENSORFLOW) for name, line in _imports(path)
              if name.split(".")[0] in ("tensorflow", "keras")]
    assert not broken, "\n".join(broken)


def test_the_rule_check_sees_a_lazy_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from awh_tf.training import train_lib\n")
    assert list(_imports(path)) == [("awh_tf.training", 2)]


def _loaded_after_importing(modules):
    code = ("import importlib, sys\n"
            f"for m in {list(modules)!r}:\n    importlib.import_module(m)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split())


DETECTION = tuple(name for name, _ in _modules() if name.startswith("awh_tf.detection"))


@pytest.mark.parametrize("modules", [NO_TENSORFLOW, DETECTION], ids=["config-flags-errors-experiments", "detection"])
def test_flags_and_config_load_without_tensorflow(modules):
    loaded = _loaded_after_importing(modules)
    assert not {"tensorflow", "keras"} & loaded


def test_evaluation_and_export_load_nothing_of_training():
    modules = [name for name, _ in _modules()
               if _part(name) in ("evaluation", "export", "run_dir") or name in ("awh_tf.evaluate", "awh_tf.predict")]
    loaded = _loaded_after_importing(modules)
    assert "awh_tf.evaluation.evaluate_lib" in loaded and "awh_tf.export.export_lib" in loaded
    assert not [m for m in loaded if m.startswith("awh_tf.training")]
