"""Evaluation with the published protocol (DESIGN.md §4)."""

from awh_tf.evaluation.protocol import evaluate_predictions, format_table, predict_dataset

__all__ = ["evaluate_predictions", "format_table", "predict_dataset"]
