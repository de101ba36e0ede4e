"""Evaluation: metrics and slices, evaluate-a-model, the behaviour suite, loss comparisons."""
