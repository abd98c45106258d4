"""The tools' tests share the evaluation tests' tiny trained run (built once per session)."""

from tests.evaluation.conftest import tiny_run, tiny_test_image  # noqa: F401
