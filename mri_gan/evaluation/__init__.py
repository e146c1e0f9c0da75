"""Evaluation: paired and distribution metrics (metrics), classifier-based tests (classifiers),
trivial paired baselines (baselines). Modules import TensorFlow; import them where needed."""
